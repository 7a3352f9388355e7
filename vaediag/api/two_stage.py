"""Enhance any VAE: the paper's second stage (section 4) for a model vaediag did not train.

    two = vaediag.enhance(model, data, out="runs/my-stage2", steps=20000)   # model: anything adapt() reads
    x = two.sample(64)          # u ~ N(0, I) -> z ~ p(z|u) -> x = your decode(z)
    z = two.latents(64)         # the two-stage latents only

``enhance`` encodes the data with the protocol's ``encode`` (q(z|x) = N(mu, Sigma_z(x)), diagonal or
full, :func:`vaediag.diagnostics.enhance.encode_codes`), saves the codes in a run directory and trains
the engine's Stage2VAE there (:mod:`vaediag.engine.enhance`: the engine's loop, schedule, checkpoints,
resume and progress bar), on fresh z = mu + Sigma^(1/2) eps draws every epoch -- the same training as
``vaediag train --stages 2``. The run can be reopened later with :func:`load_two_stage` (give the model
again for images) and sampled with ``vaediag sample --run RUN`` (latents; vaediag cannot rebuild your
decoder from the command line).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from collections.abc import Iterable
from typing import Any, Callable

import numpy as np
import torch

from vaediag.api.process import prepare_process
from vaediag.api.runs import open_run
from vaediag.data import Dataset
from vaediag.diagnostics.adapt import adapt
from vaediag.diagnostics.enhance import encode_codes
from vaediag.engine.devices import resolve_device
from vaediag.engine.enhance import TwoStage, stage2_config, train_stage2_on_posteriors
from vaediag.engine.runs import Run
from vaediag.errors import UsageError, VaediagError


def enhance(model: Any, data: torch.Tensor | np.ndarray | Iterable[Any], out: str | Path | None = None, *, steps: int | None = None, epochs: float | None = None,
            batch_size: int | None = None, lr: float | None = None, lr_halve_every: float | None = None,
            width: int | None = None, depth: int | None = None, seed: int = 0, device: str | torch.device = "auto",
            resume: bool = False, overwrite: bool = False, progress: bool = True,
            to_float: Callable[[Any], torch.Tensor] = Dataset.to_float, check_range: bool = True) -> TwoStage:
    """Train the paper's stage-2 VAE on ``model``'s codes of ``data`` and return the two-stage sampler.

    ``model``: any VAE :func:`vaediag.adapt` reads; ``data``: tensor, numpy array or DataLoader of its
    training inputs (images in [0, 1] after ``to_float``). ``out``: the run directory for checkpoints
    (None: a new temporary directory). The schedule is the engine's stage-2 default (800 epochs, batch
    100, Adam 1e-4 halved every 300 epochs, width 1024, depth 3) unless given; ``steps`` replaces
    ``epochs``. ``resume=True`` continues an interrupted ``out`` without encoding again.
    """
    prepare_process()
    adapted = adapt(model)
    dev = resolve_device(device) if isinstance(device, str) else device
    if out is None:
        if resume:
            raise VaediagError("resume=True needs the out= directory of the interrupted run")
        out = Path(tempfile.mkdtemp(prefix="vaediag-stage2-")) / "run"
    if resume:
        given = [k for k, v in (("steps", steps), ("epochs", epochs), ("batch_size", batch_size), ("lr", lr),
                                ("lr_halve_every", lr_halve_every), ("width", width), ("depth", depth)) if v is not None]
        if given:  # a new target is not followed mid-way: say why, in one sentence
            raise UsageError(f"resume=True continues {out} to the schedule it started with (its learning-rate "
                             f"halvings and checkpoints are laid out for it), so {given[0]}= is not taken; leave "
                             f"it out, or train a new run with out= another directory")
        run = train_stage2_on_posteriors(out, None, None, resume=True, device=dev,  # type: ignore[arg-type]
                                         progress=progress)
    else:
        cfg = stage2_config(dict(stage2_steps=steps, stage2_epochs=epochs, stage2_batch_size=batch_size,
                                 stage2_lr=lr, stage2_lr_halve_every=lr_halve_every, stage2_width=width,
                                 seed=int(seed)), depth=depth)
        mu, second, full = encode_codes(adapted, data, to_float=to_float, check_range=check_range)
        run = train_stage2_on_posteriors(out, mu, second, full, config=cfg, device=dev, overwrite=overwrite,
                                         progress=progress)
    return TwoStage(run.load_model(2, dev), adapted.decode, run)


def load_two_stage(run: str | Path | Run, model: Any = None, device: str | torch.device = "auto") -> TwoStage:
    """The two-stage sampler of a finished stage 2 (a run path or :class:`vaediag.engine.runs.Run`); with
    ``model`` it decodes with that model's ``decode``."""
    run = open_run(run)
    device = resolve_device(device) if isinstance(device, str) else device
    if not run.stage_done(2):
        raise VaediagError(f"{run.path} has no finished stage 2; train it with 'vaediag stage2 --resume' or enhance()")
    return TwoStage(run.load_model(2, device), adapt(model).decode if model is not None else None, run)
