"""Two-sample distances (the two-stage argument's energy distance) against closed forms and an independent
computation: scipy's 1-D energy distance is the square root of ours, and direct pairwise sums."""

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import cdist

from vaediag.theory import metrics
from vaediag.theory.metrics import energy_distance, mean_distance


def test_mean_distance_of_two_points_and_against_direct_pairwise_sums():
    assert mean_distance([[0.0, 0.0]], [[3.0, 4.0]]) == pytest.approx(5.0)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(37, 5)), rng.normal(2.0, 1.5, size=(23, 5))
    assert mean_distance(x, y) == pytest.approx(cdist(x, y).mean(), rel=1e-12)


def test_blocks_and_a_far_offset_give_the_same_mean(monkeypatch):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(50, 3)), rng.normal(size=(40, 3))
    whole = cdist(x, y).mean()
    monkeypatch.setattr(metrics, "_BLOCK_ENTRIES", 7)  # blocks of one row
    assert mean_distance(x, y) == pytest.approx(whole, rel=1e-12)
    assert mean_distance(x + 1e6, y + 1e6) == pytest.approx(whole, rel=1e-9)  # centring keeps the digits


def test_energy_distance_is_scipys_squared_in_one_dimension():
    rng = np.random.default_rng(2)
    u, v = rng.normal(size=300), rng.exponential(size=200)
    assert energy_distance(u[:, None], v[:, None]) == pytest.approx(stats.energy_distance(u, v) ** 2, rel=1e-9)
    # E|Y - Y'| handed in (one y compared with several samples): the same number, and it is used
    yy = cdist(v[:, None], v[:, None]).mean()
    assert energy_distance(u[:, None], v[:, None], yy) == pytest.approx(stats.energy_distance(u, v) ** 2, rel=1e-9)
    assert energy_distance(u[:, None], v[:, None], yy + 1.0) == pytest.approx(stats.energy_distance(u, v) ** 2 - 1.0)


def test_energy_distance_of_point_masses_and_of_a_sample_with_itself():
    # delta_0 vs delta_a: 2|a| - 0 - 0
    assert energy_distance(np.zeros((4, 2)), np.tile([3.0, 4.0], (5, 1))) == pytest.approx(10.0)
    x = np.random.default_rng(3).normal(size=(60, 4))
    assert energy_distance(x, x) == pytest.approx(0.0, abs=1e-12)


def test_empty_samples_are_refused():
    with pytest.raises(ValueError, match="non-empty"):
        mean_distance(np.zeros((0, 2)), np.zeros((3, 2)))


def test_energy_distance_se_is_the_spread_over_blocks():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(400, 3)), rng.normal(0.3, 1.0, size=(400, 3))
    blocks = [energy_distance(x[i:i + 100], y[i:i + 100]) for i in range(0, 400, 100)]
    assert metrics.energy_distance_se(x, y, 4) == pytest.approx(np.std(blocks, ddof=1) / 2, rel=1e-12)
    with pytest.raises(ValueError, match="blocks"):
        metrics.energy_distance_se(x[:5], y[:5], 4)


@pytest.mark.slow
def test_energy_distance_se_matches_the_spread_over_independent_draws():
    rng = np.random.default_rng(4)
    # the spread of the whole-sample estimate over 30 independent draws, against the mean block estimate
    eds, ses = [], []
    for _ in range(30):
        a, b = rng.normal(size=(160, 3)), rng.normal(0.3, 1.0, size=(160, 3))
        eds.append(energy_distance(a, b))
        ses.append(metrics.energy_distance_se(a, b, 4))
    assert 0.6 < np.mean(ses) / np.std(eds, ddof=1) < 1.6
