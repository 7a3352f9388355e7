import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from vaediag.data import manifolds
from vaediag.data import load_dataset
from vaediag.errors import VaediagError


@pytest.mark.parametrize("name", sorted(manifolds.REGISTRY))
def test_generator_shape_truth_and_local_rank(name):
    x, truth = manifolds.make(name, n=20000, seed=3)
    assert x.dtype == np.float32 and x.shape == (20000, truth["d"])
    assert {"name", "r", "d", "measure"} <= set(truth)
    ranks = manifolds.local_rank(x, n_points=30)
    assert np.all(ranks == truth["r"]), (name, np.bincount(ranks))


def test_truth_table_lists_every_generator():
    table = manifolds.truth_table()
    assert [t["name"] for t in table] == list(manifolds.REGISTRY)


@settings(max_examples=8)
@given(name=st.sampled_from(["linear", "sphere", "embedding"]), r=st.integers(1, 3), extra=st.integers(1, 6),
       seed=st.integers(0, 10_000))
def test_stated_d_and_local_rank_r(name, r, extra, seed):
    d = r + extra
    x, truth = manifolds.make(name, n=6000, seed=seed, r=r, d=d)
    assert x.shape == (6000, d) and truth["r"] == r and truth["d"] == d
    assert np.median(manifolds.local_rank(x, n_points=20, seed=seed)) == r


def test_known_geometry():
    x, _ = manifolds.make("sphere", n=500, r=3, d=7)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    x, _ = manifolds.make("linear", n=500, r=3, d=9)
    s = np.linalg.svd(x, compute_uv=False)
    assert s[2] > 1 and s[3] < 1e-4  # exactly a 3-dim subspace through 0
    # torus: the 2r coordinates before rotation come in (cos, sin) pairs: |x| = sqrt(r)
    x, _ = manifolds.make("torus", n=500, r=2, d=6)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), np.sqrt(2), atol=1e-5)


def test_embedding_is_a_graph_with_left_inverse():
    # A^T x = u exactly (A, B orthonormal with orthogonal ranges), so the map is injective
    u = np.random.default_rng(0).standard_normal((100, 2))
    x = manifolds.embedding_map(u, 10)
    a = manifolds._embedding_params(2, 10, 1234)[0]
    np.testing.assert_allclose(x @ a, u, atol=1e-12)


def test_embedding_latent_law_is_skewed_with_unit_variance():
    x, _ = manifolds.make("embedding", n=200_000, r=1, d=3, seed=1)
    a = manifolds._embedding_params(1, 3, 1234)[0]
    u = (x @ a)[:, 0].astype(np.float64)
    assert abs(u.mean()) < 0.01 and abs(u.var() - 1) < 0.02
    skew = ((u - u.mean()) ** 3).mean() / u.std() ** 3
    assert abs(skew - np.sqrt(2)) < 0.1  # Gamma(2) skewness = 2 / sqrt(2)


def test_mixture_moments_match_parameters():
    x, t = manifolds.make("mixture", n=400_000, d=3, seed=2)
    w, m, s = manifolds.mixture_params(3)
    np.testing.assert_allclose(x.mean(0), w @ m, atol=0.01)
    assert t["r"] == t["d"] == 3


def test_seed_fixes_sample_and_embedding_is_shared():
    a, _ = manifolds.make("swissroll", n=50, seed=1)
    b, _ = manifolds.make("swissroll", n=50, seed=1)
    c, _ = manifolds.make("swissroll", n=50, seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    # both samples lie in the same 3-dim subspace of R^10
    s = np.linalg.svd(np.concatenate([a, c]), compute_uv=False)
    assert s[3] < 1e-5


@pytest.mark.parametrize("name,params,match", [
    ("nope", {}, "unknown manifold"),
    ("sphere", {"r": 5, "d": 5}, "needs d >= 6"),
    ("swissroll", {"r": 3}, "2-dimensional"),
    ("mixture", {"r": 2, "d": 3}, "r must equal d"),
    ("torus", {"radius": 2}, "takes no parameter radius"),
])
def test_bad_parameters_say_what_is_wrong(name, params, match):
    with pytest.raises(VaediagError, match=match):
        manifolds.make(name, n=10, **params)


def test_engine_reads_manifold_spec():
    ds = load_dataset("manifold:torus?r=2&d=8&n=200", seed=0)
    assert ds.train.shape[1] == 8 and ds.info["truth"]["r"] == 2
