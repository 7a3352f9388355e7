"""How the quick theory run's checks move with its mini-batch (docs/theory.md, "The quick run's budget").

    PYTHONPATH=. python benchmarks/theory_quick_batch.py [--batches 128,64,48,32] [--seed 0]

Runs the checks of ``vaediag theory --quick`` once per mini-batch of the VAE sweeps (``Settings.batch``; stage 2
keeps the quick run's own batch), each in this one process (``jobs = 1``: the same numbers as the command's two
processes), and prints, per check, the measured value and verdict at each batch, then the counts. The quick run's
own batch (``checks_common.BATCH_QUICK``) is one of the columns: its numbers are those of ``vaediag theory --quick``.
Takes about a minute of CPU per batch on a 2-core machine.
"""

from __future__ import annotations

import argparse
import time

import torch

from vaediag.theory.checks import run_all
from vaediag.theory.checks_common import BATCH_QUICK, Settings


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
    a = ap.parse_args()
    try:
        batches = [int(b) for b in a.batches.split(",")]
    except ValueError:
        raise SystemExit(f"theory_quick_batch: --batches {a.batches!r} is not a comma-separated list of whole numbers")
    if any(b < 1 for b in batches):
        raise SystemExit(f"theory_quick_batch: every batch must be at least 1, got {a.batches}")
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
