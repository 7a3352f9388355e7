"""r_hat of the theory lab's VAE on the standard intrinsic-dimension benchmark, beside MLE, TwoNN and the truth.

    PYTHONPATH=. python benchmarks/id_benchmark.py [--steps 8000] [--restarts 3] [--n 2500] [--n-test 1000]
        [--seed 0] [--only M1,M7,...] [--json PATH]

The manifolds are those of Hein & Audibert (2005), "Intrinsic dimensionality estimation of submanifolds
in R^d", with the numbering and parameters of scikit-dimension's benchmark (``BenchmarkManifolds``):
written here from the published definitions, each with its true dimension d and ambient dimension D
(``MANIFOLDS``). Each is a chart applied to parameters drawn from a stated law, so the tests can check the
dimension by construction (the chart's Jacobian has rank d) and that the points lie on the manifold.

For each manifold: n training points (scikit-dimension's default 2,500) and n_test held-out points; every
sample is centred and scaled by one number to total variance 1 (an isotropic scaling: the geometry and
the dimension are unchanged), the scale of the lab's own manifolds (``linear``: total variance 1). The
scale matters because the VAE's gamma starts at 1: scaled to variance 1 per *coordinate* instead, every
manifold with D - d <= 1 (and M9, M12) stayed at the collapsed stationary point of eq. (2) (gamma = the
per-coordinate variance ~ 1, every encoder variance ~ 1) for all 8,000 steps, as the lab's stage 2 does
when its gamma_z starts at 1 (docs/theory.md). Then
the lab's VAE (``vaediag.theory.sweep``: two SiLU hidden layers of 64, learned gamma from 1, Adam at
2e-3 with the lab's schedule, batch 128) with kappa = D latent dimensions (the one choice that does not
use the truth), ``restarts`` seeds trained together, the restart with the lowest held-out loss (eq. 2,
8 noise draws) reported, exactly the lab's rule; r_hat = encoder variances below the lab's cut 0.05
(eq. 9). Beside it: Levina-Bickel MLE (k = 20) and TwoNN on the training sample, and the affine
dimension. Budget: ``steps`` Adam steps per manifold; the elapsed seconds are printed per row.
One thread (``torch.set_num_threads(1)``): these models are small.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

TWO_PI = 2 * np.pi


@dataclass(frozen=True)
class Manifold:
    """A benchmark manifold: ``chart(params) -> points`` applied to ``params(rng, n)``; truth d in R^D."""

    name: str
    d: int
    D: int
    what: str
    params: Callable[[np.random.Generator, int], np.ndarray]
    chart: Callable[[np.ndarray], np.ndarray]

    def sample(self, n: int, seed: int) -> np.ndarray:
        return self.chart(self.params(np.random.default_rng(seed), n))


def _pad(x: np.ndarray, D: int) -> np.ndarray:
    """Append zero coordinates up to R^D (the benchmark's linear embedding of a low-dimensional set)."""
    return np.concatenate([x, np.zeros((len(x), D - x.shape[1]))], axis=1)


def _uniform(k: int, lo: float = 0.0, hi: float = 1.0):
    return lambda rng, n: rng.uniform(lo, hi, (n, k))


# M1: the unit 10-sphere in R^11; the parameter is a standard normal vector of R^11, the chart its direction.
def _sphere(v):
    return v / np.linalg.norm(v, axis=1, keepdims=True)


# M2: a 3-dimensional affine subspace of R^5, x = A p + b, p uniform on [0, 4]^3 (Hein & Audibert's A, b).
_A2 = np.array([[1.2, -0.5, 0.0], [0.5, 0.9, 0.0], [-0.5, -0.2, 1.0], [0.4, -0.9, -0.1], [1.1, -0.3, 0.0]])
_B2 = np.array([3.0, -1.0, 0.0, 0.0, 8.0])


def _affine35(p):
    return p @ _A2.T + _B2


# M3: a 4-dimensional manifold in R^6 concentrated near a 3-dimensional one; p uniform on [0, 1]^4.
def _nonlinear46(p):
    p0, p1, p2, p3 = p.T
    return np.stack([p1 ** 2 * np.cos(TWO_PI * p0), p2 ** 2 * np.sin(TWO_PI * p0), p1 + p2 + (p1 - p3) ** 2,
                     p1 - 2 * p2 + (p0 - p3) ** 2, -p1 - 2 * p2 + (p2 - p3) ** 2,
                     p0 ** 2 - p1 ** 2 + p2 ** 2 - p3 ** 2], axis=1)


# M4, M6, M8: p uniform on [0, 1]^d; coordinates (p_{i+1} cos 2 pi p_i, p_{i+1} sin 2 pi p_i), i = 1..d
# (indices cyclic), the block of 2d repeated D / 2d times.
def _nonlinear(D: int):
    def chart(p):
        nxt = np.roll(p, -1, axis=1)  # p_{i+1}, cyclic
        block = np.stack([nxt * np.cos(TWO_PI * p), nxt * np.sin(TWO_PI * p)], axis=2).reshape(len(p), -1)
        return np.tile(block, (1, D // block.shape[1]))
    return chart


# M5a: a closed curve winding 8 times around a torus in R^3; t uniform on [0, 2 pi].
def _helix1(t):
    t = t[:, 0]
    return np.stack([(2 + np.cos(8 * t)) * np.cos(t), (2 + np.cos(8 * t)) * np.sin(t), np.sin(8 * t)], axis=1)


# M5b: a helicoid-like surface in R^3, (r cos p, r sin p, p/2), r and p uniform on [0, 10 pi].
def _helix2(q):
    r, p = q.T
    return np.stack([r * np.cos(p), r * np.sin(p), 0.5 * p], axis=1)


# M7: the Swiss roll (t cos t, h, t sin t), t uniform on [1.5 pi, 4.5 pi], h uniform on [0, 21].
def _roll(q):
    t, h = q.T
    return np.stack([t * np.cos(t), h, t * np.sin(t)], axis=1)


# M10: the boundary of the unit cube [0, 1]^(d+1) (a d-dimensional manifold, uniform surface measure: all
# 2(d+1) faces have volume 1). Parameters: column 0 the face (coordinate index, side), then d free coordinates.
def _cube_params(d: int):
    def params(rng, n):
        face = rng.integers(0, 2 * (d + 1), n)
        return np.concatenate([face[:, None].astype(float), rng.uniform(0, 1, (n, d))], axis=1)
    return params


def _cube_chart(p):
    face, free = p[:, 0].astype(int), p[:, 1:]
    n, d = free.shape
    x = np.empty((n, d + 1))
    axis, side = face // 2, (face % 2).astype(float)
    for i in range(n):  # insert the fixed coordinate at its axis
        x[i] = np.insert(free[i], axis[i], side[i])
    return x


# M11: a Moebius band twisted 10 times (half-turns), phi uniform on [0, 2 pi], s uniform on [-1, 1].
def _moebius(q):
    phi, s = q.T
    return np.stack([(1 + 0.5 * s * np.cos(5 * phi)) * np.cos(phi), (1 + 0.5 * s * np.cos(5 * phi)) * np.sin(phi),
                     0.5 * s * np.sin(5 * phi)], axis=1)


# M13a: the S-curve (sin t, h, sign(t)(cos t - 1)), t uniform on [-1.5 pi, 1.5 pi], h uniform on [0, 2].
def _scurve(q):
    t, h = q.T
    return np.stack([np.sin(t), h, np.sign(t) * (np.cos(t) - 1)], axis=1)


# M13b: a helix curve (100 cos t, 100 sin t, t) in R^13 (10 zero coordinates), t uniform on [0, 10 pi].
def _spiral(t):
    t = t[:, 0]
    return _pad(np.stack([100 * np.cos(t), 100 * np.sin(t), t], axis=1), 13)


def _pad_chart(chart, D):
    return lambda p: _pad(chart(p), D)


MANIFOLDS: dict[str, Manifold] = {m.name: m for m in [
    Manifold("M1", 10, 11, "10-sphere", lambda rng, n: rng.standard_normal((n, 11)), _sphere),
    Manifold("M2", 3, 5, "affine 3-space in R^5", _uniform(3, 0, 4), _affine35),
    Manifold("M3", 4, 6, "nonlinear, concentrated near 3-D", _uniform(4), _nonlinear46),
    Manifold("M4", 4, 8, "nonlinear", _uniform(4), _nonlinear(8)),
    Manifold("M5a", 1, 3, "helix curve on a torus", _uniform(1, 0, TWO_PI), _helix1),
    Manifold("M5b", 2, 3, "2-D helix", _uniform(2, 0, 10 * np.pi), _helix2),
    Manifold("M6", 6, 36, "nonlinear", _uniform(6), _nonlinear(36)),
    Manifold("M7", 2, 3, "Swiss roll", lambda rng, n: np.stack(
        [rng.uniform(1.5 * np.pi, 4.5 * np.pi, n), rng.uniform(0, 21, n)], axis=1), _roll),
    Manifold("M8", 12, 72, "nonlinear, highly curved", _uniform(12), _nonlinear(72)),
    Manifold("M9", 20, 20, "affine 20-space (R^20)", _uniform(20, -2.5, 2.5), lambda p: p.copy()),
    Manifold("M10a", 10, 11, "10-cube surface", _cube_params(10), _cube_chart),
    Manifold("M10b", 17, 18, "17-cube surface", _cube_params(17), _cube_chart),
    Manifold("M10c", 24, 25, "24-cube surface", _cube_params(24), _cube_chart),
    Manifold("M10d", 70, 71, "70-cube surface", _cube_params(70), _cube_chart),
    Manifold("M11", 2, 3, "Moebius band, 10 half-twists", lambda rng, n: np.stack(
        [rng.uniform(0, TWO_PI, n), rng.uniform(-1, 1, n)], axis=1), _moebius),
    Manifold("M12", 20, 20, "isotropic Gaussian in R^20", lambda rng, n: rng.standard_normal((n, 20)),
             lambda p: p.copy()),
    Manifold("M13a", 2, 3, "S-curve", lambda rng, n: np.stack(
        [rng.uniform(-1.5 * np.pi, 1.5 * np.pi, n), rng.uniform(0, 2, n)], axis=1), _scurve),
    Manifold("M13b", 1, 13, "helix curve in R^13", _uniform(1, 0, 10 * np.pi), _spiral),
]}


def standardise(x: np.ndarray, *others: np.ndarray):
    """Centre by x's mean and scale by one number to total variance 1 (the same map on ``others``)."""
    mu = x.mean(0)
    s = np.sqrt(((x - mu) ** 2).sum(1).mean())
    return tuple((y - mu) / s for y in (x, *others))


def run_one(m: Manifold, args) -> dict:
    from vaediag.theory.checks_common import VAR_THRESHOLD
    from vaediag.theory.checks_rhat import AFFINE_REL_TOL
    from vaediag.theory.checks_sweep import select_restart
    from vaediag.theory.estimators import MLE, TwoNN, affine_dimension
    from vaediag.theory.sweep import evaluate, r_hat_per_model, train_sweep

    x, xt = standardise(m.sample(args.n, args.seed), m.sample(args.n_test, args.seed + 10_000))
    x, xt = x.astype(np.float32), xt.astype(np.float32)
    t0 = time.perf_counter()
    R = args.restarts
    seeds = [1000 * args.seed + 10 * list(MANIFOLDS).index(m.name) + i for i in range(R)]
    res = train_sweep(x, m.D, [float("nan")] * R, seeds, steps=args.steps)
    ev = evaluate(res.model, xt, seed=args.seed)
    secs = time.perf_counter() - t0
    rh = r_hat_per_model(ev["enc_var"], VAR_THRESHOLD)
    best = select_restart(ev["loss"])
    xd = x.astype(np.float64)
    return {"name": m.name, "what": m.what, "d": m.d, "D": m.D, "kappa": m.D, "r_hat": int(rh[best]),
            "gamma": float(ev["gamma"][best]), "restarts": [{"r_hat": int(rh[i]), "held_out_loss": float(ev["loss"][i]),
                                                             "gamma": float(ev["gamma"][i])} for i in range(R)],
            "enc_var": ev["enc_var"][best].tolist(), "mle": MLE().fit(xd).dimension_, "twonn": TwoNN().fit(xd).dimension_,
            "affine": affine_dimension(xd, AFFINE_REL_TOL), "seconds": secs}


def table(rows: list[dict]) -> str:
    out = ["| manifold | d (truth) | D = kappa | r_hat VAE (gamma) | restarts' r_hat (held-out loss) | MLE (k=20) | "
           "TwoNN | affine dim. | s |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        rest = ", ".join(f"{x['r_hat']} ({x['held_out_loss']:.1f})" for x in r["restarts"])
        out.append(f"| {r['name']} {r['what']} | {r['d']} | {r['D']} | {r['r_hat']} ({r['gamma']:.1e}) | {rest} | "
                   f"{r['mle']:.2f} | {r['twonn']:.2f} | {r['affine']} | {r['seconds']:.0f} |")
    return "\n".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=8000, help="Adam steps per manifold (default 8000, the lab's full run)")
    p.add_argument("--restarts", type=int, default=3, help="seeds per manifold, the lowest held-out loss reported")
    p.add_argument("--n", type=int, default=2500, help="training points (default 2500, scikit-dimension's)")
    p.add_argument("--n-test", type=int, default=1000, help="held-out points for the restart rule (default 1000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", help="comma-separated names, e.g. M1,M7 (default: all)")
    p.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    args = p.parse_args(argv)
    names = args.only.split(",") if args.only else list(MANIFOLDS)
    bad = [n for n in names if n not in MANIFOLDS]
    if bad:
        print(f"unknown manifold {', '.join(bad)}; known: {', '.join(MANIFOLDS)}", file=sys.stderr)
        return 2
    if min(args.steps, args.restarts, args.n_test) < 1 or args.n < 22:
        print("--steps, --restarts, --n-test must be >= 1 and --n >= 22 (MLE uses 20 neighbours)", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    rows, t0 = [], time.perf_counter()
    for n in names:
        rows.append(run_one(MANIFOLDS[n], args))
        r = rows[-1]
        print(f"[{time.perf_counter() - t0:7.1f}s] {n}: d={r['d']} r_hat={r['r_hat']} (restarts "
              f"{[x['r_hat'] for x in r['restarts']]}) MLE={r['mle']:.2f} TwoNN={r['twonn']:.2f}", file=sys.stderr,
              flush=True)
    print(table(rows))
    print(f"\n{len(rows)} manifolds, {args.steps} steps, {args.restarts} restarts, n = {args.n} (+{args.n_test} held "
          f"out), seed {args.seed}: {time.perf_counter() - t0:.0f} s on one thread")
    if args.json:
        from pathlib import Path

        from vaediag.io import write_json

        write_json(Path(args.json), {"rows": rows, "config": vars(args)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
