"""The training loop for both stages: device, schedule, checkpoints, metrics, resume.

One loop serves both stages (:class:`_StageLoop`, run by :func:`_fit`); a stage differs only in its model and in how a batch
is formed from indices (stage 1: images/vectors; stage 2: z = mu + sigma * eps with a fresh eps
for every example every epoch, drawn from the saved stage-1 posteriors).

Resuming is exact: the checkpoint holds the model, the optimiser, both random generators, the
epoch's permutation and position and the partial metrics window, so on the CPU a resumed run ends
bit-identical to one that was never interrupted.

Several processes (``torchrun``, see ``distributed.py``) train with the semantics of one process
and the same global batch: every rank draws the same global batch of indices and noise from the
same generators and keeps its own rows [lo, hi); each rank's mean loss is weighted by its share so
that DDP's gradient average is the gradient of the global-batch mean; BatchNorm uses global-batch
statistics; the metrics window, gamma and a stop request are all-reduced at every log row and
checkpoint. The checkpoint holds only global state, so a run resumes on any number of processes.
"""

from __future__ import annotations

import inspect
import io
import math
import os
import signal
import time
from contextlib import contextmanager, nullcontext
from typing import Callable, Iterator

import numpy as np
import torch

from vaediag.data import Dataset
from vaediag.engine.devices import fits_on, resolve_device
from vaediag.engine.distributed import Dist, SharedError, convert_batchnorm, wrap
from vaediag.engine import callbacks as _callbacks
from vaediag.engine.faults import RunLock, write_failure
from vaediag.errors import VaediagError
from vaediag.engine.models import VAE, Stage2VAE
from vaediag.progress import Progress
from vaediag.engine.config import RunConfig
from vaediag.engine.runs import METRIC_COLUMNS, Run

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


class Interrupted(SharedError):
    """Training stopped on request after writing a checkpoint (on every rank at the same step)."""


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
    # The fused Adam (one kernel over all tensors, torch >= 2.4 on the CPU) computes the same update as
    # the default foreach Adam without its per-step temporaries: on a 2-core CPU the default allocated
    # ~26 MB per step that the allocator returned and re-faulted (benchmarks/bench_vs_pythae.py).
    # Devices or builds without a fused kernel keep the default.
    if _fused_ok(groups):
        return torch.optim.Adam(groups, lr=lr, fused=True)
    return torch.optim.Adam(groups, lr=lr)


def _fused_ok(groups: list[dict]) -> bool:
    params = [p for g in groups for p in g["params"]]
    if not params or "fused" not in inspect.signature(torch.optim.Adam).parameters:
        return False
    try:  # a probe on a copy of one parameter: the fused kernel checks device and dtype when it runs
        p = torch.zeros(1, device=params[0].device, dtype=params[0].dtype, requires_grad=True)
        p.grad = torch.zeros_like(p)
        torch.optim.Adam([p], lr=1e-3, fused=True).step()
    except (RuntimeError, TypeError, ValueError, NotImplementedError):
        return False
    return all(q.device == params[0].device and q.dtype == params[0].dtype for q in params)


def _schedule(n: int, batch: int, steps: int | None, epochs: float | None, halve_every: float | None,
              halve_from: float | None = None) -> tuple[int, int, tuple[int, int] | None]:
    """(batch, total steps, (first halving, halving period) in steps or None) from the epoch/step
    settings of a stage; the first halving comes after ``halve_from`` epochs (default: one period)."""
    batch = min(batch, n)
    spe = steps_per_epoch(n, batch)
    if not halve_every:
        return batch, resolve_steps(steps, epochs, n, batch), None
    every = max(1, int(round(halve_every * spe)))
    first = every if halve_from is None else int(round(halve_from * spe))
    return batch, resolve_steps(steps, epochs, n, batch), (first, every)


def _lr_at(step: int, lr0: float, halve: int | tuple[int, int] | None) -> float:
    """The learning rate of step ``step`` (0-based): lr0 before the first halving at step ``first``,
    then halved again every ``every`` steps (``halve`` = (first, every); an int means first = every,
    the paper's schedule; None: constant)."""
    if not halve:
        return lr0
    first, every = (halve, halve) if isinstance(halve, int) else halve
    return lr0 if step < first else lr0 * 0.5 ** (1 + (step - first) // every)



# ---------------------------------------------------------------------------- batches
class BatchOrder:
    """The global order of examples: a fresh permutation of the n examples each epoch (from a CPU
    generator), consumed in consecutive batches; an epoch's remainder is dropped. Its state
    (generator, permutation, position) is checkpointed, so a resumed run, on any number of
    processes and with either loader, sees the same batches."""

    def __init__(self, n: int, batch: int, gen: torch.Generator, device: torch.device):
        self.n, self.batch, self.gen, self.device = n, batch, gen, device
        self.pos = 0
        self._set_perm(torch.randperm(n, generator=gen))

    def _set_perm(self, perm: torch.Tensor) -> None:
        self.perm, self.perm_dev = perm, perm.to(self.device)

    def restore(self, perm: torch.Tensor, pos: int, gen_state: torch.Tensor) -> None:
        self.gen.set_state(gen_state.cpu())
        self._set_perm(perm.cpu())
        self.pos = int(pos)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next global batch of indices, on the CPU and on the device."""
        if self.pos + self.batch > self.n:  # new epoch
            self._set_perm(torch.randperm(self.n, generator=self.gen))
            self.pos = 0
        a, b = self.pos, self.pos + self.batch
        self.pos = b
        return self.perm[a:b], self.perm_dev[a:b]

    def copy(self) -> "BatchOrder":
        """An independent order in the same state (on the CPU), e.g. for a loader that reads ahead."""
        new = BatchOrder(self.n, self.batch, torch.Generator(), torch.device("cpu"))
        new.restore(self.perm, self.pos, self.gen.get_state())
        return new


class _Rows(torch.utils.data.Dataset):
    """A whole batch of rows per item (e.g. of a memory-mapped uint8 tensor), read in a worker."""

    def __init__(self, x: torch.Tensor):
        self.x = x

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return idx, self.x[idx]


class _ShardIndices:
    """This rank's rows of the next ``steps`` global batches of an order (a copy: reads ahead)."""

    def __init__(self, order: BatchOrder, steps: int, lo: int, hi: int):
        self.order, self.steps, self.lo, self.hi = order, steps, lo, hi

    def __iter__(self) -> Iterator[torch.Tensor]:
        for _ in range(self.steps):
            yield self.order.next()[0][self.lo:self.hi]


def default_workers(local_world: int = 1) -> int:
    """Loader worker processes per training process: a share of this machine's cores, at most 4."""
    return max(1, min(4, (os.cpu_count() or 2) // (2 * max(1, local_world))))


class ImageBatches:
    """Stage 1's batches: images (or vectors) x[idx] and the reparameterisation noise.

    ``memory``: rows are indexed in the training process from a tensor in RAM, on the GPU, or
    memory-mapped. ``stream``: ``workers`` processes read this rank's rows of the coming batches
    from the (memory-mapped) tensor ahead of time into pinned memory on CUDA; the main loop copies
    them to the device without blocking. Both give the same batches (the order is :class:`BatchOrder`).
    """

    def __init__(self, x: torch.Tensor, kappa: int, device: torch.device, loader: str, workers: int):
        self.x, self.kappa, self.device, self.loader, self.workers = x, kappa, device, loader, workers
        self.it: Iterator | None = None

    def start(self, order: BatchOrder, steps: int, lo: int, hi: int) -> None:
        if self.loader == "stream" and steps > 0:
            self.it = iter(torch.utils.data.DataLoader(
                _Rows(self.x), sampler=_ShardIndices(order.copy(), steps, lo, hi), batch_size=None,
                num_workers=self.workers, pin_memory=self.device.type == "cuda",
                prefetch_factor=4 if self.workers else None))

    def __call__(self, idx: torch.Tensor, idx_dev: torch.Tensor, gen: torch.Generator, lo: int, hi: int):
        if self.it is not None:
            got, xb = next(self.it)
            if not torch.equal(got, idx[lo:hi]):
                raise VaediagError("internal error: the streamed batch does not match the batch order")
        else:
            xb = self.x[(idx_dev if self.x.device == idx_dev.device else idx)[lo:hi]]
        xb = Dataset.to_float(xb.to(self.device, non_blocking=True))
        return xb, torch.randn(len(idx), self.kappa, generator=gen, device=self.device)[lo:hi]

    def close(self) -> None:
        self.it = None  # shuts the workers down


class LatentBatches:
    """Stage 2's batches: z ~ q(z|x) = mu + sigma * e1 with a fresh e1 for every example every
    epoch (it is visited once per epoch), and the reparameterisation noise e2."""

    def __init__(self, mu: torch.Tensor, sd: torch.Tensor, device: torch.device):
        # sd: (n, k) standard deviations, or (n, k, k) Cholesky factors of full covariances
        self.mu, self.sd, self.device, self.kappa = mu, sd, device, mu.shape[1]

    def start(self, order: BatchOrder, steps: int, lo: int, hi: int) -> None:
        pass

    def __call__(self, idx: torch.Tensor, idx_dev: torch.Tensor, gen: torch.Generator, lo: int, hi: int):
        e = torch.randn(len(idx), 2 * self.kappa, generator=gen, device=self.device)[lo:hi]
        i = idx_dev[lo:hi]
        if self.sd.dim() == 3:  # z = mu + L e1, L L^T = Sigma_z(x)
            return self.mu[i] + (self.sd[i] @ e[:, :self.kappa, None]).squeeze(-1), e[:, self.kappa:]
        return self.mu[i] + self.sd[i] * e[:, :self.kappa], e[:, self.kappa:]

    def close(self) -> None:
        pass


# ---------------------------------------------------------------------------- precision
class Precision:
    """``--precision``: fp32 (default, no autocast), or bf16 / fp16 autocast around the networks,
    with a gradient scaler for fp16. gamma, z, the loss and the KL stay in fp32 (``models.py``)."""

    DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}

    def __init__(self, name: str, device: torch.device):
        self.dtype, self.device_type = self.DTYPES[name], device.type
        self.scaler = torch.amp.GradScaler(device.type) if name == "fp16" else None

    def autocast(self):
        return torch.autocast(self.device_type, dtype=self.dtype) if self.dtype is not None else nullcontext()

    def backward_step(self, loss: torch.Tensor, opt: torch.optim.Optimizer) -> None:
        if self.scaler is None:
            loss.backward()
            opt.step()
        else:
            self.scaler.scale(loss).backward()
            self.scaler.step(opt)  # skipped when a gradient overflowed
            self.scaler.update()

    def state_dict(self) -> dict | None:
        return self.scaler.state_dict() if self.scaler is not None else None

    def load_state_dict(self, state: dict | None) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)


# ---------------------------------------------------------------------------- the loop
def _resume_state(run: Run, stage: int, device: torch.device, ctx: Dist) -> dict | None:
    """The stage's checkpoint (None when there is none), read by rank 0 and sent to every rank."""
    if not ctx.enabled:
        return run.load_checkpoint(stage, map_location=device) if run.has_checkpoint(stage) else None
    return ctx.on_main(lambda: run.load_checkpoint(stage, map_location="cpu") if run.has_checkpoint(stage) else None)


def _reduce_window(ctx: Dist, acc: torch.Tensor, log_gamma: torch.Tensor, stop: bool) -> tuple[float, bool]:
    """All-reduce the metrics window in place (every rank then holds the global sums), gamma and
    the stop flags: (log gamma averaged over ranks, whether any rank asked to stop)."""
    packet = torch.cat([acc, torch.stack([log_gamma.detach().double(), acc.new_tensor(float(stop))])])
    ctx.all_reduce_sum_(packet)
    acc.copy_(packet[:4])
    return float(packet[4]) / ctx.world, bool(packet[5] > 0)


class _StageLoop:
    """The training loop of one stage, read in phases: :meth:`restore` (from a checkpoint),
    :meth:`step` (one optimiser step on the next global batch), :meth:`log_row` (a metrics row),
    :meth:`checkpoint` and :meth:`stop`; :meth:`run` strings them together."""

    def __init__(self, run: Run, stage: int, model: torch.nn.Module, batches, n: int, batch: int, steps: int,
                 lr: float, weight_decay: float, halve_every: int | tuple[int, int] | None, seed: int, device: torch.device,
                 progress: bool, ctx: Dist):
        t = run.config.train
        self.run, self.stage, self.model, self.batches, self.steps = run, stage, model, batches, steps
        self.lr, self.halve_every, self.ctx, self.device = lr, halve_every, ctx, device
        self.log_every, self.checkpoint_every = t.log_every, t.checkpoint_every
        self.lo, self.hi = ctx.shard(batch)  # this rank's rows of every global batch
        self.share = (self.hi - self.lo) / batch  # this rank's share of the global batch (1 in one process)
        self.weight = self.share * ctx.world  # 1 with equal shards
        if ctx.enabled:
            convert_batchnorm(model)
        self.opt = _optimizer(model, lr, weight_decay, t.gamma_lr_scale)
        self.amp = Precision(t.precision, device)
        self.order = BatchOrder(n, batch, torch.Generator().manual_seed(seed * 1000 + stage), device)  # shuffling, CPU
        self.eps_gen = torch.Generator(device=device).manual_seed(seed * 1000 + stage + 500)  # noise
        self.step_n, self.elapsed = 0, 0.0
        self.acc = torch.zeros(4, dtype=torch.float64, device=device)  # loss, recon, kl, mse summed over the window
        self.acc_n = 0
        self.metrics_file = None
        self.net = model
        self.bar = Progress(steps, f"stage {stage}", enabled=progress and ctx.is_main)

    # ------------------------------------------------------------------ restore
    def restore(self, state: dict) -> None:
        """Continue from a checkpoint: weights, optimiser, both generators, position, metrics window."""
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.order.restore(state["perm"], state["pos"], state["perm_gen"])
        self.eps_gen.set_state(state["eps_gen"].cpu())
        self.amp.load_state_dict(state.get("scaler"))
        self.step_n, self.elapsed, self.acc_n = int(state["step"]), float(state["elapsed"]), int(state["acc_n"])
        if self.ctx.is_main:  # the window's sums so far are global: rank 0 carries them
            self.acc = state["acc"].to(self.device)
            self.run.truncate_metrics(self.stage, self.step_n)

    def open(self, resumed: bool) -> None:
        """Open the metrics file, wrap the model for DDP, start the loader and the progress bar."""
        if self.ctx.is_main:
            self.metrics_file = self.run.open_metrics(self.stage, fresh=not (resumed and self.step_n > 0))
        if self.ctx.enabled:
            self.net = wrap(self.model, self.device, find_unused=getattr(self.model.cfg, "decoder", "") == "bernoulli")
        self.model.train()
        self.bar.n = self.bar.start_n = self.step_n
        self.batches.start(self.order, self.steps - self.step_n, self.lo, self.hi)
        self.t_start = time.perf_counter() - self.elapsed

    # ------------------------------------------------------------------ step
    def step(self) -> None:
        """One optimiser step on the next global batch; the batch's metrics join the window."""
        idx, idx_dev = self.order.next()
        for g in self.opt.param_groups:
            g["lr"] = _lr_at(self.step_n, self.lr, self.halve_every) * g.get("lr_scale", 1.0)
        inputs, eps = self.batches(idx, idx_dev, self.eps_gen, self.lo, self.hi)
        with self.amp.autocast():
            out = self.net(inputs, eps)
        self.opt.zero_grad(set_to_none=True)
        self.amp.backward_step(out["loss"] if self.weight == 1.0 else out["loss"] * self.weight, self.opt)
        self.step_n += 1
        window = torch.stack([out["loss"].detach(), out["recon"].detach(), out["kl"].detach(), out["mse"]]).double()
        self.acc += window if self.share == 1.0 else window * self.share
        self.acc_n += 1

    # ------------------------------------------------------------------ log row
    def log_row(self, log_gamma: float) -> None:
        """Write the window's means as one metrics row (and move the progress bar); empty the window."""
        self.elapsed = time.perf_counter() - self.t_start
        vals = (self.acc / self.acc_n).tolist()
        if not all(math.isfinite(v) for v in vals):
            self.assert_finite()
        if self.metrics_file is not None:
            cells = [self.step_n, *vals, math.exp(log_gamma), log_gamma, self.opt.param_groups[0]["lr"],
                     round(self.elapsed, 3)]
            with self._explain_write_failure():
                self.metrics_file.write(",".join([str(self.step_n)] + [repr(v) for v in cells[1:-1]] + [
                    f"{self.elapsed:.3f}"]) + "\n")
            _callbacks.emit({"stage": self.stage, **dict(zip(METRIC_COLUMNS, cells))})  # after the CSV
        self.acc.zero_()
        self.acc_n = 0
        self.bar.update(self.step_n, loss=vals[0], gamma=math.exp(log_gamma))

    def assert_finite(self) -> None:
        """Stop with a sentence on a non-finite loss or parameter, keeping the last good checkpoint.
        (acc is global here and parameters are equal on all ranks: every rank agrees.)"""
        if bool(torch.isfinite(self.acc).all()) and all(bool(torch.isfinite(p).all()) for p in self.model.parameters()):
            return
        self.close()
        raise SharedError(
            f"stage {self.stage}: the loss became non-finite near step {self.step_n}; training stopped and the "
            f"last good checkpoint in {self.run.stage_dir(self.stage)} was kept. Try a smaller --lr or a "
            "--gamma-floor (e.g. 1e-4)")

    # ------------------------------------------------------------------ checkpoint
    def checkpoint(self, done: bool = False) -> dict:
        """Check the state is finite, then write it (rank 0); returns the checkpoint's state."""
        self.elapsed = time.perf_counter() - self.t_start
        self.assert_finite()
        state = {
            "model": self.model.state_dict(), "optimizer": self.opt.state_dict(), "step": self.step_n,
            "pos": self.order.pos, "perm": self.order.perm, "perm_gen": self.order.gen.get_state(),
            "eps_gen": self.eps_gen.get_state().cpu(), "acc": self.acc.cpu(), "acc_n": self.acc_n,
            "elapsed": self.elapsed, "done": done, "threads": torch.get_num_threads(), "world_size": self.ctx.world,
        }
        if self.amp.scaler is not None:
            state["scaler"] = self.amp.state_dict()
        if self.ctx.is_main:
            with self._explain_write_failure():
                self.metrics_file.flush()
            self.run.save_checkpoint(self.stage, state)  # an OSError there is a sentence too
        return state

    @contextmanager
    def _explain_write_failure(self):
        """A full disk (any OSError) while the metrics CSV is written: one sentence. Rows after the last
        checkpoint are dropped on --resume anyway, so nothing of value is lost."""
        try:
            yield
        except OSError as e:
            raise write_failure(self.run.metrics_path(self.stage), io.DEFAULT_BUFFER_SIZE, e,
                                then=self.run.resume_hint(self.stage)) from None

    # ------------------------------------------------------------------ stop
    def stop(self) -> None:
        """Ctrl-C / SIGTERM was asked for: checkpoint, close, and leave with a sentence on how to resume."""
        self.checkpoint()
        self.close()
        raise Interrupted(f"interrupted at step {self.step_n} of stage {self.stage}; checkpoint written. Continue "
                          f"with: vaediag train --resume {self.run.path} (on any number of processes)")

    def close(self) -> None:
        self.batches.close()
        self.bar.close()
        if self.metrics_file is not None and not self.metrics_file.closed:
            try:
                self.metrics_file.close()
            except OSError:
                pass  # a full disk: the sentence about it is already on its way (rows past the checkpoint)

    # ------------------------------------------------------------------ the loop
    def run_steps(self) -> dict:
        ctx = self.ctx
        try:
            while self.step_n < self.steps:
                self.step()
                log_row = self.step_n % self.log_every == 0 or self.step_n == self.steps
                save = self.step_n % self.checkpoint_every == 0 and self.step_n < self.steps
                stop = False  # under torchrun a stop request waits for the next log row or checkpoint
                if ctx.enabled and (log_row or save):  # ranks meet at log rows and checkpoints only
                    log_gamma, stop = _reduce_window(ctx, self.acc, self.model.log_gamma, _StopFlag.requested)
                elif log_row:
                    log_gamma = float(self.model.log_gamma.detach())
                if log_row:
                    self.log_row(log_gamma)
                if save:
                    self.checkpoint()
                if stop or (not ctx.enabled and _StopFlag.requested):
                    self.stop()
                if ctx.enabled and not ctx.is_main and (log_row or save):
                    self.acc.zero_()  # rank 0 carries the global sums of the window from here
            return self.checkpoint(done=True)
        finally:
            self.close()


def _fit(run: Run, stage: int, model: torch.nn.Module, batches, n: int, batch: int, steps: int,
         lr: float, weight_decay: float, halve_every: int | tuple[int, int] | None, seed: int, device: torch.device,
         resume: bool, progress: bool, ctx: Dist = Dist()) -> dict:
    """Train one stage to ``steps`` (continuing from its checkpoint when ``resume``); its final state."""
    loop = _StageLoop(run, stage, model, batches, n, batch, steps, lr, weight_decay, halve_every, seed, device,
                      progress, ctx)
    state = _resume_state(run, stage, device, ctx) if resume else None
    if state is not None:
        if state.get("done"):
            if ctx.is_main:
                run.write_progress(stage, state)
            return state
        loop.restore(state)
    loop.open(resumed=state is not None)
    return loop.run_steps()


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


def _image_batches(data: Dataset, kappa: int, device: torch.device, loader: str, workers: int | None,
                   local_world: int = 1) -> ImageBatches:
    """Where stage 1's data lives and how batches are read (``--loader``, see README):
    ``auto`` streams a memory-mapped data set (a decoded image cache) unless it fits on the GPU,
    and keeps everything else in memory (on the GPU when it fits in 40 % of its free memory)."""
    x = data.train
    mapped = data.info.get("storage") == "memmap"
    fits = device.type != "cpu" and fits_on(device, x.numel() * x.element_size())
    if loader == "auto":
        loader = "stream" if mapped and not fits else "memory"
    if loader == "memory":
        if fits:
            x = x.to(device)
        elif device.type == "cuda" and not mapped:
            x = x.pin_memory()
    return ImageBatches(x, kappa, device, loader, default_workers(local_world) if workers is None else workers)


def train_stage1(run: Run, data: Dataset, device: torch.device, resume: bool = False, progress: bool = True,
                 ctx: Dist = Dist()) -> VAE:
    cfg, t = run.config, run.config.train
    torch.manual_seed(t.seed)  # weight initialisation
    model = VAE(cfg.model).to(device)
    n = len(data.train)
    batch, steps, halve = _schedule(n, t.batch_size, t.steps, t.epochs, t.lr_halve_every, t.lr_halve_from)
    batches = _image_batches(data, cfg.model.latent_dim, device, t.loader, t.workers, ctx.local_world)
    state = _fit(run, 1, model, batches, n, batch, steps, t.lr, t.weight_decay, halve, t.seed, device, resume,
                 progress, ctx)
    model.load_state_dict(state["model"])
    if ctx.is_main:  # stage 2's data: q(z|x) of every training example
        mu, logvar = encode_dataset(model, data.train, device)
        run.save_posteriors(mu, logvar)
    return model.eval()


def _stage2_data(run: Run) -> tuple[np.ndarray, np.ndarray]:
    if not run.stage_done(1) and not (run.stage2_only and run.has_posteriors()):
        raise VaediagError(f"stage 2 needs a finished stage 1 in {run.path}; train it first "
                           f"('vaediag train --stages 1 --out {run.path}' or --resume)")
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
    n = len(mu)
    batch, steps, halve = _schedule(n, t.stage2_batch_size, t.stage2_steps, t.stage2_epochs, t.stage2_lr_halve_every)
    state = _fit(run, 2, model, LatentBatches(mu, sd, device), n, batch, steps, t.stage2_lr or t.lr, t.weight_decay,
                 halve, t.seed, device, resume, progress, ctx)
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


def train_stage2_on_posteriors(out, mu: np.ndarray, second: np.ndarray, full: bool = False,
                               config: RunConfig | None = None, device: str | torch.device = "auto",
                               resume: bool = False, overwrite: bool = False, progress: bool = True) -> Run:
    """Stage 2 alone, on codes of a model vaediag did not train: q(z|x) = N(mu, diag(exp(second))) or
    N(mu, second) when ``full``. Makes a run directory ``out`` that holds the codes (as stage 1's
    posteriors) and trains the engine's Stage2VAE there with the same loop, schedule, checkpoints and
    resume as ``vaediag train --stages 2`` (fresh z = mu + sigma * eps every epoch)."""
    if resume:
        run = Run.open(out)
        if not run.stage2_only:
            raise VaediagError(f"{run.path} is not a stage-2-only run; resume it with 'vaediag train --resume {run.path}'")
    else:
        mu, second = np.asarray(mu, np.float32), np.asarray(second, np.float32)
        _check_codes(mu, second, full)
        cfg = config or RunConfig()
        k = mu.shape[1]
        cfg.model.latent_dim = cfg.stage2.latent_dim = k
        cfg.model.arch, cfg.model.input_shape = "mlp", (k,)  # no stage-1 network: a placeholder that validates
        cfg.train.dataset, cfg.train.stages = "posteriors", "2"
        cfg.train.validate()
        run = Run.create(out, cfg, overwrite=overwrite)
        if full:
            diag = np.diagonal(second, axis1=1, axis2=2)
            run.save_posteriors(mu, np.log(diag), cov=second)
        else:
            run.save_posteriors(mu, second)
    train(run, stages=(2,), device=device, resume=resume, progress=progress)
    return run


def _check_codes(mu: np.ndarray, second: np.ndarray, full: bool) -> None:
    if mu.ndim != 2 or len(mu) < 2:
        raise VaediagError(f"mu must have shape (n, kappa) with n >= 2, got {mu.shape}")
    want = (len(mu), mu.shape[1], mu.shape[1]) if full else mu.shape
    if second.shape != want:
        raise VaediagError(f"the {'covariances' if full else 'log-variances'} have shape {second.shape}; "
                           f"expected {want} to go with mu {mu.shape}")
    if not (np.isfinite(mu).all() and np.isfinite(second).all()):
        raise VaediagError("the codes contain NaN or infinite values")
    if full:
        try:
            np.linalg.cholesky(second.astype(np.float64))
        except np.linalg.LinAlgError:
            raise VaediagError("a covariance is not positive definite; give symmetric positive-definite (n, k, k) "
                               "matrices, or mu and logvar for a diagonal encoder") from None
