"""Why the `vaediag` command flushes denormals: stage-2 step time with and without it.

    python benchmarks/bench_denormal.py [--steps 5000]

Trains a quick stage 1 (200 steps) once, then the same stage 2 in two fresh processes, one with
denormals flushed to zero from the start and one without, and prints seconds per 500 steps and
the ratio of the last block to the first, and the ratio of the total times.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile

CHILD = """
import sys, numpy as np, torch
torch.set_flush_denormal(sys.argv[2] == "1")
from vaediag.engine.runs import Run
from vaediag.engine.devices import resolve_device
from vaediag.engine.train import train_stage2
run = Run.open(sys.argv[1])
t = run.config.train
t.stage2.steps, t.stage2.epochs, t.log_every = int(sys.argv[3]), None, 500
train_stage2(run, resolve_device("cpu"), progress=False)
print(" ".join(f"{v:.3f}" for v in np.diff(np.concatenate([[0.0], run.read_metrics(2)["seconds"]]))))
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=5000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = f"{tmp}/run"
        subprocess.run([sys.executable, "-m", "vaediag", "train", "--preset", "quick", "--steps", "200",
                        "--stages", "1", "--quiet", "--out", out], check=True)
        totals = {}
        for flush in ("0", "1"):
            res = subprocess.run([sys.executable, "-c", CHILD, out, flush, str(args.steps)], check=True,
                                 capture_output=True, text=True)
            sec = [float(v) for v in res.stdout.split()]
            totals[flush] = sum(sec)
            print(f"flush denormals {flush == '1'!s:5}: seconds per 500 steps {sec}  last/first {sec[-1] / sec[0]:.2f}")
        print(f"total time without / with flushing: {totals['0'] / totals['1']:.2f}")


if __name__ == "__main__":
    main()
