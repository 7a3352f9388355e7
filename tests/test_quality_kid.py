"""Known-answer tests of KID (unbiased MMD^2, cubic polynomial kernel k(x, y) = (x y / D + 1)^3)."""

import itertools

import numpy as np
import pytest

from _facts import facts
from vaediag.errors import VaediagError
from vaediag.quality.kid import kid, mmd2_unbiased


def test_point_masses_give_the_closed_form_in_every_subset():
    # D = 1, x = 0, y = 1: k(0,0) + k(1,1) - 2 k(0,1) = 1 + 8 - 2 = 7, the same for any subset
    r = kid(np.zeros((50, 1)), np.ones((60, 1)), subsets=5, subset_size=20)
    assert r["mean"] == pytest.approx(7.0) and r["std"] == pytest.approx(0.0, abs=1e-12)


def test_shifted_gaussians_match_the_population_mmd():
    # D = 1, x ~ N(0, 1), y ~ N(1, 1): E k(x,x') = 3 + 1 = 4; E k(y,y') = (E y^3)^2 + 3 (E y^2)^2 + 3 (E y)^2 + 1
    # = 16 + 12 + 3 + 1 = 32; E k(x,y) = 3 E y^2 + 1 = 7; MMD^2 = 4 + 32 - 14 = 22
    rng = np.random.default_rng(0)
    r = kid(rng.standard_normal((10000, 1)), rng.standard_normal((10000, 1)) + 1.0, subsets=40, subset_size=500)
    assert r["mean"] == pytest.approx(22.0, abs=4 * r["std"] / np.sqrt(40))


def test_identical_sets():
    rng = np.random.default_rng(1)
    f = rng.standard_normal((4000, 8))
    # two halves of one sample: the population MMD^2 is 0
    r = kid(f[:2000], f[2000:], subsets=30, subset_size=300)
    assert abs(r["mean"]) < 4 * r["std"] / np.sqrt(30)
    # the same set on both sides: independent subsets share a row with probability 1/N per pair, so
    # E = -(2/N) (E k(x,x) - E k(x,x')); for N(0, I_8): E k(x,x) = E(|x|^2/8 + 1)^3 = 960/512 + 3*80/64
    # + 3*8/8 + 1 = 9.625 (chi^2_8 moments 8, 80, 960), E k(x,x') = 3 E(x.x')^2 / 64 + 1 = 1.375
    same = kid(f, f, subsets=30, subset_size=300)
    assert same["mean"] == pytest.approx(-(2 / 4000) * (9.625 - 1.375), abs=4 * same["std"] / np.sqrt(30))


def test_mmd2_unbiased_against_the_definition_by_loops():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((5, 3)), rng.standard_normal((4, 3)) + 0.5
    k = lambda a, b: (a @ b / 3 + 1) ** 3
    xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(5), 2)) / 20
    yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(4), 2)) / 12
    xy = sum(k(a, b) for a in x for b in y) / 20
    assert mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-12)


def test_bad_shapes_are_sentences():
    with pytest.raises(VaediagError, match=facts("(5, 2)", "(5, 3)")):
        kid(np.zeros((5, 2)), np.zeros((5, 3)))
    with pytest.raises(VaediagError, match=facts(4, "got 1 and 5")):
        kid(np.zeros((1, 2)), np.zeros((5, 2)))


@pytest.mark.parametrize("n1,n2", [(500, 500), (500, 5000), (1000, 1000)])
def test_subset_size_stays_below_both_set_sizes(n1, n2):
    # with the default subset size 1000 >= n, every subset would be the whole smaller set (spread 0 or
    # one-sided): the subset size becomes half the smaller set, and the spread is a real one
    rng = np.random.default_rng(3)
    r = kid(rng.standard_normal((n1, 4)), rng.standard_normal((n2, 4)) + 0.3, subsets=20)
    assert r["subset_size"] == min(n1, n2) // 2 < min(n1, n2) and "half of the smaller set" in r["subset_size_note"]
    assert r["std"] > 1e-6


def test_subset_size_below_the_sets_is_kept():
    rng = np.random.default_rng(4)
    r = kid(rng.standard_normal((3000, 4)), rng.standard_normal((3000, 4)), subsets=5)
    assert r["subset_size"] == 1000 and r["subset_size_note"] is None
