"""Theorems 1 and 2 on their constructions (1-D and 2-D Gaussian mixtures, the circle) and eq. (73) on
random Jacobians: each ``check_*`` returns (checks, the arrays its figure needs)."""

from __future__ import annotations

import numpy as np

from vaediag.theory import constructions as C
from vaediag.theory import eq73
from vaediag.theory.checks_common import RATE_ALTERNATIVES, RATE_FROM_T, TS, Settings, _f
from vaediag.theory.separation import check_distances, check_point, slope_se

# Alternatives (docs/theory.md): a limit claimed to be 0 at t = 1e4 against the value at t = 1 (nothing
# converges: p_t stays where the construction starts); a derived O(gamma) rate against RATE_ALTERNATIVES;
# the slope (d - r)/2 of Theorem 2 against r -/+ 1. Quadrature is deterministic (se 0); importance
# sampling and Monte Carlo carry their bootstrap / binomial standard errors.


def _rate(x, y) -> tuple[float, float]:
    """Log-log slope of y in x over the asymptotic range and its regression standard error."""
    return slope_se(np.log(np.asarray(x, float)), np.log(np.asarray(y, float)))


def _limit(claim: str, m: dict, key: str, se: float = 0.0, **extra) -> dict:
    """A quantity claimed to vanish at t = 1e4, against its value at t = 1 (no convergence)."""
    return check_point(claim, m[key], 0.0, [m[key + "_start"]], se, **extra)


def _rate_row(claim: str, m: dict, key: str) -> dict:
    return check_point(claim, m[key], 1.0, RATE_ALTERNATIVES, m[key + "_se"])


def judge_theorem1(m: dict) -> list[dict]:
    """Verdicts of Theorem 1 from its measured numbers (keys as in :func:`check_theorem1`)."""
    return [
        _limit("Theorem 1 (1-D): p_t -> p_gt, max|p_t - p_gt| at t=1e4 (alternative: its value at t=1)", m, "err1"),
        _rate_row("Theorem 1 (1-D): rate of |p_t - p_gt| in gamma_t (derived O(gamma))", m, "slope_p1"),
        _limit("Theorem 1 (1-D): KL(q_t||p_t(z|x)) -> 0, max over x at t=1e4 (alternative: its value at t=1)", m, "kl1"),
        _rate_row("Theorem 1 (1-D): rate of KL in gamma_t (derived O(gamma))", m, "slope_k1"),
        _limit("Theorem 1 (2-D): KL -> 0, mean over x at t=1e4 (IS; alternative: its value at t=1)", m, "kl2",
               m["kl2_se"]),
        _rate_row("Theorem 1 (2-D): rate of KL in gamma_t (derived O(gamma))", m, "slope_k2"),
        _limit("Theorem 1 (2-D): p_t -> p_gt, max|log p_t - log p_gt| at t=1e4 (IS; alternative: its value at t=1)",
               m, "dlog2", m["dlog2_se"]),
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
    rates = {"slope_p1": _rate(gam[tail], err[tail]), "slope_k1": _rate(gam[tail], kl1[tail]),
             "slope_k2": _rate(gam[tail], kl2[tail])}
    m = {"err1": _f(err[-1]), "err1_start": _f(err[0]), "kl1": _f(kl1[-1]), "kl1_start": _f(kl1[0]),
         "kl2": _f(kl2[-1]), "kl2_se": _f(kl2_se[-1]), "kl2_start": _f(kl2[0]), "dlog2": _f(dlog2.max()),
         "dlog2_se": _f(o2["log_p_t_se"][-1].max()),
         "dlog2_start": _f(np.abs(o2["log_p_t"][0] - o2["log_p_gt"]).max())}
    for k, (b, se) in rates.items():
        m[k], m[k + "_se"] = b, se
    return judge_theorem1(m), {"t": TS, "d1": o1, "d2": o2, "err1": err, "kl1": kl1, "kl2": kl2, "kl2_se": kl2_se}


def judge_theorem2(m: dict) -> list[dict]:
    """Verdicts of Theorem 2 from its measured numbers (keys as in :func:`check_theorem2`)."""
    return [
        check_point("Theorem 2 (circle): -log p_t on M vs log gamma, slope (d-r)/2 (alternatives: r -/+ 1)", m["slope"],
                    0.5, [1.0, 0.0], m["slope_se"]),
        check_point("Theorem 2 (circle): -log p_t + log p~ - (d-r)/2 log(2 pi gamma), max at t=1e4 (alternative: "
                    "the same without the (d-r)/2 log gamma term, r = d)", m["resid"], 0.0, [m["resid_alt"]], 0.0),
        _limit("Theorem 2 (circle): KL(q_t||p_t(z|x)) -> 0, max at t=1e4 (alternative: its value at t=1)", m, "kl"),
        _limit("Theorem 2 (circle): mass of A={x1>0.3} -> mu_gt(A∩M), |error| at t=1e4 (alternative: at t=1)", m,
               "hp_err", rate=m["hp_rate"]),
        _limit("Theorem 2 (circle): mass of disk A -> mu_gt(A∩M) (MC), |error| at t=1e4 (alternative: at t=1)", m,
               "disk_err", m["disk_se"]),
    ]


def check_theorem2(s: Settings) -> tuple[list[dict], dict]:
    s.progress("Theorem 2: circle in R^2 (quadrature, Monte Carlo)")
    o = C.theorem2_circle(TS)
    gam = 1.0 / TS
    tail = TS >= RATE_FROM_T
    nlp = -o["log_p_t"]  # (T, n)
    mean_nlp = nlp.mean(1)
    slope, slope_se_ = slope_se(np.log(gam[tail]), mean_nlp[tail])
    # -log p_t(x) = -log p~(x) + (d - r)/2 log(2 pi gamma) + o(1) on the manifold (d - r = 1)
    resid = np.abs(nlp[-1] - 0.5 * np.log(2 * np.pi * gam[-1]) + o["log_p_manifold"]).max()
    resid_alt = np.abs(nlp[-1] + o["log_p_manifold"]).max()  # r = d: no log gamma term
    hp = np.array([C.halfplane_mass(g) for g in gam])
    hp_truth = C.halfplane_truth()
    rng = np.random.default_rng(s.seed)
    n_mc = 200_000 if s.quick else 1_000_000
    disk = np.array([C.disk_mass_mc(g, n_mc, rng) for g in gam])
    disk_truth = C.disk_truth()
    kl = o["kl"].max(1)
    hp_err = np.abs(hp - hp_truth)
    m = {"slope": slope, "slope_se": slope_se_, "resid": _f(resid), "resid_alt": _f(resid_alt), "kl": _f(kl[-1]),
         "kl_start": _f(kl[0]), "hp_err": _f(hp_err[-1]), "hp_err_start": _f(hp_err[0]),
         "hp_rate": C.loglog_slope(gam[tail], hp_err[tail]), "disk_err": _f(abs(disk[-1, 0] - disk_truth)),
         "disk_err_start": _f(abs(disk[0, 0] - disk_truth)), "disk_se": _f(disk[-1, 1])}
    return judge_theorem2(m), {"t": TS, "circle": o, "halfplane": hp, "halfplane_truth": hp_truth, "disk": disk,
                               "disk_truth": disk_truth, "kl": kl}


# --------------------------------------------------------------------------- eq. (73)
def judge_eq73(m: dict) -> list[dict]:
    """eq. (73) against the same formula with gamma read as a standard deviation, (I + J^T J / sqrt(gamma))^-1
    (the other unit); deterministic (a float64 optimiser): se 0."""
    return [
        check_distances("eq. (73): optimised Sigma_z vs (I + J^T J/gamma)^-1, max rel. error (alternative: gamma a "
                        "std, (I + J^T J/sqrt(gamma))^-1)", m["rel"], 0.0, "gamma a std", m["rel"], m["rel_alt"], 0.0),
        check_distances("eq. (73): eigenvalues r x gamma/(gamma+S_i), kappa-r x 1, max rel. error (alternative: "
                        "sqrt(gamma)/(sqrt(gamma)+S_i))", m["eig_rel"], 0.0, "gamma a std", m["eig_rel"],
                        m["eig_rel_alt"], 0.0),
    ]


def check_eq73(s: Settings) -> tuple[list[dict], dict]:
    s.progress("eq. (73): optimising the encoder covariance of eq. (71)")
    rng = np.random.default_rng(s.seed)
    cases = [(10, 6, 2, 1e-2), (8, 5, 3, 1e-4), (4, 4, 4, 1e-3)]
    if not s.quick:
        cases += [(10, 6, 2, 1e-4), (12, 8, 1, 1e-5), (20, 10, 5, 1e-3)]
    rel, rel_alt, eig_rel, eig_alt, rows = [], [], [], [], []
    for d, k, r, g in cases:
        J = eq73.random_jacobian(d, k, r, rng)
        S = eq73.optimise_covariance(J, g)
        Cf, Ca = eq73.closed_form(J, g), eq73.closed_form(J, g ** 0.5)
        rel.append(np.abs(S - Cf).max() / np.abs(Cf).max())
        rel_alt.append(np.abs(S - Ca).max() / np.abs(Cf).max())
        ev, pe, pa = np.linalg.eigvalsh(S), eq73.predicted_eigenvalues(J, g, r), eq73.predicted_eigenvalues(J, g ** 0.5, r)
        eig_rel.append(np.abs(ev / pe - 1).max())
        eig_alt.append(np.abs(ev / pa - 1).max())
        rows.append({"d": d, "kappa": k, "r": r, "gamma": g, "eig": ev.tolist(), "pred": pe.tolist()})
    m = {"rel": float(max(rel)), "rel_alt": float(min(rel_alt)), "eig_rel": float(max(eig_rel)),
         "eig_rel_alt": float(min(eig_alt))}
    return judge_eq73(m), {"cases": rows}
