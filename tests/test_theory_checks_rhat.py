"""r_hat against the estimators (checks_rhat): which manifolds are checked, eq. (8) on the Swiss roll read
with its own r_hat on constructed losses, the reported rows."""

import math

import numpy as np
import pytest

from vaediag.theory import checks_rhat as C


def _row(name, r, rhat, mle=2.0, twonn=2.0):
    return {"data": C._label({"name": name, "r": r, "d": 10}), "r": r, "r_hat_vae": rhat, "mle": mle, "twonn": twonn}


def test_estimator_checks_judge_every_restart_on_realisable_one_chart_manifolds_only():
    rows = [_row("embedding", 2, 2), _row("linear", 3, 3), _row("teacher", 5, 5), _row("swissroll", 2, 3),
            _row("sphere", 2, 3), _row("torus", 2, 3)]
    for r in rows:
        r["restarts_r_hat"] = [r["r_hat_vae"]] * 4
    out = C.judge_estimators(rows)
    # swissroll (finite capacity), sphere, torus (no chart): reported, not checked
    assert len(out) == 3 and all(c["verdict"] == "pass" for c in out)
    assert "teacher (r=5, d=10)" in out[2]["claim"] and out[2]["alternative"] in (4, 6) and out[2]["margin"] == 1.0
    rows[2]["restarts_r_hat"] = [5, 5, 5, 6]  # mean 5.25, se 0.25: margin 0.5 = 2 se, on the line: passes
    assert [c["verdict"] for c in C.judge_estimators(rows)] == ["pass", "pass", "pass"]
    rows[2]["restarts_r_hat"] = [5, 5, 4]  # mean 4.67, se 0.33: margin 0.33 < 0.67
    assert [c["verdict"] for c in C.judge_estimators(rows)] == ["pass", "pass", "fail"]
    del rows[2]["restarts_r_hat"]  # no restarts: the selected r_hat alone (se 0)
    rows[2]["r_hat_vae"] = 6
    assert [c["verdict"] for c in C.judge_estimators(rows)] == ["pass", "pass", "fail"]


def test_every_teacher_r_is_in_the_sweep_and_checked():
    assert [p["r"] for n, p in C.ESTIMATOR_MANIFOLDS if n == "teacher"] == [1, 2, 3, 5]
    assert "teacher" in C.ONE_CHART and "swissroll" not in C.ONE_CHART and "swissroll" in C.NOT_CHECKED


def test_eq8_grid_gives_five_gammas_above_the_quick_fit_floor():
    # the quick run's learned gammas are ~1.2e-3: its fit floor 3.6e-3 must leave at least 5 gammas
    assert sum(g >= 3.0 * 1.2e-3 for g in C.EQ8_GAMMAS_QUICK) >= 5
    assert np.allclose(np.diff(np.log(C.EQ8_GAMMAS)), -0.5 * np.log(2), rtol=1e-2)
    assert [n for n, _ in C.EQ8_MANIFOLDS] == ["swissroll", "teacher"]


def test_eq8_measure_fits_the_range_reads_r_hat_and_recovers_a_known_slope():
    """Constructed losses exactly (d - 3)/2 log gamma + 1 plus a known scatter: the fit over gamma >= FIT_FLOOR x
    the learned gamma keeps the right gammas, and slope and standard error are scipy's linregress's."""
    from scipy import stats

    g = list(C.EQ8_GAMMAS)
    noise = 0.05 * np.array([1, -1, 0, 1, -1, 0, 1, -1])
    loss = [3.5 * math.log(x) + 1.0 + e for x, e in zip(g, noise)]
    fixed = {"gammas": g, "loss": loss, "r_hat": [0, 2, 3, 3, 3, 3, 3, 2]}
    m = C.eq8_measure(fixed, learned_gamma=1.2e-3, d=10)  # floor 3.6e-3: the first six
    assert m["gammas"] == g[:6] and m["r_hat"] == [0, 2, 3, 3, 3, 3] and m["r_hat_read"] == 3
    ref = stats.linregress(np.log(g[:6]), loss[:6])
    assert m["slope"] == pytest.approx(ref.slope) and m["se"] == pytest.approx(ref.stderr)
    row = C.judge_eq8(m, "swissroll (d=10)", 2)
    assert row["verdict"] == "pass" and row["predicted"] == 3.5 and row["predicted_with_r_true"] == 4.0
    assert row["alternatives"] == [4.0, 3.0]
    m = C.eq8_measure(fixed, learned_gamma=1e-2, d=10)  # floor 3e-2: nothing left
    assert math.isnan(m["slope"]) and m["r_hat_read"] is None
    assert C.judge_eq8(m, "swissroll (d=10)", 2)["verdict"] == "fail"


def test_reported_rows_carry_numbers_and_reason_and_skip_checked_rows():
    from vaediag.theory.tables import format_reported

    rows = [dict(_row("embedding", 2, 2), checked=True, gamma=1e-5, note=""),
            dict(_row("swissroll", 2, 3), checked=False, gamma=5e-6, affine=3, note=C.NOT_CHECKED["swissroll"],
                 restarts=[{"r_hat": 3, "held_out_loss": -32.671}, {"r_hat": 2, "held_out_loss": -31.0}])]
    roll = {"d": 10, "gammas": [1e-2, 5e-3], "r_hat": [3, 3], "slope": 3.4567, "se": 0.0512}
    rep = C.reported_rows(rows, roll)
    assert [r["data"] for r in rep] == ["swissroll (d=10)"]
    m = rep[0]["measured"]
    assert m["restarts_r_hat"] == [3, 2] and m["restarts_held_out_loss"] == [-32.67, -31.0] and m["affine"] == 3
    assert m["fixed_gamma_r_hat"] == [3, 3] and m["eq8_slope"] == 3.457 and "theory_swissroll.py --only C" in m[
        "chart_started_losses"]
    text = format_reported(rep)
    assert "- swissroll (d=10): " in text and "reason: finite capacity" in text


def test_an_r_hat_row_whose_restarts_are_not_in_eq9s_regime_is_inconclusive_else_judged():
    row = dict(_row("teacher", 5, 5), restarts_r_hat=[5, 5, 4])
    ok, straddle = [1e-3] * 5 + [0.99] * 3, [1e-3] * 4 + [0.2] + [0.99] * 3  # 0.2: used, above the cut 0.05
    row["restarts"] = [{"r_hat": 5, "enc_var": ok, "steps": 8000}, {"r_hat": 5, "enc_var": ok, "steps": 8000},
                       {"r_hat": 4, "enc_var": straddle, "steps": 8000}]
    (c,) = C.judge_estimators([row])
    assert c["verdict"] == "inconclusive" and "1 of 3 restarts" in c["unresolved"] and "8000 steps" in c["unresolved"]
    row["restarts"][2]["enc_var"] = [1e-3] * 4 + [0.99] * 4  # a clear 4: both counts agree, judged by the rule
    (c,) = C.judge_estimators([row])
    assert c["verdict"] == "fail" and "unresolved" not in c
