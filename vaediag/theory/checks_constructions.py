"""Theorems 1 and 2 on their constructions (1-D and 2-D Gaussian mixtures, the circle) and eq. (73) on
random Jacobians: each ``check_*`` returns (checks, the arrays its figure needs)."""

from __future__ import annotations

import numpy as np

from vaediag.theory import constructions as C
from vaediag.theory import eq73
from vaediag.theory.checks_common import (TOL_DENSITY, TOL_EQ73, TOL_HALF_SLOPE, TOL_KL, TOL_LOGP, TOL_MASS,
                                          TOL_RATE, RATE_FROM_T, TS, Settings, _f, below, check, within)


def judge_theorem1(m: dict) -> list[dict]:
    """Verdicts of Theorem 1 from its measured numbers (keys as in :func:`check_theorem1`)."""
    return [
        check("Theorem 1 (1-D): p_t -> p_gt, max|p_t - p_gt| at t=1e4", m["err1"], 0.0, TOL_DENSITY, below(m["err1"], TOL_DENSITY)),
        check("Theorem 1 (1-D): rate of |p_t - p_gt| in gamma_t (derived O(gamma))", m["slope_p1"], 1.0, TOL_RATE,
              within(m["slope_p1"], 1.0, TOL_RATE)),
        check("Theorem 1 (1-D): KL(q_t||p_t(z|x)) -> 0, max over x at t=1e4", m["kl1"], 0.0, TOL_KL, below(m["kl1"], TOL_KL)),
        check("Theorem 1 (1-D): rate of KL in gamma_t (derived O(gamma))", m["slope_k1"], 1.0, TOL_RATE,
              within(m["slope_k1"], 1.0, TOL_RATE)),
        check("Theorem 1 (2-D): KL -> 0, mean over x at t=1e4 (IS, +-s.e.)", m["kl2"], 0.0, TOL_KL, below(m["kl2"], TOL_KL),
              se=m["kl2_se"]),
        check("Theorem 1 (2-D): rate of KL in gamma_t (derived O(gamma))", m["slope_k2"], 1.0, TOL_RATE,
              within(m["slope_k2"], 1.0, TOL_RATE)),
        check("Theorem 1 (2-D): p_t -> p_gt, max|log p_t - log p_gt| at t=1e4", m["dlog2"], 0.0, f"{TOL_LOGP} + 3 s.e.",
              below(m["dlog2"], TOL_LOGP + 3 * m["dlog2_se"]), se=m["dlog2_se"]),
    ]


def check_theorem1(s: Settings) -> tuple[list[dict], dict]:
    s.progress("Theorem 1: 1-D construction (quadrature)")
    o1 = C.theorem1_1d(TS)
    err = np.abs(np.exp(o1["log_p_t"]) - np.exp(o1["log_p_gt"])).max(1)
    kl1 = o1["kl"].max(1)
    tail = TS >= RATE_FROM_T
    gam = 1.0 / TS
    s.progress("Theorem 1: 2-D construction (importance sampling)")
    o2 = C.theorem1_2d(TS, seed=s.seed)
    kl2 = o2["kl"].mean(1)
    kl2_se = np.sqrt((o2["kl_se"] ** 2).mean(1) / o2["kl"].shape[1])
    dlog2 = np.abs(o2["log_p_t"][-1] - o2["log_p_gt"])
    m = {"err1": _f(err[-1]), "slope_p1": C.loglog_slope(gam[tail], err[tail]), "kl1": _f(kl1[-1]),
         "slope_k1": C.loglog_slope(gam[tail], kl1[tail]), "kl2": _f(kl2[-1]), "kl2_se": _f(kl2_se[-1]),
         "slope_k2": C.loglog_slope(gam[tail], kl2[tail]), "dlog2": _f(dlog2.max()),
         "dlog2_se": _f(o2["log_p_t_se"][-1].max())}
    return judge_theorem1(m), {"t": TS, "d1": o1, "d2": o2, "err1": err, "kl1": kl1, "kl2": kl2, "kl2_se": kl2_se}


def judge_theorem2(m: dict) -> list[dict]:
    """Verdicts of Theorem 2 from its measured numbers (keys as in :func:`check_theorem2`)."""
    return [
        check("Theorem 2 (circle): -log p_t on M vs log gamma, slope (d-r)/2", m["slope"], 0.5, TOL_HALF_SLOPE,
              within(m["slope"], 0.5, TOL_HALF_SLOPE) and m["nlp_falls"]),
        check("Theorem 2 (circle): -log p_t + log p~ - (d-r)/2 log(2 pi gamma) at t=1e4", m["resid"], 0.0, TOL_KL,
              below(m["resid"], TOL_KL)),
        check("Theorem 2 (circle): KL(q_t||p_t(z|x)) -> 0, max at t=1e4", m["kl"], 0.0, TOL_KL, below(m["kl"], TOL_KL)),
        check("Theorem 2 (circle): mass of A={x1>0.3} -> mu_gt(A∩M), |error| at t=1e4", m["hp_err"], 0.0, TOL_MASS,
              below(m["hp_err"], TOL_MASS), rate=m["hp_rate"]),
        check("Theorem 2 (circle): mass of disk A -> mu_gt(A∩M) (MC), |error| at t=1e4", m["disk_err"], 0.0,
              f"{TOL_MASS} + 3 s.e.", below(m["disk_err"], TOL_MASS + 3 * m["disk_se"]), se=m["disk_se"]),
    ]


def check_theorem2(s: Settings) -> tuple[list[dict], dict]:
    s.progress("Theorem 2: circle in R^2 (quadrature, Monte Carlo)")
    o = C.theorem2_circle(TS)
    gam = 1.0 / TS
    tail = TS >= RATE_FROM_T
    nlp = -o["log_p_t"]  # (T, n)
    mean_nlp = nlp.mean(1)
    slope = float(np.polyfit(np.log(gam[tail]), mean_nlp[tail], 1)[0])
    # -log p_t(x) = -log p~(x) + (d - r)/2 log(2 pi gamma) + o(1) on the manifold (d - r = 1)
    resid = np.abs(nlp[-1] - 0.5 * np.log(2 * np.pi * gam[-1]) + o["log_p_manifold"]).max()
    hp = np.array([C.halfplane_mass(g) for g in gam])
    hp_truth = C.halfplane_truth()
    rng = np.random.default_rng(s.seed)
    n_mc = 200_000 if s.quick else 1_000_000
    disk = np.array([C.disk_mass_mc(g, n_mc, rng) for g in gam])
    disk_truth = C.disk_truth()
    kl = o["kl"].max(1)
    hp_err = np.abs(hp - hp_truth)
    m = {"slope": slope, "nlp_falls": bool(mean_nlp[-1] < mean_nlp[0]), "resid": _f(resid), "kl": _f(kl[-1]),
         "hp_err": _f(hp_err[-1]), "hp_rate": C.loglog_slope(gam[tail], hp_err[tail]),
         "disk_err": _f(abs(disk[-1, 0] - disk_truth)), "disk_se": _f(disk[-1, 1])}
    return judge_theorem2(m), {"t": TS, "circle": o, "halfplane": hp, "halfplane_truth": hp_truth, "disk": disk,
                               "disk_truth": disk_truth, "kl": kl}


# --------------------------------------------------------------------------- eq. (73)
def judge_eq73(m: dict) -> list[dict]:
    return [
        check("eq. (73): optimised Sigma_z vs (I + J^T J/gamma)^-1, max rel. error", m["rel"], 0.0, TOL_EQ73,
              below(m["rel"], TOL_EQ73)),
        check("eq. (73): eigenvalues r x gamma/(gamma+S_i), kappa-r x 1, max rel. error", m["eig_rel"], 0.0, TOL_EQ73,
              below(m["eig_rel"], TOL_EQ73)),
    ]


def check_eq73(s: Settings) -> tuple[list[dict], dict]:
    s.progress("eq. (73): optimising the encoder covariance of eq. (71)")
    rng = np.random.default_rng(s.seed)
    cases = [(10, 6, 2, 1e-2), (8, 5, 3, 1e-4), (4, 4, 4, 1e-3)]
    if not s.quick:
        cases += [(10, 6, 2, 1e-4), (12, 8, 1, 1e-5), (20, 10, 5, 1e-3)]
    rel, eig_rel, rows = [], [], []
    for d, k, r, g in cases:
        J = eq73.random_jacobian(d, k, r, rng)
        S = eq73.optimise_covariance(J, g)
        Cf = eq73.closed_form(J, g)
        rel.append(np.abs(S - Cf).max() / np.abs(Cf).max())
        ev, pe = np.linalg.eigvalsh(S), eq73.predicted_eigenvalues(J, g, r)
        eig_rel.append(np.abs(ev / pe - 1).max())
        rows.append({"d": d, "kappa": k, "r": r, "gamma": g, "eig": ev.tolist(), "pred": pe.tolist()})
    return judge_eq73({"rel": float(max(rel)), "eig_rel": float(max(eig_rel))}), {"cases": rows}
