"""Known answers for the Fisher calibration of a Bernoulli decoder's encoder (eq. 73 with the Fisher
metric): encoders constructed exactly at, and scaled off, Sigma_z^-1 = I + c F, F computed here by
autograd independently of the code under test."""

import numpy as np
import pytest
import torch
import torch.nn as nn

from _facts import facts
from vaediag.diagnostics.fisher import (CALIBRATED, MAX_RMS, MIN_R2, FisherFit, fisher_gains, fit_fisher_calibration,
                                        reading_text)
from vaediag.errors import UsageError

K, D, B = 4, 12, 24


class SigmoidDecoder(nn.Module):
    """A small Bernoulli decoder as people write it: an MLP ending in a sigmoid. Latent direction 3 is
    unused (its weights are zero), so its Fisher information is 0 and its optimal variance 1."""

    def __init__(self, seed=0, dtype=torch.float64):
        super().__init__()
        torch.manual_seed(seed)
        self.net = nn.Sequential(nn.Linear(K, 16), nn.Tanh(), nn.Linear(16, D), nn.Sigmoid()).to(dtype)
        with torch.no_grad():
            self.net[0].weight[:, 3] = 0.0

    def decode(self, z):
        return self.net(z)


def fisher(decoder, mu):
    """F(x) = J_p^T diag(1 / (p (1 - p))) J_p at each row of mu, (B, K, K)."""
    out = []
    for m in mu.double():
        jac = torch.autograd.functional.jacobian(decoder.decode, m)  # (D, K)
        with torch.no_grad():
            p = decoder.decode(m)
        out.append(jac.T @ (jac / (p * (1 - p))[:, None]))
    return torch.stack(out).detach()


@pytest.fixture(scope="module")
def setup():
    dec = SigmoidDecoder()
    mu = torch.randn(B, K, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    return dec, mu, fisher(dec, mu)


def diag_encoder(f, scale):
    """The mean-field optimum of Sigma_z^-1 = I + scale F: lambda_j = 1 / (1 + scale F_jj)."""
    return 1.0 / (1.0 + scale * torch.diagonal(f, dim1=1, dim2=2))


def test_gains_are_the_diagonal_of_the_fisher_metric(setup):
    dec, mu, f = setup
    lam, gain = fisher_gains(dec, mu, diag_encoder(f, 1.0), False)
    assert lam.shape == gain.shape == (B, K)
    np.testing.assert_allclose(gain, torch.diagonal(f, dim1=1, dim2=2).numpy(), rtol=1e-8, atol=1e-12)
    assert np.all(gain[:, 3] == 0)


@pytest.mark.parametrize("scale, reading", [(1.0, "calibrated"), (0.3, "under-confident"), (3.0, "over-confident")])
def test_a_diagonal_encoder_at_or_off_the_fisher_optimum(setup, scale, reading):
    dec, mu, f = setup
    fit = fit_fisher_calibration(*fisher_gains(dec, mu, diag_encoder(f, scale), False))
    assert fit.c == pytest.approx(scale, rel=0.05) and fit.explains and fit.reading == reading
    assert fit.r2 > 0.99 and fit.pairs == B * K
    assert f"c = {fit.c:.3g}" in reading_text(fit) and "eq. 73" in reading_text(fit)


def test_a_full_covariance_encoder_at_the_optimum(setup):
    dec, mu, f = setup
    sigma = torch.linalg.inv(torch.eye(K, dtype=f.dtype) + f)  # eq. (73) with the Fisher metric
    lam, gain = fisher_gains(dec, mu, sigma, True)
    np.testing.assert_allclose(gain, np.linalg.eigvalsh(f.numpy()).clip(0), rtol=1e-7, atol=1e-10)
    fit = fit_fisher_calibration(lam, gain)
    assert fit.c == pytest.approx(1.0, rel=0.05) and fit.reading == "calibrated"
    under = fit_fisher_calibration(*fisher_gains(dec, mu, torch.linalg.inv(torch.eye(K, dtype=f.dtype) + 0.3 * f), True))
    assert under.c == pytest.approx(0.3, rel=0.05) and under.reading == "under-confident"


def test_a_float32_decoder_as_trained_gives_the_same_gains(setup):
    dec, mu, f = setup
    dec32 = SigmoidDecoder(dtype=torch.float32)
    _, gain = fisher_gains(dec32, mu.float(), diag_encoder(f, 1.0).float(), False)
    np.testing.assert_allclose(gain, torch.diagonal(f, dim1=1, dim2=2).numpy(), rtol=1e-3, atol=1e-6)


def test_decodes_of_exactly_0_or_1_give_finite_gains():
    class Saturating(nn.Module):
        """Half the pixels saturate to exactly 0 or 1 (a float32 sigmoid of huge logits)."""

        def __init__(self):
            super().__init__()
            self.w = torch.randn(D, K, generator=torch.Generator().manual_seed(3))

        def decode(self, z):
            logits = z @ self.w.T
            return torch.sigmoid(torch.cat([logits, 1e4 * logits], dim=-1))

    dec = Saturating()
    mu = torch.randn(B, K, generator=torch.Generator().manual_seed(4))
    assert ((dec.decode(mu) == 0) | (dec.decode(mu) == 1)).any()
    lam, gain = fisher_gains(dec, mu, torch.full((B, K), 0.1), False)
    assert np.isfinite(gain).all() and np.isfinite(lam).all()
    # the saturated pixels carry no Fisher information: p (1 - p) (w . e_j)^2 of the first D pixels alone
    p = torch.sigmoid(mu.double() @ dec.w.double().T)
    expect = (p * (1 - p)) @ dec.w.double().pow(2)
    big = torch.sigmoid(1e4 * mu.double() @ dec.w.double().T)
    inside = (big > 1e-6) & (big < 1 - 1e-6)  # rare: a huge logit still short of saturation
    expect = expect + (1e8 * big * (1 - big) * inside) @ dec.w.double().pow(2)
    np.testing.assert_allclose(gain, expect.numpy(), rtol=1e-2, atol=1e-6)
    fit = fit_fisher_calibration(lam, gain)
    assert fit.c is not None and np.isfinite(fit.c) and np.isfinite(fit.rms_log_residual)


@pytest.mark.parametrize("eps", [1e-8, 1e-6, 1e-4])
def test_the_clamp_changes_nothing_on_a_decoder_away_from_0_and_1(setup, eps):
    dec, mu, f = setup
    with torch.no_grad():
        p = dec.decode(mu)
    assert eps < float(p.min()) and float(p.max()) < 1 - eps  # the clamp is not reached
    _, gain = fisher_gains(dec, mu, diag_encoder(f, 1.0), False, eps=eps)
    np.testing.assert_allclose(gain, torch.diagonal(f, dim1=1, dim2=2).numpy(), rtol=1e-8, atol=1e-12)
    with pytest.raises(UsageError, match=facts("eps", 0.5)):
        fisher_gains(dec, mu, diag_encoder(f, 1.0), False, eps=0.5)


def _noisy_pairs(noise, c=1.0, seed=0):
    rng = np.random.default_rng(seed)
    gain = rng.uniform(0.5, 20, 400)
    return np.exp(-np.log1p(c * gain) + rng.normal(0, noise, 400)), gain


def test_min_r2_is_the_line_between_a_reading_and_none():
    lam, gain = _noisy_pairs(0.9)
    fit = fit_fisher_calibration(lam, gain)
    assert 0.05 < fit.r2 < MIN_R2 and fit.rms_log_residual > MAX_RMS and not fit.explains and fit.reading is None
    assert "no reading" in reading_text(fit)
    loose = fit_fisher_calibration(lam, gain, min_r2=fit.r2 - 0.01)
    assert loose.explains and loose.reading == "calibrated" and loose.c == fit.c
    assert not fit_fisher_calibration(lam, gain, min_r2=fit.r2 + 0.01).explains
    assert fit_fisher_calibration(lam, gain, max_rms=fit.rms_log_residual + 0.01).explains


def test_similar_gains_explain_by_the_residual_and_an_encoder_ignoring_f_does_not():
    rng = np.random.default_rng(5)
    gain = rng.uniform(40, 60, 400)  # every direction used alike: log lambda hardly varies with the gain
    lam = np.exp(-np.log1p(gain) + rng.normal(0, 0.3, 400))
    fit = fit_fisher_calibration(lam, gain)
    assert fit.r2 < MIN_R2 and fit.rms_log_residual < MAX_RMS and fit.explains and fit.reading == "calibrated"
    assert fit.c == pytest.approx(1.0, rel=0.05)
    assert not fit_fisher_calibration(lam, gain, max_rms=fit.rms_log_residual - 0.01).explains
    wide = rng.uniform(0.5, 500, 400)  # gains over 3 decades, but the encoder's variances are constant
    ignoring = fit_fisher_calibration(np.full(400, 0.02) * np.exp(rng.normal(0, 0.05, 400)), wide)
    assert ignoring.r2 < MIN_R2 and ignoring.rms_log_residual > MAX_RMS and not ignoring.explains


@pytest.mark.parametrize("c, reading", [(0.79, "under-confident"), (0.81, "calibrated"), (1.24, "calibrated"),
                                        (1.26, "over-confident")])
def test_the_calibrated_band_on_both_sides_of_each_edge(c, reading):
    assert CALIBRATED == (0.8, 1.25)
    fit = fit_fisher_calibration(*_noisy_pairs(0.0, c))
    assert fit.c == pytest.approx(c, rel=1e-6) and fit.reading == reading
    wider = fit_fisher_calibration(*_noisy_pairs(0.0, c), band=(0.5, 2.0))
    assert wider.reading == "calibrated"


def test_no_fisher_information_means_no_c():
    fit = fit_fisher_calibration(np.ones((5, 3)), np.zeros((5, 3)))
    assert fit == FisherFit(c=None, r2=None, rms_log_residual=None, pairs=15, explains=False, reading=None)
    assert "no Fisher information" in reading_text(fit)


@pytest.mark.parametrize("kw, words", [({"min_r2": 1.5}, "min_r2"), ({"band": (1.1, 2.0)}, "band"), ({"max_rms": -1}, "max_rms"),
                                       ({"band": (0.0, 2.0)}, "band")])
def test_bad_arguments_are_named(kw, words):
    with pytest.raises(UsageError, match=words):
        fit_fisher_calibration(*_noisy_pairs(0.0), **kw)


@pytest.mark.slow
@pytest.mark.parametrize("beta, reading", [(1.0, "calibrated"), (4.0, "under-confident")])
def test_a_trained_beta_vae_on_digits_has_c_near_one_over_beta(beta, reading):
    """A beta-VAE's encoder optimum is Sigma_z^-1 = I + F / beta: c = 1 / beta (benchmarks/fisher_calibration.py)."""
    import vaediag

    torch.set_num_threads(1)  # restored by conftest
    torch.manual_seed(0)
    data = vaediag.load_dataset("mnist5k")
    train, held = data.to_float(data.train).flatten(1), data.to_float(data.test[:64]).flatten(1)
    enc = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 16))  # mu and log variance, 8 each
    dec = nn.Sequential(nn.Linear(8, 128), nn.ReLU(), nn.Linear(128, 784), nn.Sigmoid())
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(1000):
        x = train[torch.randint(len(train), (100,), generator=gen)]
        mu, logvar = enc(x).chunk(2, dim=1)
        p = dec(mu + torch.randn_like(mu) * (0.5 * logvar).exp())
        kl = 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum()
        loss = (nn.functional.binary_cross_entropy(p, x, reduction="sum") + beta * kl) / len(x)
        opt.zero_grad()
        loss.backward()
        opt.step()

    class Model:
        decode = staticmethod(dec)

    with torch.no_grad():
        mu, logvar = enc(held).chunk(2, dim=1)
    fit = fit_fisher_calibration(*fisher_gains(Model(), mu, logvar.exp(), False))
    assert fit.explains and fit.reading == reading and fit.c == pytest.approx(1 / beta, rel=0.3)
