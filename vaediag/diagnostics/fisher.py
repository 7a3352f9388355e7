"""The Fisher (Gauss-Newton) calibration of a Bernoulli decoder's encoder: eq. (73) without a gamma.

A Bernoulli decoder p(x|z) = prod_i Bernoulli(x_i; p_i(z)) has no gamma, and fitting eq. (73)'s plain
J^T J to an encoder at its optimum gives a J^2-weighted mean of p(1 - p), at most 1/4 however long the
model trains: Theorem 3 has no reading there.
Eq. (73)'s argument (supplement section 11: expand the decoder to first order around mu_z(x) and
minimise the expected loss over Sigma_z) goes through with the Bernoulli log-likelihood in its
Gauss-Newton form: its expected curvature in z is the Fisher metric

    F = J_p^T diag(1 / (p (1 - p))) J_p,       J_p = d p / d z at mu_z(x),

in place of J^T J / gamma, and the optimal encoder covariance is Sigma_z^-1 = I + F. Gauss-Newton: the
Hessian of -log p(x|z) in z is F plus sum_i (p_i - x_i) times the curvature of logit_i(z); like eq. (70),
which keeps the decoder to first order, F drops that term (exact when the logits are linear in z, a
sigmoid of a linear map; it averages out over inputs where the residual is uncorrelated with it).
vaediag fits one scale c in Sigma_z^-1 = I + c F over the inputs and directions: c = 1 at the encoder's
optimum (a beta-VAE's is at c = 1 / beta: docs/results/fisher.md), c < 1 an
under-confident encoder (variances larger than the decoder justifies), c > 1 an over-confident one. The
check has no free parameter, unlike gamma.

Computation: diag(1 / sqrt(p (1 - p))) J_p is the Jacobian of g(z) = 2 arcsin(sqrt(p(z))), the
variance-stabilising transform of a Bernoulli mean, so F = J_g^T J_g, and the effective-gamma machinery
of :mod:`vaediag.diagnostics.gamma` applies to g unchanged (same mean-field and eigenbasis conventions;
c = 1 / gamma of that fit). Choices (the paper leaves them open):

- ``CLAMP_EPS = 1e-6``: p is clamped to [eps, 1 - eps] before the transform, so a decode of exactly 0 or
  1 gives a finite g and a zero gain at that pixel (the clamp's gradient) instead of inf or nan. That is
  the limit the Fisher information of a sigmoid decoder reaches anyway (p (1 - p) (d logit / dz)^2 -> 0
  as p -> 0 or 1); eps is far above float32's resolution of 1 - p near 1 (6e-8).
- When one scale c "explains" the encoder: the fit must beat a constant log lambda (R^2 > 0) and either
  account for at least half the variance of log lambda (``MIN_R2 = 0.5``, the same constant as gamma_effective's) or leave a residual of at most
  ``MAX_RMS = log 2`` nats rms (the variances within a factor 2 of (I + c F)^-1 on the rms). The second
  arm is for encoders whose used directions all have similar gains: log lambda then varies little, and
  R^2 is low however well c fits (measured on a trained 8-dimensional digit VAE, all directions used:
  c = 1.01, R^2 0.20, rms 0.51 nats). An R^2 just above 0 with a large residual is a constant fitted to
  noise, and explains nothing.
- ``CALIBRATED = (0.8, 1.25)``: c within a factor 1.25 of 1 (symmetric in log c) reads as calibrated;
  a used direction's variance 1 / (1 + c F_jj) is then within 25 % of the optimum's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vaediag.diagnostics.gamma import MIN_R2, decoder_gains, fit_effective_gamma
from vaediag.errors import UsageError

CLAMP_EPS = 1e-6  # MIN_R2 is gamma_effective's (vaediag.diagnostics.gamma): one minimum for both fits
MAX_RMS = float(np.log(2.0))
CALIBRATED = (0.8, 1.25)


class _ArcsineDecoder:
    """The decoder seen through g(z) = 2 arcsin(sqrt(clamp(p(z), eps, 1 - eps))): J_g^T J_g = F."""

    def __init__(self, model, eps: float = CLAMP_EPS):
        self.model, self.eps = model, eps

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        p = self.model.decode(z)
        return 2.0 * torch.asin(torch.sqrt(p.clamp(self.eps, 1.0 - self.eps)))


def fisher_gains(model, mu: torch.Tensor, second: torch.Tensor, full: bool, rows: int = 16, *,
                 eps: float = CLAMP_EPS, directions=None, step=None) -> tuple[np.ndarray, np.ndarray]:
    """(lambda, gain) pairs, numpy (B, k) each, for :func:`fit_fisher_calibration`.

    ``model.decode`` returns pixel probabilities. A diagonal encoder (``second`` the variances (B, k))
    gives its variances with F_jj at mu_z; a full covariance (``second`` (B, k, k)) gives v_j^T Sigma_z v_j
    with the eigenvalues m_j of F (v_j its eigenvectors), as
    :func:`~vaediag.diagnostics.gamma.decoder_gains` does for J^T J. At most ``rows`` Jacobian-vector
    products at once; ``eps``: the clamp of p (``CLAMP_EPS``); ``directions`` and ``step`` as in
    :func:`~vaediag.diagnostics.gamma.decoder_gains` (a sample of coordinates, a progress callback)."""
    if not 0.0 < eps < 0.5:
        raise UsageError(f"eps must lie strictly between 0 and 1/2, got {eps!r}")
    return decoder_gains(_ArcsineDecoder(model, eps), mu, second, full, rows=rows, directions=directions, step=step)


@dataclass(frozen=True)
class FisherFit:
    """One scale c in Sigma_z^-1 = I + c F fitted to a Bernoulli decoder's encoder (eq. 73, Fisher metric).

    c: the scale (1 at the encoder's optimum; None when no pair carries Fisher information).
    r2: R^2 of log lambda explained by the fit (None when log lambda does not vary).
    rms_log_residual: rms of the residual of log lambda (nats).
    pairs: the (lambda, gain) pairs fitted.
    explains: whether one c explains the encoder (fit inside its range, r2 > 0, and r2 >= min_r2 or
    rms_log_residual <= max_rms).
    reading: "calibrated", "under-confident" (c below ``CALIBRATED``), "over-confident" (above), or None
    when the fit does not explain the encoder.
    """

    c: float | None
    r2: float | None
    rms_log_residual: float | None
    pairs: int
    explains: bool
    reading: str | None


def fit_fisher_calibration(lam: np.ndarray, gain: np.ndarray, min_r2: float = MIN_R2,
                           band: tuple[float, float] = CALIBRATED, max_rms: float = MAX_RMS) -> FisherFit:
    """Least-squares fit of log lambda = -log(1 + c * gain) over paired entries (any shape).

    Args:
        lam, gain: from :func:`fisher_gains`.
        min_r2: the R^2 from which one c explains the encoder ...
        max_rms: ... or the rms residual of log lambda (nats) up to which it does (see the module docstring).
        band: (lo, hi) around 1 within which c reads as calibrated.
    Raises:
        UsageError: ``min_r2`` above 1, ``max_rms`` negative or ``band`` not around 1.
    """
    if not min_r2 <= 1.0:
        raise UsageError(f"min_r2 must be at most 1 (an R^2), got {min_r2!r}")
    if not max_rms >= 0.0:
        raise UsageError(f"max_rms must be a non-negative number of nats, got {max_rms!r}")
    if not (len(band) == 2 and 0.0 < band[0] <= 1.0 <= band[1]):
        raise UsageError(f"band must be (lo, hi) with 0 < lo <= 1 <= hi, got {band!r}")
    fit = fit_effective_gamma(lam, gain, min_r2=float("-inf"))  # gamma = 1 / c; its range check only, the R^2 / rms rule below
    c = None if fit["gamma"] is None else 1.0 / fit["gamma"]
    r2 = fit["r2"]
    rms = fit["rms_log_residual"]
    explains = bool(fit["explains"] and r2 is not None and r2 > 0 and (r2 >= min_r2 or rms <= max_rms))
    reading = None
    if explains:
        reading = "under-confident" if c < band[0] else "over-confident" if c > band[1] else "calibrated"
    return FisherFit(c=c, r2=r2, rms_log_residual=rms, pairs=fit["pairs"],
                     explains=explains, reading=reading)


_MEANING = {"calibrated": "calibrated (c = 1 is the encoder's optimum)",
            "under-confident": "under-confident: its variances are larger than the decoder justifies (c < 1)",
            "over-confident": "over-confident: its variances are smaller than the decoder justifies (c > 1)"}


def reading_text(fit: FisherFit) -> str:
    """One sentence on the fit, citing eq. (73) with the Fisher metric."""
    law = "Sigma_z^-1 = I + c F (eq. 73 with the Bernoulli decoder's Fisher metric F = J_p^T diag(1/(p(1-p))) J_p)"
    if fit.c is None:
        return f"The decoder carries no Fisher information at these inputs, so {law} cannot be fitted."
    if not fit.explains:
        r2 = "undefined" if fit.r2 is None else f"{fit.r2:.2f}"
        return (f"One scale does not explain the encoder's covariances through {law} (c = {fit.c:.3g}, "
                f"R^2 {r2}, log lambda off by {fit.rms_log_residual:.2f} nats rms), so the Fisher calibration "
                "has no reading.")
    return (f"The encoder follows {law} with c = {fit.c:.3g} (R^2 {fit.r2:.2f}, log lambda within "
            f"{fit.rms_log_residual:.2f} nats rms): {_MEANING[fit.reading]}.")
