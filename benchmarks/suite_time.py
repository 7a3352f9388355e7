"""The default test suite's wall time beside this machine's fp32 matmul peak (docs/results/install.md).

    python benchmarks/suite_time.py [pytest arguments...]

Runs ``python -m pytest -q -p no:cacheprovider`` (the README's test command: two xdist workers) in a
subprocess and prints its wall time, the fp32 matmul peak (the best of three timings of 2048 x 2048
products with torch's default threads, measured before and after the suite: a machine that got busy
shows as a gap) and the time scaled to a machine of 67 GFLOP/s (time x peak / 67), the figure the suite
is held to (under 5 min).
"""

from __future__ import annotations

import subprocess
import sys
import time

REFERENCE_GFLOPS = 67.0  # the 2-core machine the suite's 5-minute budget is stated for


def matmul_peak(n: int = 2048, reps: int = 4) -> float:
    """fp32 GFLOP/s of an n x n product: the best of three timings of ``reps`` products."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 * reps / best / 1e9


def main(argv: list[str]) -> int:
    before = matmul_peak()
    t = time.perf_counter()
    rc = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *argv])
    wall = time.perf_counter() - t
    after = matmul_peak()
    peak = max(before, after)
    print(f"pytest exit status {rc}; wall {wall:.1f} s")
    print(f"fp32 matmul peak: {before:.1f} GFLOP/s before, {after:.1f} after (the best, {peak:.1f}, is the machine's)")
    print(f"scaled to {REFERENCE_GFLOPS:g} GFLOP/s: {wall * peak / REFERENCE_GFLOPS:.0f} s")
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
