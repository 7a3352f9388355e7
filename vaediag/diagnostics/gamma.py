"""The decoder variance gamma over training (Theorem 3: gamma -> 0 at the optimum; Figure 1 left), the
regime a model is in, and the effective gamma of any decoder (the gamma its encoder behaves as, eq. 73).

gamma is a VARIANCE throughout (the paper's convention); ``mse`` is the mean squared pixel error of
the training batches, in data units (images in [0, 1]), as logged by the training loop.
"""

from __future__ import annotations

import math

import numpy as np
import torch

# A run's gamma has "converged" when log gamma moved by less than this over the last quarter of its
# logged steps (0.1 nats: gamma changed by less than about 10%). The paper leaves this open.
CONVERGED_TOL = 0.1
# ... and when the last quarter moved at under half the run's mean rate of log gamma (a run that is still
# falling at its average pace has not converged however small its steps are), unless the whole run moved
# less than CONVERGED_TOL / 4 (gamma changed by under 2.5 % in all: nothing moved to judge a rate by).
STILL_MOVING = 0.5
TAIL_FRACTION = 0.25


def gamma_trajectory(metrics: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Figure 1's gamma history from a run's training metrics (``run.read_metrics(1)``).

    Args:
        metrics: columns of a run's metrics.csv, with ``step``, ``log_gamma`` and ``mse``.

    Returns:
        {``step``, ``log_gamma``, ``gamma``, ``mse``}: float arrays, gamma = exp(log_gamma) (the variance).

    Raises:
        KeyError: a column missing from ``metrics``.
    """
    step = np.asarray(metrics["step"], dtype=float)
    log_gamma = np.asarray(metrics["log_gamma"], dtype=float)
    return {"step": step, "log_gamma": log_gamma, "gamma": np.exp(log_gamma),
            "mse": np.asarray(metrics["mse"], dtype=float)}


def gamma_verdict(step: np.ndarray, log_gamma: np.ndarray, tol: float = CONVERGED_TOL,
                  tail: float = TAIL_FRACTION) -> dict:
    """Has gamma stopped moving? The change of log gamma over the last ``tail`` of the logged steps.

    Args:
        step: the logged steps.
        log_gamma: log gamma at those steps.
        tol: the largest change of log gamma over the tail (nats) that counts as converged.
        tail: the share of the logged steps that is the tail.

    Returns:
        {``final_gamma``, ``tail_change`` (log gamma at the end minus at the start of the tail, nats),
        ``converged`` (|tail_change| < tol, and the tail moving at under ``STILL_MOVING`` times the run's mean
        rate unless the whole run moved less than tol / 4: a short run whose gamma falls steadily by 0.06 is
        still falling, not converged), ``fixed`` (gamma never changed: a fixed-gamma run), ...}.

    Raises:
        IndexError: no logged step.
    """
    step, lg = np.asarray(step, float), np.asarray(log_gamma, float)
    if len(lg) == 0:
        return {"final_gamma": None, "tail_change": None, "converged": None, "fixed": None}
    start = step[0] + (1.0 - tail) * (step[-1] - step[0])
    i = int(np.searchsorted(step, start))
    change = float(lg[-1] - lg[min(i, len(lg) - 1)])
    total = float(lg[-1] - lg[0])
    slowed = abs(total) < tol / 4 or abs(change) / tail < STILL_MOVING * abs(total)  # rates per unit of the run
    fixed = bool(np.ptp(lg) == 0.0)
    return {"final_gamma": math.exp(lg[-1]), "tail_change": change,
            "converged": bool(abs(change) < tol and slowed), "fixed": fixed}


# Below this a gamma (a variance) counts as "small": 0.05 in [0, 1] units (the data range mapped to [0, 1]),
# i.e. a noise standard deviation of about 0.22 of the range. The paper leaves it open; the verdict always
# compares gamma_01 = gamma / s^2 (s the width of the model's data range) with it, never gamma in the
# model's units (a model on (0, 255) data has gamma_01 = gamma / 255^2).
SMALL_GAMMA = 0.05

_EQ73 = "by eq. (73) a used direction has lambda_j = gamma / (gamma + s_j^2), s_j^2 its decoder gain"


def effective_text(effective_01: float | None) -> str:
    """The sentence on gamma_effective (in [0, 1] units), following eq. (73); '' without one."""
    if effective_01 is None:
        return ""
    if effective_01 < SMALL_GAMMA:
        how = (f"small (below {SMALL_GAMMA:g}): {_EQ73}, which is O(gamma_effective) wherever s_j^2 is O(1), as "
               "Theorem 4 describes")
    else:
        how = (f"not small (at least {SMALL_GAMMA:g}): {_EQ73}, so a used direction's lambda_j is set by its gain as "
               "much as by gamma_effective and need not be near 0; Theorem 4's O(gamma) limit is not reached")
    return (f" Its encoder behaves as gamma_effective = {effective_01:.3g} in [0, 1] units (eq. 73 fitted with the "
            f"decoder's Jacobian), {how}; eq. (9) is read with it.")


def gamma_regime(gamma_01: float | None, mode: str, trajectory: dict | None = None,
                 effective_01: float | None = None) -> dict:
    """Which regime the model is in, and what follows for Theorems 3-4 and eq. (9), judged in [0, 1] units.

    ``gamma_01``: gamma / s^2 (s the width of the model's data range); ``mode``: "learned", "fixed",
    "unknown" or "none" (a Bernoulli decoder; see :func:`vaediag.diagnostics.adapt.gamma_mode_of`); a
    run's ``trajectory`` (:func:`gamma_verdict`) overrides it when gamma never moved; ``effective_01``:
    gamma_effective / s^2 (:func:`fit_effective_gamma`), read when the model has no gamma. Returns
    {regime: "learned-small" | "learned-large" | "fixed" | "unknown" | "no-gamma", text}; the text states
    gamma in [0, 1] units only, so the same model on other units reads the same.
    """
    if (trajectory or {}).get("fixed"):
        mode = "fixed"
    if mode == "none":
        return {"regime": "no-gamma", "text": (
            "the decoder is Bernoulli and has no gamma: Theorem 3 (gamma -> 0) has no counterpart; the encoder is "
            "held against eq. (73) with the decoder's Fisher metric instead (the calibration c), and r_hat uses the "
            "cut lambda_j < 1/2.")}
    if gamma_01 is None:
        return {"regime": "unknown", "text": (
            "gamma is unknown, so Theorem 3 cannot be checked; r_hat uses the cut lambda_j < 1/2, which "
            "eq. (73) makes valid for any gamma." + effective_text(effective_01))}
    g = f"{gamma_01:.3g} in [0, 1] units"
    if mode == "fixed":
        return {"regime": "fixed", "text": (
            f"gamma is fixed at {g}: Theorem 3 (gamma -> 0) does not apply and Theorem 4's perfect reconstruction "
            f"is not expected; {_EQ73}, not O(gamma), so the tau-count undercounts and r_hat uses lambda_j < 1/2 "
            "(s_j^2 > gamma); eq. (9)'s -(r_hat/2) log gamma describes the gamma -> 0 limit only.")}
    what = "learned" if mode == "learned" else "of unknown origin (learned or fixed: declare it with adapt())"
    if gamma_01 < SMALL_GAMMA:
        return {"regime": "learned-small" if mode == "learned" else "unknown", "text": (
            f"gamma is {what} and small ({g}, below {SMALL_GAMMA:g}), as Theorem 3 predicts; {_EQ73}, which is "
            "O(gamma) wherever s_j^2 is O(1) (Theorem 4: reconstructions close to exact), so eq. (9) gives "
            "2 KL ~ -r_hat log gamma + O(1).")}
    return {"regime": "learned-large" if mode == "learned" else "unknown", "text": (
        f"gamma is {what} but still large ({g}, at least {SMALL_GAMMA:g}): Theorems 3-4 describe the gamma -> 0 "
        f"limit, which this model has not reached ({_EQ73}, not O(gamma)); train longer, or gamma is fixed in effect.")}


# ---------------------------------------------------------------------------- effective gamma (eq. 73)
# Supplement eq. (73): at the optimum the encoder covariance is Sigma_z = (I + J^T J / gamma)^-1, J the
# decoder's Jacobian at mu_z(x). Whatever the decoder's likelihood, the gamma that best explains the
# encoder's covariances through this equation is the one the encoder behaves as. Choices (the paper
# leaves them open):
# - a diagonal encoder is held against the best DIAGONAL Gaussian of eq. (73)'s objective, whose
#   variances are lambda_j = 1 / (1 + (J^T J)_jj / gamma) (mean field; equal to eq. (73)'s eigenvalues
#   when J's columns are orthogonal); a full covariance is compared in the eigenbasis v_j of J^T J:
#   v_j^T Sigma_z v_j against 1 / (1 + m_j / gamma), m_j the eigenvalues;
# - the fit is least squares in log lambda over every input and direction (a factor 2 off weighs the
#   same at lambda = 0.001 as at 0.3; unused directions, lambda ~ 1 with m_j ~ 0, fit any gamma);
# - how well one gamma fits: the R^2 of log lambda and the rms residual (nats of log lambda); one gamma
#   "explains" the encoder when R^2 >= MIN_R2 = 0.5 (it accounts for at least half the variance of log
#   lambda; at R^2 0.15 a constant fitted to noise would pass) and the fit stays inside its range.
EFFECTIVE_LOG_RANGE = (-30.0, 30.0)
MIN_R2 = 0.5


def fit_effective_gamma(lam: np.ndarray, gain: np.ndarray, min_r2: float = MIN_R2) -> dict:
    """Least-squares fit of log lambda = -log(1 + gain / gamma) over paired entries (any shape).

    Returns {gamma, r2, rms_log_residual, pairs, explains, min_r2}: ``explains`` is False when one gamma does
    not explain the encoder (R^2 < ``min_r2``, default ``MIN_R2``, or the fit runs to the edge of ``EFFECTIVE_LOG_RANGE``, e.g.
    no direction is used); gamma is None when no entry carries decoder gain."""
    lam = np.asarray(lam, np.float64).ravel()
    gain = np.clip(np.asarray(gain, np.float64).ravel(), 0.0, None)
    ok = np.isfinite(lam) & np.isfinite(gain) & (lam > 0)
    lam, gain = lam[ok], gain[ok]
    if len(lam) == 0 or not np.any(gain > 0):
        return {"gamma": None, "r2": None, "rms_log_residual": None, "pairs": int(len(lam)), "explains": False,
                "min_r2": min_r2}
    y = np.log(lam)

    def loss(log_c: float) -> float:
        return float(np.mean((np.log1p(np.exp(log_c) * gain) + y) ** 2))

    grid = np.arange(*EFFECTIVE_LOG_RANGE, 0.25)
    best = grid[int(np.argmin([loss(t) for t in grid]))]
    from scipy.optimize import minimize_scalar

    res = minimize_scalar(loss, bounds=(best - 0.25, best + 0.25), method="bounded", options={"xatol": 1e-10})
    log_c = float(res.x)
    resid = np.log1p(np.exp(log_c) * gain) + y
    tot = float(np.sum((y - y.mean()) ** 2))
    r2 = (1.0 - float(np.sum(resid ** 2)) / tot) if tot > 0 else None
    inside = EFFECTIVE_LOG_RANGE[0] + 0.5 < log_c < EFFECTIVE_LOG_RANGE[1] - 0.5
    return {"gamma": float(np.exp(-log_c)), "r2": r2, "rms_log_residual": float(np.sqrt(np.mean(resid ** 2))),
            "pairs": int(len(lam)), "explains": bool(inside and (r2 is None or r2 >= min_r2)), "min_r2": min_r2}


def _directional(decode, z: torch.Tensor, tangents: torch.Tensor, h: float = 1e-3) -> torch.Tensor:
    """Directional derivatives J v of ``decode`` at the rows of ``z`` along the rows of ``tangents``, flattened
    (rows, d). Exact by the double-vjp identity J v = d/du (v . J^T u) (reverse mode only: torch's forward
    mode costs seconds of imports on first use); central differences when the decoder has no double
    backward (or no autograd at all)."""
    try:
        with torch.enable_grad():
            zz = z.detach().clone().requires_grad_(True)
            out = decode(zz)
            u = torch.zeros_like(out, requires_grad=True)
            (g,) = torch.autograd.grad(out, zz, grad_outputs=u, create_graph=True)  # J^T u, linear in u
            (jv,) = torch.autograd.grad(g, u, grad_outputs=tangents.to(g.dtype))
        return jv.detach().reshape(len(z), -1).double()
    except (RuntimeError, NotImplementedError, TypeError):
        plus, minus = decode(z + h * tangents), decode(z - h * tangents)
        return ((plus.double() - minus.double()) / (2 * h)).reshape(len(z), -1)


@torch.no_grad()
def decoder_gains(model, mu: torch.Tensor, second: torch.Tensor, full: bool, rows: int = 16, directions=None,
                  step=None) -> tuple[np.ndarray, np.ndarray]:
    """(lambda, gain) pairs (B, p) for :func:`fit_effective_gamma`: a diagonal encoder's variances with
    (J^T J)_jj = ||d mu_x / d z_j||^2 at mu_z, for every coordinate j or for the coordinates
    ``directions`` only (the budget ``gain_directions`` of :mod:`vaediag.diagnostics.budget`); a full
    covariance's v_j^T Sigma v_j with the eigenvalues m_j of J^T J (v_j its eigenvectors; every direction).
    At most ``rows`` Jacobian-vector products at once (each keeps a decode's graph: memory grows with it).
    ``step(i)`` is called with the inputs done (progress)."""
    b, k = mu.shape
    eye = torch.eye(k, device=mu.device, dtype=mu.dtype)
    if directions is not None and not full:
        eye = eye[torch.as_tensor(np.asarray(directions), device=mu.device)]
    p = len(eye)
    per = max(1, rows // p)
    lams, gains = [], []
    for i in range(0, b, per):
        m = mu[i:i + per]
        z = m.repeat_interleave(p, 0)  # (n p, k): input i's mu_z once per direction
        t = eye.repeat(len(m), 1)
        jac = torch.cat([_directional(model.decode, z[a:a + rows], t[a:a + rows])  # at most ``rows`` at once
                         for a in range(0, len(z), rows)]).reshape(len(m), p, -1)  # (n, p, d): row j = d mu_x / d z_j
        if not full:
            gains.append(jac.pow(2).sum(-1).cpu().numpy())
            sec = second[i:i + per].double()
            lams.append((sec if directions is None else sec[:, torch.as_tensor(np.asarray(directions), device=sec.device)]).cpu().numpy())
        else:
            jtj = jac @ jac.transpose(1, 2)  # (n, k, k) = J^T J
            mvals, vecs = torch.linalg.eigh(jtj)
            sig = second[i:i + per].double()
            lams.append(torch.einsum("nkj,nkl,nlj->nj", vecs, sig, vecs).cpu().numpy())
            gains.append(mvals.clamp_min(0).cpu().numpy())
        if step is not None:
            step(min(i + per, b))
    return np.concatenate(lams), np.concatenate(gains)
