"""Training a run: stage 1 (the VAE on the data), then stage 2 (a second VAE on stage 1's posteriors,
z = mu + sigma * eps with a fresh eps for every example every epoch), each by the one loop of
:mod:`vaediag.engine.loop`; a run resumes where it stopped, on any number of processes.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Callable

import numpy as np
import torch

from vaediag.data import Dataset
from vaediag.engine import callbacks as _callbacks
from vaediag.engine.batches import LatentBatches, image_batches
from vaediag.engine.devices import resolve_device
from vaediag.engine.distributed import Dist
from vaediag.engine.faults import RunLock
from vaediag.engine.loop import Interrupted, StageSpec, fit, graceful_interrupt  # noqa: F401 (Interrupted: public)
from vaediag.engine.models import VAE, Stage2VAE
from vaediag.engine.runs import Run
from vaediag.errors import VaediagError


@torch.no_grad()
def encode_dataset(model: torch.nn.Module, x: torch.Tensor, device: torch.device, batch: int = 500,
                   to_float: Callable = Dataset.to_float) -> tuple[np.ndarray, np.ndarray]:
    """(mu, logvar) of q(z|x) for every row of x, batched, in eval mode."""
    model.eval()
    mus, lvs = [], []
    for i in range(0, len(x), batch):
        mu, lv = model.encode(to_float(x[i:i + batch].to(device)))
        mus.append(mu.float().cpu())
        lvs.append(lv.float().cpu())
    return torch.cat(mus).numpy(), torch.cat(lvs).numpy()


def train_stage1(run: Run, data: Dataset, device: torch.device, resume: bool = False, progress: bool = True,
                 ctx: Dist = Dist()) -> VAE:
    cfg, t = run.config, run.config.train
    torch.manual_seed(t.seed)  # weight initialisation
    model = VAE(cfg.model).to(device)
    batches = image_batches(data, cfg.model.latent_dim, device, t.loader, t.workers, ctx.local_world)
    spec = StageSpec.of_run(cfg, 1, model, batches, len(data.train), device)
    state = fit(run, spec, resume, progress, ctx)
    model.load_state_dict(state["model"])
    if ctx.is_main:  # stage 2's data: q(z|x) of every training example
        mu, logvar = encode_dataset(model, data.train, device)
        run.save_posteriors(mu, logvar)
    return model.eval()


def _stage2_data(run: Run) -> tuple[np.ndarray, np.ndarray]:
    if not run.stage_done(1) and not (run.stage2_only and run.has_posteriors()):
        raise VaediagError(f"stage 2 needs a finished stage 1 in {run.path}; train it first "
                           f"(vaediag.train({str(run.path)!r}, stages='1') or vaediag.resume({str(run.path)!r}))")
    mu, lv = run.load_posteriors()
    if mu.shape[1] != run.config.stage2.latent_dim:
        raise VaediagError(f"stage-1 latents have dimension {mu.shape[1]} but stage 2 expects "
                           f"{run.config.stage2.latent_dim}")
    return mu, lv


def train_stage2(run: Run, device: torch.device, resume: bool = False, progress: bool = True,
                 ctx: Dist = Dist()) -> Stage2VAE:
    cfg, t = run.config, run.config.train
    mu_np, lv_np = ctx.on_main(_stage2_data, run)
    torch.manual_seed(t.seed + 1)
    model = Stage2VAE(cfg.stage2).to(device)
    mu = torch.from_numpy(mu_np).to(device)
    cov = ctx.on_main(run.load_posterior_cov)
    sd = torch.from_numpy(lv_np).to(device).mul(0.5).exp() if cov is None else \
        torch.linalg.cholesky(torch.from_numpy(cov).double()).float().to(device)
    spec = StageSpec.of_run(cfg, 2, model, LatentBatches(mu, sd, device), len(mu), device)
    state = fit(run, spec, resume, progress, ctx)
    model.load_state_dict(state["model"])
    return model.eval()


def load_data(run: Run, ctx: Dist = Dist(), data: Dataset | None = None) -> Dataset:
    """The run's data set on every rank. The first process on each machine loads it first (and so
    decodes an image cache once) while the others wait."""
    if data is None and ctx.local_rank == 0:
        data = run.dataset()
    ctx.barrier()
    return data if data is not None else run.dataset()


def _check_resume(run: Run, stages) -> dict:
    """Refuse a corrupt checkpoint now, even of a finished stage; the thread count and world size
    the run was started with."""
    for s in stages:
        if run.has_checkpoint(s):
            run.load_checkpoint(s)
    return run.progress(1) or run.progress(2)


def train(run: Run, stages: tuple[int, ...] = (1, 2), device: str | torch.device = "auto", resume: bool = False,
          progress: bool = True, data: Dataset | None = None, dist: Dist | None = None,
          callbacks: list | None = None) -> None:
    """Train the requested stages of a run (stage 1 then stage 2), resuming where asked.

    Inside a torchrun job (an initialised process group, or ``dist``) every rank calls this; only
    rank 0 touches the run directory. ``callbacks``: functions called with each metrics row on rank 0
    (:mod:`vaediag.engine.callbacks`)."""
    ctx = dist or Dist.current()
    dev = resolve_device(device) if isinstance(device, str) else device
    if ctx.enabled and dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", ctx.local_rank)
    threads_before = torch.get_num_threads()
    if resume:
        saved = ctx.on_main(_check_resume, run, stages)
        if dev.type == "cpu" and saved.get("threads") and int(saved.get("world_size") or 1) == ctx.world:
            # CPU kernels reduce in an order that depends on the thread count: a resumed run uses the
            # count it was started with, so that it ends bit-identical to an uninterrupted run.
            torch.set_num_threads(int(saved["threads"]))
    # one trainer per run directory: rank 0 holds the run's lock while it trains (engine/faults.py); a
    # refusal reaches every rank
    lock = RunLock(run.path)
    ctx.on_main(lambda: bool(lock.acquire()))
    with lock if ctx.is_main else nullcontext(), _callbacks.using(callbacks if ctx.is_main else None):
        if ctx.is_main:
            run.save_env(str(dev), world_size=ctx.world, precision=run.config.train.precision)
        try:
            _train_stages(run, stages, dev, resume, progress, data, ctx)
        finally:
            torch.set_num_threads(threads_before)


def _train_stages(run: Run, stages, dev, resume: bool, progress: bool, data, ctx: Dist) -> None:
    done = ctx.on_main(lambda: {s: resume and run.stage_done(s) for s in (1, 2)})
    with graceful_interrupt():
        if 1 in stages and not done[1]:
            data = load_data(run, ctx, data)
            train_stage1(run, data, dev, resume=resume, progress=progress, ctx=ctx)
        if 2 in stages and not done[2]:
            train_stage2(run, dev, resume=resume, progress=progress, ctx=ctx)
