"""Every verdict of the theory lab is the rule of theory/separation.py applied to a claim and its nearest
alternative: each check of each judge passes just on the claim's side of the line the rule draws and fails
just on the other side. The lines are worked out by hand below from the constructed measurements."""

import numpy as np
import pytest

from vaediag.theory import checks_constructions, checks_rhat, checks_sweep, checks_two_stage
EPS = 1e-6  # relative step either side of a line


def _thm1():  # limits against their value at t = 1; rates (se 0.05) against 0.5 and 2
    return {"err1": 1e-5, "err1_start": 0.1, "slope_p1": 1.0, "slope_p1_se": 0.05, "kl1": 1e-4, "kl1_start": 0.2,
            "slope_k1": 1.0, "slope_k1_se": 0.05, "kl2": 1e-4, "kl2_se": 1e-5, "kl2_start": 0.1, "slope_k2": 1.0,
            "slope_k2_se": 0.05, "dlog2": 1e-3, "dlog2_se": 1e-3, "dlog2_start": 0.5}


def _thm2():
    return {"slope": 0.5, "slope_se": 0.02, "resid": 1e-5, "resid_alt": 3.7, "kl": 1e-5, "kl_start": 0.2,
            "hp_err": 1e-5, "hp_err_start": 0.1, "hp_rate": 1.0, "disk_err": 1e-4, "disk_se": 1e-3,
            "disk_err_start": 0.3}


def _eq73():
    return {"rel": 1e-9, "rel_alt": 0.5, "eig_rel": 1e-9, "eig_rel_alt": 0.3}


def _thm34():
    g = [5e-2, 2e-2, 1e-2, 5e-3, 2.5e-3]
    return {"r": 2, "d": 10, "name": "embedding (r=2, d=10)", "g_fit": g, "l_fit": [4 * np.log(x) for x in g],
            "learned_gamma": [1e-3, 1e-3], "gamma_collapse": 0.1, "mse_slope": 1.0, "mse_slope_se": 0.05,
            "mse_eps_learned": [1e-3, 1e-3], "total_var": 2.0, "rhat_checked": [2, 2, 2], "var_slope": 1.0,
            "var_slope_se": 0.05, "big": [0.99, 0.99], "slope8": 4.0, "slope8_se": 0.1, "slope9": -2.0, "slope9_se": 0.1}


def _two():
    return {"ed1": 0.02, "ed1_se": 1e-3, "ed2": 0.0021, "ed2_se": 5e-4, "floor": 0.002, "gamma_z": 1e-3,
            "ed_qu": 0.002, "ed_qu_se": 1e-4, "ed_qz": 0.006, "floor_g": 0.0015}


def _eq8():  # Swiss roll, d = 10, r_hat 3: slope (10 - 3)/2 = 3.5 against 4.0 and 3.0, se 0.05
    return {"d": 10, "gammas": [1e-2, 7e-3, 5e-3, 3.5e-3, 2.5e-3], "loss": [-1.0] * 5, "r_hat": [3] * 5, "r_hat_read": 3, "slope": 3.5,
            "se": 0.05}


def judge_eq8(m):
    return [checks_rhat.judge_eq8(m, "swissroll (d=10)", 2)]


# (judge, base, check index, key, line, side): side +1 passes above the line, -1 below it.
# Rates: margin = min(|m - .5|, |m - 2|) - |m - 1| >= 2 x 0.05 -> 0.8 <= m <= 1.45.
# Limits claimed 0 against a start a (se s): a - 2m >= 2s -> m <= a/2 - s.
CASES = [
    (checks_constructions.judge_theorem1, _thm1, 0, "err1", 0.05, -1),
    (checks_constructions.judge_theorem1, _thm1, 1, "slope_p1", 0.8, +1),
    (checks_constructions.judge_theorem1, _thm1, 1, "slope_p1", 1.45, -1),
    (checks_constructions.judge_theorem1, _thm1, 2, "kl1", 0.1, -1),
    (checks_constructions.judge_theorem1, _thm1, 3, "slope_k1", 0.8, +1),
    (checks_constructions.judge_theorem1, _thm1, 3, "slope_k1", 1.45, -1),
    (checks_constructions.judge_theorem1, _thm1, 4, "kl2", 0.05 - 1e-5, -1),
    (checks_constructions.judge_theorem1, _thm1, 5, "slope_k2", 0.8, +1),
    (checks_constructions.judge_theorem1, _thm1, 5, "slope_k2", 1.45, -1),
    (checks_constructions.judge_theorem1, _thm1, 6, "dlog2", 0.25 - 1e-3, -1),
    # slope 0.5 against 0 and 1 (se 0.02): 0.5 - 2|m - 0.5| >= 0.04
    (checks_constructions.judge_theorem2, _thm2, 0, "slope", 0.27, +1),
    (checks_constructions.judge_theorem2, _thm2, 0, "slope", 0.73, -1),
    (checks_constructions.judge_theorem2, _thm2, 1, "resid", 1.85, -1),
    (checks_constructions.judge_theorem2, _thm2, 2, "kl", 0.1, -1),
    (checks_constructions.judge_theorem2, _thm2, 3, "hp_err", 0.05, -1),
    (checks_constructions.judge_theorem2, _thm2, 4, "disk_err", 0.15 - 1e-3, -1),
    (checks_constructions.judge_eq73, _eq73, 0, "rel", 0.5, -1),
    (checks_constructions.judge_eq73, _eq73, 0, "rel_alt", 1e-9, +1),
    (checks_constructions.judge_eq73, _eq73, 1, "eig_rel", 0.3, -1),
    (checks_sweep.judge_theorems34, _thm34, 1, "learned_gamma", 0.05, -1),
    (checks_sweep.judge_theorems34, _thm34, 2, "mse_slope", 0.8, +1),
    (checks_sweep.judge_theorems34, _thm34, 2, "mse_slope", 1.45, -1),
    (checks_sweep.judge_theorems34, _thm34, 3, "mse_eps_learned", 1.0, -1),
    (checks_sweep.judge_theorems34, _thm34, 5, "var_slope", 0.8, +1),
    (checks_sweep.judge_theorems34, _thm34, 6, "big", 0.5, +1),
    # eq. (8): alternatives at +-0.5, se 0.1: 0.5 - 2|m - 4| >= 0.2 -> |m - 4| <= 0.15; eq. (9): +-1 -> 0.4
    (checks_sweep.judge_theorems34, _thm34, 7, "slope8", 3.85, +1),
    (checks_sweep.judge_theorems34, _thm34, 7, "slope8", 4.15, -1),
    (checks_sweep.judge_theorems34, _thm34, 8, "slope9", -2.4, +1),
    (checks_sweep.judge_theorems34, _thm34, 8, "slope9", -1.6, -1),
    # energy distances: claim the floor 0.002, alternative stage 1's 0.02, se 5e-4: 0.022 - 2m >= 1e-3
    (checks_two_stage.judge_two_stage, _two, 0, "ed2", 0.0105, -1),
    (checks_two_stage.judge_two_stage, _two, 1, "ed1", 0.004, +1),
    (checks_two_stage.judge_two_stage, _two, 2, "ed_qu", 0.00365, -1),
    (judge_eq8, _eq8, 0, "slope", 3.3, +1),
    (judge_eq8, _eq8, 0, "slope", 3.7, -1),
]
LIST_KEYS = {"learned_gamma", "mse_eps_learned", "big"}  # lists of two equal values: se 0


def _set(m, key, v):
    m[key] = [v, v] if key in LIST_KEYS else v


@pytest.mark.parametrize("judge,base,i,key,line,side", CASES,
                         ids=[f"{c[0].__name__}-{c[2]}-{c[3]}-{n}" for n, c in enumerate(CASES)])
def test_each_check_passes_on_its_side_of_the_line_and_fails_on_the_other(judge, base, i, key, line, side):
    m = base()
    assert all(c["verdict"] == "pass" for c in judge(m)), [c["claim"] for c in judge(m) if c["verdict"] != "pass"]
    _set(m, key, line * (1 + side * EPS) if line > 0 else line * (1 - side * EPS))
    assert all(c["verdict"] == "pass" for c in judge(m)), judge(m)[i]
    _set(m, key, line * (1 - side * EPS) if line > 0 else line * (1 + side * EPS))
    rows = judge(m)
    assert [n for n, c in enumerate(rows) if c["verdict"] != "pass"] == [i], rows[i]["claim"]
    for r in rows:  # every row carries what the rule used
        assert {"alternative", "margin", "se", "tolerance"} <= set(r)


def test_every_check_has_a_case():
    for judge, base in ((checks_constructions.judge_theorem1, _thm1), (checks_constructions.judge_theorem2, _thm2), (checks_constructions.judge_eq73, _eq73),
                        (checks_sweep.judge_theorems34, _thm34), (checks_two_stage.judge_two_stage, _two), (judge_eq8, _eq8)):
        covered = {c[2] for c in CASES if c[0] is judge}
        if judge is checks_sweep.judge_theorems34:
            covered |= {0, 4}  # Theorem 3's falls and eq. (9)'s r_hat: tests below
        assert covered == set(range(len(judge(base())))), judge.__name__


def test_theorem3_falls_are_judged_from_the_smallest_fall_and_the_scatter_of_the_losses():
    # losses on log gamma steps of 1 with one bump of +b in the middle: falls 4, 4 - b, 4 + b ... and the
    # scatter about the line gives se = s_res sqrt 2 (step 1); worked out independently of the code
    lg = np.array([0.0, -1.0, -2.0, -3.0, -4.0])
    loss = 4 * lg + np.array([0, 0, 0.5, 0, 0])
    drop, se = checks_sweep._drops(loss, lg)
    b = np.polyfit(lg, loss, 1)[0]
    resid = loss - np.polyval(np.polyfit(lg, loss, 1), lg)
    assert drop == pytest.approx(3.5) and se == pytest.approx(np.sqrt((resid ** 2).sum() / 3) * np.sqrt(2))
    assert b == pytest.approx(4.0)
    m = _thm34()
    m["g_fit"], m["l_fit"] = np.exp(lg).tolist(), loss.tolist()
    assert checks_sweep.judge_theorems34(m)[0]["verdict"] == "pass"
    m["l_fit"] = (4 * lg + np.array([0, 0, 3.9, 0, 0])).tolist()  # a fall of 0.1 between two gammas
    assert checks_sweep.judge_theorems34(m)[0]["verdict"] == "fail"
    m["l_fit"] = (4 * lg).tolist()[:2]  # too few gammas for a standard error
    m["g_fit"] = np.exp(lg[:2]).tolist()
    assert checks_sweep.judge_theorems34(m)[0]["verdict"] == "fail"


def test_eq9_r_hat_is_judged_over_the_models_mean_and_standard_error():
    m = _thm34()
    m["rhat_checked"] = [2, 2, 2, 3]  # mean 2.25, se 0.25: margin 0.75 - 0.25 = 0.5 = 2 se, on the line: passes
    assert checks_sweep.judge_theorems34(m)[4]["verdict"] == "pass"
    m["rhat_checked"] = [2, 2, 3]  # mean 2.33, se 0.33: margin 0.33 < 0.67
    assert checks_sweep.judge_theorems34(m)[4]["verdict"] == "fail"
    m["rhat_checked"] = [3, 3, 3]
    assert checks_sweep.judge_theorems34(m)[4]["verdict"] == "fail"


def test_eq8_is_inconclusive_in_the_band_and_fails_nearer_the_alternative():
    m = _eq8()
    m["slope"] = 3.75  # margin 0, se 0.05: cannot tell r_hat 3 from 2
    assert judge_eq8(m)[0]["verdict"] == "inconclusive"
    m["slope"] = 3.86  # margin -0.22 <= -2 se: closer to r_hat = 2
    assert judge_eq8(m)[0]["verdict"] == "fail"
    m["slope"], m["r_hat_read"] = 3.5, None  # no r_hat read: no prediction
    assert judge_eq8(m)[0]["verdict"] == "fail"


def test_eq9s_regime_is_where_the_count_below_the_cut_and_below_half_agree():
    from vaediag.theory.checks_common import VAR_THRESHOLD, regime_reason, unresolved_models

    clear, straddle = [1e-4, 2e-3, 0.98, 1.0], [1e-4, 0.3, 0.98, 1.0]  # 0.3: s_j^2 > gamma but not O(gamma) yet
    edge = [1e-4, VAR_THRESHOLD, 0.98, 1.0]  # exactly at the cut: counted 1 below it, 2 below 1/2
    assert unresolved_models([clear, straddle, edge, [0.6, 0.9]]) == [1, 2]
    assert regime_reason([clear], 10) is None and regime_reason([], 10) is None
    assert regime_reason([clear, straddle], 4000, "teachers").startswith(
        "not in eq. (9)'s regime in 4000 steps: 1 of 2 teachers")
    m = _thm34()  # the sweep's eq. (9) row: inconclusive with one such model, judged as before without
    m["enc_var_checked"], m["steps"] = [clear, straddle], 4000
    row = checks_sweep.judge_theorems34(m)[4]
    assert row["verdict"] == "inconclusive" and "1 of 2 models" in row["unresolved"]
    m["enc_var_checked"] = [clear, clear]
    assert checks_sweep.judge_theorems34(m)[4]["verdict"] == "pass"
