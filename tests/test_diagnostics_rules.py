"""What the rules derive, for fresh and old summaries: [0, 1] units, the clear band, MIN_R2, Bernoulli without
gamma_effective, eq. (9) in [0, 1] units (against the formula written here)."""

import math

import pytest

from vaediag.diagnostics.rules import derive


def _s(**kw):
    return {"latent_dim": 3, "lambda_mean": [0.001, 0.02, 1.0], "kl_total": 5.0, **kw}


def test_units_and_eq9_in_unit_interval_terms():
    s, _ = derive(_s(gamma=65.025, data_range=[0, 255], gamma_mode="learned"), {})
    assert s["unit_scale"] == 255.0 and s["gamma_01"] == pytest.approx(1e-3)
    assert s["kl_eq9"] == pytest.approx(-0.5 * 2 * math.log(1e-3)) and s["kl_eq9_gamma"] == "gamma"
    assert s["gamma_regime"]["regime"] == "learned-small"


def test_old_key_names_are_renamed_and_the_band_replaces_the_old_clear_rule():
    s, _ = derive({"latent_dim": 3, "lambda_mean": [0.001, 0.49, 1.0], "active_dims": 1, "threshold": 0.1,
                   "r_hat_by_threshold": {"0.1": 1}, "r_hat_clear": True, "r_hat_range": [2, 2]}, {})
    assert s["tau_count"] == 1 and s["tau"] == 0.1 and s["tau_count_by_tau"] == {"0.1": 1}
    assert "active_dims" not in s and s["r_hat"] == 2
    assert s["r_hat_clear"] is False and s["r_hat_in_band"] == [1] and s["r_hat_range"] == [1, 2]


def test_min_r2_and_bernoulli():
    fit = {"gamma": 0.1, "r2": 0.15, "explains": True, "n": 16}
    s, _ = derive(_s(gamma=0.1, gamma_effective=0.1, gamma_effective_fit=fit), {})
    assert s["gamma_effective"] is None and s["gamma_effective_fit"]["explains"] is False
    s, _ = derive(_s(gamma=0.1, gamma_effective_fit={**fit, "r2": 0.55}), {})
    assert s["gamma_effective"] == 0.1 and s["gamma_effective_01"] == 0.1
    s, _ = derive(_s(likelihood="bernoulli", gamma_effective=0.2, gamma_effective_fit={**fit, "r2": 0.9}), {})
    assert s["gamma_effective"] is None and s["gamma_effective_fit"] is None and s["kl_eq9"] is None
    assert s["gamma_regime"]["regime"] == "no-gamma"


def test_partly_used_from_the_fractions():
    s, _ = derive(_s(), {"used_fraction": [1.0, 0.5, 0.05]})
    assert s["partly_used"] == [1]
