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


def test_eq8_figure_draws_the_losses_the_fit_and_the_claim_and_its_alternatives():
    """Constructed losses exactly on slope 3.5 through 6 gammas: the fitted line and the claim's line coincide
    with the points; the alternatives' slopes are 3.0 and 4.0."""
    import numpy as np
    import pytest

    from vaediag.plots.theory import eq8

    g = [2.83e-2, 2e-2, 1.41e-2, 1e-2, 7.07e-3, 5e-3]
    loss = [3.5 * np.log(x) - 1.0 for x in g]
    fig = eq8({"swissroll (d=10)": {"d": 10, "gammas": g, "loss": loss, "slope": 3.5, "se": 0.01, "r_hat_read": 3}})
    ax = fig.axes[0]
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    assert set(lines) == {"held-out loss", "fit 3.5 ± 0.01", "r_hat 3: 3.5", "r_hat 2: 4", "r_hat 4: 3"}
    np.testing.assert_allclose(lines["fit 3.5 ± 0.01"].get_ydata(), loss, atol=1e-9)
    np.testing.assert_allclose(lines["r_hat 3: 3.5"].get_ydata(), loss, atol=1e-9)
    y4 = lines["r_hat 2: 4"].get_ydata()
    assert np.polyfit(np.log(g), y4, 1)[0] == pytest.approx(4.0)
    assert ax.get_title() == "eq. (8): swissroll (d=10)"
