"""Singular-value spectra of aggregated-posterior samples (section 4; Figure 1 right).

Stage 1: the matrix Z (n, kappa) of z_i ~ q(z|x_i) over n training inputs; stage 2: U (n, kappa) of
u_i ~ q(u|z_i) on those z; reference: an i.i.d. N(0, I) matrix of the same shape. Eq. (10): if q(z)
were N(0, I) the spectra would match; section 4: stage 2 should bring q(u) close to N(0, I).

Choices the paper leaves open, fixed here:
- the matrix is not centred (a mean away from 0 is a departure from the prior and shows up);
- normalisation: each spectrum is divided by its largest singular value, so it lies in [0, 1] and
  decreases over kappa indices like the paper's right panel (this removes the overall scale, which the
  Gaussian-fit KL below keeps);
- the gap = mean over indices of |s_j / s_1 - g_j / g_1| (0 = same shape as N(0, I), at most 1);
- the test statistic of q(z) against N(0, I): KL(N(m, S) || N(0, I)) = 0.5 (tr S + m^T m - k - log det S)
  of the Gaussian fit (m, S) of the samples (0 for N(0, I), up to sampling error ~ k^2 / (4 n)).
The singular values come from the k x k Gram matrix accumulated over batches (memory flat in n).
"""

from __future__ import annotations

import math

import numpy as np
import torch


class MomentAccumulator:
    """Running sum, Gram matrix Z^T Z and count of sample rows, in float64."""

    def __init__(self, k: int):
        self.s = np.zeros(k)
        self.gram = np.zeros((k, k))
        self.n = 0

    def add(self, z: torch.Tensor | np.ndarray) -> None:
        z = z.detach().double().cpu().numpy() if isinstance(z, torch.Tensor) else np.asarray(z, np.float64)
        self.s += z.sum(0)
        self.gram += z.T @ z
        self.n += z.shape[0]

    def singular_values(self) -> np.ndarray:
        """Singular values of the stacked matrix, descending (sqrt of the Gram eigenvalues)."""
        ev = np.linalg.eigvalsh(self.gram)[::-1]
        return np.sqrt(np.clip(ev, 0.0, None))

    def mean_cov(self) -> tuple[np.ndarray, np.ndarray]:
        m = self.s / self.n
        return m, self.gram / self.n - np.outer(m, m)


def normalised(sv: np.ndarray) -> np.ndarray:
    sv = np.asarray(sv, dtype=np.float64)
    return sv / sv[0] if sv[0] > 0 else sv


def spectrum_gap(sv: np.ndarray, reference: np.ndarray) -> float:
    """Mean |s_j / s_1 - g_j / g_1| over the indices (both spectra descending, same length)."""
    return float(np.mean(np.abs(normalised(sv) - normalised(reference))))


def gaussian_fit_kl(mean: np.ndarray, cov: np.ndarray) -> float | None:
    """KL(N(m, S) || N(0, I)) = 0.5 (tr S + m^T m - k - log det S); None if S is singular."""
    k = len(mean)
    sign, logdet = np.linalg.slogdet(cov)
    if sign <= 0:
        return None
    return float(0.5 * (np.trace(cov) + mean @ mean - k - logdet))


def gaussian_reference(n: int, k: int, generator: torch.Generator, batch: int = 4096) -> np.ndarray:
    """Singular values of an i.i.d. N(0, 1) matrix of shape (n, k), descending."""
    acc = MomentAccumulator(k)
    for i in range(0, n, batch):
        acc.add(torch.randn(min(batch, n - i), k, generator=generator, dtype=torch.float64))
    return acc.singular_values()


def spectrum_summary(samples: np.ndarray, reference: np.ndarray | None = None, seed: int = 0) -> dict:
    """Pure core on a sample matrix (n, k): normalised spectrum, the reference's, gap and Gaussian KL."""
    samples = np.asarray(samples, dtype=np.float64)
    acc = MomentAccumulator(samples.shape[1])
    acc.add(samples)
    if reference is None:
        reference = gaussian_reference(*samples.shape, torch.Generator().manual_seed(seed))
    sv = acc.singular_values()
    return {"spectrum": normalised(sv).tolist(), "gaussian": normalised(reference).tolist(),
            "gap": spectrum_gap(sv, reference), "kl_gaussian_fit": gaussian_fit_kl(*acc.mean_cov())}


def finite_or_none(v):
    return None if v is None or not math.isfinite(v) else v
