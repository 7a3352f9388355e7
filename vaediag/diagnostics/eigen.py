"""Eigenvalues lambda_j of the encoder covariance Sigma_z(x) over a data set, and r_hat (eq. 9).

Eq. (9): near the optimum 2 KL ≈ -r_hat log gamma + O(1), r_hat = the number of lambda_j that go to 0
with gamma; supplement eqs. (73)-(74): Sigma_z = (I + J^T J / gamma)^-1 has r eigenvalues
gamma / (gamma + S_i) = O(gamma) and kappa - r eigenvalues equal to 1.

Directions. For a diagonal encoder (vaediag's own, and most VAEs) the eigenvalues are the variances
exp(logvar) and the eigendirections the coordinate axes, the same for every input: "dimension j" is
latent coordinate j. For a full-covariance encoder the eigendirections change with x, so dimension j
means the j-th smallest eigenvalue of each Sigma_z(x) (rank order).

One count, r_hat (the headline, ``summary["r_hat"]``), whatever gamma is: eq. (73) gives a used
direction lambda_j = gamma / (gamma + s_j^2), so lambda_j < 1/2  <=>  s_j^2 > gamma: the decoder's squared
gain along direction j exceeds the decoder noise variance (the direction carries more signal than
noise). As gamma -> 0 every used direction has lambda_j = O(gamma) < 1/2; for gamma fixed at 1 it counts
the directions the decoder uses. Beside it, each under a name that says what it is:

- ``count_by_cut``: the same count at cuts 0.3 .. 0.7 (``CUT_GRID``), its sensitivity to the cut;
  ``r_hat_separation``: the gap in log lambda across 1/2 (log of the smallest mean lambda above it over
  the largest below it; reported, not a criterion); ``r_hat_clear``: whether the count is clear, i.e.
  no direction's mean lambda lies in the band [1/3, 2/3] around 1/2 (s_j^2 within a factor 2 of gamma;
  :func:`vaediag.diagnostics.usage.count_clarity`); an empty side is clear. When it is not clear,
  ``r_hat_in_band`` names the directions in the band and ``r_hat_range`` the counts the band allows.
- ``tau_count``: #{j : mean lambda_j < tau} (tau = ``DEFAULT_TAU`` = 0.1 or ``tau=``), the count that
  assumes gamma -> 0 (used directions at O(gamma)); ``tau_count_by_tau`` over ``TAU_GRID``. It
  undercounts when gamma is not small. ``near_one`` = #{j : mean lambda_j > 0.9}.
- :func:`count_below` is the plain count below any threshold (the theory lab's count of variances
  below 0.05 is ``count_below(lam, 0.05)``).

Summaries saved before 0.3 used ``active_dims``, ``threshold``, ``r_hat_by_threshold`` (the tau-count
and its grid) and ``r_hat_by_cut`` (``LEGACY_KEYS``: old name -> new name); new summaries no longer
write them, and the readers (the verdict, ``vaediag info``) still read old files.
"""

from __future__ import annotations

import numpy as np
import torch

DEFAULT_TAU = 0.1
NEAR_ONE = 0.9
TAU_GRID = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)
# Histogram of supplement Fig. 10: fixed bins over [0, 1.5]; larger values are counted in the last bin.
HIST_EDGES = np.linspace(0.0, 1.5, 61)


GAMMA_CUT = 0.5
CUT_GRID = (0.3, 0.4, 0.5, 0.6, 0.7)


def count_below(lambda_mean: np.ndarray, threshold: float) -> int:
    """#{j : mean lambda_j < threshold}."""
    return int(np.sum(np.asarray(lambda_mean) < threshold))


def r_hat(lambda_mean: np.ndarray, cut: float = GAMMA_CUT) -> int:
    """The headline r_hat: #{j : mean lambda_j < 1/2} (eq. 73: lambda_j = gamma / (gamma + s_j^2) < 1/2
    exactly when s_j^2 > gamma). With a second argument it is :func:`count_below` at that value."""
    return count_below(lambda_mean, cut)


def tau_count(lambda_mean: np.ndarray, tau: float = DEFAULT_TAU) -> int:
    """#{j : mean lambda_j < tau}: the count that assumes gamma -> 0 (see the module docstring)."""
    return count_below(lambda_mean, tau)


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


LEGACY_KEYS = {"active_dims": "tau_count", "threshold": "tau", "r_hat_by_threshold": "tau_count_by_tau",
               "r_hat_by_cut": "count_by_cut"}


def eigen_summary(lambda_mean: np.ndarray, tau: float = DEFAULT_TAU, grid=TAU_GRID) -> dict:
    """The headline ``r_hat`` (lambda_j < 1/2), ``count_by_cut``, ``r_hat_separation``, ``r_hat_clear``,
    ``r_hat_band``, ``r_hat_in_band``, ``r_hat_range`` (:func:`~vaediag.diagnostics.usage.count_clarity`);
    ``tau_count`` at ``tau`` and ``tau_count_by_tau`` over ``grid``; ``near_one``, ``in_between`` (neither
    below tau nor near 1); ``lambda_mean`` (list)."""
    from vaediag.diagnostics.usage import count_clarity

    lm = np.asarray(lambda_mean, dtype=np.float64)
    tc = tau_count(lm, tau)
    near = int(np.sum(lm > NEAR_ONE))
    clarity = count_clarity(lm)
    out = {"r_hat": r_hat(lm), "r_hat_rule": "mean lambda_j < 1/2 (s_j^2 > gamma, eq. 73)",
           "count_by_cut": {f"{c:g}": count_below(lm, c) for c in CUT_GRID}, "r_hat_separation": separation(lm),
           "r_hat_clear": clarity.clear, "r_hat_band": list(clarity.band), "r_hat_in_band": list(clarity.in_band),
           "r_hat_range": list(clarity.r_hat_range),
           "tau_count": tc, "tau": float(tau),
           "tau_count_by_tau": {f"{t:g}": count_below(lm, t) for t in sorted(set(grid) | {tau})},
           "near_one": near, "near_one_threshold": NEAR_ONE, "in_between": int(len(lm) - tc - near),
           "latent_dim": int(len(lm)), "lambda_mean": lm.tolist()}
    return out


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
