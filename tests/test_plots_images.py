"""Image grids (plots/images.py) against grids built by hand, PNGs read back, and the figures' panels."""

import matplotlib
import numpy as np
import pytest
from PIL import Image

from vaediag.plots.images import make_grid, samples_figure, save_png, vector_samples_figure

matplotlib.use("Agg")


def test_make_grid_places_each_image_with_its_padding_and_quantises():
    x = np.zeros((3, 1, 2, 2), np.float32)
    x[0], x[1], x[2] = 0.0, 0.5, 2.0  # 2.0 is clipped to 1
    g = make_grid(x, nrow=2, pad=1)
    # 2 columns, 2 rows: (2 * (2 + 1) + 1) pixels each way, padding and the empty 4th cell white
    expected = np.full((7, 7, 1), 255, np.uint8)
    expected[1:3, 1:3] = 0
    expected[1:3, 4:6] = 128  # 0.5 * 255 + 0.5 rounds to 128
    expected[4:6, 1:3] = 255
    np.testing.assert_array_equal(g, expected)
    assert make_grid(np.zeros((5, 3, 4, 4)), pad=0).shape == (8, 12, 3)  # ceil(sqrt(5)) = 3 columns, 2 rows


def test_save_png_reads_back_the_same_pixels_upscaled(tmp_path):
    grid = make_grid(np.random.default_rng(0).random((4, 1, 3, 3)), nrow=2)
    save_png(tmp_path / "g.png", grid, scale=2)
    back = np.asarray(Image.open(tmp_path / "g.png"))
    np.testing.assert_array_equal(back[::2, ::2], grid[..., 0])
    assert back.shape == (2 * grid.shape[0], 2 * grid.shape[1])


def test_samples_figure_shows_every_panel_with_its_title():
    grid = make_grid(np.ones((4, 1, 2, 2)), nrow=2)
    fig = samples_figure([("a", grid), ("b", grid)])
    assert [ax.get_title() for ax in fig.axes] == ["a", "b"]
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), grid[..., 0])


def test_vector_samples_are_drawn_on_the_datas_principal_plane():
    z = np.random.default_rng(1).normal(size=(200, 3))
    q, _ = np.linalg.qr(z - z.mean(0))  # centred orthonormal columns: the principal axes are e1, e2, e3
    ref = q * np.sqrt(200) * np.array([5.0, 1.0, 0.01]) + 7.0
    fig = vector_samples_figure(ref, ref[:10])
    pts = np.asarray(fig.axes[0].collections[1].get_offsets())
    np.testing.assert_allclose(np.abs(pts), np.abs(ref[:10, :2] - 7.0), atol=1e-9)
    assert fig.axes[0].get_xlabel() == "principal coordinate 1"


@pytest.mark.parametrize("n", [1, 7])
def test_grid_shape_for_any_count(n):
    g = make_grid(np.zeros((n, 1, 5, 5)), nrow=3)
    assert g.shape == ((-(-n // 3)) * 7 + 2, 3 * 7 + 2, 1)
