"""Known-answer tests of r_hat whatever gamma is (lambda_j < 1/2, eq. 73) beside the tau-count."""

import numpy as np
import pytest

from _lingauss import LinearGaussianDiagVAE
from vaediag.diagnostics import diagnose
from vaediag.diagnostics.eigen import CUT_GRID, eigen_summary, r_hat, separation
from vaediag.diagnostics.verdict import verdict


@pytest.mark.parametrize("gamma", [1e-4, 1e-3, 1e-2, 1e-1, 1.0])
def test_r_hat_counts_used_directions_for_every_gamma(gamma):
    # s_j^2 = 3, 10, 30 and three unused directions: eq. (73) lambda_j = gamma / (gamma + s_j^2) < 1/2 for
    # the three used ones at every gamma <= 1 (s_j^2 >= 3 > gamma), lambda_j = 1 for the rest: r = 3.
    m = LinearGaussianDiagVAE([3.0, 10.0, 30.0, 0.0, 0.0, 0.0], gamma)
    s, _ = diagnose(m, m.sample(400), iw_k=0, perturb_inputs=1)
    np.testing.assert_allclose(s["lambda_mean"], gamma / (gamma + np.array([3, 10, 30, 0, 0, 0.0])), rtol=1e-9)
    assert s["r_hat"] == 3 and s["near_one"] == 3
    # the tau-count (tau = 0.1) assumes gamma -> 0: right for small gamma, it misses s^2 = 3 at gamma = 1
    # (lambda = 1/4 > 0.1)
    assert s["tau_count"] == int(np.sum(gamma / (gamma + np.array([3, 10, 30.0])) < 0.1))
    assert s["tau_count"] == (2 if gamma == 1.0 else 3)


def test_r_hat_is_the_signal_to_noise_count_at_gamma_one():
    # gamma = 1 (what a 0.5 * sum-of-squares loss implies): s^2 = 0.5 < gamma is not counted, s^2 = 2 is.
    lam = 1.0 / (1.0 + np.array([0.5, 2.0, 0.0]))
    assert r_hat(lam) == 1 and r_hat(lam, 0.1) == 0


def test_the_two_shapes_of_library_vaes():
    rng = np.random.default_rng(0)
    # 16-d: 6 used directions at 0.15-0.38, 10 unused near 1 (the tau-count says 0)
    lam16 = np.concatenate([rng.uniform(0.15, 0.38, 6), rng.uniform(0.93, 1.0, 10)])
    s = eigen_summary(lam16)
    assert s["r_hat"] == 6 and s["tau_count"] == 0
    # sensitivity: every cut from 0.4 to 0.7 gives 6; 0.3 splits the used group (the spread is reported)
    assert [s["count_by_cut"][f"{c:g}"] for c in CUT_GRID if c >= 0.4] == [6, 6, 6, 6]
    assert s["count_by_cut"]["0.3"] == int(np.sum(lam16 < 0.3))
    assert s["r_hat_separation"] == pytest.approx(np.log(lam16[6:].min() / lam16[:6].max()))
    # 4-d: all four used
    lam4 = rng.uniform(0.15, 0.4, 4)
    s4 = eigen_summary(lam4)
    assert s4["r_hat"] == 4 and s4["tau_count"] == 0 and s4["r_hat_separation"] is None


def test_separation_known_values():
    assert separation(np.array([0.01, 0.2, 0.9, 1.0])) == pytest.approx(np.log(0.9 / 0.2))
    assert separation(np.array([0.9, 1.0])) is None


def _summary(gap1, gap2=None, **kw):
    base = {"gamma": 1.0, "r_hat_by_threshold": {"0.1": 0}, "active_dims": 0, "latent_dim": 4, "threshold": 0.1,
            "near_one": 4, "in_between": 0, "spectrum_gap": {"stage1": gap1, "stage2": gap2}, "kl_gaussian_fit": {}}
    base.update(kw)
    return base


def test_verdict_never_recommends_stage2_below_the_close_cut():
    assert not any("train stage 2" in line for line in verdict(_summary(0.03)))
    assert any("not needed" in line for line in verdict(_summary(0.03)))
    assert any("train stage 2" in line for line in verdict(_summary(0.2)))


def test_verdict_names_the_regime_of_a_declared_fixed_gamma():
    from vaediag.diagnostics.adapt import adapt

    m = LinearGaussianDiagVAE([3.0, 0.0], 1.0)
    s, _ = diagnose(adapt(m, gamma=1.0), m.sample(200), iw_k=0)
    assert s["gamma_regime"]["regime"] == "fixed" and s["gamma_mode"] == "fixed"
    text = " ".join(verdict(s))
    assert "Theorem 3 (gamma -> 0) does not apply" in text and "no training metrics" not in text
    assert "r_hat = 1 of 2" in text


def test_one_r_hat_and_the_other_counts_named_for_what_they_are():
    from vaediag.diagnostics.eigen import LEGACY_KEYS, count_below, tau_count

    lam = np.array([0.001, 0.02, 0.3, 0.45, 0.95, 1.0])
    s = eigen_summary(lam, tau=0.05)
    assert s["r_hat"] == 4 == r_hat(lam) == count_below(lam, 0.5)
    assert s["tau_count"] == 2 == tau_count(lam, 0.05) and s["tau"] == 0.05
    assert s["count_by_cut"] == {"0.3": 2, "0.4": 3, "0.5": 4, "0.6": 4, "0.7": 4}
    assert s["tau_count_by_tau"]["0.05"] == 2 and s["r_hat_range"] == [3, 4]  # 0.45 in the band [1/3, 2/3]
    assert s["r_hat_in_band"] == [3] and s["r_hat_clear"] is False
    assert not set(LEGACY_KEYS) & set(s)  # the old names are no longer written (readers still read old files)
    assert r_hat(lam, 0.05) == count_below(lam, 0.05)  # the theory lab's call r_hat(lam, tau) keeps its meaning


@pytest.mark.parametrize("lam,clear", [([0.01, 0.33, 1.0], True), ([0.01, 0.34, 1.0], False),
                                        ([0.01, 0.66, 1.0], False), ([0.01, 0.67, 1.0], True)])
def test_a_count_is_clear_when_no_mean_lambda_is_in_the_band(lam, clear):
    # the band [1/3, 2/3] around 1/2, on both sides of each edge; the cuts 0.3..0.7 disagree in every case
    s = eigen_summary(np.array(lam))
    assert s["r_hat_clear"] is clear and (s["r_hat_in_band"] == ([] if clear else [1]))
    text = " ".join(verdict({**s, "spectrum_gap": {"stage1": 0.3, "stage2": None}}))
    assert ("no clear count" in text) is (not clear)
    assert (f"r_hat = {s['r_hat']} of 3 latent directions are used" in text) is clear


def test_every_cut_agreeing_is_clear_even_with_a_small_gap():
    s = eigen_summary(np.array([0.01, 0.25, 0.75, 1.0]))  # log(0.75 / 0.25) = 1.1, every cut gives 2
    assert s["r_hat_clear"] and s["r_hat_range"] == [2, 2]
