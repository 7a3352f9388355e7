import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _facts import facts
from vaediag.theory.estimators import MLE, TwoNN, affine_dimension, mle_from_distances, twonn_from_distances


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


def _with_singular_values(sv, n=400, d=8, seed=0):
    """n points in R^d whose centred sample has exactly the singular values ``sv`` (then zeros), shifted."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, len(sv)))
    u, _ = np.linalg.qr(z - z.mean(0))  # centred orthonormal columns
    v, _ = np.linalg.qr(rng.standard_normal((d, len(sv))))
    return (u * np.asarray(sv)) @ v.T + rng.standard_normal(d) * 10


def test_affine_dimension_on_both_sides_of_its_cut():
    from vaediag.theory.checks_rhat import AFFINE_REL_TOL

    assert AFFINE_REL_TOL == 1e-4
    inside = _with_singular_values([50.0, 20.0, 50.0 * 2e-4])  # third value at 2x the cut: counted
    outside = _with_singular_values([50.0, 20.0, 50.0 * 5e-5])  # at half the cut: not counted
    assert affine_dimension(inside, AFFINE_REL_TOL) == 3
    assert affine_dimension(outside, AFFINE_REL_TOL) == 2
    assert affine_dimension(np.ones((5, 3)), AFFINE_REL_TOL) == 0  # one point repeated: a 0-dim subspace
    with pytest.raises(ValueError, match=facts("affine_dimension", 2, "got 1")):
        affine_dimension(np.ones((1, 3)), AFFINE_REL_TOL)
    with pytest.raises(ValueError, match="rel_tol"):
        affine_dimension(inside, 0.0)


@pytest.mark.parametrize("name, kw, want", [("linear", {"r": 3, "d": 10}, 3), ("swissroll", {"r": 2, "d": 10}, 3),
                                            ("sphere", {"r": 2, "d": 10}, 3), ("torus", {"r": 2, "d": 10}, 4),
                                            ("embedding", {"r": 2, "d": 10}, 10)])
def test_affine_dimension_of_the_lab_manifolds_is_their_construction(name, kw, want):
    """Known by construction: the cube and the roll are rotated from R^3, the sphere sits in R^3, the flat
    torus in R^4; the embedding adds tanh features in all 8 other directions (float32 data)."""
    from vaediag.data import manifolds
    from vaediag.theory.checks_rhat import AFFINE_REL_TOL

    x, _ = manifolds.make(name, n=2000, seed=0, **kw)
    assert affine_dimension(x, AFFINE_REL_TOL) == want


@settings(deadline=None, max_examples=30)
@given(k=st.integers(0, 5), d=st.integers(5, 8), seed=st.integers(0, 2**31 - 1))
def test_affine_dimension_is_the_rank_and_ignores_rotations_and_shifts(k, d, seed):
    """Points spread over a k-dimensional affine subspace of R^d (k independent directions, scales 1-10):
    the count is k, and a rotation plus a shift of the whole sample does not change it."""
    rng = np.random.default_rng(seed)
    if k:
        x = _with_singular_values(rng.uniform(1, 10, k), n=60, d=d, seed=seed)
    else:  # one point repeated: the centring leaves only rounding
        x = np.tile(rng.standard_normal(d), (60, 1))
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    assert affine_dimension(x, 1e-4) == k
    assert affine_dimension(x @ q + rng.standard_normal(d) * 100, 1e-4) == k


@pytest.mark.parametrize("dim", [5, 40])  # the k-d tree (<= KDTREE_MAX_DIM) and the blocked direct search
def test_knn_distances_match_brute_force(dim, monkeypatch):
    """Neighbour distances against all pairwise distances sorted (numpy, no scipy), blocks smaller than n."""
    from vaediag.theory import estimators
    from vaediag.theory.estimators import KDTREE_MAX_DIM, knn_distances

    assert (dim <= KDTREE_MAX_DIM) == (dim == 5)
    monkeypatch.setattr(estimators, "_BLOCK", 64)  # 300 rows: 5 blocks, the last one short
    x = np.random.default_rng(3).standard_normal((300, dim))
    full = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    want = np.sort(full, axis=1)[:, 1:8]
    np.testing.assert_allclose(knn_distances(x, 7), want, rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match=facts("k=5", "5 points")):
        knn_distances(x[:5], 5)


def test_no_scikit_learn_import():
    """The package does not need scikit-learn: a search of its sources finds no import of it."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    hits = [p for p in (root / "vaediag").rglob("*.py") if "sklearn" in p.read_text()]
    assert not hits, hits
