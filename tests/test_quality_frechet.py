"""The Fréchet distance against closed forms (Dowson & Landau 1982; Heusel et al. 2017, eq. 6)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from _facts import facts
from vaediag.errors import VaediagError
from vaediag.quality import frechet
from vaediag.quality.frechet import (frechet_distance, frechet_distance_features, gaussian_stats,
                                     trace_sqrt_product, trace_sqrt_product_eigh)


def _rotation(d, rng):
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def test_one_dimensional_closed_form():
    # W2^2 between N(m1, s1^2) and N(m2, s2^2) is (m1 - m2)^2 + (s1 - s2)^2.
    d2 = frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([-2.0]), np.array([[9.0]]))
    assert d2 == pytest.approx(3.0 ** 2 + (2.0 - 3.0) ** 2, rel=1e-12)


def test_diagonal_covariances_closed_form():
    a, b = np.array([1.0, 4.0, 0.25, 9.0]), np.array([4.0, 1.0, 1.0, 0.0])
    mu1, mu2 = np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 1.0, 0.0, 3.0])
    want = 1.0 + 4.0 + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)  # = 5 + 1 + 1 + 0.25 + 9
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(want, rel=1e-10)
    assert want == pytest.approx(16.25)


@given(st.integers(min_value=1, max_value=12), st.integers(min_value=0, max_value=2 ** 32 - 1))
def test_commuting_covariances_closed_form(d, seed):
    # S1 = Q diag(a) Q^T, S2 = Q diag(b) Q^T commute: tr (S1 S2)^{1/2} = sum sqrt(a_i b_i).
    rng = np.random.default_rng(seed)
    q = _rotation(d, rng)
    a, b = rng.uniform(0.01, 10.0, d), rng.uniform(0.0, 10.0, d)
    s1, s2 = (q * a) @ q.T, (q * b) @ q.T
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    want = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    for method in ("sqrtm", "eigh"):
        assert frechet_distance(mu1, s1, mu2, s2, method=method) == pytest.approx(want, rel=1e-7, abs=1e-9 * d)


@given(st.integers(min_value=2, max_value=40), st.integers(min_value=3, max_value=80),
       st.integers(min_value=0, max_value=2 ** 32 - 1))
def test_sqrtm_route_matches_eigendecomposition(d, n, seed):
    # Covariances from n samples in d dimensions: singular whenever n <= d, the FID-at-small-n case.
    rng = np.random.default_rng(seed)
    s1 = np.cov(rng.normal(size=(n, d)) * rng.uniform(0.1, 3, d), rowvar=False)
    s2 = np.cov(rng.normal(size=(n, d)) @ rng.normal(size=(d, d)), rowvar=False)
    t1, t2 = trace_sqrt_product(s1, s2), trace_sqrt_product_eigh(s1, s2)
    assert t1 == pytest.approx(t2, rel=1e-6, abs=1e-8 * (np.trace(s1) + np.trace(s2)))


def test_identical_sets_give_zero_and_noise_increases_distance():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 16)) @ rng.normal(size=(16, 16))
    assert frechet_distance_features(x, x) == pytest.approx(0.0, abs=1e-8)
    d = [frechet_distance_features(x, x + s * rng.normal(size=x.shape)) for s in (0.1, 0.5, 1.0, 2.0)]
    assert all(a < b for a, b in zip(d, d[1:])), d
    # Adding independent noise of variance s^2 to every coordinate of N(0, S): the closed form with
    # commuting S, S + s^2 I (on the sample covariance) holds exactly.
    mu, s = gaussian_stats(x)
    w = np.linalg.eigvalsh(s)
    want = np.sum((np.sqrt(w + 4.0) - np.sqrt(w)) ** 2)
    assert frechet_distance(mu, s, mu, s + 4.0 * np.eye(16)) == pytest.approx(want, rel=1e-8)


def test_eps_offset_fallback_when_sqrtm_fails(monkeypatch):
    real = frechet._sqrtm
    calls = []

    def flaky(a):
        calls.append(a)
        return np.full_like(a, np.nan) if len(calls) == 1 else real(a)

    monkeypatch.setattr(frechet, "_sqrtm", flaky)
    a, b = np.array([1.0, 4.0, 0.0]), np.array([4.0, 1.0, 0.0])
    eps = 1e-6
    got = trace_sqrt_product(np.diag(a), np.diag(b), eps=eps)
    assert len(calls) == 2
    assert got == pytest.approx(np.sum(np.sqrt((a + eps) * (b + eps))), rel=1e-12)


def test_large_imaginary_part_is_refused():
    # diag(-1, 1) is not a covariance: sqrt(-1) = i is not round-off and must not be dropped silently.
    with pytest.raises(VaediagError, match="imaginary"):
        trace_sqrt_product(np.diag([-1.0, 1.0]), np.eye(2))


def test_mismatched_shapes_and_too_few_rows_are_one_sentence_errors():
    with pytest.raises(VaediagError, match="shape"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(VaediagError, match=facts(2, "(1, 4)")):
        gaussian_stats(np.zeros((1, 4)))
