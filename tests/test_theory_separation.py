"""The rule every check of the theory lab is judged by (theory/separation.py), on constructed numbers on
both sides of its line: closer to the claim than to the nearest alternative by 2 standard errors."""

import math

import numpy as np
import pytest
from scipy import stats

from vaediag.theory import separation as S


def test_margin_is_the_distance_to_the_nearest_alternative_minus_the_distance_to_the_claim():
    # slope 3.375 against (d - r)/2 = 3.5 (r_hat 3) with alternatives 4.0 (r_hat 2) and 3.0 (r_hat 4)
    mg, near = S.margin(3.375, 3.5, [4.0, 3.0])
    assert near == 3.0 and mg == 0.375 - 0.125
    mg, near = S.margin(3.6, 3.5, [4.0, 3.0])
    assert near == 4.0 and mg == pytest.approx(0.4 - 0.1)
    assert S.margin(3.25, 3.5, [3.0])[0] == 0.0  # half way: no margin at all
    with pytest.raises(ValueError, match="alternative"):
        S.margin(1.0, 1.0, [])


def test_a_check_passes_exactly_from_twice_its_standard_error_on():
    # margin 0.25 (exact in binary): se 0.125 puts it on the line, which passes ("at least twice")
    row = S.check_point("eq. (8): x", 3.375, 3.5, [4.0, 3.0], 0.125)
    assert row["verdict"] == "pass" and row["margin"] == 0.25 and row["alternative"] == 3.0 and row["se"] == 0.125
    assert S.check_point("eq. (8): x", 3.375, 3.5, [4.0, 3.0], 0.125 * (1 + 1e-9))["verdict"] == "fail"
    assert S.check_point("eq. (8): x", 3.375, 3.5, [4.0, 3.0], 0.125 * (1 - 1e-9))["verdict"] == "pass"


def test_a_power_check_says_inconclusive_in_the_band_and_fails_when_closer_to_the_alternative():
    se = 0.125
    assert S.check_point("x", 3.375, 3.5, [3.0], se * 1.5, power=True)["verdict"] == "inconclusive"  # 0 < 0.25 < 0.375
    assert S.check_point("x", 3.25, 3.5, [3.0], se, power=True)["verdict"] == "inconclusive"  # margin 0
    # margin -0.25 = -2 se: measurably closer to the alternative
    assert S.check_point("x", 3.125, 3.5, [3.0], se, power=True)["verdict"] == "fail"
    assert S.check_point("x", 3.125, 3.5, [3.0], se * (1 + 1e-9), power=True)["verdict"] == "inconclusive"
    assert S.check_point("x", 3.25, 3.5, [3.0], se)["verdict"] == "fail"  # without power: no band


def test_deterministic_numbers_pass_when_closer_at_all_and_bad_numbers_fail():
    assert S.verdict(1e-12, 0.0) == "pass" and S.verdict(0.0, 0.0) == "fail" and S.verdict(-1e-12, 0.0) == "fail"
    assert S.verdict(float("nan"), 0.1) == "fail" and S.verdict(1.0, float("nan")) == "fail"
    assert S.verdict(1.0, -0.1) == "fail" and S.verdict(float("nan"), 0.1, power=True) == "fail"
    assert S.row("x", 1, 0, 1, 0.5, 0.0)["tolerance"] == "margin > 0 (se 0)"
    assert S.row("x", 1, 0, 1, 0.5, 0.1)["tolerance"] == "margin >= 2 se = 0.2"


def test_one_sided_and_distance_checks():
    # stage 1 claimed measurably above the floor 0.002, se 0.001: passes from 0.004 on
    assert S.check_side("x", 0.004, "> floor", 0.002, +1, 0.001)["verdict"] == "pass"
    assert S.check_side("x", 0.004 - 1e-9, "> floor", 0.002, +1, 0.001)["verdict"] == "fail"
    assert S.check_side("x", 0.0, "< a", 0.002, -1, 0.001)["verdict"] == "pass"
    row = S.check_distances("x", 1e-9, 0.0, "other", 1e-9, 0.5, 0.0)
    assert row["verdict"] == "pass" and row["margin"] == pytest.approx(0.5) and row["d_alternative"] == 0.5
    assert S.check_distances("x", 0.5, 0.0, "other", 0.5, 0.5, 0.0)["verdict"] == "fail"


def test_mean_se_and_slope_se_against_independent_formulas():
    v = [2, 2, 2, 3]
    m, se = S.mean_se(v)
    assert m == 2.25 and se == pytest.approx(np.std(v, ddof=1) / 2)
    assert S.mean_se([5]) == (5.0, 0.0) and all(math.isnan(x) for x in S.mean_se([]))
    rng = np.random.default_rng(0)
    x = np.log([2.83e-2, 2e-2, 1.41e-2, 1e-2, 7.07e-3, 5e-3])
    y = 3.5 * x + 0.2 * rng.standard_normal(len(x))
    b, se = S.slope_se(x, y)
    ref = stats.linregress(x, y)
    assert b == pytest.approx(ref.slope, rel=1e-12) and se == pytest.approx(ref.stderr, rel=1e-10)
    b, se = S.slope_se([0.0, 1.0], [1.0, 3.0])
    assert b == 2.0 and math.isnan(se)
    assert all(math.isnan(t) for t in S.slope_se([1.0], [1.0]))


def test_an_unresolved_check_is_inconclusive_whatever_its_margin_and_says_why():
    from vaediag.theory.separation import check_point

    for measured in (2.0, 1.0):  # a clear pass and a clear fail by the rule alone
        c = check_point("r_hat", measured, 2.0, [1.0, 3.0], 0.0, unresolved="not in the regime")
        assert c["verdict"] == "inconclusive" and c["unresolved"] == "not in the regime"
    assert check_point("r_hat", 2.0, 2.0, [1.0, 3.0], 0.0)["verdict"] == "pass"
    assert "unresolved" not in check_point("r_hat", 1.0, 2.0, [1.0, 3.0], 0.0)
