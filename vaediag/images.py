"""Image grids and PNG output (PIL, which matplotlib already requires)."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from vaediag.runs import atomic_write_bytes


def make_grid(x: np.ndarray, nrow: int | None = None, pad: int = 2) -> np.ndarray:
    """(N, C, H, W) floats in [0, 1] -> (rows*(H+pad)+pad, cols*(W+pad)+pad, C) uint8 grid."""
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
    from PIL import Image

    img = grid[..., 0] if grid.shape[-1] == 1 else grid
    im = Image.fromarray(img)
    if scale > 1:
        im = im.resize((im.width * scale, im.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    atomic_write_bytes(Path(path), buf.getvalue())
