"""Where the default suite's time goes, in CPU seconds: a pytest plugin (docs/results/install.md).

    OMP_NUM_THREADS=1 python -m pytest -n 0 -q -p benchmarks.suite_cpu              # one process
    python benchmarks/suite_cpu.py suite_cpu.tsv                                     # the ranking

pytest's ``--durations`` reports wall time, which on a shared machine says more about the other jobs
than about a test, and ``-n 0`` runs torch with several threads where an xdist worker has one. This
plugin sets one torch thread, as the workers do, and records for each test phase (setup, call,
teardown) the CPU seconds of this process plus those of the child processes it waited for (torchrun
jobs, notebook kernels, ``python -m vaediag``), beside the wall seconds; the file named by
``SUITE_CPU_LOG`` (default ``suite_cpu.tsv``) gets one row per phase, longest first. Run as a script,
it prints the top phases and the total per test file with each one's share.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from collections import defaultdict

import pytest

_rows: list[tuple[float, float, str, str]] = []


def _cpu() -> float:
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + c.ru_utime + c.ru_stime


def pytest_configure(config):
    import torch

    torch.set_num_threads(1)


def _timed(phase: str):
    @pytest.hookimpl(hookwrapper=True)
    def hook(item):
        cpu, wall = _cpu(), time.perf_counter()
        yield
        _rows.append((_cpu() - cpu, time.perf_counter() - wall, phase, item.nodeid))

    return hook


pytest_runtest_setup = _timed("setup")
pytest_runtest_call = _timed("call")
pytest_runtest_teardown = _timed("teardown")


def pytest_sessionfinish(session):
    with open(os.environ.get("SUITE_CPU_LOG", "suite_cpu.tsv"), "w") as f:
        for cpu, wall, phase, nodeid in sorted(_rows, reverse=True):
            f.write(f"{cpu:.2f}\t{wall:.2f}\t{phase}\t{nodeid}\n")


def report(path: str, top: int = 25) -> None:
    rows = [line.rstrip("\n").split("\t") for line in open(path) if line.strip()]
    total = sum(float(r[0]) for r in rows)
    print(f"{total:.0f} CPU s in {len(rows)} test phases\n\nlongest phases:")
    for cpu, _, phase, nodeid in rows[:top]:
        print(f"{float(cpu):7.1f} s {100 * float(cpu) / total:5.1f} %  {phase:8} {nodeid}")
    per_file: dict[str, float] = defaultdict(float)
    for cpu, _, _, nodeid in rows:
        per_file[nodeid.split("::")[0]] += float(cpu)
    print("\nper file:")
    for name, cpu in sorted(per_file.items(), key=lambda kv: -kv[1])[:top]:
        print(f"{cpu:7.1f} s {100 * cpu / total:5.1f} %  {name}")


if __name__ == "__main__":
    report(sys.argv[1] if len(sys.argv) > 1 else "suite_cpu.tsv")
