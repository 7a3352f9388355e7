"""r_hat against the estimators (checks_rhat): which manifolds are checked, eq. (8) on the Swiss roll read
with its own r_hat on constructed losses, the reported rows."""

import math

import pytest

from vaediag.theory import checks_rhat as C


def _row(name, r, rhat, mle=2.0, twonn=2.0):
    return {"data": C._label({"name": name, "r": r, "d": 10}), "r": r, "r_hat_vae": rhat, "mle": mle, "twonn": twonn}


def test_estimator_checks_are_exact_on_realisable_one_chart_manifolds_only():
    rows = [_row("embedding", 2, 2), _row("linear", 3, 3), _row("teacher", 5, 5), _row("swissroll", 2, 3),
            _row("sphere", 2, 3), _row("torus", 2, 3)]
    out = C.judge_estimators(rows)
    # swissroll (finite capacity), sphere, torus (no chart): reported, not checked
    assert len(out) == 3 and all(c["verdict"] == "pass" for c in out)
    assert "teacher (r=5, d=10)" in out[2]["claim"]
    rows[2]["r_hat_vae"] = 6
    assert [c["verdict"] for c in C.judge_estimators(rows)] == ["pass", "pass", "fail"]
    rows[2]["r_hat_vae"] = 4
    assert [c["verdict"] for c in C.judge_estimators(rows)] == ["pass", "pass", "fail"]


def test_every_teacher_r_is_in_the_sweep_and_checked():
    assert [p["r"] for n, p in C.ESTIMATOR_MANIFOLDS if n == "teacher"] == [1, 2, 3, 5]
    assert "teacher" in C.ONE_CHART and "swissroll" not in C.ONE_CHART and "swissroll" in C.NOT_CHECKED


def test_roll_eq8_measure_fits_the_range_and_reads_r_hat():
    """Constructed losses exactly (d - 3)/2 log gamma + 1 on four gammas: the fit over gamma >= FIT_FLOOR x
    the learned gamma keeps the three largest (learned 1e-3: floor 3e-3) and recovers the slope 3.5."""
    g = [1e-2, 5e-3, 2.5e-3, 1.25e-3]
    fixed = {"gammas": g, "loss": [3.5 * math.log(x) + 1.0 for x in g], "r_hat": [3, 3, 2, 0]}
    m = C.roll_eq8_measure(fixed, learned_gamma=1e-3, d=10)
    assert m["gammas"] == [1e-2, 5e-3] and m["r_hat"] == [3, 3] and m["slope"] == pytest.approx(3.5, rel=1e-12)
    assert C.judge_roll_eq8(m)[0]["verdict"] == "pass" and C.judge_roll_eq8(m)[0]["predicted_with_r_true"] == 4.0
    m = C.roll_eq8_measure(fixed, learned_gamma=1e-4, d=10)  # all four in range: r_hat disagree -> fail
    assert m["r_hat"] == [3, 3, 2, 0] and C.judge_roll_eq8(m)[0]["verdict"] == "fail"
    m = C.roll_eq8_measure(fixed, learned_gamma=3e-3, d=10)  # one gamma left: no slope
    assert math.isnan(m["slope"]) and C.judge_roll_eq8(m)[0]["verdict"] == "fail"


def test_reported_rows_carry_numbers_and_reason_and_skip_checked_rows():
    from vaediag.theory.tables import format_reported

    rows = [dict(_row("embedding", 2, 2), checked=True, gamma=1e-5, note=""),
            dict(_row("swissroll", 2, 3), checked=False, gamma=5e-6, affine=3, note=C.NOT_CHECKED["swissroll"],
                 restarts=[{"r_hat": 3, "held_out_loss": -32.671}, {"r_hat": 2, "held_out_loss": -31.0}])]
    roll = {"d": 10, "gammas": [1e-2, 5e-3], "r_hat": [3, 3], "slope": 3.4567}
    rep = C.reported_rows(rows, roll)
    assert [r["data"] for r in rep] == ["swissroll (d=10)"]
    m = rep[0]["measured"]
    assert m["restarts_r_hat"] == [3, 2] and m["restarts_held_out_loss"] == [-32.67, -31.0] and m["affine"] == 3
    assert m["fixed_gamma_r_hat"] == [3, 3] and m["eq8_slope"] == 3.457 and "theory_swissroll.py --only C" in m[
        "chart_started_losses"]
    text = format_reported(rep)
    assert "- swissroll (d=10): " in text and "reason: finite capacity" in text
