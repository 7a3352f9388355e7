"""Training and sampling a run: ``vaediag train`` and ``vaediag sample`` as functions (``vaediag stage2`` is
:mod:`vaediag.api.two_stage`)."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from vaediag.api.process import prepare_process
from vaediag.data import Dataset, load_dataset
from vaediag.engine import distributed
from vaediag.engine import train as _engine
from vaediag.engine.callbacks import TensorBoardLogger as TensorBoardLogger  # the command's --tensorboard
from vaediag.engine.config import (RESUME_FIELDS, RunConfig, apply_options, finish_config, likelihood_of, make_config,
                                   read_config)
from vaediag.engine.devices import resolve_device
from vaediag.engine.enhance import prepare_stage2_retrain
from vaediag.engine.info import RunInfo, run_info
from vaediag.engine.runs import Run
from vaediag.engine.sampling import draw
from vaediag.errors import UsageError, VaediagError

RunLike = Run | str | os.PathLike[str]  # a Run, or the path of a run directory


def open_run(path: RunLike) -> Run:
    """An existing run directory, to read, sample, diagnose or continue.

    Args:
        path: the run's directory, or a :class:`~vaediag.engine.runs.Run` (returned as it is).

    Returns:
        The :class:`~vaediag.engine.runs.Run`.

    Raises:
        NotFoundError: no run directory at ``path``.
        VaediagError: its config.json is unreadable.
    """
    return path if isinstance(path, Run) else Run.open(path)


@contextmanager
def _job(device: str | torch.device) -> Iterator[tuple[distributed.Dist, torch.device]]:
    """(Dist, device) of this process: the torchrun job it belongs to (joined here and left at the end),
    or one process. A bad device is refused before anything is written."""
    dev = resolve_device(device) if isinstance(device, str) else device
    ctx, dev = distributed.setup(dev)
    try:
        yield ctx, dev
    except distributed.SharedError:  # every rank is here: leave the job together
        ctx.close()
        raise
    # Any other exception was raised on this rank alone: the others wait in a collective, so no
    # barrier; exiting lets torchrun see the failure and stop the job.
    ctx.close()


def train(out: str | os.PathLike[str], *, preset: str | None = None,
          config: RunConfig | str | os.PathLike[str] | None = None, overwrite: bool = False,
          device: str | torch.device = "auto", progress: bool = True,
          callbacks: list[Callable[[dict[str, Any]], None]] | None = None, **options: Any) -> Run:
    """Train a two-stage VAE into the run directory ``out`` (``vaediag train``); under torchrun, as one
    process of the job.

    Args:
        out: the run directory to create (refused if it exists, unless ``overwrite``); with
            ``stages="2"`` an existing run whose stage 2 is trained again (``overwrite`` replaces it).
        preset: a named schedule: ``quick`` (minutes on a CPU), ``paper-mnist``, ... (``vaediag train --help``).
        config: a base :class:`~vaediag.engine.config.RunConfig` (e.g. ``open_run(p).config``) or a JSON file
            of one (any subset of its sections and keys); preset and options override it.
        overwrite: replace an existing run in ``out`` (or its stage 2 with ``stages="2"``).
        device: "auto" (CUDA, then MPS, then the CPU), "cpu", "cuda", ...
        progress: the schedule, the cost sentence and the progress bar on stderr.
        callbacks: functions called with each metrics row (a dict: ``stage`` and the metrics CSV's columns)
            right after it is written, e.g. to log to wandb or MLflow, or a
            :class:`~vaediag.engine.callbacks.TensorBoardLogger` (:mod:`vaediag.engine.callbacks`).
        options: any option of ``vaediag train`` by its Python name: ``stages`` ("12": both, the default;
            "1": stage 1 only; "2": stage 2 again on a finished stage 1), ``gamma`` ("learned", the default;
            "fixed": gamma = 1; or a positive variance to fix gamma at), ``likelihood`` ("gaussian", eq. 2,
            the default; or "bernoulli"), ``dataset``, ``latent_dim``, ``steps``, ``epochs``, ``lr``,
            ``batch_size``, ``stage2_steps``, ``seed``, ``log_every``, ...

    Returns:
        The trained :class:`~vaediag.engine.runs.Run`.

    Raises:
        UsageError: an option that does not exist or has a bad value, stage-1 options with ``stages="2"``,
            ``out`` already a run without ``overwrite``.
        VaediagError: data that cannot be loaded, a device that is not available, the tensorboard package
            missing for a TensorBoardLogger.
    """
    stages = options.pop("stages", None) or "12"
    if stages not in ("1", "2", "12"):
        raise UsageError(f"stages must be '12', '1' or '2', got {stages!r}")
    gamma, likelihood = options.pop("gamma", None), likelihood_of(options.pop("likelihood", None))
    if stages == "2" and (preset or gamma is not None or likelihood or config is not None):
        raise UsageError("with stages='2' only stage-2 options (stage2_*) may be given; stage 1 is already trained")
    prepare_process()
    with _job(device) as (ctx, dev):
        if stages == "2":
            run = ctx.on_main(prepare_stage2_retrain, out, options, overwrite)
            data = None
        else:
            made: dict[str, Any] = {}
            run = ctx.on_main(create_run, out, made, preset=preset, gamma=gamma, likelihood=likelihood, stages=stages,
                              config=config, overwrite=overwrite, progress=progress, options=options)
            data = made.get("data")
        _engine.train(run, stages=tuple(int(s) for s in stages), device=dev, progress=progress and ctx.is_main,
                      data=data, dist=ctx, callbacks=callbacks)
    made_run: Run = run
    return made_run


def create_run(out: str | os.PathLike[str], made: dict[str, Any] | None = None, *, preset: str | None = None,
               gamma: str | float | None = None, likelihood: str | None = None, stages: str = "12",
               config: RunConfig | str | os.PathLike[str] | None = None, overwrite: bool = False,
               data: Dataset | None = None, progress: bool = True, options: dict[str, Any] | None = None) -> Run:
    """Validate the options, load the data, create the run directory (``made['data']``: the data)."""
    options = options or {}
    arch_given = "arch" in options
    if isinstance(config, (str, os.PathLike)):
        config, sets_arch = read_config(config)
        arch_given = arch_given or sets_arch
    elif config is not None:
        arch_given = True
    cfg = make_config(preset=preset, gamma=gamma, likelihood=likelihood, stages=stages, base=config, **options)
    Run.check_new(out, overwrite)
    t = cfg.train
    if data is None:
        data = load_dataset(t.dataset, t.data_dir, seed=t.seed, test_fraction=t.test_fraction,
                            cache_dir=t.data_cache, progress=progress)
    finish_config(cfg, data, arch_given=arch_given)
    if made is not None:
        made["data"] = data
    return Run.create(out, cfg, overwrite=overwrite)


def resume(run: RunLike, device: str | torch.device = "auto", progress: bool = True,
           callbacks: list[Callable[[dict[str, Any]], None]] | None = None, **changes: Any) -> Run:
    """Continue an interrupted run from its last checkpoint to the schedule it started with (bit-identical
    on the CPU; under torchrun with any number of processes).

    Args:
        run: the run (a directory or a :class:`~vaediag.engine.runs.Run`).
        device: "auto" (CUDA, then MPS, then the CPU), "cpu", "cuda", ...
        progress: the progress bar on stderr.
        callbacks: functions called with each metrics row, as for :func:`train`.
        changes: how to compute, which may differ from the start: ``precision``, ``loader``, ``workers``.

    Returns:
        The :class:`~vaediag.engine.runs.Run`, trained to the end of its schedule.

    Raises:
        UsageError: a change other than precision, loader or workers.
        VaediagError: a run that cannot be opened or whose checkpoint cannot be read.
    """
    prepare_process()
    with _job(device) as (ctx, dev):
        opened: Run = ctx.on_main(open_for_resume, run, changes)
        _engine.train(opened, stages=tuple(int(s) for s in opened.config.train.stages), device=dev, resume=True,
                      progress=progress and ctx.is_main, dist=ctx, callbacks=callbacks)
    return opened


def open_for_resume(run: RunLike, changes: dict[str, Any]) -> Run:
    """The run, with the settings of :data:`~vaediag.engine.config.RESUME_FIELDS` changed and saved."""
    changes = {k: v for k, v in changes.items() if v is not None}
    if set(changes) - set(RESUME_FIELDS):
        raise UsageError(f"a resumed run keeps its settings; only {', '.join(RESUME_FIELDS)} may change, "
                         f"not {', '.join(sorted(set(changes) - set(RESUME_FIELDS)))}")
    run = open_run(run)
    if changes:
        apply_options(run.config, changes)
        run.config.train.validate()
        run.save_config()
    return run


def info(run: RunLike) -> RunInfo:
    """What a run is, how far each stage got, its gamma, its last diagnosis (with the verdict's lines) and
    the command to run next, read from its files without loading a network (``vaediag info RUN``).

    Args:
        run: the run (a directory or a :class:`~vaediag.engine.runs.Run`).

    Returns:
        A :class:`~vaediag.engine.info.RunInfo` (its stages: :class:`~vaediag.engine.info.StageInfo`);
        ``info(run).to_dict()`` is ``vaediag info --json``.

    Raises:
        NotFoundError: no run directory at ``run``.
        VaediagError: its config.json is unreadable.
    """
    from vaediag.diagnostics.result import Diagnosis

    return run_info(open_run(run), load=Diagnosis.load)


def load_model(run: RunLike, stage: int = 1, device: str | torch.device = "auto") -> torch.nn.Module:
    """The trained network of a run's stage, in eval mode.

    Args:
        run: the run (a directory or a :class:`~vaediag.engine.runs.Run`).
        stage: 1 (the VAE) or 2 (the second stage).
        device: "auto" (CUDA, then MPS, then the CPU), "cpu", "cuda", ...

    Returns:
        The torch.nn.Module, on ``device``.

    Raises:
        VaediagError: the run cannot be opened or the stage has no checkpoint.
    """
    dev = resolve_device(device) if isinstance(device, str) else device
    return open_run(run).load_model(stage, dev)


def sample(run: RunLike, stage: int = 2, n: int = 64, seed: int = 0, device: str | torch.device = "auto") -> np.ndarray:
    """Samples of a run.

    Args:
        run: the run (a directory or a :class:`~vaediag.engine.runs.Run`).
        stage: 2, the two-stage sampler u -> z -> x (section 4); 1 decodes z ~ N(0, I).
        n: how many.
        seed: seed of the draws.
        device: "auto" (CUDA, then MPS, then the CPU), "cpu", "cuda", ...

    Returns:
        Images as (n, C, H, W) floats in [0, 1], vectors as (n, d) (a numpy array).

    Raises:
        UsageError: a stage other than 1 or 2.
        VaediagError: the run cannot be opened or that stage is not trained.
    """
    if stage not in (1, 2):
        raise UsageError(f"stage must be 1 or 2, got {stage}")
    x: np.ndarray = draw(open_run(run), stage, n, seed, device)
    return x


def reconstruct(run: RunLike, n: int = 32, device: str | torch.device = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Reconstructions mu_x(mu_z(x)) of the run's first held-out examples.

    Args:
        run: the run (a directory or a :class:`~vaediag.engine.runs.Run`).
        n: how many held-out examples.
        device: "auto" (CUDA, then MPS, then the CPU), "cpu", "cuda", ...

    Returns:
        (inputs, reconstructions), numpy arrays of the same shape (images in [0, 1]).

    Raises:
        VaediagError: the run cannot be opened or stage 1 is not trained.
    """
    both = draw(open_run(run), 1, n, 0, device, recon=True)
    return both[:n], both[n:]


def save_samples(run: RunLike, out: str | os.PathLike[str] | None = None, stage: int = 2, n: int = 64, seed: int = 0,
                 device: str | torch.device = "auto", recon: bool = False) -> Path:
    """Draw samples (or reconstructions) and write ``out`` (PNG: an image grid, or for vectors a scatter
    over held-out data) and ``out`` with .npy (the raw values); default RUN/samples/stageS.png. Returns ``out``."""
    if n < 1:
        raise UsageError(f"n= must be a positive integer, got {n}")
    if out is not None and Path(out).suffix.lower() not in SAMPLE_FORMATS:  # the arguments first, then the run
        raise UsageError(f"out= must end in {', '.join(SAMPLE_FORMATS)} (as for the figure verbs), got {out}")
    run = open_run(run)
    path = Path(out) if out else run.samples_dir / ("recon.png" if recon else f"stage{stage}.png")
    if out and not path.parent.is_dir():
        raise VaediagError(f"the folder of out= does not exist: {path.parent}")
    x = draw(run, stage, n, seed, resolve_device(device) if isinstance(device, str) else device, recon=recon)
    _write_samples(run, x, path)
    return path


SAMPLE_FORMATS = (".png", ".pdf", ".svg")  # the same as the figure verbs


def _grid_figure(grid: np.ndarray) -> Any:
    """A matplotlib Figure showing an image grid (H, W) or (H, W, 3) at its size, without axes."""
    from matplotlib.figure import Figure

    g = grid[..., 0] if grid.ndim == 3 and grid.shape[-1] == 1 else grid
    h, w = g.shape[:2]
    fig = Figure(figsize=(w / 50, h / 50))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(g, cmap="gray" if g.ndim == 2 else None, vmin=0, vmax=255, interpolation="nearest")
    ax.set_axis_off()
    return fig


def _write_samples(run: Run, x: np.ndarray, out: Path) -> None:
    from vaediag.io import atomic_save_npy
    from vaediag.plots import save_figure
    from vaediag.plots.images import make_grid, save_png, vector_samples_figure

    atomic_save_npy(out.with_suffix(".npy"), x)
    if x.ndim == 4 and out.suffix.lower() == ".png":
        save_png(out, make_grid(x), scale=2 if x.shape[-1] <= 32 else 1)
    elif x.ndim == 4:  # .pdf / .svg: the same grid as a figure (one image pixel per figure pixel at 100 dpi)
        save_figure(_grid_figure(make_grid(x)), out, dpi=100)
    elif run.stage2_only:  # latents of a second stage on another model's codes: over the encoder means
        save_figure(vector_samples_figure(run.load_posteriors()[0], x, "encoder means mu_z(x)"), out, dpi=120)
    else:
        test = run.dataset().test.numpy()  # type: ignore[no-untyped-call]
        save_figure(vector_samples_figure(test, x), out, dpi=120)
