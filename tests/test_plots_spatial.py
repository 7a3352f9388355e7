"""Figures of spatial latents: the where-maps against a constructed answer, the figures' panels."""

import numpy as np
import pytest

from _facts import facts
from vaediag.errors import UsageError
from vaediag.plots.spatial import channel_maps_figure, where_figure, where_maps


def test_where_maps_locate_the_pixels_a_direction_moves():
    rng = np.random.default_rng(0)
    imgs = np.zeros((2, 15, 3, 6, 6))
    eps = rng.standard_normal(15)
    imgs[0, :, :, 1, 2] = eps[:, None]  # direction 0 moves pixel (1, 2) in every channel by eps
    imgs[1, :, 0, 4, 4] = 3 * eps  # direction 1 moves pixel (4, 4) in channel 0 only, three times as much
    m = where_maps(imgs)
    assert m.shape == (2, 6, 6)
    assert m[0, 1, 2] == pytest.approx(eps.std()) and m[0].sum() == pytest.approx(eps.std())
    assert m[1, 4, 4] == pytest.approx(3 * eps.std() / 3)  # mean over the 3 channels
    with pytest.raises(UsageError):
        where_maps(imgs[0])


def test_figures_have_a_panel_per_channel_and_direction():
    lam = np.full((3, 4, 4), 0.95)
    lam[1, :2] = 0.01
    fig = channel_maps_figure(lam)
    titled = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titled == ["channel 0: 0 of 16", "channel 1: 8 of 16", "channel 2: 0 of 16"]
    assert channel_maps_figure(lam, used=True) is not None
    with pytest.raises(UsageError, match=facts("(C, H, W)")):
        channel_maps_figure(lam.ravel())
    from vaediag.diagnostics.sections import Perturbations

    pert = Perturbations(images=np.random.default_rng(1).random((4, 15, 1, 8, 8)).astype(np.float16),
                         lam=np.array([[0.5, 0.01, 0.9, 0.2]]), directions=np.array([3, 10, 40, 77]))
    fig = where_figure(pert, max_rows=3)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[0].startswith("direction 10") and titles[-1].startswith("direction 40")
