"""The schedule and the optimiser of every training loop in vaediag (both engine stages, ``enhance``,
the theory lab's stage 2 and its batched sweep): the length of a stage, its learning rate at each step
and Adam.

The paper (supplement section 6) halves Adam's learning rate every fixed number of epochs; the
theory lab's sweep uses a short linear anneal instead (a choice the paper leaves open, documented in
:mod:`vaediag.theory.sweep`). Both are :func:`lr_at`.
"""

from __future__ import annotations

import inspect

import torch

from vaediag.engine.config import StageSchedule
from vaediag.errors import VaediagError

Halving = tuple[int, int]  # (step of the first halving, halving period), in optimiser steps


def steps_per_epoch(n: int, batch: int) -> int:
    return max(1, n // batch)


def resolve_steps(steps: int | None, epochs: float | None, n: int, batch: int) -> int:
    """Optimiser steps of a stage: ``steps``, else ``epochs`` of n examples in batches of ``batch``."""
    if steps:
        return int(steps)
    if epochs:
        return max(1, int(round(epochs * steps_per_epoch(n, batch))))
    raise VaediagError("give the length of training with epochs= or steps=")


def plan(schedule: StageSchedule, n: int) -> tuple[int, int, Halving | None]:
    """(batch, total steps, halving in steps or None) of a stage's schedule on n examples; the first
    halving comes after ``lr_halve_from`` epochs (default: one period)."""
    batch = min(schedule.batch_size, n)
    spe = steps_per_epoch(n, batch)
    steps = resolve_steps(schedule.steps, schedule.epochs, n, batch)
    if not schedule.lr_halve_every:
        return batch, steps, None
    every = max(1, int(round(schedule.lr_halve_every * spe)))
    first = every if schedule.lr_halve_from is None else int(round(schedule.lr_halve_from * spe))
    return batch, steps, (first, every)


def lr_at(step: int, lr0: float, halve: int | Halving | None = None,
          anneal: tuple[float, float] | None = None) -> float:
    """The learning rate of step ``step`` (0-based).

    ``halve`` (the paper's schedule): lr0 before the first halving at step ``first``, then halved again
    every ``every`` steps (``halve`` = (first, every); an int means first = every).
    ``anneal`` = (start, span): lr0 before step ``start``, then linear down to lr0 / 10 at start + span.
    Neither: constant."""
    if anneal is not None:
        start, span = anneal
        return lr0 if step < start else lr0 * (1.0 - 0.9 * (step - start) / span)
    if not halve:
        return lr0
    first, every = (halve, halve) if isinstance(halve, int) else halve
    return lr0 if step < first else lr0 * 0.5 ** (1 + (step - first) // every)


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    """Set the learning rate of every group (times its ``lr_scale``, e.g. log gamma's)."""
    for g in opt.param_groups:
        g["lr"] = lr * g.get("lr_scale", 1.0)


def make_adam(groups: list[dict] | list[torch.Tensor], lr: float) -> torch.optim.Adam:
    """Adam over parameter groups (e.g. ``model.param_groups(weight_decay)``), fused where possible.

    The fused Adam (one kernel over all tensors, torch >= 2.4 on the CPU) computes the same update as
    the default foreach Adam without its per-step temporaries: on a 2-core CPU the default allocated
    ~26 MB per step that the allocator returned and re-faulted (benchmarks/bench_vs_pythae.py).
    Devices or builds without a fused kernel keep the default."""
    if fused_available(groups):
        return torch.optim.Adam(groups, lr=lr, fused=True)
    return torch.optim.Adam(groups, lr=lr)


def fused_available(groups: list[dict] | list[torch.Tensor]) -> bool:
    """Whether this torch has a fused Adam kernel for these parameters (one device and dtype)."""
    params = [p for g in groups for p in (g["params"] if isinstance(g, dict) else [g])]
    if not params or "fused" not in inspect.signature(torch.optim.Adam).parameters:
        return False
    try:  # a probe on a copy of one parameter: the fused kernel checks device and dtype when it runs
        p = torch.zeros(1, device=params[0].device, dtype=params[0].dtype, requires_grad=True)
        p.grad = torch.zeros_like(p)
        torch.optim.Adam([p], lr=1e-3, fused=True).step()
    except (RuntimeError, TypeError, ValueError, NotImplementedError):
        return False
    return all(q.device == params[0].device and q.dtype == params[0].dtype for q in params)
