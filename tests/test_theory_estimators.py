import numpy as np
import pytest

from vaediag.theory.estimators import MLE, TwoNN, mle_from_distances, twonn_from_distances


@pytest.mark.parametrize("m", [1, 3, 7])
def test_mle_core_on_poisson_process_distances(m):
    # Homogeneous Poisson process in R^m: the volumes to the j-th neighbour are cumulative sums of
    # exponentials, so T_j = (E_1 + ... + E_j)^(1/m): the MLE's model exactly.
    e = np.random.default_rng(m).exponential(size=(20000, 20)).cumsum(1)
    assert mle_from_distances(e ** (1 / m)) == pytest.approx(m, rel=0.02)


@pytest.mark.parametrize("m", [1, 2, 5, 10])
def test_twonn_core_on_pareto_ratios(m):
    # Facco et al.: mu = T2/T1 ~ Pareto(m), i.e. P(mu > s) = s^-m
    rng = np.random.default_rng(m)
    mu = rng.uniform(size=50000) ** (-1 / m)
    t1 = rng.uniform(0.5, 1.0, size=50000)
    assert twonn_from_distances(np.stack([t1, t1 * mu], 1)) == pytest.approx(m, rel=0.02)


def test_estimators_on_point_clouds_of_known_dimension():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((12, 12)))
    cube = rng.uniform(size=(5000, 4)) @ q[:4]  # a 4-dim cube in R^12
    line = np.outer(rng.uniform(size=3000), q[0])
    assert MLE().fit(cube).dimension_ == pytest.approx(4, abs=0.4)
    assert TwoNN().fit(cube).dimension_ == pytest.approx(4, abs=0.4)
    assert MLE().fit(line).dimension_ == pytest.approx(1, abs=0.1)
    assert TwoNN().fit(line).dimension_ == pytest.approx(1, abs=0.1)


def test_duplicates_are_ignored():
    x = np.random.default_rng(0).standard_normal((2000, 2))
    x = np.concatenate([x, x[:10]])
    assert np.isfinite(TwoNN().fit(x).dimension_) and np.isfinite(MLE().fit(x).dimension_)
