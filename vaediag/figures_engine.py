"""Figures of the engine: sample grids (supplement Figs. 1-4) and reconstructions (Figs. 5-8).
Functions return matplotlib Figures; saving is the caller's."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from vaediag.images import make_grid  # noqa: E402


def samples_figure(panels: list[tuple[str, np.ndarray]]):
    """Side-by-side sample grids, one titled panel each (grids as from :func:`make_grid`)."""
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.5))
    for ax, (title, grid) in zip(np.atleast_1d(axes), panels):
        ax.imshow(grid.squeeze(-1) if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=255)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.suptitle("Random samples (no cherry-picking)", fontsize=11)
    fig.tight_layout()
    return fig


def reconstructions_figure(recons: dict[str, np.ndarray]):
    """recons: name -> array of 2n images (n inputs then their n reconstructions)."""
    n = len(next(iter(recons.values()))) // 2
    first = next(iter(recons.values()))
    panels = [("ground truth", make_grid(first[:n], nrow=8))]
    panels += [(f"{name} $\\gamma$", make_grid(x[n:], nrow=8)) for name, x in recons.items()]
    fig = samples_figure(panels)
    fig.suptitle("Reconstructions of held-out digits", fontsize=11)
    return fig
