"""benchmarks/id_benchmark.py: the Hein & Audibert (2005) benchmark manifolds, checked by construction."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from _facts import says

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "id_benchmark.py"
_spec = importlib.util.spec_from_file_location("id_benchmark", _PATH)
B = importlib.util.module_from_spec(_spec)
sys.modules["id_benchmark"] = B  # dataclasses look their module up there
_spec.loader.exec_module(B)

# (intrinsic d, ambient D) as published (Hein & Audibert 2005, Table 1; scikit-dimension's truth table)
PUBLISHED = {"M1": (10, 11), "M2": (3, 5), "M3": (4, 6), "M4": (4, 8), "M5a": (1, 3), "M5b": (2, 3), "M6": (6, 36),
             "M7": (2, 3), "M8": (12, 72), "M9": (20, 20), "M10a": (10, 11), "M10b": (17, 18), "M10c": (24, 25),
             "M10d": (70, 71), "M11": (2, 3), "M12": (20, 20), "M13a": (2, 3), "M13b": (1, 13)}


def test_truth_table_is_the_published_one_and_samples_have_D_columns():
    assert {k: (m.d, m.D) for k, m in B.MANIFOLDS.items()} == PUBLISHED
    for m in B.MANIFOLDS.values():
        x = m.sample(50, 0)
        assert x.shape == (50, m.D) and np.isfinite(x).all()


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_dimension_by_construction_jacobian_rank_is_d(name):
    """Central differences of the chart in its continuous parameters (the cube's face index held fixed):
    the Jacobian has rank d at random parameters (singular values above 1e-6 of the largest)."""
    m = B.MANIFOLDS[name]
    p = m.params(np.random.default_rng(1), 5)
    first = 1 if name.startswith("M10") else 0
    h = 1e-6
    for q in p:
        cols = []
        for j in range(first, len(q)):
            e = np.zeros_like(q)
            e[j] = h
            cols.append((m.chart((q + e)[None]) - m.chart((q - e)[None]))[0] / (2 * h))
        sv = np.linalg.svd(np.stack(cols, 1), compute_uv=False)
        assert int((sv > 1e-6 * sv[0]).sum()) == m.d, (name, sv)


def _angle01(y, x):
    return np.mod(np.arctan2(y, x) / (2 * np.pi), 1.0)


def test_points_lie_on_their_manifolds():
    n, M = 400, B.MANIFOLDS
    x = M["M1"].sample(n, 2)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-12)
    x = M["M2"].sample(n, 2)  # x - b in the range of A, with coordinates in [0, 4]
    p, *_ = np.linalg.lstsq(B._A2, (x - B._B2).T, rcond=None)
    np.testing.assert_allclose(B._A2 @ p, (x - B._B2).T, atol=1e-10)
    assert p.min() >= -1e-10 and p.max() <= 4 + 1e-10
    for name, d in (("M4", 4), ("M6", 6), ("M8", 12)):  # pair i: radius p_{i+1}, angle 2 pi p_i
        x = M[name].sample(n, 2)
        blk = x[:, : 2 * d].reshape(n, d, 2)
        p = _angle01(blk[..., 1], blk[..., 0])
        np.testing.assert_allclose(np.hypot(blk[..., 0], blk[..., 1]), np.roll(p, -1, axis=1), atol=1e-9)
        np.testing.assert_allclose(x, np.tile(x[:, : 2 * d], (1, x.shape[1] // (2 * d))))
    x = M["M5a"].sample(n, 2)
    t = np.arctan2(x[:, 1], x[:, 0])
    np.testing.assert_allclose(x[:, 2], np.sin(8 * t), atol=1e-9)
    np.testing.assert_allclose(np.hypot(x[:, 0], x[:, 1]), 2 + np.cos(8 * t), atol=1e-9)
    x = M["M5b"].sample(n, 2)
    r, p = np.hypot(x[:, 0], x[:, 1]), 2 * x[:, 2]
    np.testing.assert_allclose(x[:, :2], np.stack([r * np.cos(p), r * np.sin(p)], 1), atol=1e-9)
    x = M["M7"].sample(n, 2)
    t = np.hypot(x[:, 0], x[:, 2])
    assert t.min() >= 1.5 * np.pi - 1e-9 and t.max() <= 4.5 * np.pi + 1e-9 and 0 <= x[:, 1].min() <= x[:, 1].max() <= 21
    np.testing.assert_allclose(x[:, 0], t * np.cos(t), atol=1e-9)
    np.testing.assert_allclose(x[:, 2], t * np.sin(t), atol=1e-9)
    for name in ("M10a", "M10d"):  # in the unit cube, on its boundary: a coordinate exactly 0 or 1
        x = M[name].sample(4000, 2)
        assert x.min() >= 0 and x.max() <= 1 and np.all(((x == 0) | (x == 1)).sum(1) >= 1)
        faces = np.argmax((x == 0) | (x == 1), axis=1)  # every axis' faces are used
        assert set(faces) == set(range(x.shape[1]))
    x = M["M11"].sample(n, 2)  # (rho - 1) sin 5 phi = z cos 5 phi, |s| <= 1
    phi, rho = np.arctan2(x[:, 1], x[:, 0]), np.hypot(x[:, 0], x[:, 1])
    np.testing.assert_allclose((rho - 1) * np.sin(5 * phi), x[:, 2] * np.cos(5 * phi), atol=1e-9)
    assert np.all(np.hypot(rho - 1, x[:, 2]) <= 0.5 + 1e-9)
    x = M["M13a"].sample(n, 2)  # x1 = sin t, |x3| = 1 - cos t
    np.testing.assert_allclose(x[:, 0] ** 2 + (np.abs(x[:, 2]) - 1) ** 2, 1.0, atol=1e-9)
    x = M["M13b"].sample(n, 2)
    np.testing.assert_allclose(np.hypot(x[:, 0], x[:, 1]), 100.0, atol=1e-9)
    assert np.all(x[:, 3:] == 0) and x[:, 2].min() >= 0 and x[:, 2].max() <= 10 * np.pi
    np.testing.assert_allclose(np.mod(np.arctan2(x[:, 1], x[:, 0]) - x[:, 2] + np.pi, 2 * np.pi) - np.pi, 0, atol=1e-9)


def test_standardise_is_one_isotropic_map():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((300, 4)) * [1, 2, 3, 4] + 5, rng.standard_normal((50, 4))
    xs, ys = B.standardise(x, y)
    assert np.sum(xs ** 2) / len(xs) == pytest.approx(1.0) and np.allclose(xs.mean(0), 0)
    k = np.sqrt(np.sum((x - x.mean(0)) ** 2) / len(x))
    np.testing.assert_allclose(ys, (y - x.mean(0)) / k)


def test_cli_refuses_unknown_names_with_one_line(capsys):
    assert B.main(["--only", "M99"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says(err, "M99")
