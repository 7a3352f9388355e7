"""Two-sample distances for the two-stage argument (section 4)."""

from __future__ import annotations

import numpy as np
import torch

# Rows of x per block of the pairwise-distance matrix: a block holds at most this many float64 entries
# (8 MiB), so 8,000 x 8,000 points never build a 512 MB matrix (`vaediag theory --quick` spent 9.5 s of
# system time with whole matrices, 0.8 s with blocks and one BLAS thread: docs/theory.md, "Speed").
_BLOCK_ENTRIES = 1 << 20


def mean_distance(x, y) -> float:
    """E|X - Y| over all pairs (x_i, y_j): the mean Euclidean distance, in float64, block by block."""
    x = torch.as_tensor(np.asarray(x), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(y), dtype=torch.float64)
    if len(x) == 0 or len(y) == 0:
        raise ValueError(f"mean_distance needs two non-empty samples, got {len(x)} and {len(y)} points")
    x, y = x.reshape(len(x), -1), y.reshape(len(y), -1)
    # Distances do not change under a common shift; centring on the pooled mean keeps cdist's
    # matrix-product path (|x|^2 + |y|^2 - 2 x.y) from cancelling digits when the data sit far from 0.
    c = torch.cat([x, y]).mean(0)
    x, y = x - c, y - c
    rows = max(1, _BLOCK_ENTRIES // max(1, len(y)))
    total = sum(float(torch.cdist(x[i:i + rows], y).sum()) for i in range(0, len(x), rows))
    return total / (len(x) * len(y))


def energy_distance(x, y, yy: float | None = None) -> float:
    """Squared energy distance 2 E|X - Y| - E|X - X'| - E|Y - Y'| (V-statistic, Euclidean norm).

    Zero iff the two laws agree; scipy's ``energy_distance`` (1-D) is the square root of this. ``yy``: E|Y - Y'|
    (``mean_distance(y, y)``) when the caller already has it, as when several samples are compared to one y."""
    return 2 * mean_distance(x, y) - mean_distance(x, x) - (mean_distance(y, y) if yy is None else yy)


def energy_distance_se(x, y, blocks: int = 4) -> float:
    """Standard error of :func:`energy_distance` of x and y, from its spread over ``blocks`` disjoint pairs of
    blocks (block k: the k-th n/blocks points of each): an estimate on n/blocks points has about ``blocks``
    times the variance of one on n, so se ≈ std over blocks (ddof 1) / sqrt(blocks). Costs 1/blocks of one
    energy distance."""
    x, y = np.asarray(x), np.asarray(y)
    if blocks < 2 or min(len(x), len(y)) < 2 * blocks:
        raise ValueError(f"energy_distance_se needs blocks >= 2 and at least 2 points per block, got {blocks} "
                         f"blocks for {len(x)} and {len(y)} points")
    bx, by = np.array_split(x, blocks), np.array_split(y, blocks)
    eds = np.array([energy_distance(a, b) for a, b in zip(bx, by)])
    return float(eds.std(ddof=1) / np.sqrt(blocks))
