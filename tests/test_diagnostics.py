"""Known-answer tests of the diagnostic cores, on models defined here (the protocol of vaediag.diagnostics.protocol)."""

import math

import numpy as np
import pytest
import torch
import torch.nn as nn
from _ignoring import IgnoringVAE

from vaediag.diagnostics import diagnose, eigen_summary, gamma_verdict, r_hat
from vaediag.diagnostics.eigen import EigenAccumulator, histogram


class LinearGaussianVAE(nn.Module):
    """x = W z + noise(gamma); the encoder returns the exact posterior with a FULL covariance,
    computed by the Woodbury form Sigma = I - W^T (W W^T + gamma I)^-1 W."""

    def __init__(self, W, gamma):
        super().__init__()
        self.W, self.gamma = W, torch.tensor(gamma, dtype=W.dtype)

    def encode(self, x):
        d, k = self.W.shape
        M = torch.linalg.inv(self.W @ self.W.T + self.gamma * torch.eye(d, dtype=x.dtype))
        cov = torch.eye(k, dtype=x.dtype) - self.W.T @ M @ self.W
        mu = x @ (M @ self.W)
        return mu, cov.expand(len(x), k, k)

    def decode(self, z):
        return z @ self.W.T


# ---------------------------------------------------------------------------- eigen / r_hat
def test_r_hat_rule_and_threshold_sensitivity():
    lam = np.array([0.001, 0.01, 0.05, 0.3, 0.95, 1.0])
    s = eigen_summary(lam, tau=0.1)
    assert s["tau_count"] == 3 and s["near_one"] == 2 and s["in_between"] == 1
    assert s["tau_count_by_tau"]["0.02"] == 2 and s["tau_count_by_tau"]["0.5"] == 4
    assert r_hat(lam, 0.005) == 1


def test_histogram_counts_values_beyond_range_in_last_bin():
    edges = np.linspace(0, 1.5, 4)  # bins [0, .5), [.5, 1), [1, 1.5]
    assert histogram(np.array([0.1, 0.6, 1.2, 7.0]), edges).tolist() == [1, 1, 2]


def test_eigen_accumulator_sorts_full_covariance_eigenvalues_by_rank():
    acc = EigenAccumulator(3)
    acc.add(torch.tensor([[0.5, 0.1, 1.0], [0.3, 0.2, 0.9]]), full=True)
    np.testing.assert_allclose(acc.mean, [0.15, 0.4, 0.95])


@pytest.mark.parametrize("gamma", [1e-2, 1e-4])
def test_linear_gaussian_lambda_is_closed_form_eq73(gamma):
    # eq. (73)-(74): Sigma_z = (I + W^T W / gamma)^-1 has eigenvalues gamma / (gamma + s_i^2) for the
    # r singular values s_i of W and 1 for the kappa - r others.
    torch.manual_seed(0)
    d, k, r = 8, 5, 3
    W = (torch.randn(d, r) @ torch.randn(r, k)).double()  # rank r
    model = LinearGaussianVAE(W, gamma)
    x = torch.randn(40, d, dtype=torch.float64)
    summary, arrays = diagnose(model, x, tau=0.1, perturb_inputs=2)
    s = torch.linalg.svdvals(W).numpy()[:r]
    expected = np.sort(np.concatenate([gamma / (gamma + s ** 2), np.ones(k - r)]))
    np.testing.assert_allclose(summary["lambda_mean"], expected, rtol=1e-6, atol=1e-9)
    assert summary["tau_count"] == r and summary["near_one"] == k - r
    assert summary["encoder"] == "full covariance"
    # directions with lambda = 1 are the null space of W: a linear decoder does not move along them
    var = np.array([p["image_variance"] for p in summary["perturbation"]])
    assert np.all(var[r:] < 1e-12) and np.all(var[:r] > 1e-3)


def test_ignored_coordinates_have_zero_image_variance_and_right_r_hat():
    model = IgnoringVAE(d=12, k=6, r=2)
    x = torch.randn(30, 12)
    summary, _ = diagnose(model, x, perturb_inputs=3)
    assert summary["tau_count"] == 2 and summary["near_one"] == 4
    table = summary["perturbation"]
    assert [p["direction"] for p in table[:2]] == [0, 1]  # ordered by lambda: the two active ones first
    assert all(p["image_variance"] == 0.0 for p in table[2:])
    # same 15 eps for every direction of an input, so variance_j / ||A_j||^2 is the same for j = 0, 1
    col = model.A.pow(2).sum(0).numpy()
    v = np.array([table[0]["image_variance"], table[1]["image_variance"]])
    assert v[0] / col[0] == pytest.approx(v[1] / col[1], rel=1e-5)
    assert summary["gamma"] == pytest.approx(1e-3)


# ---------------------------------------------------------------------------- gamma
def test_gamma_verdict_on_constructed_trajectories():
    step = np.arange(0, 1000.0, 10)
    flat = np.where(step < 500, -step / 100, -5.0)
    assert gamma_verdict(step, flat) == {"final_gamma": pytest.approx(math.exp(-5)), "tail_change": 0.0,
                                         "converged": True, "fixed": False}
    falling = -step / 100
    v = gamma_verdict(step, falling)
    assert not v["converged"] and v["tail_change"] == pytest.approx(-2.5, abs=0.11)
    assert gamma_verdict(step, np.zeros_like(step))["fixed"] is True


def test_diagnose_with_stage2_on_latents_repairs_spectrum():
    # stage 2 here whitens z exactly (mu_u = L^-1 z with L L^T = Cov q(z), tiny variance): q(u) = N(0, I)
    model = IgnoringVAE(d=12, k=6, r=2)
    torch.manual_seed(0)
    x = torch.randn(3000, 12) * 3

    class Whitener(nn.Module):
        def __init__(self, cov):
            super().__init__()
            self.L = torch.linalg.cholesky(cov)

        def encode(self, z):
            u = torch.linalg.solve_triangular(self.L, z.T, upper=False).T
            return u, torch.full_like(z, -20.0)

        def decode(self, u):
            return u @ self.L.T

    cov_z = 9.0 * model.B @ model.B.T + torch.diag(model.lv.exp())  # Cov x = 9 I
    summary, arrays = diagnose(model, x, stage2=Whitener(cov_z), perturb_inputs=1)
    assert summary["spectrum_gap"]["stage1"] > 0.2
    assert summary["spectrum_gap"]["stage2"] < 0.03
    assert summary["kl_gaussian_fit"]["stage2"] < 0.02 < summary["kl_gaussian_fit"]["stage1"]
    assert "perturb_images" not in arrays  # vectors: variance without images


def test_gamma_still_falling_at_its_pace_has_not_converged():
    """A short run whose log gamma falls steadily by 0.06 moves less than 0.1 in its last quarter, yet it is
    still falling at its average rate: not converged. A long run that fell by 5 and then moved 0.05 in its
    last quarter has; so has a run that moved less than a quarter of the tolerance in all."""
    step = np.arange(5, 65.0, 5)
    short = -0.001 * step  # the demo's 60-step smoke run: -0.06 in all, -0.015 in the last quarter
    v = gamma_verdict(step, short)
    assert abs(v["tail_change"]) < 0.1 and not v["converged"]
    long_step = np.arange(0, 1000.0, 10)
    long = np.where(long_step < 500, -long_step / 100, -5.0 - 0.05 * (long_step - 500) / 500)
    assert gamma_verdict(long_step, long)["converged"]
    assert gamma_verdict(step, 0.005 * np.sin(step))["converged"]  # |total| < tol / 4: nothing moved to speak of
