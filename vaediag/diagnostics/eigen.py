"""Eigenvalues lambda_j of the encoder covariance Sigma_z(x) over a data set, and r_hat (eq. 9).

Eq. (9): near the optimum 2 KL ≈ -r_hat log gamma + O(1), r_hat = the number of lambda_j that go to 0
with gamma; supplement eqs. (73)-(74): Sigma_z = (I + J^T J / gamma)^-1 has r eigenvalues
gamma / (gamma + S_i) = O(gamma) and kappa - r eigenvalues equal to 1.

Directions. For a diagonal encoder (vaediag's own, and most VAEs) the eigenvalues are the variances
exp(logvar) and the eigendirections the coordinate axes, the same for every input: "dimension j" is
latent coordinate j. For a full-covariance encoder the eigendirections change with x, so dimension j
means the j-th smallest eigenvalue of each Sigma_z(x) (rank order).

The rule for r_hat (the paper leaves it open): r_hat = #{j : mean_x lambda_j(x) < tau}, default
tau = 0.1. Because inactive dimensions sit at 1 and active ones at O(gamma), any tau well between
gamma and 1 gives the same count on a converged model; :func:`eigen_summary` reports r_hat over a grid
of tau so the reader sees whether that holds, and ``near_one`` = #{j : mean lambda_j > 0.9}.
"""

from __future__ import annotations

import numpy as np
import torch

DEFAULT_TAU = 0.1
NEAR_ONE = 0.9
TAU_GRID = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)
# Histogram of supplement Fig. 10: fixed bins over [0, 1.5]; larger values are counted in the last bin.
HIST_EDGES = np.linspace(0.0, 1.5, 61)


def r_hat(lambda_mean: np.ndarray, tau: float = DEFAULT_TAU) -> int:
    """Number of dimensions whose mean eigenvalue is below ``tau`` (the active dimensions)."""
    return int(np.sum(np.asarray(lambda_mean) < tau))


def histogram(lam: np.ndarray, edges: np.ndarray = HIST_EDGES) -> np.ndarray:
    """Counts of lambda values in ``edges`` (values beyond the last edge go to the last bin)."""
    lam = np.clip(np.asarray(lam, dtype=np.float64).ravel(), edges[0], edges[-1])
    return np.histogram(lam, bins=edges)[0]


def eigen_summary(lambda_mean: np.ndarray, tau: float = DEFAULT_TAU, grid=TAU_GRID) -> dict:
    """r_hat and its sensitivity: ``active_dims`` (at tau), ``near_one``, ``in_between``,
    ``r_hat_by_threshold`` ({tau: r_hat} over ``grid``), ``lambda_mean`` (list)."""
    lm = np.asarray(lambda_mean, dtype=np.float64)
    active = r_hat(lm, tau)
    near = int(np.sum(lm > NEAR_ONE))
    return {"active_dims": active, "threshold": float(tau), "near_one": near, "near_one_threshold": NEAR_ONE,
            "in_between": int(len(lm) - active - near), "latent_dim": int(len(lm)),
            "r_hat_by_threshold": {f"{t:g}": r_hat(lm, t) for t in sorted(set(grid) | {tau})},
            "lambda_mean": lm.tolist()}


class EigenAccumulator:
    """Running per-dimension sums and the histogram of lambda_j over batches (memory flat in n)."""

    def __init__(self, k: int, edges: np.ndarray = HIST_EDGES):
        self.sum = np.zeros(k)
        self.n = 0
        self.edges = edges
        self.counts = np.zeros(len(edges) - 1, dtype=np.int64)

    def add(self, lam: torch.Tensor, full: bool) -> None:
        """lam: (B, k) eigenvalues (coordinate order if diagonal; sort applied for a full covariance)."""
        lam = lam.detach().double().cpu().numpy()
        if full:
            lam = np.sort(lam, axis=1)
        self.sum += lam.sum(0)
        self.n += lam.shape[0]
        self.counts += histogram(lam, self.edges)

    @property
    def mean(self) -> np.ndarray:
        return self.sum / max(self.n, 1)
