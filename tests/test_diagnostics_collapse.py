"""Known-answer tests of the collapse statistics on a linear-Gaussian VAE with an exact, diagonal posterior.

Closed forms (tests/_lingauss.py): lambda_j = gamma / (gamma + s_j^2); Var_x mu_j = s_j^2 / (gamma + s_j^2)
= 1 - lambda_j; E_x KL_j = 0.5 (1 - lambda_j + lambda_j - log lambda_j - 1) = 0.5 log(1 + s_j^2 / gamma);
q(z) = p(z) = N(0, I) so I(x; z) = E KL = sum_j 0.5 log(1 + s_j^2 / gamma); log p(x) = log N(x; 0, W W^T + gamma I),
and with the exact posterior every importance weight equals p(x).
"""

import math

import numpy as np
import pytest
import torch

from _lingauss import LinearGaussianDiagVAE
from vaediag.diagnostics import diagnose
from vaediag.diagnostics.collapse import active_units, iw_log_likelihood, kl_eq9, kl_terms, mutual_information
from vaediag.errors import VaediagError
from vaediag.diagnostics.protocol import encode_posterior

S2 = np.array([0.005, 3.0, 10.0, 0.0])


def test_kl_per_dim_active_units_and_mi_in_diagnose():
    gamma = 1.0
    m = LinearGaussianDiagVAE(S2, gamma)
    s, arrays = diagnose(m, m.sample(20000), iw_k=0, perturb_inputs=1)
    lam = gamma / (gamma + S2)
    # KL_j: the data average of mu_j^2 has relative sampling error ~ sqrt(2 / n) = 1 %
    np.testing.assert_allclose(s["kl_per_dim"], 0.5 * np.log1p(S2 / gamma), atol=0.02)
    np.testing.assert_allclose(s["posterior_mean_variance"], 1 - lam, atol=0.03)
    assert s["active_units"] == 2  # Var mu = 0.005 (s^2 = 0.005) is below Burda's 0.01
    assert s["r_hat"] == 2
    # I(x; z) = 0.5 (log 4 + log 11) = 1.892 nats; estimated on 2,000 inputs (log N = 7.6): within 0.05
    assert s["mutual_information"] == pytest.approx(0.5 * np.sum(np.log1p(S2 / gamma)), abs=0.05)
    assert s["mutual_information_n"] == 2000 and s["kl_total"] == pytest.approx(sum(s["kl_per_dim"]))


def test_active_units_threshold_is_an_option():
    assert active_units(np.array([0.005, 0.75, 0.91]), 0.01) == 2
    assert active_units(np.array([0.005, 0.75, 0.91]), 0.8) == 1


def test_full_covariance_kl_equals_closed_form():
    mu = torch.tensor([[0.5, -1.0]], dtype=torch.float64)
    cov = torch.tensor([[[0.5, 0.2], [0.2, 0.4]]], dtype=torch.float64)
    _, total = kl_terms(mu, cov, True)
    exact = torch.distributions.kl_divergence(torch.distributions.MultivariateNormal(mu[0], cov[0]),
                                              torch.distributions.MultivariateNormal(torch.zeros(2, dtype=torch.float64),
                                                                                     torch.eye(2, dtype=torch.float64)))
    assert float(total[0]) == pytest.approx(float(exact), rel=1e-12)


def test_mi_estimator_close_with_many_inputs_biased_low_and_capped_with_few():
    m = LinearGaussianDiagVAE([3.0, 10.0], 1.0)
    mu, second, full = encode_posterior(m, m.sample(2000))
    assert mutual_information(mu, second, full, torch.Generator().manual_seed(0)) == pytest.approx(
        0.5 * (math.log(4) + math.log(11)), abs=0.05)
    # I = 0.5 (log 101 + log 1001) = 5.76 nats > log 100 = 4.61: 100 inputs cannot show it (<= log N)
    m = LinearGaussianDiagVAE([100.0, 1000.0], 1.0)
    mu, second, full = encode_posterior(m, m.sample(2000))
    few = mutual_information(mu[:100], second[:100], full, torch.Generator().manual_seed(0))
    many = mutual_information(mu, second, full, torch.Generator().manual_seed(0))
    assert few <= math.log(100) + 1e-9 and few < many < 0.5 * (math.log(101) + math.log(1001)) + 0.05


def test_iw_log_likelihood_exact_posterior_gives_log_px_for_any_k():
    m = LinearGaussianDiagVAE([3.0, 10.0, 0.0], 0.5)
    x = m.sample(100)
    iw = iw_log_likelihood(m, x, 0.5, k=3)
    exact = m.log_px(x)
    assert iw["mean"] == pytest.approx(float(exact.mean()), abs=1e-9)
    assert iw["stderr"] == pytest.approx(float(exact.std() / math.sqrt(100)), rel=1e-6)


def test_iw_log_likelihood_increases_with_k_to_log_px():
    m = LinearGaussianDiagVAE([3.0, 10.0, 0.0], 1.0, var_scale=2.0)  # encoder variance twice the optimum
    x = m.sample(200)
    exact = float(m.log_px(x).mean())
    vals = [iw_log_likelihood(m, x, 1.0, k=k, generator=torch.Generator().manual_seed(0))["mean"] for k in (1, 10, 1000)]
    assert vals[0] < vals[1] < exact + 0.01 and abs(vals[2] - exact) < 0.02


def test_iw_without_gamma_is_a_sentence():
    m = LinearGaussianDiagVAE([3.0], 1.0)
    with pytest.raises(VaediagError, match="gamma"):
        iw_log_likelihood(m, m.sample(4), None)


def test_measured_kl_against_eq9():
    # eq. (9): 2 KL = -r log gamma + O(1); here KL = 0.5 sum_j log(1 + s_j^2 / gamma), so
    # KL - (-(r/2) log gamma) -> 0.5 sum_j log s_j^2 as gamma -> 0 (r = 2).
    for gamma in (1e-3, 1e-4):
        m = LinearGaussianDiagVAE([3.0, 10.0, 0.0], gamma)
        s, _ = diagnose(m, m.sample(20000), iw_k=0, mi_n=10, perturb_inputs=1)
        assert s["r_hat"] == 2 and s["kl_eq9"] == pytest.approx(kl_eq9(2, gamma))
        assert s["kl_total"] - s["kl_eq9"] == pytest.approx(0.5 * math.log(30.0), abs=0.03)


def test_iw_in_diagnose_uses_the_models_gamma():
    m = LinearGaussianDiagVAE([3.0, 0.0], 0.2)
    x = m.sample(300)
    s, arrays = diagnose(m, x, iw_k=4, iw_n=100, perturb_inputs=1)
    assert s["iw_log_likelihood"]["mean"] == pytest.approx(float(m.log_px(x[:100]).mean()), abs=1e-6)
    assert len(arrays["iw_log_likelihood_per_input"]) == 100
