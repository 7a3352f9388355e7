"""Which latent directions are used, how clearly, and on which inputs (eqs. 9 and 73).

Eq. (73): at the optimum Sigma_z(x) = (I + J^T J / gamma)^-1, so a direction's eigenvalue is
lambda_j = gamma / (gamma + s_j^2), s_j^2 the decoder's squared gain along it. Hence

    lambda_j < 1/2  <=>  s_j^2 > gamma          (``USED_CUT``)

and, since lambda_j / (1 - lambda_j) = gamma / s_j^2, a band of lambda is a band of the direction's
signal-to-noise ratio s_j^2 / gamma. Choices the paper leaves open:

- ``BAND = (1/3, 2/3)``: a mean lambda_j in this closed band means s_j^2 / gamma lies within a factor 2
  of 1 (lambda = 1/3 is s_j^2 = 2 gamma, lambda = 2/3 is s_j^2 = gamma / 2). Such a direction is neither
  clearly used nor clearly unused: a finite training run, a mean-field encoder or a few inputs move it
  across 1/2, and the count r_hat would flip with it. A count is *clear* when no direction lies in the
  band; otherwise the honest answer is the range of counts the band allows (``r_hat_range``).
- Eq. (9) is per input: a direction used on part of the data has a small lambda_j(x) there and lambda near
  1 elsewhere, and its mean can sit above 1/2. ``UsageAccumulator`` keeps, per direction, the fraction
  of inputs with lambda_j(x) < 1/2; ``PARTLY = (0.1, 0.9)``: a direction used on more than 10 % and less
  than 90 % of the inputs is reported as partly used (outside that, "used" or "unused" describes it
  for at least 9 inputs in 10).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vaediag.errors import UsageError

USED_CUT = 0.5  # eq. (73): lambda_j < 1/2 iff s_j^2 > gamma
BAND = (1.0 / 3.0, 2.0 / 3.0)  # s_j^2 / gamma within a factor 2 of 1
PARTLY = (0.1, 0.9)


class UsageAccumulator:
    """Per direction, the fraction of inputs whose lambda_j(x) is below ``cut`` (memory flat in n).

    ``add(lam)`` takes (B, k) per-input eigenvalues, a torch tensor or a numpy array. For a diagonal
    encoder these are the variances in coordinate order; for a full covariance the caller sorts each
    row ascending (direction j = the j-th smallest eigenvalue), as ``EigenAccumulator`` does.
    """

    def __init__(self, k: int, cut: float = USED_CUT):
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise UsageError(f"k must be a positive number of latent directions, got {k!r}")
        if not (np.isfinite(cut) and cut > 0):
            raise UsageError(f"cut must be a positive number, got {cut!r}")
        self.k, self.cut = int(k), float(cut)
        self.below = np.zeros(self.k, dtype=np.int64)  # (k,) inputs with lambda_j(x) < cut
        self.n = 0

    def add(self, lam) -> None:
        """Count one batch of per-input eigenvalues ``lam`` (B, k)."""
        if hasattr(lam, "detach"):
            lam = lam.detach().double().cpu().numpy()
        lam = np.asarray(lam, dtype=np.float64)
        if lam.ndim != 2 or lam.shape[1] != self.k:
            raise UsageError(f"lam must have shape (B, {self.k}), got {lam.shape}")
        if np.isnan(lam).any():
            raise UsageError("lam holds NaN: the encoder's variances are not numbers")
        self.below += np.sum(lam < self.cut, axis=0)
        self.n += lam.shape[0]

    @property
    def fraction(self) -> np.ndarray:
        """(k,) float64: the fraction of inputs with lambda_j(x) < cut (NaN before any input)."""
        if self.n == 0:
            return np.full(self.k, np.nan)
        return self.below / self.n


@dataclass(frozen=True)
class CountClarity:
    """How clearly the mean eigenvalues split into used and unused directions.

    r_hat: #{j : mean lambda_j < 1/2} (eq. 9's count with eq. 73's cut). clear: no direction's mean
    lambda lies in ``band`` (closed). band: the band used. in_band: the directions in the band, ordered
    by mean lambda ascending. r_hat_range: (#{lambda_j < band[0]}, #{lambda_j <= band[1]}), the counts
    the band allows; r_hat_range[0] <= r_hat <= r_hat_range[1], equal when clear.
    """

    r_hat: int
    clear: bool
    band: tuple[float, float]
    in_band: tuple[int, ...]
    r_hat_range: tuple[int, int]


def _vector(values, name: str) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or len(v) == 0:
        raise UsageError(f"{name} must be a non-empty 1-d array (one value per latent direction), got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise UsageError(f"{name} must be finite, got {v[~np.isfinite(v)][:3].tolist()}")
    return v


def _bounds(bounds, name: str) -> tuple[float, float]:
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise UsageError(f"{name} must be a pair (lo, hi) of numbers, got {bounds!r}") from None
    return lo, hi


def count_clarity(lambda_mean, band: tuple[float, float] = BAND) -> CountClarity:
    """r_hat, whether it is clear, and the directions that make it unclear (see the module docstring).

    Args:
        lambda_mean: (k,) mean eigenvalue of Sigma_z(x) per direction, finite and non-negative.
        band: (lo, hi) with 0 < lo < 1/2 < hi < 1; a direction with lo <= lambda <= hi is in the band.
    Raises:
        UsageError: ``lambda_mean`` or ``band`` out of range.
    """
    lm = _vector(lambda_mean, "lambda_mean")
    if np.any(lm < 0):
        raise UsageError(f"lambda_mean must be non-negative (eigenvalues of a covariance), got {lm.min():.3g}")
    lo, hi = _bounds(band, "band")
    if not 0.0 < lo < USED_CUT < hi < 1.0:
        raise UsageError(f"band must satisfy 0 < lo < 1/2 < hi < 1, got ({lo:g}, {hi:g})")
    inside = np.flatnonzero((lm >= lo) & (lm <= hi))
    in_band = tuple(int(j) for j in inside[np.argsort(lm[inside], kind="stable")])
    return CountClarity(r_hat=int(np.sum(lm < USED_CUT)), clear=not in_band, band=(lo, hi), in_band=in_band,
                        r_hat_range=(int(np.sum(lm < lo)), int(np.sum(lm <= hi))))


def partly_used(fraction, bounds: tuple[float, float] = PARTLY) -> tuple[int, ...]:
    """The directions used (lambda_j(x) < 1/2) on a fraction of the inputs strictly inside ``bounds``.

    Args:
        fraction: (k,) :attr:`UsageAccumulator.fraction`, values in [0, 1].
        bounds: (lo, hi) with 0 <= lo < hi <= 1.
    Returns:
        The indices j, ascending.
    """
    fr = _vector(fraction, "fraction")
    if np.any((fr < 0) | (fr > 1)):
        raise UsageError(f"fraction must lie in [0, 1], got values from {fr.min():.3g} to {fr.max():.3g}")
    lo, hi = _bounds(bounds, "bounds")
    if not 0.0 <= lo < hi <= 1.0:
        raise UsageError(f"bounds must satisfy 0 <= lo < hi <= 1, got ({lo:g}, {hi:g})")
    return tuple(int(j) for j in np.flatnonzero((fr > lo) & (fr < hi)))
