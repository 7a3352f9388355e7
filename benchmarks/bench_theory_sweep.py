"""Time a batched sweep of 8 small VAEs against 1, in one run, and print the ratio (target <= 1.5x).

    python benchmarks/bench_theory_sweep.py [--steps 1000] [--hidden 64] [--threads 1] [--repeats 3]

Both sweeps use the Theorems 3-4 setting (embedding manifold r=2 in R^10, kappa=6, batch 128,
two hidden layers). Each size is timed ``--repeats`` times, alternating, and the median is kept (the
first, warm-up sweep is discarded).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from vaediag.data import manifolds
from vaediag.theory.sweep import train_sweep


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    x, _ = manifolds.make("embedding", n=4000, seed=0, r=2, d=10)
    grid = [5e-2, 2e-2, 1e-2, 5e-3, 2.5e-3, 1.25e-3, float("nan"), float("nan")]
    h = (a.hidden, a.hidden)
    train_sweep(x, 6, grid[:1], [0], steps=100, hidden=h)  # warm-up
    times = {1: [], 8: []}
    for _ in range(a.repeats):
        for G in (1, 8):
            t0 = time.perf_counter()
            train_sweep(x, 6, grid[:G], list(range(G)), steps=a.steps, hidden=h)
            times[G].append(time.perf_counter() - t0)
    t1, t8 = statistics.median(times[1]), statistics.median(times[8])
    print(f"steps={a.steps} hidden={h} threads={a.threads} repeats={a.repeats}")
    print(f"1 model : {t1:.2f} s  (all: {', '.join(f'{t:.2f}' for t in times[1])})")
    print(f"8 models: {t8:.2f} s  (all: {', '.join(f'{t:.2f}' for t in times[8])})")
    print(f"ratio 8 vs 1: {t8 / t1:.2f}x  (8 sequential models would be 8.00x)")


if __name__ == "__main__":
    main()
