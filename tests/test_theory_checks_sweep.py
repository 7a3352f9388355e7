"""The batched sweep of Theorems 3-4 and eqs. (8), (9) (checks_sweep): restart selection, and the two
parts covering every group once with its seed."""

import math

from vaediag.data import manifolds
from vaediag.theory import checks_common, checks_rhat, checks_sweep


def test_restart_selection_is_the_lowest_held_out_loss():
    assert checks_sweep.select_restart([-3.0, -5.5, -5.4]) == 1
    assert checks_sweep.select_restart([2.0]) == 0


def test_sweep_parts_cover_every_group_once_with_the_seed_of_its_place_in_the_whole():
    # the two batched parts (main, others) together are the former single sweep: groups in order, each
    # with seed 100 seed + g, the right manifold and gamma (nan = learned)
    s = checks_common.Settings.make(True, seed=2)
    s.n_train, s.n_test = 50, 20
    tr0, _, t0, g0, s0 = checks_sweep._part_data(s, "main")
    tr1, te1, t1, g1, s1 = checks_sweep._part_data(s, "others")
    R, nf = checks_sweep.RESTARTS_QUICK, len(checks_sweep.GAMMA_GRID_QUICK)
    assert [t["name"] for t in t0] == ["embedding"] * (nf + R)
    n8, nm = len(checks_rhat.EQ8_GAMMAS_QUICK), len(checks_rhat.ESTIMATOR_MANIFOLDS)
    nr = 2 * n8  # the Swiss roll's and the teacher's fixed gammas
    assert s0 + s1 == list(range(200, 200 + nf + (nm - 1) * R + R + nr))
    assert g0[:nf] == checks_sweep.GAMMA_GRID_QUICK and all(math.isnan(g) for g in g0[nf:] + g1[:-nr]) and len(g0) == nf + R
    assert g1[-nr:] == list(checks_rhat.EQ8_GAMMAS_QUICK) * 2 and len(checks_rhat.EQ8_GAMMAS_QUICK) >= 5
    s.quick = False
    assert checks_sweep._part_data(s, "others")[3][-len(checks_rhat.EQ8_GAMMAS):] == list(checks_rhat.EQ8_GAMMAS)
    assert checks_sweep._part_data(s, "main")[3][:len(checks_sweep.GAMMA_GRID)] == checks_sweep.GAMMA_GRID
    names = ["linear", "sphere", "torus", "swissroll"] + ["teacher"] * 4
    assert [t["name"] for t in t1] == [n for n in names for _ in range(R)] + ["swissroll"] * n8 + ["teacher"] * n8
    assert [t["r"] for t in t1[4 * R:-nr:R]] == [1, 2, 3, 5] and {t["r"] for t in t1[-n8:]} == {3}
    assert tr0.shape == (nf + R, 50, 10) and te1.shape == ((nm - 1) * R + nr, 20, 10)
    x, _ = manifolds.make("swissroll", n=50, seed=2, r=2, d=10)
    assert (tr1[4 * R - 1] == x).all() and (tr1[3 * R] == x).all() and (tr1[-n8 - 1] == x).all()
    x, _ = manifolds.make("teacher", n=50, seed=2, r=3, d=10)
    assert (tr1[6 * R] == x).all() and not (tr1[5 * R] == x).all() and (tr1[-1] == x).all()


def test_the_gamma_grid_gives_eq8_five_gammas_in_the_quick_fit_range():
    assert sum(g >= checks_common.FIT_FLOOR * 1.2e-3 for g in checks_sweep.GAMMA_GRID_QUICK) >= 5
    # the quick run leaves out only gammas below its fit floor, which none of its checks reads
    left_out = checks_sweep.GAMMA_GRID[len(checks_sweep.GAMMA_GRID_QUICK):]
    assert checks_sweep.GAMMA_GRID[:len(checks_sweep.GAMMA_GRID_QUICK)] == checks_sweep.GAMMA_GRID_QUICK
    assert left_out and all(g < checks_common.FIT_FLOOR * 1.2e-3 for g in left_out)
