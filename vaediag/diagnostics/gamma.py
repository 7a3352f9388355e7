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
