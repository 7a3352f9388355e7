"""Theorems 1 and 2 through the constructive proofs of supplement sections 7 and 8.

Theorem 1 (r = d): decoder f_mu_x = F^-1 o G (supp. eqs. 1-8; F the Rosenblatt transform of p_gt,
G the normal CDF), gamma_t = 1/t, encoder mu_z = f^-1, Sigma_z = gamma_t (J^T J)^-1 (supp. eqs. 13-14).
Then p_t(x) -> p_gt(x) and KL(q_t(z|x) || p_t(z|x)) -> 0.

Theorem 2 (r < d): a circle in R^2 with a non-uniform density p(theta) on it. The chart phi is the
angle theta in (-pi, pi) (the circle minus one point is diffeomorphic to R: a null set for mu_gt), so
the decoder is phi^-1 o F^-1 o G (supp. eq. 31). Then -log p_t(x) -> -inf on the manifold like
(d - r)/2 log gamma, and the mass p_t gives a test set A tends to mu_gt(A ∩ M) (supp. eq. 6, 44-46).

1-D latents use trapezoid quadrature on a wide grid joined to a dense grid around the encoder mean;
the 2-D case of Theorem 1 uses importance sampling with the encoder q_t(z|x) as proposal (bootstrap
error bars): p_t(x) = E_q[p(z) p(x|z) / q(z|x)], KL = log p_t(x) - E_q[log w].

Derived rates (not in the paper, checked in ``checks``): p_t = p_gt * N(0, gamma) = p_gt + gamma/2 p_gt''
+ O(gamma^2), so |p_t - p_gt| = O(gamma); the log-ratio log q/p_t(z|x) has O(sqrt gamma) fluctuations
under q, so KL ≈ Var/2 = O(gamma).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy.special import log_ndtr, logsumexp, ndtr, ndtri

from vaediag.objective import LOG_2PI


def _lse(a, axis=-1):
    """log sum exp along ``axis`` (numpy's logaddexp reduction: exact, and ~10x cheaper per call than
    scipy's logsumexp on the small last axes used here)."""
    return np.logaddexp.reduce(a, axis=axis)


# --------------------------------------------------------------------------- 1-D Gaussian mixtures
class Mixture1D:
    """sum_k w_k N(m_k, s_k^2); weights may be (K,) or per-point (n, K) (for conditionals)."""

    def __init__(self, w, m, s):
        self.w, self.m, self.s = np.asarray(w, float), np.asarray(m, float), np.asarray(s, float)

    def _u(self, x):
        return (np.asarray(x, float)[..., None] - self.m) / self.s

    def logpdf(self, x):
        u = self._u(x)
        return _lse(np.log(self.w) - 0.5 * u**2 - np.log(self.s) - 0.5 * LOG_2PI)

    def logcdf(self, x):
        return _lse(np.log(self.w) + log_ndtr(self._u(x)))

    def logsf(self, x):
        return _lse(np.log(self.w) + log_ndtr(-self._u(x)))

    def _subset(self, mask):
        """The mixture for the points ``mask`` selects (per-point weights are sliced, shared ones kept)."""
        return self if self.w.ndim == 1 else Mixture1D(self.w[mask], self.m, self.s)

    def cdf(self, x):
        return (self.w * ndtr(self._u(x))).sum(-1)

    def from_normal(self, z, lo=-40.0, hi=40.0, iters=34, newton=2):
        """x = F^-1(Phi(z)): bisection in log space (lower tail for z <= 0, upper tail otherwise) to
        ~1e-8, then Newton steps on the log-CDF (quadratic convergence) to ~1e-15. Each point only
        evaluates its own tail (the lower and upper points are solved separately)."""
        z = np.asarray(z, float)
        x = np.empty(z.shape)
        lower = z <= 0
        for mask, tail_fn, sign in ((lower, Mixture1D.logcdf, 1.0), (~lower, Mixture1D.logsf, -1.0)):
            if not mask.any():
                continue
            mix = self._subset(mask)
            target = log_ndtr(sign * z[mask])

            def g(xx, sign=sign, tail_fn=tail_fn, mix=mix, target=target):  # increasing in x; zero at the answer
                return sign * (tail_fn(mix, xx) - target)

            a, b = np.full(target.shape, lo), np.full(target.shape, hi)
            for _ in range(iters):
                mid = 0.5 * (a + b)
                neg = g(mid) < 0
                a, b = np.where(neg, mid, a), np.where(neg, b, mid)
            xm = 0.5 * (a + b)
            for _ in range(newton):  # d g / dx = p(x) / F(x) (lower) or p(x) / S(x) (upper)
                tail = tail_fn(mix, xm)
                xm = np.clip(xm - sign * (tail - target) * np.exp(tail - mix.logpdf(xm)), a, b)
            x[mask] = xm
        return x

    def to_normal(self, x):
        """z = Phi^-1(F(x)) (tail-accurate)."""
        lc, ls = self.logcdf(x), self.logsf(x)
        return np.where(lc < ls, ndtri(np.exp(lc)), -ndtri(np.exp(ls)))


def log_normal(z):
    """log N(z | 0, I) summed over the last axis."""
    z = np.asarray(z, float)
    return -0.5 * (z**2).sum(-1) - 0.5 * z.shape[-1] * LOG_2PI


def _trapz_logsumexp(logf, z):
    """log ∫ exp(logf) dz by the trapezoid rule along the last axis (z sorted, same shape)."""
    dz = np.diff(z, axis=-1)
    pair = np.logaddexp(logf[..., 1:], logf[..., :-1]) + np.log(dz / 2)
    return logsumexp(pair, axis=-1)


N_WIDE, N_LOCAL, WIDE, LOCAL = 4001, 2001, 9.0, 14.0  # quadrature grid sizes (accuracy: see tests)


def _grid(decode, z_star, s):
    """Per point: the union of [-WIDE, WIDE] and [z* - LOCAL s, z* + LOCAL s], sorted, and the decoded
    grid. Returns z (n, N) and decode(z) (n, N, d); the wide part is decoded once."""
    gw = np.linspace(-WIDE, WIDE, N_WIDE)
    gl = z_star[:, None] + s[:, None] * np.linspace(-LOCAL, LOCAL, N_LOCAL)
    xw, xl = decode(gw), decode(gl)
    z = np.concatenate([np.broadcast_to(gw, (len(z_star), N_WIDE)), gl], axis=1)
    xs = np.concatenate([np.broadcast_to(xw, (len(z_star),) + xw.shape), xl], axis=1)
    order = np.argsort(z, axis=1)
    return np.take_along_axis(z, order, 1), np.take_along_axis(xs, order[..., None], 1)


def quad_1d_latent(decode, x, z_star, jac_norm2, gamma):
    """Quadrature for a 1-D latent, decoder R -> R^d, encoder of supp. eqs. (13)-(14).

    Args: decode maps (...) z to (..., d) x; x (n, d) points; z_star (n,) encoder means f^-1(x);
      jac_norm2 (n,) J^T J at z_star; gamma the decoder variance.
    Returns (log p_t(x) (n,), KL(q_t(z|x) || p_t(z|x)) (n,)).
    """
    s = np.sqrt(gamma / jac_norm2)  # eq. (14): Sigma_z = gamma (J^T J)^-1
    z, xs = _grid(decode, z_star, s)  # (n, N), (n, N, d)
    d = xs.shape[-1]
    log_joint = (-0.5 * z**2 - 0.5 * LOG_2PI
                 - 0.5 * ((x[:, None, :] - xs) ** 2).sum(-1) / gamma - 0.5 * d * (LOG_2PI + math.log(gamma)))
    log_px = _trapz_logsumexp(log_joint, z)
    log_q = -0.5 * ((z - z_star[:, None]) / s[:, None]) ** 2 - np.log(s)[:, None] - 0.5 * LOG_2PI
    integrand = np.exp(log_q) * (log_q - log_joint + log_px[:, None])
    kl = (np.diff(z, axis=1) * 0.5 * (integrand[:, 1:] + integrand[:, :-1])).sum(1)
    return log_px, kl


# --------------------------------------------------------------------------- Theorem 1, 1-D
THM1_1D = Mixture1D([0.3, 0.7], [-1.5, 1.0], [0.5, 0.8])  # p_gt: a non-Gaussian density on R


def theorem1_1d(ts, xs=None, p_gt: Mixture1D = THM1_1D) -> dict:
    """For each t: gamma_t = 1/t, log p_t(x) and KL(q_t || p_t(z|x)) at points xs (quadrature)."""
    xs = np.linspace(-3.0, 3.0, 13) if xs is None else np.asarray(xs, float)

    def decode(z):  # eq. (7): f_mu_x = F^-1 o G
        return p_gt.from_normal(z)[..., None]

    z_star = p_gt.to_normal(xs)  # eq. (13): mu_z = f^-1(x) = G^-1 o F
    jac = np.exp(log_normal(z_star[:, None]) - p_gt.logpdf(xs))  # f'(z*) = phi(z*) / p_gt(x)
    out = {"t": np.asarray(ts, float), "x": xs, "log_p_gt": p_gt.logpdf(xs), "log_p_t": [], "kl": []}
    for t in ts:
        lp, kl = quad_1d_latent(decode, xs[:, None], z_star, jac**2, 1.0 / t)
        out["log_p_t"].append(lp)
        out["kl"].append(kl)
    out["log_p_t"], out["kl"] = np.array(out["log_p_t"]), np.array(out["kl"])
    return out


# --------------------------------------------------------------------------- Theorem 1, 2-D
class Mixture2D:
    """Diagonal 2-D Gaussian mixture with its Rosenblatt transform F = (F_1(x1), F_2(x2 | x1))."""

    def __init__(self, w, m, s):
        self.w, self.m, self.s = np.asarray(w, float), np.asarray(m, float), np.asarray(s, float)  # (K,), (K,2), (K,2)
        self.marg = Mixture1D(self.w, self.m[:, 0], self.s[:, 0])

    def cond_weights(self, x1):
        lw = np.log(self.w) - 0.5 * ((x1[..., None] - self.m[:, 0]) / self.s[:, 0]) ** 2 - np.log(self.s[:, 0])
        return np.exp(lw - _lse(lw)[..., None])  # (n, K)

    def cond(self, x1):
        return Mixture1D(self.cond_weights(x1), self.m[:, 1], self.s[:, 1])

    def logpdf(self, x):
        u = (x[..., None, :] - self.m) / self.s
        return _lse(np.log(self.w) - 0.5 * (u**2).sum(-1) - np.log(self.s).sum(-1) - LOG_2PI)

    def logpdf_smoothed(self, x, gamma):
        """Closed form of p_gt * N(0, gamma I): the component variances grow by gamma (for tests)."""
        return Mixture2D(self.w, self.m, np.sqrt(self.s**2 + gamma)).logpdf(x)

    def decode(self, z):
        """f_mu_x(z) = F^-1(G(z)) (supp. eq. 7), z (n, 2) -> x (n, 2)."""
        x1 = self.marg.from_normal(z[:, 0])
        x2 = self.cond(x1).from_normal(z[:, 1])
        return np.stack([x1, x2], axis=1)

    def encode_mean(self, x):
        """mu_z(x) = G^-1(F(x)) (supp. eq. 13)."""
        return np.stack([self.marg.to_normal(x[:, 0]), self.cond(x[:, 0]).to_normal(x[:, 1])], axis=1)

    def jacobian(self, z, x):
        """d f_mu_x / dz at z (with x = f(z)), (n, 2, 2), lower triangular (implicit differentiation)."""
        c = self.cond(x[:, 0])
        p1 = np.exp(self.marg.logpdf(x[:, 0]))
        p21 = np.exp(c.logpdf(x[:, 1]))
        j11 = np.exp(log_normal(z[:, :1])) / p1
        j22 = np.exp(log_normal(z[:, 1:])) / p21
        w = c.w  # (n, K)
        a = -(x[:, :1] - self.m[:, 0]) / self.s[:, 0] ** 2  # d log(w_k N_k(x1)) / dx1
        dw = w * (a - (w * a).sum(1, keepdims=True))
        dF2_dx1 = (dw * ndtr((x[:, 1:] - self.m[:, 1]) / self.s[:, 1])).sum(1)
        j21 = -dF2_dx1 * j11 / p21
        J = np.zeros((len(z), 2, 2))
        J[:, 0, 0], J[:, 1, 0], J[:, 1, 1] = j11, j21, j22
        return J


THM1_2D = Mixture2D([0.6, 0.4], [[-1.0, 0.5], [1.2, -0.8]], [[0.6, 0.9], [0.7, 0.5]])


def theorem1_2d(ts, xs=None, m: int = 2000, n_boot: int = 40, seed: int = 0, p_gt: Mixture2D = THM1_2D) -> dict:
    """Importance-sampling estimates with bootstrap standard errors of log p_t(x) and KL at points xs."""
    rng = np.random.default_rng(seed)
    if xs is None:
        g = np.linspace(-1.5, 1.5, 3)
        xs = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    z_star = p_gt.encode_mean(xs)
    J = p_gt.jacobian(z_star, xs)
    JtJ = np.einsum("nij,nik->njk", J, J)
    out = {"t": np.asarray(ts, float), "x": xs, "log_p_gt": p_gt.logpdf(xs),
           "log_p_t": [], "log_p_t_se": [], "kl": [], "kl_se": []}
    for t in ts:
        gamma = 1.0 / t
        cov = gamma * np.linalg.inv(JtJ)  # eq. (14)
        L = np.linalg.cholesky(cov)
        lp, lps, kl, kls = [], [], [], []
        for i in range(len(xs)):
            eps = rng.standard_normal((m, 2))
            z = z_star[i] + eps @ L[i].T
            xz = p_gt.decode(z)
            log_q = log_normal(eps) - np.log(np.diag(L[i])).sum()
            log_w = log_normal(z) - 0.5 * ((xs[i] - xz) ** 2).sum(1) / gamma - (LOG_2PI + math.log(gamma)) - log_q
            def est(lw):  # (log p_t, KL) from log weights along the last axis
                lp_ = _lse(lw) - math.log(lw.shape[-1])
                return lp_, lp_ - lw.mean(-1)

            a, b = est(log_w)
            boot = np.stack(est(log_w[rng.integers(0, m, (n_boot, m))]), 1)  # n_boot resamples at once
            lp.append(a), kl.append(b), lps.append(boot[:, 0].std()), kls.append(boot[:, 1].std())
        out["log_p_t"].append(lp), out["log_p_t_se"].append(lps), out["kl"].append(kl), out["kl_se"].append(kls)
    for k in ("log_p_t", "log_p_t_se", "kl", "kl_se"):
        out[k] = np.array(out[k])
    return out


# --------------------------------------------------------------------------- Theorem 2: circle in R^2
class CircleDensity:
    """p(theta) = (1 + a cos(theta - b)) / (2 pi) on (-pi, pi): the manifold density w.r.t. arc length."""

    def __init__(self, a: float = 0.6, b: float = 0.5):
        self.a, self.b = a, b

    def pdf(self, th):
        return (1 + self.a * np.cos(th - self.b)) / (2 * math.pi)

    def cdf(self, th):
        return (th + math.pi + self.a * (np.sin(th - self.b) - math.sin(-math.pi - self.b))) / (2 * math.pi)

    def from_normal(self, z, iters=55):
        """theta = F^-1(Phi(z)) by bisection (Phi(z) in (0, 1) excludes the chart's removed point)."""
        p = ndtr(np.asarray(z, float))
        a, b = np.full(p.shape, -math.pi), np.full(p.shape, math.pi)
        for _ in range(iters):
            mid = 0.5 * (a + b)
            low = self.cdf(mid) < p
            a, b = np.where(low, mid, a), np.where(low, b, mid)
        return 0.5 * (a + b)

    def decode(self, z):
        """phi^-1 o F^-1 o G (supp. eq. 31): z -> (cos theta, sin theta), shape (..., 2)."""
        th = self.from_normal(z)
        return np.stack([np.cos(th), np.sin(th)], axis=-1)

    def mass_arc(self, lo, hi):
        return self.cdf(hi) - self.cdf(lo)


THM2_CIRCLE = CircleDensity()


def theorem2_circle(ts, thetas=None, circle: CircleDensity = THM2_CIRCLE) -> dict:
    """-log p_t(x) and KL at points on the circle (quadrature); returns also the half-plane mass."""
    thetas = np.linspace(-2.5, 2.5, 11) if thetas is None else np.asarray(thetas, float)
    xs = np.stack([np.cos(thetas), np.sin(thetas)], axis=1)
    z_star = ndtri(circle.cdf(thetas))  # eq. (42): mu_z = G^-1 o F o phi
    jn2 = (np.exp(log_normal(z_star[:, None])) / circle.pdf(thetas)) ** 2  # |J|^2 = (dtheta/dz)^2 (unit speed)
    out = {"t": np.asarray(ts, float), "theta": thetas, "log_p_manifold": np.log(circle.pdf(thetas)),
           "log_p_t": [], "kl": []}
    for t in ts:
        lp, kl = quad_1d_latent(circle.decode, xs, z_star, jn2, 1.0 / t)
        out["log_p_t"].append(lp), out["kl"].append(kl)
    out["log_p_t"], out["kl"] = np.array(out["log_p_t"]), np.array(out["kl"])
    return out


@functools.lru_cache(maxsize=4)
def _decoded_line(circle: CircleDensity, n: int) -> tuple[np.ndarray, np.ndarray]:
    """z on [-9, 9] (n points) and the first coordinate of f(z): the same for every gamma, decoded once."""
    z = np.linspace(-9, 9, n)
    return z, circle.decode(z)[:, 0]


def halfplane_mass(gamma: float, a: float = 0.3, circle: CircleDensity = THM2_CIRCLE, n: int = 200001) -> float:
    """∫_A p_t(x) dx for A = {x_1 > a}: E_{z~N(0,1)}[Phi((f_1(z) - a)/sqrt gamma)] by quadrature in z (eq. 33)."""
    z, f1 = _decoded_line(circle, n)
    y = np.exp(log_normal(z[:, None])) * ndtr((f1 - a) / math.sqrt(gamma))
    return float(np.trapezoid(y, z))


def halfplane_truth(a: float = 0.3, circle: CircleDensity = THM2_CIRCLE) -> float:
    """mu_gt(A ∩ M) for A = {x_1 > a}: the arc |theta| < arccos a."""
    al = math.acos(a)
    return float(circle.mass_arc(-al, al))


def disk_mass_mc(gamma: float, n: int, rng: np.random.Generator, c=(0.0, 1.0), rho: float = 0.5,
                 circle: CircleDensity = THM2_CIRCLE) -> tuple[float, float]:
    """Monte Carlo ∫_A p_t for the disk A = B(c, rho): x = f(z) + sqrt(gamma) eps; (mass, standard error)."""
    x = circle.decode(rng.standard_normal(n)) + math.sqrt(gamma) * rng.standard_normal((n, 2))
    p = float((((x - np.asarray(c)) ** 2).sum(1) < rho**2).mean())
    return p, math.sqrt(p * (1 - p) / n)


def disk_truth(rho: float = 0.5, circle: CircleDensity = THM2_CIRCLE) -> float:
    """mu_gt(B((0,1), rho) ∩ M): |x - (0,1)|^2 = 2 - 2 sin theta < rho^2."""
    lo = math.asin(1 - rho**2 / 2)
    return float(circle.mass_arc(lo, math.pi - lo))


def loglog_slope(x, y) -> float:
    """Least-squares slope of log y against log x."""
    return float(np.polyfit(np.log(np.asarray(x, float)), np.log(np.asarray(y, float)), 1)[0])
