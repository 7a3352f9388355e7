"""How the quick theory run's checks move with its mini-batch (docs/theory.md, "The quick run's budget").

    PYTHONPATH=. python benchmarks/theory_quick_batch.py [--batches 128,64,48,32] [--seed 0] [--steps-only]

Runs the checks of ``vaediag theory --quick`` once per mini-batch of the VAE sweeps (``Settings.batch``; stage 2
keeps its own batch), each in this one process (``jobs = 1``: the same numbers as the command's two
processes), and prints, per check, the measured value and verdict at each batch, then the counts. The quick run's
own batch (``checks_common.BATCH_QUICK``) is one of the columns: its numbers are those of ``vaediag theory --quick``.
Takes about a minute of CPU per batch on a 2-core machine. ``--steps-only`` prints only what one training step costs at
each batch (18 learned-gamma VAEs batched at d = 10, kappa = 8, as the quick run's held-out teachers: CPU ms a step,
one thread, the median of 3 timings of 200 steps after 50 of warm-up), beside this machine's fp32 matmul peak.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

from vaediag.theory.checks import run_all
from vaediag.theory.checks_common import BATCH_QUICK, Settings
from vaediag.theory.sweep import train_sweep


def step_ms(batch: int, G: int = 18, d: int = 10, kappa: int = 8, steps: int = 200) -> float:
    """CPU milliseconds of one train_sweep step of G learned-gamma VAEs at this batch (median of 3, one thread)."""
    import statistics

    torch.set_num_threads(1)
    data = torch.randn(G, 4000, d)
    train_sweep(data, kappa, [float("nan")] * G, list(range(G)), steps=50, batch=batch)  # warm-up
    times = []
    for _ in range(3):
        t = time.process_time()
        train_sweep(data, kappa, [float("nan")] * G, list(range(G)), steps=steps, batch=batch)
        times.append((time.process_time() - t) / steps * 1e3)
    return statistics.median(times)


def run(batch: int, seed: int) -> tuple[list[dict], float]:
    torch.set_num_threads(1)
    s = Settings.make(True, seed=seed)
    s.batch = batch
    t = time.process_time()
    checks, _ = run_all(s)
    return checks, time.process_time() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", default="128,64,48,32", help="comma-separated mini-batches (default 128,64,48,32)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps-only", action="store_true", help="only time one training step at each batch")
    a = ap.parse_args()
    try:
        batches = [int(b) for b in a.batches.split(",")]
    except ValueError:
        raise SystemExit(f"theory_quick_batch: --batches {a.batches!r} is not a comma-separated list of whole numbers")
    if any(b < 1 for b in batches):
        raise SystemExit(f"theory_quick_batch: every batch must be at least 1, got {a.batches}")
    if a.seed < 0:
        raise SystemExit(f"theory_quick_batch: --seed {a.seed} is not a seed; give a non-negative whole number")
    if a.steps_only:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from theory_quick_ratio import matmul_gflops

        threads, peak = torch.get_num_threads(), matmul_gflops()
        base = step_ms(batches[0])
        for b in batches:
            ms = base if b == batches[0] else step_ms(b)
            print(f"batch {b}: {ms:.2f} ms CPU a step (18 VAEs, one thread), {ms / base:.2f}x batch {batches[0]}'s")
        print(f"fp32 matmul peak before the timings: {peak:.0f} GFLOP/s (2048 x 2048, torch threads {threads})")
        return 0
    runs = {}
    for b in batches:
        runs[b] = run(b, a.seed)
        print(f"batch {b}: {runs[b][1]:.0f} s CPU", flush=True)
    head = " | ".join(f"batch {b}{' (quick)' if b == BATCH_QUICK else ''}" for b in batches)
    print(f"\n| check | {head} |\n|---|{'---|' * len(batches)}")
    first = runs[batches[0]][0]
    for i, c in enumerate(first):
        cells = []
        for b in batches:
            r = runs[b][0][i]
            m = r["measured"]
            verdict = r["verdict"].split(":")[0]
            cells.append(f"{m:.4g} {verdict}" if isinstance(m, float) else f"{m} {verdict}")
        print(f"| {c['claim'][:100].replace('|', '/')} | {' | '.join(cells)} |")
    for b in batches:
        v = [c["verdict"].split(":")[0] for c in runs[b][0]]
        print(f"batch {b}: {v.count('pass')} pass, {v.count('inconclusive')} inconclusive, {v.count('fail')} fail")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
