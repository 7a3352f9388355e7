"""The Fréchet distance between two Gaussians, the number behind FID (Heusel et al., 2017, eq. 6):

    d^2 = ||mu_1 - mu_2||^2 + tr(S_1 + S_2 - 2 (S_1 S_2)^{1/2})

Pure numpy: feature matrices in, numbers out. ``S_1 S_2`` is not symmetric, but it is similar to the
PSD matrix ``S_1^{1/2} S_2 S_1^{1/2}``, so its eigenvalues are real and >= 0 and the principal square
root exists; numerically, with fewer samples than feature dimensions (singular covariances), the Schur
square root can pick up a small imaginary part or fail, which is handled below.

Two routes to ``tr (S_1 S_2)^{1/2}``, chosen by ``method``: "eigh" (the default) takes two symmetric
eigendecompositions, using that S_1 S_2 is similar to S_1^{1/2} S_2 S_1^{1/2}; "sqrtm" takes SciPy's
Schur square root of S_1 S_2, as the reference FID code does. They agree up to round-off (tests: closed
forms and real Inception features); "eigh" is several times faster at 2048-d and needs no eps fallback.
SciPy 1.11.2 to 1.12.x return wrong ``sqrtm`` roots for some matrices (scipy issue 19415, fixed by scipy
PR 20212 in 1.13.0), so the "sqrtm" route refuses those releases.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import scipy
import scipy.linalg

from vaediag.errors import VaediagError


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D) of a feature matrix (N, D), in float64."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise VaediagError(f"need a feature matrix of at least 2 rows to estimate a covariance, got shape {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


METHODS = ("eigh", "sqrtm")
DEFAULT_METHOD = "eigh"
# SciPy releases whose linalg.sqrtm can return a wrong root (scipy issue 19415: 1.11.2 and 1.11.3 reported,
# 1.12.0 a duplicate; the fix, scipy PR 20212, is in 1.13.0)
BROKEN_SQRTM = ((1, 11, 2), (1, 13, 0))  # [first broken, first fixed)


def _release(version: str) -> tuple[int, int, int]:
    """(major, minor, micro) of a version string such as "1.12.0rc1" (a pre-release counts as its release)."""
    m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", version)
    if m is None:
        raise VaediagError(f"cannot read the SciPy version {version!r}")
    return int(m[1]), int(m[2]), int(m[3] or 0)


def check_sqrtm_scipy(version: str | None = None) -> None:
    """Refuse the SciPy releases whose ``sqrtm`` is wrong for some matrices (``version``: for tests)."""
    version = scipy.__version__ if version is None else version
    lo, hi = BROKEN_SQRTM
    if lo <= _release(version) < hi:
        raise VaediagError(f"SciPy {version} has a linalg.sqrtm that returns wrong roots for some matrices "
                           f"(fixed in 1.13.0); use the default eigh route or pip install 'scipy>=1.13'")


def trace_sqrt_product(s1: np.ndarray, s2: np.ndarray, eps: float = 1e-6, imag_tol: float = 1e-3) -> float:
    """tr((S_1 S_2)^{1/2}) by ``scipy.linalg.sqrtm`` (refused on SciPy 1.11.2-1.12.x).

    If the root is not finite or does not square back to S_1 S_2 (near-singular covariances), both
    covariances are offset by ``eps * I`` and the root is taken again (as pytorch-fid does). An
    imaginary part on the diagonal larger than ``imag_tol`` (relative to the trace) means the result
    cannot be trusted and raises; a smaller one is numerical residue and is dropped.
    """
    check_sqrtm_scipy()
    a = s1 @ s2
    root = _sqrtm(a)
    if not _good_root(root, a):
        offset = eps * np.eye(s1.shape[0])
        a = (s1 + offset) @ (s2 + offset)
        root = _sqrtm(a)
        if not _good_root(root, a):
            raise VaediagError("the covariance product has no accurate square root even after an eps offset; "
                               "use more samples (n well above the feature dimension)")
    tr = np.trace(root)
    if np.iscomplexobj(root):
        scale = max(1.0, abs(tr.real))
        if np.max(np.abs(np.diagonal(root).imag)) > imag_tol * scale:
            raise VaediagError(f"the covariance square root has an imaginary part of "
                               f"{np.max(np.abs(np.diagonal(root).imag)):.3g}; use more samples")
        tr = tr.real
    return float(tr)


def _sqrtm(a: np.ndarray) -> np.ndarray:
    # scipy warns on singular input; whether the root is usable is checked by _good_root instead
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        return scipy.linalg.sqrtm(a)


def _good_root(root: np.ndarray, a: np.ndarray, rtol: float = 1e-6) -> bool:
    if not np.all(np.isfinite(root)):
        return False
    norm = np.linalg.norm(a)
    return norm == 0 or np.linalg.norm(root @ root - a) <= rtol * norm


def trace_sqrt_product_eigh(s1: np.ndarray, s2: np.ndarray) -> float:
    """tr((S_1 S_2)^{1/2}) = sum_i sqrt(lambda_i(S_1^{1/2} S_2 S_1^{1/2})), by symmetric eigen-decompositions.

    An independent route to the same number (both matrices are similar); negative round-off eigenvalues
    are clipped to 0.
    """
    w, v = np.linalg.eigh((s1 + s1.T) / 2)
    r1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T  # S_1^{1/2}
    m = r1 @ s2 @ r1
    lam = np.linalg.eigvalsh((m + m.T) / 2)
    return float(np.sqrt(np.clip(lam, 0, None)).sum())


def frechet_distance(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray, eps: float = 1e-6,
                     method: str = DEFAULT_METHOD) -> float:
    """Squared Fréchet (2-Wasserstein) distance between N(mu1, s1) and N(mu2, s2); FID when the moments
    are those of Inception pool3 features. Clipped at 0 (round-off can make it slightly negative).

    ``method``: "eigh" (default; symmetric eigendecompositions, several times faster at 2048-d) or "sqrtm"
    (SciPy's Schur square root as in the reference FID code, with the eps fallback); same number.
    """
    if method not in METHODS:
        raise VaediagError(f"the FID method must be 'eigh' or 'sqrtm', got {method!r}")
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(s1, np.float64)), np.atleast_2d(np.asarray(s2, np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise VaediagError(f"the two Gaussians' moments do not match in shape: mean {mu1.shape} vs {mu2.shape}, "
                           f"covariance {s1.shape} vs {s2.shape}")
    diff = mu1 - mu2
    tr = trace_sqrt_product(s1, s2, eps=eps) if method == "sqrtm" else trace_sqrt_product_eigh(s1, s2)
    d2 = diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr
    return float(max(d2, 0.0))


def frechet_distance_features(f1: np.ndarray, f2: np.ndarray, method: str = DEFAULT_METHOD) -> float:
    """Fréchet distance between the Gaussians fitted to two feature matrices (N1, D) and (N2, D)."""
    return frechet_distance(*gaussian_stats(f1), *gaussian_stats(f2), method=method)
