"""Every verdict of the theory lab is a strict comparison of a measured number with a tolerance constant
(checks_common): each check of each judge passes just inside its tolerance and fails just outside."""

import pytest

from vaediag.theory import checks

# ---------------------------------------------------------------- every tolerance, from both sides
# For each check: a constructed measurement that must pass and one just outside its tolerance that
# must fail (only that check). Numbers are placed relative to the tolerance constants, at 1 -/+ 1e-3
# of the margin; a number exactly at a tolerance fails (all comparisons are strict).
IN, OUT = 0.999, 1.001
C = checks


def _thm1():
    return {"err1": 1e-5, "slope_p1": 1.0, "kl1": 1e-4, "slope_k1": 1.0, "kl2": 1e-4, "kl2_se": 1e-5,
            "slope_k2": 1.0, "dlog2": 1e-3, "dlog2_se": 1e-3}


def _thm2():
    return {"slope": 0.5, "nlp_falls": True, "resid": 1e-5, "kl": 1e-5, "hp_err": 1e-5, "hp_rate": 1.0,
            "disk_err": 1e-4, "disk_se": 1e-4}


def _eq73():
    return {"rel": 1e-9, "eig_rel": 1e-9}


def _thm34():
    return {"r": 2, "d": 10, "l_fit": [-1.0, -4.0, -7.0, -10.0], "learned_gamma": [1e-3, 2e-3], "gamma_fell": True,
            "mse_slope": 1.0, "mse_eps_learned": [1e-3, 1e-3], "rhat_checked": [2, 2, 2], "var_slope": 1.0,
            "big_min": 0.99, "slope8": 4.0, "slope9": -2.0}


def _two():
    return {"ed1": 0.02, "ed2": 0.004, "floor": 0.002, "gamma_z": 1e-3, "ed_qu": 0.002, "ed_qz": 0.006, "floor_g": 0.002}


def _roll8():  # Swiss roll, d = 10, the fixed-gamma VAEs found r_hat = 3: predicted slope (10 - 3)/2 = 3.5
    return {"d": 10, "gammas": [1e-2, 5e-3], "r_hat": [3, 3], "slope": 3.5}


# (judge, base, check index, key, value inside, value outside)
CASES = [
    (C.judge_theorem1, _thm1, 0, "err1", IN * C.TOL_DENSITY, OUT * C.TOL_DENSITY),
    (C.judge_theorem1, _thm1, 1, "slope_p1", 1 + IN * C.TOL_RATE, 1 + OUT * C.TOL_RATE),
    (C.judge_theorem1, _thm1, 1, "slope_p1", 1 - IN * C.TOL_RATE, 1 - OUT * C.TOL_RATE),
    (C.judge_theorem1, _thm1, 2, "kl1", IN * C.TOL_KL, OUT * C.TOL_KL),
    (C.judge_theorem1, _thm1, 3, "slope_k1", 1 + IN * C.TOL_RATE, 1 + OUT * C.TOL_RATE),
    (C.judge_theorem1, _thm1, 3, "slope_k1", 1 - IN * C.TOL_RATE, 1 - OUT * C.TOL_RATE),
    (C.judge_theorem1, _thm1, 4, "kl2", IN * C.TOL_KL, OUT * C.TOL_KL),
    (C.judge_theorem1, _thm1, 5, "slope_k2", 1 + IN * C.TOL_RATE, 1 + OUT * C.TOL_RATE),
    (C.judge_theorem1, _thm1, 5, "slope_k2", 1 - IN * C.TOL_RATE, 1 - OUT * C.TOL_RATE),
    (C.judge_theorem1, _thm1, 6, "dlog2", IN * (C.TOL_LOGP + 3e-3), OUT * (C.TOL_LOGP + 3e-3)),
    (C.judge_theorem2, _thm2, 0, "slope", 0.5 + IN * C.TOL_HALF_SLOPE, 0.5 + OUT * C.TOL_HALF_SLOPE),
    (C.judge_theorem2, _thm2, 0, "slope", 0.5 - IN * C.TOL_HALF_SLOPE, 0.5 - OUT * C.TOL_HALF_SLOPE),
    (C.judge_theorem2, _thm2, 0, "nlp_falls", True, False),
    (C.judge_theorem2, _thm2, 1, "resid", IN * C.TOL_KL, OUT * C.TOL_KL),
    (C.judge_theorem2, _thm2, 2, "kl", IN * C.TOL_KL, OUT * C.TOL_KL),
    (C.judge_theorem2, _thm2, 3, "hp_err", IN * C.TOL_MASS, OUT * C.TOL_MASS),
    (C.judge_theorem2, _thm2, 4, "disk_err", IN * (C.TOL_MASS + 3e-4), OUT * (C.TOL_MASS + 3e-4)),
    (C.judge_eq73, _eq73, 0, "rel", IN * C.TOL_EQ73, OUT * C.TOL_EQ73),
    (C.judge_eq73, _eq73, 1, "eig_rel", IN * C.TOL_EQ73, OUT * C.TOL_EQ73),
    (C.judge_theorems34, _thm34, 0, "l_fit", [-1.0, -1.001, -2.0], [-1.0, -1.0, -2.0]),
    (C.judge_theorems34, _thm34, 1, "learned_gamma", [IN * C.LEARNED_GAMMA_MAX], [OUT * C.LEARNED_GAMMA_MAX]),
    (C.judge_theorems34, _thm34, 1, "gamma_fell", True, False),
    (C.judge_theorems34, _thm34, 2, "mse_slope", 0.5 / IN, 0.5 / OUT),
    (C.judge_theorems34, _thm34, 3, "mse_eps_learned", [IN * 20 * 1e-3, 1e-3], [OUT * 20 * 1e-3, 1e-3]),
    (C.judge_theorems34, _thm34, 4, "rhat_checked", [2, 2, 2], [2, 3, 2]),
    (C.judge_theorems34, _thm34, 4, "rhat_checked", [2], [1]),
    (C.judge_theorems34, _thm34, 5, "var_slope", 1 + IN * C.TOL_VAR_RATE, 1 + OUT * C.TOL_VAR_RATE),
    (C.judge_theorems34, _thm34, 5, "var_slope", 1 - IN * C.TOL_VAR_RATE, 1 - OUT * C.TOL_VAR_RATE),
    (C.judge_theorems34, _thm34, 6, "big_min", 0.8 / IN, 0.8 / OUT),
    (C.judge_theorems34, _thm34, 7, "slope8", 4 * (1 + IN * C.TOL_SLOPE_REL), 4 * (1 + OUT * C.TOL_SLOPE_REL)),
    (C.judge_theorems34, _thm34, 7, "slope8", 4 * (1 - IN * C.TOL_SLOPE_REL), 4 * (1 - OUT * C.TOL_SLOPE_REL)),
    (C.judge_theorems34, _thm34, 8, "slope9", -2 * (1 + IN * C.TOL_SLOPE_REL), -2 * (1 + OUT * C.TOL_SLOPE_REL)),
    (C.judge_theorems34, _thm34, 8, "slope9", -2 * (1 - IN * C.TOL_SLOPE_REL), -2 * (1 - OUT * C.TOL_SLOPE_REL)),
    (C.judge_two_stage, _two, 0, "ed2", IN * C.TWO_STAGE_RATIO * 0.02, OUT * C.TWO_STAGE_RATIO * 0.02),
    (C.judge_two_stage, _two, 1, "ed1", 5 * 0.002 / IN, 5 * 0.002 * IN),
    (C.judge_two_stage, _two, 2, "ed_qu", IN * 0.5 * 0.006, OUT * 0.5 * 0.006),
    (C.judge_roll_eq8, _roll8, 0, "slope", 3.5 * (1 + IN * C.TOL_SLOPE_REL), 3.5 * (1 + OUT * C.TOL_SLOPE_REL)),
    (C.judge_roll_eq8, _roll8, 0, "slope", 3.5 * (1 - IN * C.TOL_SLOPE_REL), 3.5 * (1 - OUT * C.TOL_SLOPE_REL)),
    (C.judge_roll_eq8, _roll8, 0, "r_hat", [3, 3], [3, 2]),  # the fixed-gamma VAEs must agree on r_hat
    (C.judge_roll_eq8, _roll8, 0, "r_hat", [3, 3], [3]),  # and a slope needs two gammas
]


@pytest.mark.parametrize("judge,base,i,key,inside,outside", CASES,
                         ids=[f"{c[0].__name__}-{c[2]}-{c[3]}-{n}" for n, c in enumerate(CASES)])
def test_each_tolerance_passes_just_inside_and_fails_just_outside(judge, base, i, key, inside, outside):
    m = base()
    assert all(c["verdict"] == "pass" for c in judge(m)), [c["claim"] for c in judge(m) if c["verdict"] == "fail"]
    m[key] = inside
    assert all(c["verdict"] == "pass" for c in judge(m))
    m[key] = outside
    rows = judge(m)
    assert [n for n, c in enumerate(rows) if c["verdict"] == "fail"] == [i], rows[i]["claim"]


def test_every_check_has_a_tolerance_case():
    # each check of each judge appears in CASES at least once
    for judge, base in ((C.judge_theorem1, _thm1), (C.judge_theorem2, _thm2), (C.judge_eq73, _eq73),
                        (C.judge_theorems34, _thm34), (C.judge_two_stage, _two), (C.judge_roll_eq8, _roll8)):
        covered = {c[2] for c in CASES if c[0] is judge}
        assert covered == set(range(len(judge(base())))), judge.__name__
