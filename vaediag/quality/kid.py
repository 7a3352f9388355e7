"""Kernel Inception Distance (Bińkowski, Sutherland, Arbel & Gretton, 2018, "Demystifying MMD GANs"):
the unbiased estimate of the squared maximum mean discrepancy between two feature sets with the cubic
polynomial kernel k(x, y) = (x . y / D + 1)^3, D the feature dimension, averaged over random subsets.

    MMD^2_u = 1/(m(m-1)) sum_{i != j} k(x_i, x_j) + 1/(m(m-1)) sum_{i != j} k(y_i, y_j) - 2/m^2 sum_{i,j} k(x_i, y_j)

Unbiased: its expectation is the population MMD^2, 0 when both sets come from one distribution (a
single estimate can be slightly negative). Reported as mean ± standard deviation over ``subsets``
random subsets of ``subset_size`` rows of each set (their defaults, 100 and 1000, as in the paper's
code). A subset as large as a whole set would be that set every time, and the spread would then show
only the other set's resampling (or be exactly 0): the subset size is therefore kept below both set
sizes, at most half the smaller set when ``subset_size`` does not fit (``subset_size_note`` says so).
Pure numpy, float64.
"""

from __future__ import annotations

import numpy as np

from vaediag.errors import VaediagError

SUBSETS, SUBSET_SIZE = 100, 1000


def polynomial_kernel(x: np.ndarray, y: np.ndarray, degree: int = 3, coef: float = 1.0) -> np.ndarray:
    """(x y^T / D + coef) ** degree, D = number of features."""
    return (x @ y.T / x.shape[1] + coef) ** degree


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """The unbiased MMD^2 estimate between the rows of ``x`` (m, D) and ``y`` (n, D)."""
    m, n = len(x), len(y)
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    sxx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(sxx + syy - 2.0 * kxy.mean())


def kid(f1: np.ndarray, f2: np.ndarray, subsets: int = SUBSETS, subset_size: int = SUBSET_SIZE,
        seed: int = 0) -> dict:
    """{mean, std, values, subsets, subset_size}: KID between feature matrices (N1, D) and (N2, D)."""
    f1, f2 = np.asarray(f1, np.float64), np.asarray(f2, np.float64)
    if f1.ndim != 2 or f2.ndim != 2 or f1.shape[1] != f2.shape[1]:
        raise VaediagError(f"KID needs two feature matrices with the same number of columns, got {f1.shape} and {f2.shape}")
    small = min(len(f1), len(f2))
    if small < 4:
        raise VaediagError(f"KID needs at least 4 images in each set, got {len(f1)} and {len(f2)}")
    m, note = subset_size, None
    if subset_size >= small:  # every subset of the smaller set would be the whole set
        m = small // 2
        note = (f"subsets of {m} (half of the smaller set, {small}): subsets of {subset_size} would be the whole set "
                "every time and show no spread")
    if subsets < 1:
        raise VaediagError(f"KID needs at least one subset, got {subsets}")
    rng = np.random.default_rng(seed)
    vals = np.array([mmd2_unbiased(f1[rng.choice(len(f1), m, replace=False)], f2[rng.choice(len(f2), m, replace=False)])
                     for _ in range(subsets)])
    return {"mean": float(vals.mean()), "std": float(vals.std(ddof=1)) if subsets > 1 else 0.0,
            "values": vals.tolist(), "subsets": int(subsets), "subset_size": int(m), "subset_size_note": note}
