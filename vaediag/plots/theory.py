"""One figure per theorem, drawn from the artifacts of :func:`vaediag.theory.checks.run_all`.

Each function returns a matplotlib ``Figure``; saving is the caller's business (the CLI)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from vaediag.plots import new_figure
from vaediag.theory.constructions import THM1_1D, Mixture1D


def _no_minor(*axes):
    for ax in axes:
        ax.xaxis.set_minor_formatter(NullFormatter())


def theorem1(a: dict) -> Figure:
    fig = new_figure((10, 3.6))
    ax1, ax2 = fig.subplots(1, 2)
    d1 = a["d1"]
    xs = np.linspace(-4, 4, 400)
    for t in a["t"]:
        m = Mixture1D(THM1_1D.w, THM1_1D.m, np.sqrt(THM1_1D.s**2 + 1 / t))
        ax1.plot(xs, np.exp(m.logpdf(xs)), lw=1, label=f"closed form p_t, t={t:g}")
    ax1.plot(d1["x"], np.exp(d1["log_p_t"][-1]), "k.", label="p_t by quadrature (t=1e4)")
    ax1.plot(xs, np.exp(THM1_1D.logpdf(xs)), "k--", lw=1, label="p_gt")
    ax1.set(title="Theorem 1 (1-D): p_t -> p_gt", xlabel="x")
    ax1.legend(fontsize=6)
    g = 1 / a["t"]
    ax2.loglog(g, a["err1"], "o-", label="1-D max|p_t - p_gt|")
    ax2.loglog(g, a["kl1"], "s-", label="1-D max KL(q_t||p_t(z|x))")
    ax2.errorbar(g, a["kl2"], yerr=a["kl2_se"], fmt="^-", label="2-D mean KL (IS, ±s.e.)")
    ax2.loglog(g, g, "k:", label="slope 1")
    ax2.set(title="convergence in gamma_t = 1/t", xlabel="gamma_t")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return fig


def theorem2(a: dict) -> Figure:
    fig = new_figure((10, 3.6))
    ax1, ax2 = fig.subplots(1, 2)
    g = 1 / a["t"]
    c = a["circle"]
    for i in range(0, len(c["theta"]), 3):
        ax1.semilogx(g, -c["log_p_t"][:, i], "o-", ms=3, label=f"theta={c['theta'][i]:.1f}")
    ax1.semilogx(g, 0.5 * np.log(2 * np.pi * g), "k:", label="(d-r)/2 log(2 pi gamma)")
    ax1.set(title="Theorem 2: -log p_t on the circle", xlabel="gamma_t")
    ax1.legend(fontsize=7)
    ax2.loglog(g, np.abs(a["halfplane"] - a["halfplane_truth"]), "o-", label="A = {x1 > 0.3} (quadrature)")
    ax2.errorbar(g, np.abs(a["disk"][:, 0] - a["disk_truth"]), yerr=a["disk"][:, 1], fmt="s-", label="A = disk (MC ±s.e.)")
    ax2.set(title="|mass_t(A) - mu_gt(A ∩ M)|", xlabel="gamma_t")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return fig


def theorem3(a: dict) -> Figure:
    fig = new_figure((10, 3.6))
    ax1, ax2 = fig.subplots(1, 2)
    ev, g, nf = a["eval"], a["gammas"], a["nf"]
    ax1.semilogx(g, ev["loss"][:nf], "o-", label="held-out loss, fixed gamma")
    f = a["fit"]
    slope = (a["d"] - a["r"]) / 2
    ax1.semilogx(g[f], slope * (np.log(g[f]) - np.log(g[f][0])) + ev["loss"][:nf][f][0], "k:", label=f"slope (d-r)/2 = {slope:g}")
    ax1.set(title="Theorem 3 / eq. (8): loss vs gamma", xlabel="gamma (fixed)")
    ax1.legend(fontsize=7)
    ax2.semilogy(a["steps"], np.exp(a["log_gamma_traj"][:, nf:]))
    ax2.set(title="Theorem 3: learned gamma during training", xlabel="step", ylabel="gamma")
    _no_minor(ax1)
    fig.tight_layout()
    return fig


def theorem4(a: dict) -> Figure:
    fig = new_figure((10, 3.6))
    ax1, ax2 = fig.subplots(1, 2)
    ev, g, nf = a["eval"], a["gammas"], a["nf"]
    ax1.loglog(g, ev["enc_var"][:nf], "o-", ms=3)
    ax1.loglog(g, g, "k:", label="gamma")
    ax1.set(title="eq. (9) / (74): encoder variances vs gamma", xlabel="gamma (fixed)")
    ax1.legend(fontsize=7)
    ax2.loglog(g, ev["mse_eps"][:nf], "o-", label="||mu_x(mu_z + S_z eps) - x||^2")
    ax2.loglog(g, ev["mse_mean"][:nf], "s-", label="||mu_x(mu_z) - x||^2")
    ax2.set(title="Theorem 4: reconstruction error", xlabel="gamma (fixed)")
    _no_minor(ax1, ax2)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return fig


def two_stage(a: dict) -> Figure:
    """Held-out data, stage-1 samples (z ~ N(0, I)) and two-stage samples (u ~ N(0, I), z ~ p(z|u)), all
    projected on the held-out data's first two principal directions; the titles give each sample's
    energy distance to the held-out data and the sampling floor (two draws of mu_gt), when known."""
    fig = new_figure((10, 3.6))
    axes = fig.subplots(1, 3, sharex=True, sharey=True)
    xt = a["xt"]
    _, _, vt = np.linalg.svd(xt - xt.mean(0), full_matrices=False)
    titles = ["held-out data", "stage 1: z ~ N(0,I)", "two-stage: u ~ N(0,I), z ~ p(z|u)"]
    if "ed" in a:
        ed1, ed2, floor = a["ed"]
        titles = [f"held-out data\nsampling floor {floor:.3g}", f"stage 1: z ~ N(0,I)\nenergy distance {ed1:.3g}",
                  f"two-stage: u ~ N(0,I), z ~ p(z|u)\nenergy distance {ed2:.3g}"]
    for ax, x, title in zip(axes, (xt, a["x1"], a["x2"]), titles):
        p = (x - xt.mean(0)) @ vt[:2].T
        ax.scatter(p[:, 0], p[:, 1], s=1)
        ax.set(title=title, xlabel="principal direction 1 of the held-out data")
    axes[0].set_ylabel("principal direction 2")
    fig.tight_layout()
    return fig


def eq8(a: dict) -> Figure:
    """eq. (8) on each manifold of ``a`` (label -> the measure of ``checks_rhat.eq8_measure``: gammas, held-out
    losses, slope, se, r_hat_read): the losses against log gamma, the fitted line (slope ± s.e. in the title)
    and, through the same centre, the lines the claim (d - r_hat)/2 and its alternatives (d - r_hat ± 1)/2 predict."""
    fig = new_figure((5 * max(1, len(a)), 3.6))
    axes = np.atleast_1d(fig.subplots(1, max(1, len(a))))
    for ax, (label, m) in zip(axes, a.items()):
        lg, loss = np.log(np.asarray(m["gammas"], float)), np.asarray(m["loss"], float)
        ax.plot(lg, loss, "ko", ms=4, label="held-out loss")
        if len(lg) >= 2 and np.isfinite(m["slope"]):
            cx, cy = lg.mean(), loss.mean()
            ax.plot(lg, cy + m["slope"] * (lg - cx), "k-", lw=1, label=f"fit {m['slope']:.3g} ± {m['se']:.2g}")
            if m.get("r_hat_read") is not None:
                for dr, style in ((0, "C0--"), (-1, "C1:"), (1, "C2:")):
                    b = (m["d"] - m["r_hat_read"] - dr) / 2
                    ax.plot(lg, cy + b * (lg - cx), style, lw=1, label=f"r_hat {m['r_hat_read'] + dr}: {b:g}")
        ax.set(title=f"eq. (8): {label}", xlabel="log gamma", ylabel="held-out loss (eq. 2)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


ALL = {"theorem1": theorem1, "theorem2": theorem2, "theorem3": theorem3, "theorem4": theorem4, "two_stage": two_stage}


def all_figures(art: dict) -> dict[str, Figure]:
    """name -> Figure for every section present in the artifacts."""
    src = {"theorem1": "theorem1", "theorem2": "theorem2", "theorem3": "theorems34", "theorem4": "theorems34",
           "two_stage": "two_stage"}
    out = {name: fn(art[src[name]]) for name, fn in ALL.items() if src[name] in art}
    if "eq8" in art.get("estimators", {}):
        out["eq8"] = eq8(art["estimators"]["eq8"])
    return out
