"""Image grids and PNG output, and the engine's figures: sample grids (supplement Figs. 1-4),
reconstructions (Figs. 5-8) and, for vector data, samples over held-out data."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from vaediag.io import atomic_write_bytes
from vaediag.plots import new_figure


def make_grid(x: np.ndarray, nrow: int | None = None, pad: int = 2) -> np.ndarray:
    """Images side by side in one picture.

    Args:
        x: (N, C, H, W) floats in [0, 1] (clipped).
        nrow: images per row (default: a square grid).
        pad: white pixels between and around the images.

    Returns:
        A (rows*(H+pad)+pad, cols*(W+pad)+pad, C) uint8 array.

    Raises:
        ValueError: ``x`` that is not (N, C, H, W).
    """
    x = np.clip(np.asarray(x, dtype=np.float32), 0.0, 1.0)
    n, c, h, w = x.shape
    cols = nrow or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    grid = np.ones((rows * (h + pad) + pad, cols * (w + pad) + pad, c), dtype=np.float32)
    for i in range(n):
        r, k = divmod(i, cols)
        top, left = pad + r * (h + pad), pad + k * (w + pad)
        grid[top:top + h, left:left + w] = x[i].transpose(1, 2, 0)
    return (grid * 255.0 + 0.5).astype(np.uint8)


def save_png(path: str | Path, grid: np.ndarray, scale: int = 1) -> None:
    """Write an (H, W, C) uint8 array as PNG atomically (nearest-neighbour upscaling by ``scale``)."""
    from PIL import Image  # Pillow: only where a PNG is written without matplotlib

    img = grid[..., 0] if grid.shape[-1] == 1 else grid
    im = Image.fromarray(img)
    if scale > 1:
        im = im.resize((im.width * scale, im.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    atomic_write_bytes(Path(path), buf.getvalue())


def samples_figure(panels: list[tuple[str, np.ndarray]]) -> Figure:
    """Side-by-side sample grids, one titled panel each.

    Args:
        panels: [(title, grid)], each grid an (H, W, C) uint8 array as :func:`make_grid` returns.

    Returns:
        A matplotlib Figure.

    Raises:
        ValueError: an empty list of panels.
    """
    fig = new_figure((3.2 * len(panels), 3.5))
    axes = fig.subplots(1, len(panels))
    for ax, (title, grid) in zip(np.atleast_1d(axes), panels):
        ax.imshow(grid.squeeze(-1) if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=255)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.suptitle("Random samples (no cherry-picking)", fontsize=11)
    fig.tight_layout()
    return fig


def reconstructions_figure(recons: dict[str, np.ndarray]) -> Figure:
    """recons: name -> array of 2n images (n inputs then their n reconstructions)."""
    n = len(next(iter(recons.values()))) // 2
    first = next(iter(recons.values()))
    panels = [("ground truth", make_grid(first[:n], nrow=8))]
    panels += [(f"{name} $\\gamma$", make_grid(x[n:], nrow=8)) for name, x in recons.items()]
    fig = samples_figure(panels)
    fig.suptitle("Reconstructions of held-out digits", fontsize=11)
    return fig


def vector_samples_figure(reference: np.ndarray, samples: np.ndarray, reference_label: str = "held-out data") -> Figure:
    """Vector samples over held-out data, on the first two principal coordinates of the data."""
    mean = reference.mean(0)
    _, _, vt = np.linalg.svd(reference - mean, full_matrices=False)
    p_ref, p_x = (reference - mean) @ vt[:2].T, (samples - mean) @ vt[:2].T
    fig = new_figure((4.5, 4.5))
    ax = fig.subplots()
    ax.scatter(p_ref[:, 0], p_ref[:, 1], s=4, alpha=0.4, label=reference_label)
    ax.scatter(p_x[:, 0], p_x[:, 1], s=4, alpha=0.6, label="generated")
    ax.set_xlabel("principal coordinate 1")
    ax.set_ylabel("principal coordinate 2")
    ax.legend()
    return fig
