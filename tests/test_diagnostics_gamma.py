"""Known answers for the effective gamma (eq. 73 fitted) and for the eval-mode guard of the protocol."""

import numpy as np
import pytest
import torch
import torch.nn as nn

from vaediag.diagnostics.gamma import decoder_gains, fit_effective_gamma
from vaediag.diagnostics.protocol import frozen


@pytest.mark.parametrize("gamma", [1e-4, 0.03, 2.0])
def test_fit_recovers_gamma_from_exact_eq73_pairs(gamma):
    rng = np.random.default_rng(0)
    gain = np.concatenate([rng.uniform(0.1, 50, (40, 3)), np.zeros((40, 2))], axis=1)  # 2 unused directions
    lam = 1.0 / (1.0 + gain / gamma)
    fit = fit_effective_gamma(lam, gain)
    assert fit["gamma"] == pytest.approx(gamma, rel=1e-6) and fit["r2"] == pytest.approx(1.0) and fit["explains"]


def test_fit_of_noisy_pairs_is_the_log_least_squares_optimum():
    rng = np.random.default_rng(1)
    gain = rng.uniform(0.5, 20, 300)
    lam = np.exp(-np.log1p(gain / 0.2) + rng.normal(0, 0.2, 300))
    fit = fit_effective_gamma(lam, gain)
    # independent: a dense grid of the same criterion
    grid = np.exp(np.linspace(np.log(0.05), np.log(0.8), 20001))
    crit = [np.mean((np.log1p(gain / g) + np.log(lam)) ** 2) for g in grid]
    assert fit["gamma"] == pytest.approx(grid[int(np.argmin(crit))], rel=1e-3)
    assert 0 < fit["r2"] < 1 and fit["rms_log_residual"] == pytest.approx(np.sqrt(min(crit)), rel=1e-4)


def test_no_gain_or_no_used_direction_explains_nothing():
    assert fit_effective_gamma(np.ones(10), np.zeros(10))["gamma"] is None
    rng = np.random.default_rng(2)
    fit = fit_effective_gamma(rng.uniform(0.8, 1.0, 50), rng.uniform(0, 1e-3, 50))  # unused, noisy variances
    assert not fit["explains"]


def test_decoder_gains_are_squared_jacobian_columns_with_and_without_autodiff():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 7), nn.Tanh(), nn.Linear(7, 5)).double()

    class M:
        decode = staticmethod(net)

    class NoForwardAD:  # a decoder autodiff cannot run through: central differences
        @staticmethod
        def decode(z):
            return torch.from_numpy(net(z).detach().numpy().copy())

    mu = torch.randn(4, 3, dtype=torch.float64)
    var = torch.rand(4, 3, dtype=torch.float64)
    jac = torch.stack([torch.autograd.functional.jacobian(net, m) for m in mu])  # (4, 5, 3)
    expect = jac.pow(2).sum(1).numpy()
    lam, gain = decoder_gains(M(), mu, var, False)
    np.testing.assert_allclose(gain, expect, rtol=1e-9)
    np.testing.assert_allclose(lam, var.numpy())
    _, gain_fd = decoder_gains(NoForwardAD(), mu, var, False)
    np.testing.assert_allclose(gain_fd, expect, rtol=1e-4)


def test_frozen_sets_eval_and_restores_each_submodule_even_after_an_error():
    net = nn.Sequential(nn.BatchNorm1d(3), nn.Dropout(0.5), nn.Linear(3, 3))
    net.train()
    net[1].eval()
    with pytest.raises(RuntimeError):
        with frozen(net, None):
            assert not any(m.training for m in net.modules())
            raise RuntimeError("boom")
    assert [m.training for m in net.modules()] == [True, True, False, True]
