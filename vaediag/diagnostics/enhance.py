"""Enhance any VAE: the paper's second stage (section 4) for a model vaediag did not train.

    two = enhance(model, data, out="runs/my-stage2", steps=20000)   # model: anything adapt() reads
    x = two.sample(64)          # u ~ N(0, I) -> z ~ p(z|u) -> x = your decode(z)
    z = two.latents(64)         # the two-stage latents only

``enhance`` encodes the data with the protocol's ``encode`` (q(z|x) = N(mu, Sigma_z(x)), diagonal or
full), saves the codes in a run directory and trains the engine's Stage2VAE there with the engine's loop,
schedule, checkpoints, resume and progress bar (:func:`vaediag.engine.train.train_stage2_on_posteriors`), on
fresh z = mu + Sigma^(1/2) eps draws every epoch -- the same training as ``vaediag train --stages 2``.
The run can be reopened later with :func:`load_two_stage` (give the model again for images) and sampled
with ``vaediag sample --run RUN`` (latents; vaediag cannot rebuild your decoder from the command line).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from vaediag.data import Dataset
from vaediag.diagnostics.adapt import adapt, as_tensor_data, check_range as _check_range
from vaediag.errors import VaediagError
from vaediag.diagnostics.protocol import encode_posterior, model_device


@torch.no_grad()
def encode_codes(model, data, batch: int = 500, to_float: Callable = Dataset.to_float, device=None,
                 check_range: bool = True) -> tuple[np.ndarray, np.ndarray, bool]:
    """(mu (n, k), second, full) of q(z|x) over the data, in eval mode: ``second`` is the log-variance
    (n, k) for a diagonal encoder, the covariance (n, k, k) for a full one."""
    model = adapt(model)
    x = as_tensor_data(data)
    if check_range:
        _check_range(x, to_float)
    device = device or model_device(model)
    was_training = model.training
    model.eval()
    mus, seconds, full = [], [], False
    try:
        for i in range(0, len(x), batch):
            mu, second, full = encode_posterior(model, to_float(x[i:i + batch].to(device)))
            mus.append(mu.double().cpu())
            seconds.append((second if full else second.log()).double().cpu())
    finally:
        model.train(was_training)
    return torch.cat(mus).numpy(), torch.cat(seconds).numpy(), full


class TwoStage:
    """The two-stage sampler u -> z -> x of section 4: ``stage2`` (the engine's Stage2VAE) and the user's
    ``decode`` (None: latents only)."""

    def __init__(self, stage2, decode: Callable | None = None, run=None):
        self.stage2, self.decode, self.run = stage2.eval(), decode, run

    @torch.no_grad()
    def latents(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z = mu_z(u) + sqrt(gamma_z) e, u, e ~ N(0, I): n two-stage latents (n, kappa)."""
        from vaediag.engine.sampling import two_stage_latents

        if n < 1:
            raise VaediagError(f"n must be a positive integer, got {n}")
        return two_stage_latents(self.stage2, (n, self.stage2.cfg.latent_dim), generator)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, batch: int = 500) -> torch.Tensor:
        """x = decode(z) for n two-stage latents z, decoded in batches with the user's decoder."""
        if self.decode is None:
            raise VaediagError("this two-stage sampler has no decoder; give the model: load_two_stage(run, model)")
        z = self.latents(n, generator)
        return torch.cat([self.decode(z[i:i + batch].to(self._device())) for i in range(0, n, batch)])

    __call__ = sample

    def _device(self):
        return next(self.stage2.parameters()).device


def enhance(model, data, out: str | Path | None = None, *, steps: int | None = None, epochs: float | None = None,
            batch_size: int | None = None, lr: float | None = None, lr_halve_every: float | None = None,
            width: int | None = None, depth: int | None = None, seed: int = 0, device: str | torch.device = "auto",
            resume: bool = False, overwrite: bool = False, progress: bool = True,
            to_float: Callable = Dataset.to_float, check_range: bool = True) -> TwoStage:
    """Train the paper's stage-2 VAE on ``model``'s codes of ``data`` and return the two-stage sampler.

    ``model``: any VAE :func:`vaediag.diagnostics.adapt.adapt` reads; ``data``: tensor, numpy array or
    DataLoader of its training inputs (images in [0, 1] after ``to_float``). ``out``: the run directory
    for checkpoints (None: a new temporary directory). The schedule is the engine's stage-2 default
    (800 epochs, batch 100, Adam 1e-4 halved every 300 epochs, width 1024, depth 3) unless given.
    ``resume=True`` continues an interrupted ``out`` without encoding again.
    """
    from vaediag.engine.config import RunConfig
    from vaediag.engine.devices import resolve_device
    from vaediag.engine.train import train_stage2_on_posteriors

    adapted = adapt(model)
    dev = resolve_device(device) if isinstance(device, str) else device
    if out is None:
        if resume:
            raise VaediagError("resume=True needs the out= directory of the interrupted run")
        out = Path(tempfile.mkdtemp(prefix="vaediag-stage2-")) / "run"
    if resume:
        run = train_stage2_on_posteriors(out, None, None, resume=True, device=dev, progress=progress)
    else:
        mu, second, full = encode_codes(adapted, data, to_float=to_float, check_range=check_range)
        cfg = RunConfig()
        t, s2 = cfg.train, cfg.stage2
        t.seed, t.device = int(seed), str(dev)
        if steps is not None:
            t.stage2_steps, t.stage2_epochs = int(steps), None
        elif epochs is not None:
            t.stage2_epochs = float(epochs)
        if batch_size is not None:
            t.stage2_batch_size = int(batch_size)
        if lr is not None:
            t.stage2_lr = float(lr)
        if lr_halve_every is not None:
            t.stage2_lr_halve_every = float(lr_halve_every)
        if width is not None:
            s2.width = int(width)
        if depth is not None:
            s2.depth = int(depth)
        run = train_stage2_on_posteriors(out, mu, second, full, config=cfg, device=dev, overwrite=overwrite,
                                         progress=progress)
    return TwoStage(run.load_model(2, dev), adapted.decode, run)


def load_two_stage(run, model=None, device: str | torch.device = "cpu") -> TwoStage:
    """The two-stage sampler of a finished stage 2 (a run path or :class:`vaediag.runs.Run`); with
    ``model`` it decodes with that model's ``decode``."""
    from vaediag.engine.runs import Run

    run = run if isinstance(run, Run) else Run.open(run)
    if not run.stage_done(2):
        raise VaediagError(f"{run.path} has no finished stage 2; train it with 'vaediag stage2 --resume' or enhance()")
    return TwoStage(run.load_model(2, device), adapt(model).decode if model is not None else None, run)
