"""The theory lab as functions: run its checks (``vaediag.check_theory``), write their JSON and figures, and
refuse outputs it could not write before it runs (``vaediag theory``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from vaediag.errors import UsageError, VaediagError
from vaediag.theory.tables import format_reported as format_reported, format_rhat as format_rhat
from vaediag.theory.tables import format_table as format_table  # the command prints the lab's tables


def check_theory(quick: bool = True, seed: int = 0, device: str = "auto", progress=None, jobs: int = 1,
           threads: int | None = None) -> tuple[list[dict], dict]:
    """Run the theory lab's checks of Theorems 1-4, eqs. (8), (9), (73) and the two-stage argument.

    Args:
        quick: the smaller budget (fewer points, steps, restarts and teachers, smaller mini-batches; no mnist5k VAE).
        seed: seed of every random draw (a non-negative whole number).
        device: torch device of the VAE sweeps: "auto" (CUDA, then MPS, then the CPU), "cpu", "cuda", ...
        progress: None, or a function called with one line of text at each step of the lab.
        jobs: 2 runs part of the lab in a second process (the same numbers); 1 runs all of it here.
        threads: torch's CPU threads for the run (default: unchanged).

    Returns:
        (checks, artifacts): checks as [{claim, measured, predicted, tolerance, verdict, ...}], and the
        artifacts the figures of :mod:`vaediag.plots.theory` draw.

    Raises:
        UsageError: a negative seed, threads below 1, a device torch does not know.
        VaediagError: CUDA asked for but not available.
    """
    from vaediag.theory.checks import Settings, run_all

    if seed < 0:
        raise UsageError(f"seed={seed} is not a seed: give a non-negative whole number")
    if threads is not None:
        if threads < 1:
            raise UsageError(f"threads={threads} is too few: give threads= of at least 1")
        torch.set_num_threads(threads)
    if device == "auto":  # --device auto, as on every verb: CUDA, then MPS, then the CPU
        from vaediag.engine.devices import resolve_device

        device = str(resolve_device(device))
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise UsageError(f"device={device!r} is not a torch device; use cpu or cuda") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise VaediagError("device=cuda was asked for but no CUDA device is available; use device=cpu")
    torch.manual_seed(seed)
    return run_all(Settings.make(quick, seed=seed, device=device, progress=progress, jobs=jobs))


def save_theory(checks: list[dict], artifacts: dict, json_path: str | os.PathLike | None = None,
                figures: str | os.PathLike | None = None, config: dict[str, Any] | None = None,
                elapsed: float | None = None) -> list[Path]:
    """Write the theory lab's checks, r_hat table and reported rows as JSON and one PNG per theorem; the paths written."""
    from vaediag.io import jsonable, write_json

    written = []
    if json_path is not None:
        doc = {"checks": jsonable(checks), "rhat_table": jsonable(artifacts["estimators"]["rows"]),
               "reported": jsonable(artifacts["estimators"].get("reported", [])),
               "config": config or {}, "elapsed_seconds": elapsed}
        write_json(Path(json_path), doc)
        written.append(Path(json_path))
    if figures is not None:
        from vaediag.plots import save_figure
        from vaediag.plots.theory import all_figures

        out = Path(figures)
        out.mkdir(parents=True, exist_ok=True)
        for name, fig in all_figures(artifacts).items():
            save_figure(fig, out / f"{name}.png", dpi=110)
            written.append(out / f"{name}.png")
    return written


def check_theory_outputs(json_path: str | None, figures: str | None) -> None:
    """Refuse, before the lab runs, a --json or --figures it could not write."""
    if json_path:
        parent = Path(json_path).expanduser().resolve().parent
        if not parent.is_dir():
            raise VaediagError(f"json_path={json_path}: the folder {parent} does not exist; create it or choose another path")
        if Path(json_path).is_dir():
            raise UsageError(f"json_path={json_path} is a folder; give a file path such as {Path(json_path) / 'theory.json'}")
    if figures and Path(figures).exists() and not Path(figures).is_dir():
        raise UsageError(f"figures={figures} is a file; give a folder")
