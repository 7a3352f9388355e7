"""Eq. (2) against independent computations (scipy, torch.distributions, quadrature)."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate, stats

from vaediag.objective import bernoulli_nll, gaussian_nll, kl_std_normal, reparameterize


@given(st.integers(1, 6), st.integers(1, 40), st.floats(-8.0, 3.0), st.integers(0, 2**31 - 1))
def test_gaussian_nll_matches_scipy(b, d, log_gamma, seed):
    rng = np.random.default_rng(seed)
    x, mean = rng.normal(size=(b, d)), rng.normal(size=(b, d))
    got = gaussian_nll(torch.tensor(x), torch.tensor(mean), torch.tensor(log_gamma, dtype=torch.float64))
    sd = math.exp(0.5 * log_gamma)
    want = -stats.norm.logpdf(x, loc=mean, scale=sd).sum(axis=1)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-8)


def test_gaussian_nll_sums_over_all_image_dimensions():
    # (B, C, H, W): the data term is a sum over d = C*H*W, not a mean (docs/conventions.md: averaging over pixels would reweight the KL)
    x = torch.zeros(2, 3, 4, 5, dtype=torch.float64)
    mean = torch.full_like(x, 0.5)
    got = gaussian_nll(x, mean, torch.tensor(0.0, dtype=torch.float64))
    d = 60
    want = d * 0.125 + 0.5 * d * math.log(2 * math.pi)
    np.testing.assert_allclose(got.numpy(), [want, want])


@given(st.integers(1, 5), st.integers(1, 12), st.integers(0, 2**31 - 1))
def test_kl_matches_torch_distributions(b, k, seed):
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(b, k, generator=g, dtype=torch.float64) * 2
    logvar = torch.randn(b, k, generator=g, dtype=torch.float64) * 2
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    want = torch.distributions.kl_divergence(q, p).sum(1)
    torch.testing.assert_close(kl_std_normal(mu, logvar), want)


def test_kl_one_dimension_by_quadrature():
    mu, var = 0.7, 0.3
    q = stats.norm(mu, math.sqrt(var))
    want, _ = integrate.quad(lambda z: q.pdf(z) * (q.logpdf(z) - stats.norm.logpdf(z)), -12, 12)
    got = kl_std_normal(torch.tensor([[mu]], dtype=torch.float64), torch.tensor([[math.log(var)]], dtype=torch.float64))
    assert got.item() == pytest.approx(want, rel=1e-8)


def test_bernoulli_nll_is_cross_entropy():
    x = torch.tensor([[0.0, 1.0, 0.25]], dtype=torch.float64)
    logits = torch.tensor([[0.3, -1.2, 2.0]], dtype=torch.float64)
    p = torch.sigmoid(logits)
    want = -(x * p.log() + (1 - x) * (1 - p).log()).sum(1)
    torch.testing.assert_close(bernoulli_nll(x, logits), want)


def test_reparameterize_has_the_encoder_moments():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.tensor([[1.0, -2.0]]), torch.tensor([[math.log(4.0), math.log(0.25)]])
    z = reparameterize(mu.expand(200_000, 2), logvar.expand(200_000, 2), torch.randn(200_000, 2, generator=g))
    torch.testing.assert_close(z.mean(0), mu[0], atol=0.02, rtol=0)
    torch.testing.assert_close(z.var(0), torch.tensor([4.0, 0.25]), atol=0.03, rtol=0.01)
