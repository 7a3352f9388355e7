"""Time `vaediag theory --quick` of two checkouts back to back, with this machine's fp32 matmul peak beside it.

    python benchmarks/theory_quick_ratio.py --before PATH_TO_OLD_CHECKOUT --after . [--rounds 1]

Runs the quick lab of each checkout (``PYTHONPATH`` set to it) alternately, ``rounds`` times each, and
measures the fp32 matmul rate (2048 x 2048 products in a loop, torch's default threads) before and after.
On a shared machine absolute times are inflated by the other load; what holds is the ratio after / before
measured in one sitting, and the CPU seconds (user + system of the run and its second process), which the
other load inflates less than the wall time. Prints each wall time, the median ratio and each median time scaled to a machine
with a 163 GFLOP/s peak (time x peak here / 163) beside the budget of 45 s there.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import torch

REFERENCE_GFLOPS, BUDGET_S = 163.0, 45.0


def matmul_gflops(n: int = 2048, seconds: float = 3.0) -> float:
    """fp32 matmul rate of this machine now: n x n products until ``seconds`` have passed (best of the loop)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best, t_end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t = time.perf_counter()
        a @ b
        best = max(best, 2 * n ** 3 / (time.perf_counter() - t) / 1e9)
    return best


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def quick_run(checkout: str, out: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one `vaediag theory --quick` of ``checkout`` (its exit status 0 or 1 both
    count); the CPU seconds count its second process too (reaped by the run). It runs in the checkout
    (``python -m`` puts the working directory first on the path) with PYTHONPATH set to it."""
    root = os.path.abspath(checkout)
    env = {**os.environ, "PYTHONPATH": root}
    cpu = _children_cpu()
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "vaediag", "theory", "--quick", "--quiet", "--json", os.path.abspath(out)],
                       env=env, cwd=root, capture_output=True, text=True)
    dt, cpu = time.perf_counter() - t, _children_cpu() - cpu
    if p.returncode not in (0, 1):
        raise SystemExit(f"theory_quick_ratio: the quick run of {checkout} ended with status {p.returncode}: "
                         f"{p.stderr.strip().splitlines()[-1] if p.stderr.strip() else ''}")
    return dt, cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True, help="checkout of the version to compare against")
    ap.add_argument("--after", default=".", help="checkout of the new version (default: here)")
    ap.add_argument("--rounds", type=int, default=1, help="alternating rounds (default 1)")
    a = ap.parse_args()
    for c in (a.before, a.after):
        if not os.path.isdir(os.path.join(c, "vaediag")):
            print(f"theory_quick_ratio: {c} is not a vaediag checkout (no vaediag/ folder)", file=sys.stderr)
            return 2
    peaks = [matmul_gflops()]
    times, cpus = {"before": [], "after": []}, {"before": [], "after": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.rounds):
            for name in ("before", "after"):
                wall, cpu = quick_run(getattr(a, name), os.path.join(tmp, f"{name}{i}.json"))
                times[name].append(wall)
                cpus[name].append(cpu)
                print(f"round {i + 1}: {name} {wall:.1f} s wall, {cpu:.1f} s CPU (user + system)", flush=True)
    peaks.append(matmul_gflops())
    peak = statistics.mean(peaks)
    mb, ma = statistics.median(times["before"]), statistics.median(times["after"])
    print(f"fp32 matmul peak (2048 x 2048, torch threads {torch.get_num_threads()}): {peaks[0]:.0f} before, "
          f"{peaks[1]:.0f} after the runs, GFLOP/s")
    print(f"median wall: before {mb:.1f} s, after {ma:.1f} s; ratio after / before {ma / mb:.2f}")
    cb, ca = statistics.median(cpus["before"]), statistics.median(cpus["after"])
    print(f"median CPU (user + system): before {cb:.1f} s, after {ca:.1f} s; ratio after / before {ca / cb:.2f}")
    for name, t in (("before", mb), ("after", ma)):
        print(f"{name} scaled to a {REFERENCE_GFLOPS:.0f} GFLOP/s machine: {t * peak / REFERENCE_GFLOPS:.1f} s "
              f"(budget {BUDGET_S:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
