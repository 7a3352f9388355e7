"""Stage 2 on codes: the paper's second stage (section 4) for a model vaediag did not train.

    run = vaediag.stage2("runs/my-stage2", "codes.npz", stage2_steps=20000)   # codes: mu + logvar (or cov)
    two = vaediag.enhance(model, data, out="runs/my-stage2", stage2_steps=20000)   # model: anything adapt() reads
    x = two.sample(64)          # u ~ N(0, I) -> z ~ p(z|u) -> x = your decode(z)
    z = two.latents(64)         # the two-stage latents only

``stage2`` trains on given codes (``vaediag stage2``). ``enhance`` encodes the data with the protocol's
``encode`` (q(z|x) = N(mu, Sigma_z(x)), diagonal or full,
:func:`vaediag.diagnostics.enhance.encode_codes`) and hands the codes to ``stage2``, which saves them in a
run directory and trains the engine's Stage2VAE there (:mod:`vaediag.engine.enhance`: the engine's loop,
schedule, checkpoints, resume and progress bar), on fresh z = mu + Sigma^(1/2) eps draws every epoch --
the same training, with the same option names, as ``vaediag train --stages 2``. The run can be reopened
later with :func:`load_two_stage` (give the model again for images) and sampled with ``vaediag sample
--run RUN`` (latents; vaediag cannot rebuild your decoder from the command line).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch

from vaediag.api.process import prepare_process
from vaediag.api.runs import open_run
from vaediag.diagnostics.adapt import adapt
from vaediag.diagnostics.enhance import encode_codes
from vaediag.engine.devices import resolve_device
from vaediag.engine.enhance import TwoStage, codes_from, load_codes, stage2_config, train_stage2_on_posteriors
from vaediag.engine.runs import Run
from vaediag.errors import UsageError, VaediagError


Codes = str | os.PathLike[str] | Mapping[str, Any]  # a .npz, or arrays: mu with logvar (diagonal) or cov (full)


def stage2(out: str | os.PathLike[str], codes: Codes | None = None, *, resume: bool = False,
           overwrite: bool = False, device: str | torch.device = "auto", progress: bool = True,
           **options: Any) -> Run:
    """Train the paper's second stage (section 4) on given codes into the run directory ``out``: the one
    function for stage 2 on codes (``vaediag stage2``; :func:`enhance` calls it with a model's codes).

    Args:
        out: the run directory to create (or, with ``resume=True``, to continue).
        codes: q(z|x) of a VAE over its training inputs: a .npz file or a mapping with ``mu`` (n, kappa) and
            ``logvar`` (n, kappa) for a diagonal encoder, or ``mu`` and ``cov`` (n, kappa, kappa).
        resume: continue an interrupted ``out`` to the schedule it started with (no codes, no options).
        overwrite: replace an existing run in ``out``.
        device: "auto", "cpu", "cuda" or "mps".
        progress: the schedule, the cost sentence and the progress bar on stderr.
        options: the stage-2 options by the names of :func:`vaediag.train`: ``stage2_steps`` (replaces
            ``stage2_epochs``, default 800), ``stage2_batch_size`` (100), ``stage2_lr`` (1e-4),
            ``stage2_lr_halve_every`` (300 epochs; None: constant), ``stage2_width`` (1024), ``stage2_depth``
            (3), ``seed`` (0), ``checkpoint_every``, ``log_every``, ``weight_decay``.

    Returns:
        The run (:class:`vaediag.engine.runs.Run`); ``vaediag sample --run`` draws two-stage latents from it.

    Raises:
        UsageError: codes with ``resume``, or an option that is not a stage-2 option.
        VaediagError: codes of the wrong shape, not finite or not positive definite.
    """
    prepare_process()
    dev = resolve_device(device) if isinstance(device, str) else device
    if resume:
        given = [k for k, v in options.items() if v is not None and k != "seed"]
        if codes is not None or given or overwrite:
            what = f"{given[0]}=" if given else "codes" if codes is not None else "overwrite"
            raise UsageError(f"resume continues {out} to the schedule and codes it started with (its learning-rate "
                             f"halvings and checkpoints are laid out for them), so {what} is not taken; leave it "
                             f"out, or train a new run into another directory")
        # the codes are the run's own on resume (the engine's signature types them for a new run)
        return train_stage2_on_posteriors(out, None, None, resume=True, device=dev,  # type: ignore[arg-type]
                                          progress=progress)
    if codes is None:
        raise UsageError("give the codes: a .npz file (mu and logvar, or mu and cov) or those arrays, or resume")
    cfg = stage2_config(options)
    if isinstance(codes, Mapping):
        mu, second, full = codes_from(codes)
    else:
        mu, second, full = load_codes(Path(codes))
    return train_stage2_on_posteriors(out, mu, second, full, config=cfg, device=dev, overwrite=overwrite,
                                      progress=progress)


def enhance(model: Any, data: torch.Tensor | np.ndarray | Iterable[Any], out: str | Path | None = None, *,
            overwrite: bool = False, device: str | torch.device = "auto", progress: bool = True,
            check_range: bool = True, **options: Any) -> TwoStage:
    """Train the paper's stage-2 VAE on ``model``'s codes of ``data`` and return the two-stage sampler:
    the codes are encoded here, the training is :func:`stage2`'s, with the same options.

    Args:
        model: any VAE :func:`vaediag.adapt` reads.
        data: tensor, numpy array or DataLoader of its training inputs (uint8 images, or floats in the
            model's ``data_range``).
        out: the run directory for checkpoints (None: a new temporary directory).
        overwrite: replace an existing run in ``out``.
        device: "auto", "cpu", "cuda" or "mps".
        progress: the schedule, the cost sentence and the progress bar on stderr.
        check_range: check the data and the first decodes against the model's ``data_range`` and likelihood.
        options: the stage-2 options of :func:`stage2`, by the same names (``stage2_steps``,
            ``stage2_lr``, ``stage2_width``, ...).

    Returns:
        The two-stage sampler (:class:`vaediag.engine.enhance.TwoStage`): ``sample(n)``, ``latents(n)``, ``run``.

    Raises:
        UsageError: an option that is not a stage-2 option (``resume=`` and ``to_float=`` are refused with
            what to write instead).
        VaediagError: data outside the model's range; codes of the wrong shape or not finite.
    """
    if "resume" in options:
        raise UsageError("enhance() trains a new stage 2; to continue an interrupted one write "
                         "vaediag.load_two_stage(vaediag.stage2(out, resume=True), model)")
    if "to_float" in options:
        raise UsageError("enhance() takes no to_float=: give the data as uint8 images or as floats in the model's "
                         "data_range (vaediag.adapt(model, data_range=...)), as diagnose() takes them")
    prepare_process()
    adapted = adapt(model)
    dev = resolve_device(device) if isinstance(device, str) else device
    if out is None:
        out = Path(tempfile.mkdtemp(prefix="vaediag-stage2-")) / "run"
    stage2_config(options)  # a wrong option is refused before the data are encoded
    mu, second, full = encode_codes(adapted, data, check_range=check_range)
    codes = {"mu": mu, "cov" if full else "logvar": second}
    run = stage2(out, codes, overwrite=overwrite, device=dev, progress=progress, **options)
    return TwoStage(run.load_model(2, dev), adapted.decode, run)


def load_two_stage(run: str | Path | Run, model: Any = None, device: str | torch.device = "auto") -> TwoStage:
    """The two-stage sampler of a finished stage 2, e.g. to sample again later or after a resume.

    Args:
        run: the run (a path or :class:`vaediag.engine.runs.Run`) of :func:`stage2`, :func:`enhance` or
            ``vaediag train``.
        model: the VAE whose ``decode`` turns latents into data (None: ``sample`` is refused, ``latents`` works).
        device: "auto", "cpu", "cuda" or "mps".

    Returns:
        The two-stage sampler (:class:`vaediag.engine.enhance.TwoStage`).

    Raises:
        VaediagError: the run cannot be opened or has no finished stage 2.
    """
    run = open_run(run)
    device = resolve_device(device) if isinstance(device, str) else device
    if not run.stage_done(2):
        raise VaediagError(f"{run.path} has no finished stage 2; train it with "
                           f"vaediag.stage2('{run.path}', resume=True) or vaediag.enhance(...)")
    return TwoStage(run.load_model(2, device), adapt(model).decode if model is not None else None, run)
