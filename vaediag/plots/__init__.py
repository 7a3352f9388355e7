"""Every figure of vaediag: functions of arrays (or of runs) that return a matplotlib ``Figure``.

Figures are made with ``matplotlib.figure.Figure`` directly, never through pyplot's global state,
and no module here selects a backend: in JupyterLab a returned figure shows inline, in scripts and
the CLI it is saved with :func:`save_figure`.

- :mod:`~vaediag.plots.paper`: Figure 1, supplement Figs. 9 and 10.
- :mod:`~vaediag.plots.report`: the self-contained HTML report.
- :mod:`~vaediag.plots.images`: sample grids, reconstructions, PNG output.
- :mod:`~vaediag.plots.theory`: the theory lab's figures.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from matplotlib.figure import Figure

from vaediag.io import atomic_write_bytes


class InlineFigure(Figure):
    """A matplotlib Figure outside pyplot's state that shows itself as a picture in Jupyter.

    IPython displays an object by its ``_repr_png_``; a plain Figure has none (pyplot's inline backend
    registers one only for figures it manages), so a figure made without pyplot would show as
    ``<Figure size ...>`` text."""

    def _repr_png_(self) -> bytes:
        return figure_png(self, dpi=100)


def new_figure(figsize: tuple[float, float]) -> InlineFigure:
    """A Figure that belongs to no pyplot state (nothing to close) and shows inline in Jupyter."""
    return InlineFigure(figsize=figsize)


def figure_bytes(fig: Figure, fmt: str = "png", dpi: int = 100) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def figure_png(fig: Figure, dpi: int = 100) -> bytes:
    return figure_bytes(fig, "png", dpi)


def save_figure(fig: Figure, out: str | os.PathLike, dpi: int = 110) -> Path:
    """Write a figure atomically, in the format of the file's suffix.

    Args:
        fig: a matplotlib Figure (as every figure function of vaediag returns).
        out: the file: .png, .pdf or .svg (no suffix: PNG).
        dpi: dots per inch of a PNG.

    Returns:
        ``out``, as a Path.

    Raises:
        OSError: the folder of ``out`` does not exist or cannot be written.
    """
    out = Path(out)
    atomic_write_bytes(out, figure_bytes(fig, out.suffix.lower().lstrip(".") or "png", dpi))
    return out
