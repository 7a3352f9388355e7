"""The training loop of one stage, read in phases (:class:`StageLoop`, run by :func:`fit` from a
:class:`StageSpec`); :func:`adam_step` is the one optimiser step of every stage-2 training in vaediag.

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

import io
import math
import signal
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch

from vaediag.engine import callbacks as _callbacks
from vaediag.engine.batches import BatchOrder
from vaediag.engine.config import RunConfig
from vaediag.engine.distributed import Dist, SharedError, convert_batchnorm, wrap
from vaediag.engine.faults import write_failure
from vaediag.engine.runs import METRIC_COLUMNS, Run
from vaediag.engine.schedule import Halving, lr_at, make_adam, plan, set_lr
from vaediag.engine.info import cost_sentence, stage_schedule
from vaediag.progress import Progress, StepTimer, update_sentence


class StopFlag:
    """Set by the first Ctrl-C / SIGTERM; the loop checkpoints and stops at the next step boundary."""

    requested = False


@contextmanager
def graceful_interrupt():
    """First Ctrl-C / SIGTERM asks the loop to checkpoint and stop at the next step boundary;
    a second one interrupts at once."""
    StopFlag.requested = False
    handlers = {}

    def handler(signum, frame):
        if StopFlag.requested:
            raise KeyboardInterrupt
        StopFlag.requested = True

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


COST_STEPS = 20  # steps in a timing window of the cost sentence (progress.StepTimer: after warm-up, two windows)


@dataclass
class StageSpec:
    """Everything the loop needs to train one stage: the model, where its batches come from, the
    schedule resolved to steps, the optimiser's settings, the seed, and how to compute and record."""

    stage: int
    model: torch.nn.Module
    batches: Any  # ImageBatches or LatentBatches (engine/batches.py)
    n: int  # examples in the training set
    batch: int  # global batch size
    steps: int
    lr: float
    halve: Halving | None
    weight_decay: float
    gamma_lr_scale: float
    seed: int
    device: torch.device
    precision: str = "fp32"
    log_every: int = 1
    checkpoint_every: int = 500

    @classmethod
    def of_run(cls, cfg: RunConfig, stage: int, model: torch.nn.Module, batches, n: int,
               device: torch.device) -> "StageSpec":
        """The spec of a run's stage, from its config (the schedule's steps resolved for n examples)."""
        t = cfg.train
        sched = t.schedule(stage)
        batch, steps, halve = plan(sched, n)
        return cls(stage, model, batches, n, batch, steps, sched.lr, halve, t.weight_decay, t.gamma_lr_scale,
                   t.seed, device, t.precision, t.log_every, t.checkpoint_every)


def adam_step(net: torch.nn.Module, opt: torch.optim.Optimizer, lr: float, inputs: torch.Tensor,
              eps: torch.Tensor, amp: Precision, weight: float = 1.0) -> dict[str, torch.Tensor]:
    """One optimiser step of eq. (2) on a batch (inputs, reparameterisation noise) at learning rate lr;
    the batch's outputs. ``weight`` scales the loss (a rank's share of the global batch under DDP)."""
    set_lr(opt, lr)
    with amp.autocast():
        out = net(inputs, eps)
    opt.zero_grad(set_to_none=True)
    amp.backward_step(out["loss"] if weight == 1.0 else out["loss"] * weight, opt)
    return out


class StageLoop:
    """The training loop of one stage, read in phases: :meth:`restore` (from a checkpoint),
    :meth:`step` (one optimiser step on the next global batch), :meth:`log_row` (a metrics row),
    :meth:`checkpoint` and :meth:`stop`; :meth:`run` strings them together."""

    clock = staticmethod(time.perf_counter)  # of the progress bar and the cost sentence (a test's fake clock)

    def __init__(self, run: Run, spec: StageSpec, progress: bool, ctx: Dist):
        stage, model, device, seed = spec.stage, spec.model, spec.device, spec.seed
        self.run, self.spec, self.stage, self.model, self.batches, self.steps = run, spec, stage, model, spec.batches, spec.steps
        self.ctx, self.device = ctx, device
        self.log_every, self.checkpoint_every = spec.log_every, spec.checkpoint_every
        self.lo, self.hi = ctx.shard(spec.batch)  # this rank's rows of every global batch
        self.share = (self.hi - self.lo) / spec.batch  # this rank's share of the global batch (1 in one process)
        self.weight = self.share * ctx.world  # 1 with equal shards
        if ctx.enabled:
            convert_batchnorm(model)
        self.opt = make_adam(model.param_groups(spec.weight_decay, spec.gamma_lr_scale), spec.lr)
        self.amp = Precision(spec.precision, device)
        # shuffling (a CPU generator) and noise
        self.order = BatchOrder(spec.n, spec.batch, torch.Generator().manual_seed(seed * 1000 + stage), device)
        self.eps_gen = torch.Generator(device=device).manual_seed(seed * 1000 + stage + 500)
        self.step_n, self.elapsed = 0, 0.0
        self.acc = torch.zeros(4, dtype=torch.float64, device=device)  # loss, recon, kl, mse summed over the window
        self.acc_n = 0
        self.metrics_file = None
        self.net = model
        self.bar = Progress(spec.steps, f"stage {stage}", enabled=progress and ctx.is_main, clock=self.clock)
        self.timer: StepTimer | None = None  # times the first steps for the cost sentence (open())

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
            self.net = wrap(self.model, self.device, find_unused=getattr(self.model.cfg, "likelihood", "") == "bernoulli")
        self.model.train()
        self.bar.n = self.bar.start_n = self.step_n
        self.batches.start(self.order, self.steps - self.step_n, self.lo, self.hi)
        self.t_start = time.perf_counter() - self.elapsed
        self.announce()

    def announce(self) -> None:
        """Before the first step: the schedule in steps (one line through the bar, so nothing with
        progress off); the time it will take follows once :attr:`timer` has timed steps after warm-up."""
        left = self.steps - self.step_n
        if not self.bar.enabled or left <= 0:
            return
        what = stage_schedule(self.run.config, self.stage, self.spec.n)[1]
        where = f"; resuming at step {self.step_n:,}, {left:,} to go" if self.step_n else ""
        self.bar.note(f"stage {self.stage}: {what}{where}")
        self.start_left = left
        self.timer = StepTimer(k=COST_STEPS, total=left, clock=self.clock) if left > 2 * COST_STEPS + 1 else None

    def cost_note(self) -> None:
        """Once warm-up is over: how long the stage takes on this device, and the faster preset; later, the
        time left whenever the time per step has moved (:class:`vaediag.progress.StepTimer`)."""
        if self.timer is None:
            return
        m = self.timer.tick()
        if m is None:
            return
        if m.update:
            self.bar.note(f"stage {self.stage}: " + update_sentence(self.steps - self.step_n, m))
            return
        self.bar.rate_from(self.step_n - m.steps, self.timer.clock() - m.seconds)
        self.bar.note(cost_sentence(self.run.config, self.stage, self.spec.n, self.start_left, m.seconds, m.steps,
                                    after=m.after))

    # ------------------------------------------------------------------ step
    def step(self) -> None:
        """One optimiser step on the next global batch; the batch's metrics join the window."""
        idx, idx_dev = self.order.next()
        inputs, eps = self.batches(idx, idx_dev, self.eps_gen, self.lo, self.hi)
        out = adam_step(self.net, self.opt, lr_at(self.step_n, self.spec.lr, self.spec.halve), inputs, eps, self.amp,
                        self.weight)
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
            f"last good checkpoint in {self.run.stage_dir(self.stage)} was kept. Try a smaller lr= or a "
            "gamma_floor= (e.g. 1e-4)")

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
                          f"with: vaediag.resume({str(self.run.path)!r}) (on any number of processes)")

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
                self.cost_note()
                log_row = self.step_n % self.log_every == 0 or self.step_n == self.steps
                save = self.step_n % self.checkpoint_every == 0 and self.step_n < self.steps
                stop = False  # under torchrun a stop request waits for the next log row or checkpoint
                if ctx.enabled and (log_row or save):  # ranks meet at log rows and checkpoints only
                    log_gamma, stop = _reduce_window(ctx, self.acc, self.model.log_gamma, StopFlag.requested)
                elif log_row:
                    log_gamma = float(self.model.log_gamma.detach())
                if log_row:
                    self.log_row(log_gamma)
                if save:
                    self.checkpoint()
                if stop or (not ctx.enabled and StopFlag.requested):
                    self.stop()
                if ctx.enabled and not ctx.is_main and (log_row or save):
                    self.acc.zero_()  # rank 0 carries the global sums of the window from here
            return self.checkpoint(done=True)
        finally:
            self.close()


def fit(run: Run, spec: StageSpec, resume: bool = False, progress: bool = True, ctx: Dist = Dist()) -> dict:
    """Train one stage of a run to ``spec.steps`` (continuing from its checkpoint when ``resume``); its
    final state (the checkpoint's dict)."""
    stage = spec.stage
    loop = StageLoop(run, spec, progress, ctx)
    state = _resume_state(run, stage, spec.device, ctx) if resume else None
    if state is not None:
        if state.get("done"):
            if ctx.is_main:
                run.write_progress(stage, state)
            return state
        loop.restore(state)
    loop.open(resumed=state is not None)
    return loop.run_steps()
