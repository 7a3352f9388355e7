import math

import numpy as np
import pytest
from scipy import integrate, stats

from vaediag.theory import constructions as C


def test_mixture1d_against_scipy_and_inverse():
    m = C.THM1_1D
    x = np.linspace(-6, 6, 41)
    ref = sum(w * stats.norm(mu, s).pdf(x) for w, mu, s in zip(m.w, m.m, m.s))
    refc = sum(w * stats.norm(mu, s).cdf(x) for w, mu, s in zip(m.w, m.m, m.s))
    np.testing.assert_allclose(np.exp(m.logpdf(x)), ref, rtol=1e-12)
    np.testing.assert_allclose(m.cdf(x), refc, rtol=1e-12)
    z = np.linspace(-8, 8, 101)
    np.testing.assert_allclose(m.to_normal(m.from_normal(z)), z, atol=1e-9)
    # F^-1(G(z)) pushes N(0,1) to p_gt: check the quantiles
    np.testing.assert_allclose(m.cdf(m.from_normal(z)), stats.norm.cdf(z), atol=1e-13)


def test_quadrature_on_linear_gaussian_decoder_matches_closed_form():
    # f(z) = a z + b: p_t(x) = N(x | b, a^2 + gamma); the exact posterior is N(a(x-b)/(a^2+gamma),
    # gamma/(a^2+gamma)); the encoder of eqs. (13)-(14) is N((x-b)/a, gamma/a^2). KL between 1-D Gaussians.
    a, b, gamma = 1.7, 0.3, 0.05
    x = np.array([[-1.0], [0.2], [2.5]])
    z_star = (x[:, 0] - b) / a
    lp, kl = C.quad_1d_latent(lambda z: (a * z + b)[..., None], x, z_star, np.full(3, a * a), gamma)
    np.testing.assert_allclose(lp, stats.norm(b, math.sqrt(a * a + gamma)).logpdf(x[:, 0]), atol=1e-9)
    mq, vq = z_star, gamma / a**2
    mp, vp = a * (x[:, 0] - b) / (a * a + gamma), gamma / (a * a + gamma)
    kl_ref = 0.5 * (np.log(vp / vq) + (vq + (mq - mp) ** 2) / vp - 1)
    np.testing.assert_allclose(kl, kl_ref, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("t", [1.0, 100.0])
def test_theorem1_1d_p_t_is_p_gt_smoothed(t):
    # eq. (11): p_t = p_gt * N(0, gamma_t); for a Gaussian mixture the variances grow by gamma_t
    o = C.theorem1_1d([t])
    m = C.THM1_1D
    ref = C.Mixture1D(m.w, m.m, np.sqrt(m.s**2 + 1 / t)).logpdf(o["x"])
    np.testing.assert_allclose(o["log_p_t"][0], ref, atol=1e-5)
    assert np.all(o["kl"] >= -1e-9)


def test_theorem1_2d_importance_sampling_matches_closed_form():
    xs = np.array([[0.0, 0.0], [-1.0, 0.5]])
    o = C.theorem1_2d([100.0], xs=xs, m=2000, n_boot=20)
    ref = C.THM1_2D.logpdf_smoothed(xs, 0.01)
    assert np.all(np.abs(o["log_p_t"][0] - ref) < 4 * o["log_p_t_se"][0] + 1e-3)


def test_mixture2d_rosenblatt_and_jacobian():
    m = C.THM1_2D
    z = np.array([[0.3, -1.2], [-0.7, 0.4], [1.5, 1.5]])
    x = m.decode(z)
    np.testing.assert_allclose(m.encode_mean(x), z, atol=1e-8)
    J = m.jacobian(z, x)
    h = 1e-6
    for j in range(2):
        e = np.zeros(2)
        e[j] = h
        fd = (m.decode(z + e) - m.decode(z - e)) / (2 * h)
        np.testing.assert_allclose(J[:, :, j], fd, rtol=1e-5, atol=1e-7)
    # change of variables: p_gt(f(z)) |det J| = N(z | 0, I)
    np.testing.assert_allclose(m.logpdf(x) + np.log(np.abs(np.linalg.det(J))), C.log_normal(z), atol=1e-8)


def test_circle_truths_by_scipy_quadrature():
    c = C.THM2_CIRCLE
    assert integrate.quad(c.pdf, -math.pi, math.pi)[0] == pytest.approx(1, abs=1e-12)
    al = math.acos(0.3)
    assert C.halfplane_truth() == pytest.approx(integrate.quad(c.pdf, -al, al)[0], abs=1e-12)
    lo = math.asin(1 - 0.5**2 / 2)
    assert C.disk_truth() == pytest.approx(integrate.quad(c.pdf, lo, math.pi - lo)[0], abs=1e-12)
    # the decoder puts mass F on arcs: P(theta(z) < th) = F(th)
    th = c.from_normal(np.array([-1.0, 0.0, 2.0]))
    np.testing.assert_allclose(c.cdf(th), stats.norm.cdf([-1.0, 0.0, 2.0]), atol=1e-12)


def test_theorem2_minus_log_p_t_follows_half_log_gamma():
    o = C.theorem2_circle([1e3, 1e4], thetas=np.array([0.0, 1.0]))
    # -log p_t = -log p~ + (d-r)/2 log(2 pi gamma) + o(1), d - r = 1
    pred = -o["log_p_manifold"] + 0.5 * np.log(2 * np.pi / np.array([1e3, 1e4]))[:, None]
    np.testing.assert_allclose(-o["log_p_t"], pred, atol=2e-3)


def test_halfplane_mass_tends_to_mu_gt():
    errs = [abs(C.halfplane_mass(g) - C.halfplane_truth()) for g in (1e-2, 1e-4)]
    assert errs[1] < 1e-4 < errs[0]


def test_loglog_slope_known():
    x = np.array([1.0, 2.0, 4.0])
    assert C.loglog_slope(x, 3 * x**1.5) == pytest.approx(1.5)
