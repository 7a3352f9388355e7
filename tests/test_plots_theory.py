"""The theory lab's figures (plots/theory.py) on constructed data."""


def test_two_stage_figure_projects_on_the_held_out_principal_plane_and_titles_the_distances():
    """Constructed samples: held-out points spread along e1 (var 4) and e2 (var 1) in R^3; the figure's
    first panel must show exactly their projection on (e1, e2) (up to sign), and the titles the numbers."""
    import numpy as np

    from vaediag.plots.theory import two_stage

    rng = np.random.default_rng(0)
    z = rng.standard_normal((500, 3))
    q, _ = np.linalg.qr(z - z.mean(0))  # centred orthonormal columns: the sample covariance is exactly diagonal
    xt = q * np.sqrt(500) * np.array([2.0, 1.0, 0.01]) + 3.0
    fig = two_stage({"xt": xt, "x1": xt + 1.0, "x2": xt, "ed": (0.0305, 0.00916, 0.00256)})
    a0, a1, a2 = fig.axes
    pts = a0.collections[0].get_offsets()
    centred = xt - xt.mean(0)
    np.testing.assert_allclose(np.abs(pts), np.abs(centred[:, :2]), atol=1e-6)
    # stage 1's panel: the same points shifted by (1, 1, 1), i.e. by (+-1, +-1) in the plane (sign of the SVD)
    d = np.asarray(a1.collections[0].get_offsets()) - np.asarray(pts)
    assert np.allclose(np.abs(d), 1.0, atol=1e-6)
    assert a0.get_title() == "held-out data\nsampling floor 0.00256"
    assert a1.get_title().endswith("energy distance 0.0305") and a2.get_title().endswith("energy distance 0.00916")
