"""Spectra of aggregated-posterior samples against i.i.d. N(0, I) and the Gaussian-fit KL: closed forms and
an SVD computed independently."""

import numpy as np
import pytest
import torch

from vaediag.diagnostics import gaussian_fit_kl, spectrum_gap
from vaediag.diagnostics.spectrum import MomentAccumulator, gaussian_reference, spectrum_summary


def test_iid_gaussian_gap_near_zero_and_anisotropic_gap_large():
    rng = np.random.default_rng(0)
    iid = rng.standard_normal((4000, 32))
    aniso = iid * np.r_[np.ones(8), np.full(24, 0.05)]
    assert spectrum_summary(iid, seed=1)["gap"] < 0.02
    assert spectrum_summary(aniso, seed=1)["gap"] > 0.5


def test_gram_singular_values_match_svd_in_batches():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((300, 7)) * np.arange(1, 8)
    acc = MomentAccumulator(7)
    for i in range(0, 300, 64):
        acc.add(z[i:i + 64])
    np.testing.assert_allclose(acc.singular_values(), np.linalg.svd(z, compute_uv=False), rtol=1e-9)
    ref = gaussian_reference(300, 7, torch.Generator().manual_seed(0), batch=50)
    assert np.all(np.diff(ref) <= 0) and ref.shape == (7,)
    assert spectrum_gap(ref, ref) == 0.0


def test_gaussian_fit_kl_closed_form():
    m, s = np.array([1.0, 0.0, -0.5]), np.array([2.0, 0.5, 1.0])
    expected = 0.5 * np.sum(s ** 2 + m ** 2 - 1 - np.log(s ** 2))
    assert gaussian_fit_kl(m, np.diag(s ** 2)) == pytest.approx(expected)
    assert gaussian_fit_kl(np.zeros(3), np.eye(3)) == 0.0
    assert gaussian_fit_kl(np.zeros(2), np.zeros((2, 2))) is None
    rng = np.random.default_rng(2)
    z = m + s * rng.standard_normal((200000, 3))
    assert spectrum_summary(z)["kl_gaussian_fit"] == pytest.approx(expected, abs=0.01)
