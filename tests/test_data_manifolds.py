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


@pytest.mark.parametrize("r", [1, 2, 3, 5])
def test_teacher_is_exactly_the_student_decoder(r):
    """Realisable by construction: the lab's student decoder (GroupedVAE, kappa = 6) given the teacher's
    weights on r of its inputs (zeros on the rest) maps z to teacher(z[:, :r]), and the data are teacher(u)
    of N(0, I_r) draws: points on the manifold, the law the student's prior pushes forward."""
    import torch

    from vaediag.theory.sweep import GroupedVAE

    layers = manifolds.teacher_layers(r, 10)
    assert [w.shape for w, _ in layers] == [(r, 64), (64, 64), (64, 10)]  # the student decoder's layer sizes
    vae = GroupedVAE(10, 6, [float("nan")], [0], hidden=manifolds.TEACHER_HIDDEN).double()
    with torch.no_grad():
        for i, (w, c) in enumerate(layers):
            vae.dec_w[i][0].zero_()
            vae.dec_w[i][0][: w.shape[0]] = torch.as_tensor(w)
            vae.dec_b[i][0, 0] = torch.as_tensor(c)
        z = torch.randn(1, 300, 6, dtype=torch.float64)
        out = vae.decode(z)[0].numpy()
    np.testing.assert_allclose(out, manifolds.teacher_map(z[0, :, :r].numpy(), 10), rtol=1e-10, atol=1e-10)
    x, truth = manifolds.make("teacher", n=400, seed=7, r=r, d=10)
    u = np.random.default_rng(7).standard_normal((400, r))  # the generator's own draw, re-made
    np.testing.assert_allclose(x, manifolds.teacher_map(u, 10), rtol=1e-5, atol=1e-6)
    assert truth == {**truth, "name": "teacher", "r": r, "d": 10}


@pytest.mark.parametrize("r", [1, 2, 3, 5])
def test_teacher_is_curved_with_affine_dimension_d_and_scale_r(r):
    """Affine dimension d (the lab's cut), at least 9 % of the variance off the best r-dim subspace,
    total variance r on the reference law, and a Jacobian of rank r (local PCA)."""
    from vaediag.theory.checks_rhat import AFFINE_REL_TOL
    from vaediag.theory.estimators import affine_dimension

    x, _ = manifolds.make("teacher", n=8000, seed=1, r=r, d=10)
    assert affine_dimension(x, AFFINE_REL_TOL) == 10
    sv = np.linalg.svd((x - x.mean(0)).astype(np.float64), compute_uv=False)
    assert (sv[r:] ** 2).sum() / (sv ** 2).sum() > 0.09
    assert x.var(0).sum() == pytest.approx(r, rel=0.05)
    assert np.median(manifolds.local_rank(x, n_points=30)) == r


def test_teacher_jacobian_gram_against_finite_differences():
    layers = manifolds.teacher_layers(3, 10)
    u = np.random.default_rng(2).standard_normal((50, 3))
    h = 1e-6
    jac = np.stack([(manifolds._mlp(u + h * e, layers) - manifolds._mlp(u - h * e, layers)) / (2 * h)
                    for e in np.eye(3)], -1)  # (n, d, r)
    np.testing.assert_allclose(manifolds._jacobian_gram(u, layers), np.einsum("ndi,ndj->ij", jac, jac) / 50,
                               rtol=1e-6)
    # whitened: the reference law's average Gram is isotropic (eigenvalues within 10 % of each other)
    ev = np.linalg.eigvalsh(manifolds._jacobian_gram(np.random.default_rng(9).standard_normal((4096, 3)), layers))
    assert ev.max() / ev.min() < 1.1


def test_teacher_layers_are_made_once_and_handed_out_as_copies():
    manifolds._teacher_layers.cache_clear()
    a = manifolds.teacher_layers(2, 10, embed_seed=99)
    a[0][0][:] = 0.0  # a caller changing its copy changes neither the cache nor the data
    b = manifolds.teacher_layers(2, 10, embed_seed=99)
    assert manifolds._teacher_layers.cache_info().misses == 1 and np.abs(b[0][0]).sum() > 0
    x1 = manifolds.make("teacher", n=50, seed=3, r=2, d=10, embed_seed=99)[0]
    manifolds._teacher_layers.cache_clear()
    x2 = manifolds.make("teacher", n=50, seed=3, r=2, d=10, embed_seed=99)[0]
    assert (x1 == x2).all()  # the cached layers give the data the uncached ones give, to the bit
