"""The process: its set-up for training and sampling, done once per process by every entry point that trains
(the CLI and ``vaediag.train``/``resume``/``enhance``/``demo`` alike), and for the command its place in a
torchrun job (``env_world``: rank and world size) and the errors every rank of the job raises together."""

from __future__ import annotations

from vaediag.engine.distributed import SharedError as SharedError, SharedUsageError as SharedUsageError
from vaediag.engine.distributed import env_world as env_world

_DONE = False


def prepare_process() -> None:
    """Flush denormal floats to zero and keep freed memory in the process (idempotent).

    Denormals: on the CPU, tiny Adam moments of unused units otherwise make training slow down
    steadily (benchmarks/bench_denormal.py); the flag is deterministic. Threads inherit it when they are
    created, so it is set before the first training step. Freed memory: a CPU step then reuses its
    blocks instead of re-faulting them (engine/devices.py: keep_freed_memory; glibc only)."""
    global _DONE
    import torch

    from vaediag.engine.devices import keep_freed_memory

    torch.set_flush_denormal(True)
    if not _DONE:
        keep_freed_memory()
        _DONE = True
