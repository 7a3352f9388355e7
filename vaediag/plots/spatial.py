"""Figures of a spatial latent (:mod:`vaediag.diagnostics.spatial`): one small image per channel of the
mean lambda_j (or of the used positions), and where in the image a perturbed direction acts.

- :func:`channel_maps_figure`: a panel per channel of its (H, W) map of mean lambda (0 = used, 1 =
  unused, on a common colour scale [0, 1.2]), titled with its count "used at 180 of 196".
- :func:`where_maps`: for each perturbed direction, the per-pixel standard deviation over its decodes
  along the direction (averaged over the image's channels): zero where decode(mu + eps v_j) does not
  depend on eps, large where the direction acts. :func:`where_figure` shows them beside one decode.

Functions of a Diagnosis's typed fields (``spatial.lambda_map``; ``perturbations.images``, ``.lam``,
``.directions``) that draw and compute nothing else; no backend is chosen.
"""

from __future__ import annotations

import math

import numpy as np

from vaediag.errors import UsageError
from vaediag.plots import new_figure

LAMBDA_MAX = 1.2  # top of the colour scale: lambda_j ~ 1 is unused, a little above it is shown alike


def channel_maps_figure(lambda_map, cut: float = 0.5, used: bool = False, title: str = ""):
    """One image per channel of a spatial latent's lambda map.

    Args:
        lambda_map: a (C, H, W) array of mean lambda per channel and position, or a Diagnosis (its
            ``spatial.lambda_map``).
        cut: the lambda below which a position counts as used (with ``used``).
        used: show where lambda < ``cut`` instead of lambda itself.
        title: the figure's title.

    Returns:
        A matplotlib Figure.

    Raises:
        UsageError: a Diagnosis of a flat latent, or a map that is not (C, H, W).
    """
    if hasattr(lambda_map, "spatial"):  # a Diagnosis
        if lambda_map.spatial is None:
            raise UsageError("this diagnosis has a flat latent: channel maps need a (C, H, W) latent")
        lambda_map = lambda_map.spatial.lambda_map
    lam = np.asarray(lambda_map, dtype=np.float64)
    if lam.ndim != 3:
        raise UsageError(f"lambda_map must be (C, H, W), got shape {lam.shape}: this diagnosis has a flat latent")
    c = lam.shape[0]
    cols = min(c, 8)
    rows = math.ceil(c / cols)
    fig = new_figure((1.8 * cols + 0.8, 1.9 * rows + 0.3))
    axes = fig.subplots(rows, cols, squeeze=False)
    im = None
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i >= c:
            continue
        data = (lam[i] < cut).astype(float) if used else lam[i]
        im = ax.imshow(data, vmin=0.0, vmax=1.0 if used else LAMBDA_MAX, cmap="viridis_r" if not used else "Greys",
                       interpolation="nearest")
        ax.set_title(f"channel {i}: {int((lam[i] < cut).sum())} of {lam[i].size}", fontsize=8)
    if im is not None and not used:
        fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.8, label="mean lambda_j")
    fig.suptitle(title or ("used positions (lambda < %g) per channel" % cut if used else "mean lambda_j per channel"),
                 fontsize=9)
    return fig


def where_maps(images: np.ndarray) -> np.ndarray:
    """(p, H, W): per-pixel standard deviation over the decodes of each direction, mean over channels,
    from ``perturb_images`` (p, S, C, H, W)."""
    x = np.asarray(images, dtype=np.float64)
    if x.ndim != 5:
        raise UsageError(f"perturb_images must be (directions, decodes, C, H, W), got shape {x.shape}")
    return x.std(axis=1).mean(axis=1)


def where_figure(d, rows: list[int] | None = None, max_rows: int = 6):
    """For each shown direction: one decode and the map of where it acts (:func:`where_maps`), titled with
    the direction's index and lambda.

    Args:
        d: a Diagnosis, or its ``perturbations`` section.
        rows: positions in the perturbed directions (default: the smallest-lambda ones and the largest).
        max_rows: at most this many directions.

    Returns:
        A matplotlib Figure.

    Raises:
        UsageError: a diagnosis without perturbation images (vector data), or images of the wrong shape.
    """
    p = getattr(d, "perturbations", d)
    imgs = p.images
    if imgs is None or p.lam is None:
        raise UsageError("this diagnosis kept no perturbation images (vector data); where_figure needs pictures")
    lam = np.asarray(p.lam)[0]
    dirs = np.arange(len(lam)) if p.directions is None else np.asarray(p.directions)
    if rows is None:
        order = np.argsort(lam, kind="stable")
        rows = [int(j) for j in order[:max_rows - 1]] + [int(order[-1])]
    maps = where_maps(imgs[rows])
    fig = new_figure((2.0 * len(rows), 4.2))
    axes = fig.subplots(2, len(rows), squeeze=False)
    top = max(float(maps.max()), 1e-12)
    for col, (j, m) in enumerate(zip(rows, maps)):
        one = np.asarray(imgs[j][0], dtype=np.float64)
        axes[0, col].imshow(one[0] if one.shape[0] == 1 else np.clip(one.transpose(1, 2, 0), 0, 1), cmap="gray")
        axes[1, col].imshow(m, vmin=0.0, vmax=top, cmap="magma")
        axes[0, col].set_title(f"direction {int(dirs[j])}\nlambda {lam[j]:.3g}", fontsize=8)
        for ax in axes[:, col]:
            ax.axis("off")
    axes[1, 0].text(-0.1, 0.5, "where it acts", transform=axes[1, 0].transAxes, rotation=90, va="center", ha="right",
                    fontsize=8)
    return fig
