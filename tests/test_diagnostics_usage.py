"""Known answers for the clarity of r_hat (a band around eq. 73's cut) and for per-input usage (eq. 9)."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from _facts import facts
from vaediag.diagnostics.usage import (BAND, PARTLY, USED_CUT, CountClarity, UsageAccumulator, count_clarity,
                                       partly_used)
from vaediag.errors import UsageError


def test_the_cut_is_eq73s_signal_equal_to_noise_and_the_band_a_factor_two_around_it():
    gamma = 0.3
    for snr, side in [(2.0, BAND[0]), (0.5, BAND[1]), (1.0, USED_CUT)]:  # lambda = gamma / (gamma + s^2)
        assert gamma / (gamma + snr * gamma) == pytest.approx(side)
    assert PARTLY == (0.1, 0.9)


@pytest.mark.parametrize("lam, r_hat, in_band, rng", [
    ([0.001, 0.49, 1.0], 2, (1,), (1, 2)),  # one direction moved by 0.02 ...
    ([0.001, 0.51, 1.0], 1, (1,), (1, 2)),  # ... changes r_hat but neither count is clear
    ([0.4, 0.25, 0.14], 3, (0,), (2, 3)),  # every s_j^2 > gamma, one of them weakly
])
def test_a_direction_near_the_cut_makes_the_count_unclear_and_is_named(lam, r_hat, in_band, rng):
    c = count_clarity(np.array(lam))
    assert c == CountClarity(r_hat=r_hat, clear=False, band=BAND, in_band=in_band, r_hat_range=rng)


@pytest.mark.parametrize("lam, r_hat", [([0.001, 1.0], 1), ([0.001, 0.02, 0.3], 3), ([0.7, 0.9, 1.2], 0),
                                        ([1.0], 0)])
def test_no_direction_in_the_band_is_clear_even_when_one_side_is_empty(lam, r_hat):
    c = count_clarity(lam)
    assert c.clear and c.in_band == () and c.r_hat == r_hat and c.r_hat_range == (r_hat, r_hat)


def test_the_band_is_closed_at_both_ends():
    c = count_clarity([1 / 3, 2 / 3, 0.3333, 0.6667])
    assert c.in_band == (0, 1) and c.r_hat_range == (1, 3) and c.r_hat == 2


def test_band_sensitivity_on_constructed_vectors():
    lam = np.array([0.9, 0.47, 0.01, 0.6, 0.3, 1.0])
    # by hand: below 1/2 are 0.01, 0.3, 0.47 -> r_hat 3 whatever the band
    narrow, default, wide = count_clarity(lam, (0.45, 0.55)), count_clarity(lam), count_clarity(lam, (0.2, 0.8))
    assert narrow.in_band == (1,) and narrow.r_hat_range == (2, 3)  # 0.47; < 0.45: 0.01, 0.3; <= 0.55: + 0.47
    assert default.in_band == (1, 3) and default.r_hat_range == (2, 4)  # 0.47, 0.6
    assert wide.in_band == (4, 1, 3) and wide.r_hat_range == (1, 4)  # 0.3, 0.47, 0.6 by lambda
    assert {narrow.r_hat, default.r_hat, wide.r_hat} == {3}
    clear_only_when_narrow = [0.01, 0.3, 0.9]
    assert count_clarity(clear_only_when_narrow, (0.45, 0.55)).clear
    assert not count_clarity(clear_only_when_narrow, (0.2, 0.8)).clear
    assert count_clarity(clear_only_when_narrow).clear  # 0.3 < 1/3


@pytest.mark.parametrize("lam, band, words", [
    (np.ones((2, 3)) * 0.5, BAND, "1-d"), ([], BAND, "non-empty"), ([0.1, np.nan], BAND, "finite"),
    ([0.1, np.inf], BAND, "finite"), ([0.1, -0.01], BAND, "non-negative"), ([0.1], (0.5, 0.7), "0 < lo < 1/2"),
    ([0.1], (0.2, 1.0), "hi < 1"), ([0.1], (0.6, 0.4), "lo"), ([0.1], 0.3, "pair"),
])
def test_bad_input_is_one_sentence_naming_the_argument(lam, band, words):
    with pytest.raises(UsageError, match=words) as e:
        count_clarity(lam, band)
    assert ("lambda_mean" in str(e.value)) != ("band" in str(e.value)) and "\n" not in str(e.value)


def test_a_direction_used_on_half_the_inputs_is_partly_used_though_its_mean_is_above_the_cut():
    n = 40
    lam = np.ones((n, 3))
    lam[: n // 2, 0] = 0.01  # direction 0: used on the first half only
    lam[:, 1] = 0.01  # direction 1: used everywhere; direction 2: nowhere
    acc = UsageAccumulator(3)
    for i in range(0, n, 7):  # uneven batches, torch and numpy
        acc.add(torch.from_numpy(lam[i:i + 7]).float() if i % 2 else lam[i:i + 7])
    assert acc.n == n
    np.testing.assert_array_equal(acc.fraction, [0.5, 1.0, 0.0])
    assert acc.fraction.dtype == np.float64
    mean = lam.mean(0)
    assert mean[0] == pytest.approx(0.505)
    assert count_clarity(mean).r_hat == 1  # the mean does not count direction 0 ...
    assert partly_used(acc.fraction) == (0,)  # ... the per-input fraction names it


def test_accumulator_cut_memory_and_bad_batches():
    acc = UsageAccumulator(2, cut=0.1)
    assert np.isnan(acc.fraction).all()
    for _ in range(50):
        acc.add(np.array([[0.05, 0.2], [0.1, 0.05]]))  # 0.1 is not below a cut of 0.1
    assert acc.below.shape == (2,) and acc.n == 100
    np.testing.assert_array_equal(acc.fraction, [0.5, 0.5])
    with pytest.raises(UsageError, match=r"shape \(B, 2\)"):
        acc.add(np.zeros((3, 4)))
    with pytest.raises(UsageError, match="NaN"):
        acc.add(np.full((1, 2), np.nan))
    for k in (0, 2.5, True):
        with pytest.raises(UsageError, match=facts("k", repr(k))):
            UsageAccumulator(k)
    with pytest.raises(UsageError, match=facts("cut", 0)):
        UsageAccumulator(2, cut=0)


def test_partly_used_bounds_are_strict_and_checked():
    fr = np.array([0.0, 0.1, 0.11, 0.5, 0.89, 0.9, 1.0])
    assert partly_used(fr) == (2, 3, 4)
    assert partly_used(fr, (0.0, 1.0)) == (1, 2, 3, 4, 5)
    with pytest.raises(UsageError, match=facts("fraction", "[0, 1]", 1.2)):
        partly_used([0.5, 1.2])
    with pytest.raises(UsageError, match=facts("bounds", "(0.9, 0.1)")):
        partly_used([0.5], (0.9, 0.1))


def _independent_clarity(lam, lo, hi):
    """The rule written out direction by direction."""
    r_hat = 0
    band = []
    for j, v in enumerate(lam):
        if v < 0.5:
            r_hat += 1
        if lo <= v <= hi:
            band.append((v, j))
    low = len([v for v in lam if v < lo])
    high = len([v for v in lam if v <= hi])
    return r_hat, [j for _, j in sorted(band)], (low, high)


@given(st.lists(st.floats(0.0, 2.0), min_size=1, max_size=12),
       st.floats(0.01, 0.49), st.floats(0.51, 0.99))
def test_count_clarity_matches_an_independent_rule(lam, lo, hi):
    c = count_clarity(np.array(lam), (lo, hi))
    r_hat, in_band, rng = _independent_clarity(lam, lo, hi)
    assert c.r_hat == r_hat and list(c.in_band) == in_band and c.r_hat_range == rng
    assert c.clear == (not in_band)
    assert c.r_hat_range[0] <= c.r_hat <= c.r_hat_range[1]
    assert c.clear == (c.r_hat_range[0] == c.r_hat_range[1])
