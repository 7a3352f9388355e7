"""The training loop for both stages: device, schedule, checkpoints, metrics, resume.

One loop serves both stages (:func:`_fit`); a stage differs only in its model and in how a batch
is formed from indices (stage 1: images/vectors; stage 2: z = mu + sigma * eps with a fresh eps
for every example every epoch, drawn from the saved stage-1 posteriors).

Resuming is exact: the checkpoint holds the model, the optimiser, both random generators, the
epoch's permutation and position and the partial metrics window, so on the CPU a resumed run ends
bit-identical to one that was never interrupted.
"""

from __future__ import annotations

import math
import signal
import time
from contextlib import contextmanager
from typing import Callable

import numpy as np
import torch

from vaediag.data import Dataset
from vaediag.errors import VaediagError
from vaediag.models import VAE, Stage2VAE
from vaediag.progress import Progress
from vaediag.runs import Run

# ---------------------------------------------------------------------------- devices


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' takes CUDA, then Apple MPS, then the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name not in ("cpu", "cuda", "mps") and not name.startswith("cuda:"):
        raise VaediagError(f"unknown --device {name!r}; use auto, cpu, cuda or mps")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise VaediagError("--device cuda was asked for but no CUDA GPU is available; use --device cpu")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise VaediagError("--device mps was asked for but MPS is not available; use --device cpu")
    return torch.device(name)


def _fits_on(device: torch.device, nbytes: int) -> bool:
    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return nbytes < 0.4 * free


# ---------------------------------------------------------------------------- interruption
class _StopFlag:
    requested = False


@contextmanager
def graceful_interrupt():
    """First Ctrl-C / SIGTERM asks the loop to checkpoint and stop at the next step boundary;
    a second one interrupts at once."""
    _StopFlag.requested = False
    handlers = {}

    def handler(signum, frame):
        if _StopFlag.requested:
            raise KeyboardInterrupt
        _StopFlag.requested = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            handlers[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread
            pass
    try:
        yield
    finally:
        for sig, h in handlers.items():
            signal.signal(sig, h)


class Interrupted(VaediagError):
    """Training stopped on request after writing a checkpoint."""


# ---------------------------------------------------------------------------- schedule helpers
def steps_per_epoch(n: int, batch: int) -> int:
    return max(1, n // batch)


def resolve_steps(steps: int | None, epochs: float | None, n: int, batch: int) -> int:
    if steps:
        return int(steps)
    if epochs:
        return max(1, int(round(epochs * steps_per_epoch(n, batch))))
    raise VaediagError("give the length of training with --epochs or --steps")


def _optimizer(model: torch.nn.Module, lr: float, weight_decay: float, gamma_lr_scale: float = 1.0) -> torch.optim.Adam:
    # Weight decay on the networks only, never on log gamma (it is a likelihood parameter).
    gamma = [p for n, p in model.named_parameters() if n.startswith("log_gamma_")]
    rest = [p for n, p in model.named_parameters() if not n.startswith("log_gamma_")]
    groups = [{"params": rest, "weight_decay": weight_decay}]
    if gamma:
        groups.append({"params": gamma, "weight_decay": 0.0, "lr_scale": gamma_lr_scale})
    return torch.optim.Adam(groups, lr=lr)


def _schedule(n: int, batch: int, steps: int | None, epochs: float | None,
              halve_every: float | None) -> tuple[int, int, int | None]:
    """(batch, total steps, lr-halving period in steps) from the epoch/step settings of a stage."""
    batch = min(batch, n)
    spe = steps_per_epoch(n, batch)
    return batch, resolve_steps(steps, epochs, n, batch), int(round(halve_every * spe)) if halve_every else None


def _lr_at(step: int, lr0: float, halve_every: int | None) -> float:
    return lr0 * 0.5 ** (step // halve_every) if halve_every else lr0


# ---------------------------------------------------------------------------- the loop
def _fit(run: Run, stage: int, model: torch.nn.Module, batch_fn: Callable, n: int, batch: int, steps: int,
         lr: float, weight_decay: float, halve_every: int | None, seed: int, device: torch.device,
         resume: bool, progress: bool) -> dict:
    t = run.config.train
    opt = _optimizer(model, lr, weight_decay, t.gamma_lr_scale)
    perm_gen = torch.Generator().manual_seed(seed * 1000 + stage)  # shuffling, always on the CPU
    eps_gen = torch.Generator(device=device).manual_seed(seed * 1000 + stage + 500)  # noise
    step, pos, elapsed = 0, 0, 0.0
    perm = torch.randperm(n, generator=perm_gen)
    acc = torch.zeros(4, dtype=torch.float64, device=device)  # loss, recon, kl, mse summed over window
    acc_n = 0
    if resume and run.has_checkpoint(stage):
        state = run.load_checkpoint(stage, map_location=device)
        if state.get("done"):
            run.write_progress(stage, state)
            return state
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        perm_gen.set_state(state["perm_gen"].cpu())
        eps_gen.set_state(state["eps_gen"].cpu())
        step, pos, elapsed = int(state["step"]), int(state["pos"]), float(state["elapsed"])
        perm = state["perm"].cpu()
        acc = state["acc"].to(device)
        acc_n = int(state["acc_n"])
        run.truncate_metrics(stage, step)
    metrics_file = run.open_metrics(stage, fresh=not (resume and step > 0))
    perm_dev = perm.to(device)

    def checkpoint(done: bool = False) -> dict:
        state = {
            "model": model.state_dict(), "optimizer": opt.state_dict(), "step": step, "pos": pos,
            "perm": perm, "perm_gen": perm_gen.get_state(), "eps_gen": eps_gen.get_state().cpu(),
            "acc": acc.cpu(), "acc_n": acc_n, "elapsed": elapsed, "done": done,
            "threads": torch.get_num_threads(),
        }
        metrics_file.flush()
        run.save_checkpoint(stage, state)
        return state

    def assert_finite() -> None:
        if not bool(torch.isfinite(acc).all()) or not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
            metrics_file.close()
            raise VaediagError(
                f"stage {stage}: the loss became non-finite near step {step}; training stopped and the last "
                f"good checkpoint in {run.stage_dir(stage)} was kept. Try a smaller --lr or a --gamma-floor "
                "(e.g. 1e-4)")

    model.train()
    bar = Progress(steps, f"stage {stage}", enabled=progress, initial=step)
    t_start = time.perf_counter() - elapsed
    try:
        while step < steps:
            if pos + batch > n:  # new epoch
                perm = torch.randperm(n, generator=perm_gen)
                perm_dev = perm.to(device)
                pos = 0
            idx = perm_dev[pos:pos + batch]
            pos += batch
            for g in opt.param_groups:
                g["lr"] = _lr_at(step, lr, halve_every) * g.get("lr_scale", 1.0)
            inputs, eps = batch_fn(idx, eps_gen)
            out = model.loss(inputs, eps)
            opt.zero_grad(set_to_none=True)
            out["loss"].backward()
            opt.step()
            step += 1
            acc += torch.stack([out["loss"].detach(), out["recon"].detach(), out["kl"].detach(), out["mse"]]).double()
            acc_n += 1
            if step % t.log_every == 0 or step == steps:
                elapsed = time.perf_counter() - t_start
                vals = (acc / acc_n).tolist()
                log_gamma = float(model.log_gamma.detach())
                if not all(math.isfinite(v) for v in vals):
                    assert_finite()
                metrics_file.write(",".join([str(step)] + [repr(v) for v in vals] + [
                    repr(math.exp(log_gamma)), repr(log_gamma), repr(opt.param_groups[0]["lr"]), f"{elapsed:.3f}"]) + "\n")
                acc.zero_()
                acc_n = 0
                bar.update(step, loss=vals[0], gamma=math.exp(log_gamma))
            if step % t.checkpoint_every == 0 and step < steps:
                elapsed = time.perf_counter() - t_start
                assert_finite()
                checkpoint()
            if _StopFlag.requested:
                elapsed = time.perf_counter() - t_start
                assert_finite()
                checkpoint()
                bar.close()
                metrics_file.close()
                raise Interrupted(f"interrupted at step {step} of stage {stage}; checkpoint written. Continue "
                                  f"with: vaediag train --resume {run.path}")
        elapsed = time.perf_counter() - t_start
        assert_finite()
        state = checkpoint(done=True)
    finally:
        bar.close()
        if not metrics_file.closed:
            metrics_file.close()
    return state


@torch.no_grad()
def encode_dataset(model: torch.nn.Module, x: torch.Tensor, device: torch.device, batch: int = 500,
                   to_float: Callable = Dataset.to_float) -> tuple[np.ndarray, np.ndarray]:
    """(mu, logvar) of q(z|x) for every row of x, batched, in eval mode."""
    model.eval()
    mus, lvs = [], []
    for i in range(0, len(x), batch):
        mu, lv = model.encode(to_float(x[i:i + batch].to(device)))
        mus.append(mu.cpu())
        lvs.append(lv.cpu())
    return torch.cat(mus).numpy(), torch.cat(lvs).numpy()


def train_stage1(run: Run, data: Dataset, device: torch.device, resume: bool = False, progress: bool = True) -> VAE:
    cfg, t = run.config, run.config.train
    torch.manual_seed(t.seed)  # weight initialisation
    model = VAE(cfg.model).to(device)
    x = data.train
    x = x.to(device) if _fits_on(device, x.numel() * x.element_size()) else x.pin_memory() if device.type == "cuda" else x
    kappa = cfg.model.latent_dim
    n = len(x)
    batch, steps, halve = _schedule(n, t.batch_size, t.steps, t.epochs, t.lr_halve_every)

    def batch_fn(idx, gen):
        xb = Dataset.to_float(x[idx.to(x.device)].to(device, non_blocking=True))
        return xb, torch.randn(len(idx), kappa, generator=gen, device=device)

    state = _fit(run, 1, model, batch_fn, n, batch, steps, t.lr, t.weight_decay, halve, t.seed, device, resume, progress)
    model.load_state_dict(state["model"])
    mu, logvar = encode_dataset(model, data.train, device)
    run.save_posteriors(mu, logvar)
    return model.eval()


def train_stage2(run: Run, device: torch.device, resume: bool = False, progress: bool = True) -> Stage2VAE:
    cfg, t = run.config, run.config.train
    if not run.stage_done(1):
        raise VaediagError(f"stage 2 needs a finished stage 1 in {run.path}; train it first "
                           f"('vaediag train --stages 1 --out {run.path}' or --resume)")
    mu_np, lv_np = run.load_posteriors()
    if mu_np.shape[1] != cfg.stage2.latent_dim:
        raise VaediagError(f"stage-1 latents have dimension {mu_np.shape[1]} but stage 2 expects "
                           f"{cfg.stage2.latent_dim}")
    torch.manual_seed(t.seed + 1)
    model = Stage2VAE(cfg.stage2).to(device)
    mu = torch.from_numpy(mu_np).to(device)
    sd = torch.from_numpy(lv_np).to(device).mul(0.5).exp()
    kappa = cfg.stage2.latent_dim
    n = len(mu)
    batch, steps, halve = _schedule(n, t.stage2_batch_size, t.stage2_steps, t.stage2_epochs, t.stage2_lr_halve_every)

    def batch_fn(idx, gen):
        # z ~ q(z|x): each example gets a fresh eps in every epoch (it is visited once per epoch)
        e = torch.randn(len(idx), 2 * kappa, generator=gen, device=device)
        return mu[idx] + sd[idx] * e[:, :kappa], e[:, kappa:]

    state = _fit(run, 2, model, batch_fn, n, batch, steps, t.stage2_lr or t.lr, t.weight_decay, halve, t.seed,
                 device, resume, progress)
    model.load_state_dict(state["model"])
    return model.eval()


def train(run: Run, stages: tuple[int, ...] = (1, 2), device: str = "auto", resume: bool = False,
          progress: bool = True, data: Dataset | None = None) -> None:
    """Train the requested stages of a run (stage 1 then stage 2), resuming where asked."""
    dev = resolve_device(device)
    threads_before = torch.get_num_threads()
    if resume:  # refuse a corrupt checkpoint now, even of a stage that is marked finished
        for s in stages:
            if run.has_checkpoint(s):
                run.load_checkpoint(s)
    if resume and dev.type == "cpu":
        # CPU kernels reduce in an order that depends on the thread count: a resumed run uses the
        # count it was started with, so that it ends bit-identical to an uninterrupted run.
        saved = run.progress(1).get("threads") or run.progress(2).get("threads")
        if saved:
            torch.set_num_threads(int(saved))
    run.save_env(str(dev))
    try:
        _train_stages(run, stages, dev, resume, progress, data)
    finally:
        torch.set_num_threads(threads_before)


def _train_stages(run: Run, stages, dev, resume: bool, progress: bool, data) -> None:
    with graceful_interrupt():
        if 1 in stages:
            if not (resume and run.stage_done(1)):
                data = data or run.dataset()
                train_stage1(run, data, dev, resume=resume, progress=progress)
        if 2 in stages:
            if not (resume and run.stage_done(2)):
                train_stage2(run, dev, resume=resume, progress=progress)
