"""Perturbations along eigendirections (Fig. 1 centre, supp. Fig. 9) on a decoder that ignores known
coordinates: the image variance is known in closed form."""

import numpy as np
import pytest
import torch
from _ignoring import IgnoringVAE

from vaediag.diagnostics import perturb_directions
from vaediag.diagnostics.perturb import figure_rows, perturbation_table


def test_perturbation_scale_posterior_uses_sqrt_lambda():
    model = IgnoringVAE(d=12, k=6, r=2, active_var=1e-2)
    x = torch.randn(1, 12)
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    fixed = perturb_directions(model, x, scale=1.0, generator=g())
    post = perturb_directions(model, x, scale="posterior", generator=g())
    # along an active direction the noise is sqrt(lambda) = 0.1 times smaller: variance 100 x smaller
    np.testing.assert_allclose(post["variance"][0, :2], fixed["variance"][0, :2] * 1e-2, rtol=1e-4)
    assert fixed["images"].shape == (6, 15, 12)


def test_perturbation_table_and_rows_order_by_lambda():
    lam = np.array([[0.9, 0.01, 0.5], [0.7, 0.03, 0.5]])
    var = np.array([[0.0, 10.0, 2.0], [0.0, 20.0, 4.0]])
    t = perturbation_table(lam, var)
    assert [p["direction"] for p in t] == [1, 2, 0]
    assert t[0]["lambda"] == pytest.approx(0.02) and t[0]["image_variance"] == pytest.approx(15.0)
    assert figure_rows(10, np.arange(10)[::-1].astype(float), smallest=3) == [9, 8, 7, 0]
