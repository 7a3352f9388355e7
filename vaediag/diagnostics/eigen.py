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

The headline count, whatever gamma is (:func:`r_hat_gamma`): the tau-count assumes gamma -> 0. With a
fixed gamma (e.g. gamma = 1, what an MSE loss implies) eq. (73) gives a used direction lambda_j =
gamma / (gamma + s_j^2), which sits well above 0.1 when s_j^2 is a few times gamma. Eq. (73) gives
a gamma-free cut instead: lambda_j < 1/2  <=>  s_j^2 > gamma, i.e. the decoder's squared gain along
direction j exceeds the decoder noise variance -- the direction carries more signal than noise. As
gamma -> 0 every used direction has lambda_j = O(gamma) < 1/2, so the count agrees with the tau-count
on a converged learned-gamma model; for gamma fixed at 1 it counts the directions the decoder uses.
Its sensitivity is reported over ``CUT_GRID`` and by ``separation``: the gap in log lambda across
the cut (log of the smallest mean lambda above 1/2 over the largest below it; large = a clean split).
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


GAMMA_CUT = 0.5
CUT_GRID = (0.3, 0.4, 0.5, 0.6, 0.7)


def r_hat_gamma(lambda_mean: np.ndarray, cut: float = GAMMA_CUT) -> int:
    """Directions separated from 1 whatever gamma is: #{j : mean lambda_j < cut}, cut = 1/2 by
    eq. (73) (lambda_j = gamma / (gamma + s_j^2) < 1/2 exactly when s_j^2 > gamma)."""
    return int(np.sum(np.asarray(lambda_mean) < cut))


def separation(lambda_mean: np.ndarray, cut: float = GAMMA_CUT) -> float | None:
    """log(min lambda above ``cut`` / max lambda below it): the gap in log lambda across the cut (None
    when every direction is on one side; then the gap to 1 or to 0 is what counts: see ``lambda_mean``)."""
    lm = np.asarray(lambda_mean, dtype=np.float64)
    lo, hi = lm[lm < cut], lm[lm >= cut]
    if len(lo) == 0 or len(hi) == 0 or lo.max() <= 0:
        return None
    return float(np.log(hi.min() / lo.max()))


def histogram(lam: np.ndarray, edges: np.ndarray = HIST_EDGES) -> np.ndarray:
    """Counts of lambda values in ``edges`` (values beyond the last edge go to the last bin)."""
    lam = np.clip(np.asarray(lam, dtype=np.float64).ravel(), edges[0], edges[-1])
    return np.histogram(lam, bins=edges)[0]


def eigen_summary(lambda_mean: np.ndarray, tau: float = DEFAULT_TAU, grid=TAU_GRID) -> dict:
    """r_hat and its sensitivity: ``active_dims`` (the tau-count), ``near_one``, ``in_between``,
    ``r_hat_by_threshold`` ({tau: r_hat} over ``grid``); the headline ``r_hat`` (:func:`r_hat_gamma`),
    ``r_hat_by_cut``, ``r_hat_separation``; ``lambda_mean`` (list)."""
    lm = np.asarray(lambda_mean, dtype=np.float64)
    active = r_hat(lm, tau)
    near = int(np.sum(lm > NEAR_ONE))
    return {"active_dims": active, "threshold": float(tau), "near_one": near, "near_one_threshold": NEAR_ONE,
            "in_between": int(len(lm) - active - near), "latent_dim": int(len(lm)),
            "r_hat_by_threshold": {f"{t:g}": r_hat(lm, t) for t in sorted(set(grid) | {tau})},
            "r_hat": r_hat_gamma(lm), "r_hat_rule": "mean lambda_j < 1/2 (s_j^2 > gamma, eq. 73)",
            "r_hat_by_cut": {f"{c:g}": r_hat_gamma(lm, c) for c in CUT_GRID},
            "r_hat_separation": separation(lm), "lambda_mean": lm.tolist()}


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
