"""The decoder variance gamma over training (Theorem 3: gamma -> 0 at the optimum; Figure 1 left).

gamma is a VARIANCE throughout (the paper's convention); ``mse`` is the mean squared pixel error of
the training batches, in data units (images in [0, 1]), as logged by the training loop.
"""

from __future__ import annotations

import math

import numpy as np

# A run's gamma has "converged" when log gamma moved by less than this over the last quarter of its
# logged steps (0.1 nats: gamma changed by less than about 10%). The paper leaves this open.
CONVERGED_TOL = 0.1
TAIL_FRACTION = 0.25


def gamma_trajectory(metrics: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """step, gamma, log_gamma and squared pixel error (mse) columns from a run's metrics."""
    step = np.asarray(metrics["step"], dtype=float)
    log_gamma = np.asarray(metrics["log_gamma"], dtype=float)
    return {"step": step, "log_gamma": log_gamma, "gamma": np.exp(log_gamma),
            "mse": np.asarray(metrics["mse"], dtype=float)}


def gamma_verdict(step: np.ndarray, log_gamma: np.ndarray, tol: float = CONVERGED_TOL,
                  tail: float = TAIL_FRACTION) -> dict:
    """Has gamma stopped moving? Change of log gamma over the last ``tail`` of the logged steps.

    Returns ``final_gamma``, ``tail_change`` (log gamma at the end minus at the start of the tail,
    nats), ``converged`` (|tail_change| < tol), ``fixed`` (gamma never changed: a fixed-gamma run).
    """
    step, lg = np.asarray(step, float), np.asarray(log_gamma, float)
    if len(lg) == 0:
        return {"final_gamma": None, "tail_change": None, "converged": None, "fixed": None}
    start = step[0] + (1.0 - tail) * (step[-1] - step[0])
    i = int(np.searchsorted(step, start))
    change = float(lg[-1] - lg[min(i, len(lg) - 1)])
    fixed = bool(np.ptp(lg) == 0.0)
    return {"final_gamma": math.exp(lg[-1]), "tail_change": change,
            "converged": bool(abs(change) < tol), "fixed": fixed}


SMALL_GAMMA = 0.05  # below this a learned gamma counts as "small" (the verdict's cut; the paper leaves it open)


def gamma_regime(gamma: float | None, mode: str, trajectory: dict | None = None) -> dict:
    """Which regime the model is in, and what follows for Theorems 3-4 and eq. (9).

    ``mode``: "learned", "fixed" or "unknown" (see :func:`vaediag.diagnostics.adapt.gamma_mode_of`);
    a run's ``trajectory`` (:func:`gamma_verdict`) overrides it when gamma never moved.
    Returns {regime: "learned-small" | "learned-large" | "fixed" | "unknown", text}.
    """
    tr = trajectory or {}
    if tr.get("fixed"):
        mode = "fixed"
    if gamma is None:
        return {"regime": "unknown", "text": (
            "gamma is unknown, so Theorems 3-4 cannot be checked; r_hat uses the cut lambda_j < 1/2, which "
            "eq. (73) makes valid for any gamma.")}
    if mode == "fixed":
        return {"regime": "fixed", "text": (
            f"gamma is fixed at {gamma:.3g}: Theorem 3 (gamma -> 0) does not apply and Theorem 4's perfect "
            "reconstruction is not expected; a used direction has lambda_j = gamma / (gamma + s_j^2) (eq. 73), "
            "not O(gamma), so the tau-count undercounts and r_hat uses lambda_j < 1/2 (s_j^2 > gamma); eq. (9)'s "
            "-(r_hat/2) log gamma describes the gamma -> 0 limit only.")}
    what = "learned" if mode == "learned" else "of unknown origin (learned or fixed: declare it with adapt())"
    if gamma < SMALL_GAMMA:
        return {"regime": "learned-small" if mode == "learned" else "unknown", "text": (
            f"gamma is {what} and small ({gamma:.3g}), as Theorem 3 predicts; Theorem 4: reconstructions "
            "should be close to exact and used directions have lambda_j = O(gamma), so eq. (9) gives "
            "2 KL ~ -r_hat log gamma + O(1).")}
    return {"regime": "learned-large" if mode == "learned" else "unknown", "text": (
        f"gamma is {what} but still large ({gamma:.3g} >= {SMALL_GAMMA:g}): Theorems 3-4 describe the "
        "gamma -> 0 limit, which this model has not reached (train longer, or gamma is fixed in effect).")}
