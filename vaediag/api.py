"""The Python API: one documented function per thing a researcher does with vaediag, for notebooks
and scripts. Everything here is also exported from ``vaediag`` itself (``vaediag.train(...)``).

    import vaediag
    run = vaediag.train("runs/quick", preset="quick", steps=300)     # stage 1 + stage 2
    x = vaediag.sample(run, stage=2, n=64)                           # (64, 1, 28, 28) in [0, 1]
    summary, arrays = vaediag.diagnose(run)                           # gamma, r_hat, lambda_j, spectra
    vaediag.figure1(run)                                              # a matplotlib Figure (inline in Jupyter)

The CLI calls the same functions; it only adds parsing, printing and torchrun.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaediag.data import Dataset, load_dataset
from vaediag.diagnostics.eigen import DEFAULT_TAU
from vaediag.engine import train as _engine
from vaediag.engine.config import RunConfig, finish_config, make_config
from vaediag.engine.runs import Run
from vaediag.engine.sampling import draw
from vaediag.errors import UsageError

RunLike = Run | str | os.PathLike


def open_run(path: RunLike) -> Run:
    """An existing run directory (a :class:`Run`); a Run is returned as it is."""
    return path if isinstance(path, Run) else Run.open(path)


def train(out: str | os.PathLike, *, preset: str | None = None, gamma: str | float | None = None,
          decoder: str | None = None, stages: str = "12", config: RunConfig | None = None,
          overwrite: bool = False, device: str | torch.device = "auto", progress: bool = True,
          data: Dataset | None = None, callbacks: list | None = None, **options: Any) -> Run:
    """Train a two-stage VAE into the run directory ``out`` and return the :class:`Run`.

    Args:
        out: the run directory to create (refused if it exists, unless ``overwrite``).
        preset: a named schedule: ``quick`` (minutes on a CPU), ``paper-mnist``, ... (``vaediag train --help``).
        gamma: "learned" (default), "fixed" (gamma = 1) or a positive variance to fix gamma at.
        decoder: "gaussian" (eq. 2, default) or "cross-entropy".
        stages: "12" (both, default), "1" (stage 1 only).
        config: a base :class:`RunConfig` (e.g. ``open_run(p).config``); preset and options override it.
        device: "auto" (CUDA, then MPS, then the CPU), "cpu", "cuda", ...
        data: an already loaded data set matching the config (else it is loaded from the config).
        callbacks: functions called with each metrics row (a dict: ``stage`` and the metrics CSV's columns)
            right after it is written, e.g. to log to TensorBoard, wandb or MLflow (the CSV stays the
            source of truth; :mod:`vaediag.engine.callbacks`).
        options: any option of ``vaediag train`` by its Python name: ``dataset``, ``latent_dim``,
            ``steps``, ``epochs``, ``lr``, ``batch_size``, ``stage2_steps``, ``seed``, ``log_every``, ...
    """
    if stages not in ("1", "12"):
        raise UsageError(f"stages must be '12' or '1' for a new run, got {stages!r} (retrain a stage 2 "
                           "with 'vaediag train --stages 2')")
    cfg = make_config(preset=preset, gamma=gamma, decoder=decoder, stages=stages, base=config, **options)
    path = Path(out)
    Run.check_new(path, overwrite)
    t = cfg.train
    if data is None:
        data = load_dataset(t.dataset, t.data_dir, seed=t.seed, test_fraction=t.test_fraction,
                            cache_dir=t.data_cache, progress=progress)
    finish_config(cfg, data, arch_given="arch" in options or config is not None)
    run = Run.create(path, cfg, overwrite=overwrite)
    _engine.train(run, stages=tuple(int(s) for s in stages), device=device, progress=progress, data=data,
                  callbacks=callbacks)
    return run


def resume(run: RunLike, device: str | torch.device = "auto", progress: bool = True,
           callbacks: list | None = None) -> Run:
    """Continue an interrupted run from its last checkpoint (bit-identical on the CPU)."""
    run = open_run(run)
    _engine.train(run, stages=tuple(int(s) for s in run.config.train.stages), device=device, resume=True,
                  progress=progress, callbacks=callbacks)
    return run


def sample(run: RunLike, stage: int = 2, n: int = 64, seed: int = 0, device: str | torch.device = "cpu") -> np.ndarray:
    """n samples of a run: ``stage`` 2 is the two-stage sampler u -> z -> x (section 4), 1 decodes
    z ~ N(0, I). Images come as (n, C, H, W) floats in [0, 1], vectors as (n, d)."""
    if stage not in (1, 2):
        raise UsageError(f"stage must be 1 or 2, got {stage}")
    return draw(open_run(run), stage, n, seed, device)


def reconstruct(run: RunLike, n: int = 32, device: str | torch.device = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """(inputs, reconstructions mu_x(mu_z(x))) of the run's first n held-out examples."""
    both = draw(open_run(run), 1, n, 0, device, recon=True)
    return both[:n], both[n:]


def diagnose(run_or_model, data=None, stage2=None, *, n: int | None = 10000, tau: float = DEFAULT_TAU,
             seed: int = 0, device: str | torch.device = "auto", write: bool = False) -> tuple[dict, dict]:
    """Every diagnostic (gamma, r_hat, lambda_j, perturbations, spectra): (summary dict, arrays dict).

    ``run_or_model``: a run (directory or :class:`Run`; its training inputs are used and ``write``
    saves RUN/diagnostics/ as ``vaediag diagnose`` does), or any model meeting the protocol of
    :mod:`vaediag.diagnostics.protocol` (or that :func:`vaediag.adapt` reads) together with ``data`` (a
    tensor, numpy array or DataLoader of inputs) and optionally its second stage ``stage2``.
    """
    from vaediag.diagnostics.summary import diagnose as _diagnose, diagnose_run

    if isinstance(run_or_model, (Run, str, os.PathLike)):
        return diagnose_run(open_run(run_or_model), n=n, device=str(device), tau=tau, seed=seed, write=write)
    if data is None:
        raise UsageError("diagnose(model, data): give the inputs to diagnose the model on")
    from vaediag.diagnostics.adapt import as_tensor_data

    x = as_tensor_data(data, limit=n)  # tensors, numpy arrays, DataLoaders
    dev = None if device == "auto" else torch.device(device)
    return _diagnose(run_or_model, x, stage2, tau=tau, seed=seed, device=dev)


def figure1(run: RunLike, compare: RunLike | None = None, n: int | None = 10000, device: str = "auto"):
    """The paper's Figure 1 for a two-stage run (``compare``: e.g. a fixed-gamma run for the left panel)."""
    from vaediag.plots.paper import figure1_for_run

    return figure1_for_run(open_run(run), None if compare is None else open_run(compare), device, n)


def figure9(run: RunLike | dict, n: int | None = 10000, all_rows: bool = False, device: str = "auto"):
    """Supplement Fig. 9: decodes along eigendirections of Sigma_z, ordered by lambda_j.

    ``run``: a run, or the ``arrays`` dict that :func:`diagnose` returned for any model."""
    from vaediag.plots.paper import figure9_for_arrays, figure9_for_run

    if isinstance(run, dict):
        return figure9_for_arrays(run, all_rows=all_rows)
    return figure9_for_run(open_run(run), device, n, all_rows=all_rows)


def figure10(runs: RunLike | list[RunLike] | dict, n: int | None = 10000, labels: list[str] | None = None,
             device: str = "auto"):
    """Supplement Fig. 10: histogram of all lambda_j, one panel per run.

    ``runs``: a run, a list of runs, or {label: arrays dict of :func:`diagnose`} for any models."""
    from vaediag.plots.paper import figure10, figure10_for_runs

    if isinstance(runs, dict):
        return figure10({k: (a["lambda_hist_counts"], a["lambda_hist_edges"]) for k, a in runs.items()})
    runs = runs if isinstance(runs, (list, tuple)) else [runs]
    return figure10_for_runs([open_run(r) for r in runs], device, n, labels=labels)


def report(run: RunLike, compare: RunLike | None = None, n: int | None = 10000, device: str = "auto") -> str:
    """The self-contained HTML report of a run (verdict, every number, figures)."""
    from vaediag.plots.report import report_for_run

    return report_for_run(open_run(run), None if compare is None else open_run(compare), device, n)


def theory(quick: bool = True, seed: int = 0, device: str = "cpu", progress=None) -> tuple[list[dict], dict]:
    """Run the theory lab's checks of Theorems 1-4, eqs. (8), (9), (73) and the two-stage argument.

    Returns (checks: [{claim, measured, predicted, tolerance, verdict}], artifacts for the figures of
    :mod:`vaediag.plots.theory`)."""
    from vaediag.theory.checks import Settings, run_all

    return run_all(Settings.make(quick, seed=seed, device=device, progress=progress))


def fid(run: RunLike, n: int | None = None, seeds: int = 10, seed: int = 0, sources: list[str] | None = None,
        proxy: bool = False, device: str = "auto", batch_size: int = 50) -> dict:
    """FID (Inception pool3; ``proxy=True``: an offline random-feature stand-in, not an FID) of a run's
    stage-1 samples, two-stage samples and reconstructions against its held-out images."""
    from vaediag.engine.devices import resolve_device
    from vaediag.quality.evaluate import evaluate_run
    from vaediag.quality.features import InceptionFeatures, ProxyFeatures

    dev = resolve_device(device)
    extractor = ProxyFeatures(device=dev) if proxy else InceptionFeatures(None, device=dev)
    return evaluate_run(open_run(run), extractor, n=n, seeds=seeds, seed=seed, sources=sources, device=dev,
                        batch_size=batch_size)
