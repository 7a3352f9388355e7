"""Spatial latents: an encoder whose posterior is a (C, H, W) map (diffusers' ``AutoencoderKL``, Stable
Diffusion's VAE, most convolutional VAEs) rather than a vector.

The diagnostics treat such a latent as kappa = C H W numbers (a diagonal Gaussian, eq. 2), flattened in
torch's row-major order: number ``c H W + h W + w`` is channel c at position (h, w). Every per-direction
answer (lambda_j, the KL per number, the perturbations) is the flat answer; this module gives it its
shape back:

- :func:`flatten_posterior` reads spatial (mu, logvar) into (B, kappa) and the latent shape;
- :func:`lambda_map`: mean lambda per channel and position, (C, H, W);
- :func:`r_hat_per_channel`: the r_hat count (lambda_j < 1/2, the cut of eq. 73) of each channel;
  :func:`r_hat_per_position`: how many channels are used at each position, (H, W);
- :func:`channel_sentences`: the verdict by channel, "channel 2: used at 180 of 196 positions".

A latent of shape (C, L) (sequences) is read as (C, 1, L); a flat latent has no shape (None) and none of
this applies. Channels are numbered from 0, as in torch.
"""

from __future__ import annotations

import numpy as np
import torch

from vaediag.diagnostics.eigen import GAMMA_CUT
from vaediag.errors import VaediagError


def flatten_posterior(mu: torch.Tensor, second: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, tuple[int, ...] | None]:
    """(mu (B, kappa), second (B, kappa), latent shape) of a spatial posterior; flat ones pass unchanged
    with shape None. ``second`` must be a log-variance of the mean's shape (a spatial encoder is diagonal)."""
    if mu.dim() <= 2:
        return mu, second, None
    if tuple(second.shape) != tuple(mu.shape):
        raise VaediagError(f"encode() returned a spatial mean of shape {tuple(mu.shape)} with a second output of shape "
                           f"{tuple(second.shape)}; a spatial posterior needs a log-variance of the mean's shape "
                           "(one per latent number)")
    shape = tuple(int(v) for v in mu.shape[1:])
    return mu.reshape(len(mu), -1), second.reshape(len(second), -1), shape


def unflatten(z: torch.Tensor, shape: tuple[int, ...] | None) -> torch.Tensor:
    """Flat latents (B, kappa) back to (B, *shape) for the decoder (unchanged when ``shape`` is None or
    ``z`` is not flat)."""
    if shape is None or z.dim() != 2 or z.shape[1] != int(np.prod(shape)):
        return z
    return z.reshape(len(z), *shape)


def map_shape(shape) -> tuple[int, int, int]:
    """(C, H, W) of a latent shape: (C, H, W) as it is, (C, L) as (C, 1, L)."""
    shape = tuple(int(v) for v in shape)
    if len(shape) == 3:
        return shape
    if len(shape) == 2:
        return (shape[0], 1, shape[1])
    raise VaediagError(f"a latent of shape {shape} has no channel map: give (C, H, W) or (C, L)")


def lambda_map(lambda_mean: np.ndarray, shape) -> np.ndarray:
    """The mean lambda of each latent number as a (C, H, W) map."""
    lam = np.asarray(lambda_mean, dtype=np.float64)
    c, h, w = map_shape(shape)
    if lam.size != c * h * w:
        raise VaediagError(f"{lam.size} eigenvalues do not fill a latent of shape {tuple(shape)}")
    return lam.reshape(c, h, w)


def used_map(lambda_mean: np.ndarray, shape, cut: float = GAMMA_CUT) -> np.ndarray:
    """True where a latent number is used (mean lambda below ``cut``, r_hat's 1/2 by default), (C, H, W)."""
    return lambda_map(lambda_mean, shape) < cut


def r_hat_per_channel(lambda_mean: np.ndarray, shape, cut: float = GAMMA_CUT) -> list[int]:
    """r_hat of each channel: its used numbers (positions); they sum to r_hat."""
    return [int(v) for v in used_map(lambda_mean, shape, cut).sum(axis=(1, 2))]


def r_hat_per_position(lambda_mean: np.ndarray, shape, cut: float = GAMMA_CUT) -> np.ndarray:
    """How many channels are used at each position, (H, W); it sums to r_hat."""
    return used_map(lambda_mean, shape, cut).sum(axis=0).astype(np.int64)


def channel_sentences(lambda_mean: np.ndarray, shape, cut: float = GAMMA_CUT) -> list[str]:
    """One sentence per channel: "channel 2: used at 180 of 196 positions (mean lambda 0.031)"."""
    lam = lambda_map(lambda_mean, shape)
    counts = r_hat_per_channel(lambda_mean, shape, cut)
    positions = lam.shape[1] * lam.shape[2]
    return [f"channel {c}: used at {n} of {positions} positions (mean lambda {lam[c].mean():.3g})"
            for c, n in enumerate(counts)]


def spatial_summary(lambda_mean: np.ndarray, shape, cut: float = GAMMA_CUT) -> tuple[dict, dict]:
    """Summary entries (latent_shape, r_hat_per_channel, channel_used, channel_verdict) and arrays
    (lambda_map, r_hat_per_position) of a spatial latent; empty for a flat one (shape None)."""
    if shape is None:
        return {"latent_shape": None}, {}
    c, h, w = map_shape(shape)
    return ({"latent_shape": [int(v) for v in shape], "r_hat_per_channel": r_hat_per_channel(lambda_mean, shape, cut),
             "positions_per_channel": h * w, "channel_verdict": channel_sentences(lambda_mean, shape, cut)},
            {"lambda_map": lambda_map(lambda_mean, shape), "r_hat_per_position": r_hat_per_position(lambda_mean, shape, cut)})
