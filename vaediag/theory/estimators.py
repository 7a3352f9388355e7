"""Classical intrinsic-dimension estimators, to set beside the VAE's r_hat.

* Levina & Bickel (2004) MLE with k neighbours: m_k(x) = [1/(k-1) sum_{j<k} log(T_k(x)/T_j(x))]^-1,
  T_j the distance to the j-th neighbour; the global estimate averages the *inverse* local estimates
  (MacKay & Ghahramani's correction, as in skdim's ``MLE``), i.e. 1 / mean_x(1/m_k(x)).
* TwoNN (Facco et al. 2017): mu = T_2/T_1 is Pareto(d) distributed under local uniformity, so the MLE
  is d = (N - 1) / sum log mu (we discard nothing; duplicates with T_1 = 0 are dropped).
* Affine dimension: the dimension of the smallest affine subspace that holds the sample (the rank of
  the centred sample, singular values above a relative cut). Not an intrinsic dimension: it tells
  whether a decoder *linear* in that many latent directions can reproduce the data exactly.

Each has a pure core on neighbour distances (tested on distances with a known law) and a thin shell
on points, in the scikit-learn style (``fit`` and a fitted ``dimension_``). The neighbour search is
exact: scipy's k-d tree in low dimension, a blocked direct search above (:func:`knn_distances`).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


# A k-d tree prunes only in low dimension; above this many coordinates every query visits most of the
# points anyway: on mnist5k (784 coordinates) scipy's cKDTree took 26 s for one search where the blocked
# search takes 4.4 s for the two estimators (same loaded machine), and its query crashed the process (a
# segmentation fault) in the lab's full run.
KDTREE_MAX_DIM = 16
_BLOCK = 512  # query rows per block of the direct search (a 512 x n float64 block: 20 MB at n = 5,000)


def knn_distances(x: np.ndarray, k: int) -> np.ndarray:
    """(n, k) distances to the k nearest neighbours of each point, itself excluded (sorted ascending).

    Exact either way: scipy's k-d tree (``cKDTree``) up to KDTREE_MAX_DIM coordinates, above it a direct
    search in blocks of rows (squared distances by one matrix product pick the k + 1 candidates, whose
    distances are then computed directly; only a near-tie within rounding, ~1e-12 relative, could swap
    the (k+1)-th neighbour with the next).
    Both take k + 1 neighbours and drop the first column, the point itself at distance 0 (a duplicate of
    the point may come first instead: same distance 0, so the columns are the same)."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    if not 1 <= k < len(x):
        raise ValueError(f"knn_distances needs 1 <= k < number of points, got k={k} with {len(x)} points")
    if x.shape[1] <= KDTREE_MAX_DIM:
        dist, _ = cKDTree(x).query(x, k=k + 1)
        return dist[:, 1:]
    out = np.empty((len(x), k + 1))
    sq = (x * x).sum(1)
    for i in range(0, len(x), _BLOCK):
        a = x[i:i + _BLOCK]
        d2 = sq[i:i + _BLOCK, None] + sq[None, :] - 2.0 * (a @ x.T)  # BLAS: picks the candidates
        idx = np.argpartition(d2, k, axis=1)[:, :k + 1]
        exact = np.sqrt(((a[:, None, :] - x[idx]) ** 2).sum(-1))  # their distances, computed directly
        out[i:i + _BLOCK] = np.sort(exact, axis=1)
    return out[:, 1:]


def mle_from_distances(dist: np.ndarray) -> float:
    """Levina-Bickel MLE from (n, k) sorted neighbour distances (inverse-averaged over points)."""
    dist = dist[(dist[:, 0] > 0)]
    k = dist.shape[1]
    inv = np.log(dist[:, -1:] / dist[:, :-1]).sum(axis=1) / (k - 1)  # 1 / m_k(x)
    return float(1.0 / inv.mean())


def twonn_from_distances(dist: np.ndarray) -> float:
    """TwoNN MLE from (n, >=2) neighbour distances: (N - 1) / sum log(T_2 / T_1)."""
    dist = dist[dist[:, 0] > 0]
    logmu = np.log(dist[:, 1] / dist[:, 0])
    return float((len(logmu) - 1) / logmu.sum())


def affine_dimension(x: np.ndarray, rel_tol: float) -> int:
    """Number of singular values of the centred sample above ``rel_tol`` x the largest one."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    if len(x) < 2:
        raise ValueError(f"affine_dimension needs at least 2 points, got {len(x)}")
    if not 0 < rel_tol < 1:
        raise ValueError(f"affine_dimension needs 0 < rel_tol < 1, got {rel_tol}")
    sv = np.linalg.svd(x - x.mean(0), compute_uv=False)
    # below this the centring's own rounding: a repeated point has dimension 0, not 1 (numpy's matrix_rank rule)
    noise = np.finfo(np.float64).eps * max(x.shape) * np.linalg.norm(x)
    return int((sv > max(rel_tol * sv[0], noise)).sum())


class MLE:
    """Levina-Bickel maximum-likelihood intrinsic dimension, k neighbours (default 20)."""

    def __init__(self, k: int = 20):
        self.k = k

    def fit(self, x: np.ndarray) -> "MLE":
        self.dimension_ = mle_from_distances(knn_distances(x, self.k))
        return self


class TwoNN:
    """TwoNN intrinsic dimension (Facco et al. 2017), maximum-likelihood form."""

    def fit(self, x: np.ndarray) -> "TwoNN":
        self.dimension_ = twonn_from_distances(knn_distances(x, 2))
        return self
