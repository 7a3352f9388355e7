"""Training on several processes with PyTorch's own engine: ``torchrun`` + DistributedDataParallel.

``torchrun --nproc_per_node N -m vaediag train ...`` starts N copies of the command; each reads its
rank from the environment torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK). :func:`setup` turns that into
a :class:`Dist` and a device (``cuda:LOCAL_RANK`` with NCCL on GPUs, the CPU with gloo otherwise).
Without torchrun (or with one process) nothing here is used and training is the single-process loop.

The semantics are those of one process with the same global batch (see ``train.py``): every rank
draws the same global batch of indices and noise and keeps its own rows; DDP averages gradients;
:class:`GlobalBatchNorm` normalises with the statistics of the whole global batch. Only rank 0 reads
or writes the run directory; what it reads (config, checkpoint, posteriors) reaches the other ranks
through the process group, so the run directory need not be on a shared file system.
"""

from __future__ import annotations

import datetime
import gc
import os
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.distributed as dist
import torch.nn as nn

from vaediag.errors import UsageError, VaediagError
from vaediag.io import first_line

# Long enough for rank 0 to decode a large image set into its cache while the others wait.
TIMEOUT = datetime.timedelta(hours=2)


class SharedError(VaediagError):
    """An error that every rank raises together (decided on rank 0 or after a reduction): the
    command line prints it once, on rank 0."""


class SharedUsageError(SharedError, UsageError):
    """A usage mistake (exit status 2) that every rank raises together."""


def env_world() -> tuple[int, int]:
    """(rank, world size) from torchrun's environment; (0, 1) outside torchrun."""
    try:
        return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 0, 1


@dataclass(frozen=True)
class Dist:
    """Where this process stands in a (possibly one-process) job."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1  # processes on this machine

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def current(cls) -> "Dist":
        """The job of an initialised default process group (e.g. set up by a library user), else one process."""
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            return cls(dist.get_rank(), dist.get_world_size(), *_local())
        return cls()

    def shard(self, batch: int) -> tuple[int, int]:
        """This rank's rows [lo, hi) of a global batch; shards differ in size by at most one row."""
        if batch < self.world:
            raise SharedError(f"the batch of {batch} is smaller than the {self.world} processes: every process "
                              "needs at least one example; use a larger batch_size= or fewer processes")
        base, extra = divmod(batch, self.world)
        lo = self.rank * base + min(self.rank, extra)
        return lo, lo + base + (1 if self.rank < extra else 0)

    # ---------------------------------------------------------------- collectives
    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank (pickled over the process group: our own processes' data)."""
        if not self.enabled:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def on_main(self, fn: Callable, *args, **kwargs) -> Any:
        """Run ``fn`` on rank 0 only and return its result on every rank; a :class:`VaediagError`
        there is raised on every rank (as a :class:`SharedError`), so no rank waits forever."""
        if not self.enabled:
            return fn(*args, **kwargs)
        result, error = None, None
        if self.is_main:
            try:
                result = fn(*args, **kwargs)
            except VaediagError as e:
                error = (str(e), isinstance(e, UsageError))
        error, result = self.broadcast((error, result))
        if error is not None:  # a usage mistake stays one (exit status 2) on every rank
            raise (SharedUsageError if error[1] else SharedError)(error[0])
        return result

    def all_reduce_sum_(self, t: torch.Tensor) -> torch.Tensor:
        if self.enabled:
            dist.all_reduce(t)
        return t

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        """Leave the job, so that the process exits cleanly. The barrier lets every rank finish its
        collectives. The process group must then be freed while the interpreter is fully alive:
        objects still holding it (DDP, autograd graphs through the all-reduce) were otherwise
        freed during interpreter shutdown, where gloo's worker threads cannot take the GIL and the
        process aborted ("terminate called without an active exception", SIGABRT) in about one
        run in twenty here. Hence the garbage collections around the barrier and the destroy."""
        if self.enabled and dist.is_initialized():
            gc.collect()
            try:
                dist.barrier()
            finally:
                dist.destroy_process_group()
                gc.collect()


def _local() -> tuple[int, int]:
    """(local rank, processes on this machine) from torchrun's environment."""
    return int(os.environ.get("LOCAL_RANK", "0")), int(os.environ.get("LOCAL_WORLD_SIZE", "1"))


def setup(device: torch.device) -> tuple[Dist, torch.device]:
    """Join the torchrun job this process belongs to (if any): initialise the default process
    group and pick this rank's device. ``device`` is the resolved ``--device``."""
    rank, world = env_world()
    if world <= 1:
        return Dist(), device
    local_rank, local_world = _local()
    if device.type == "cuda":
        if device.index not in (None, local_rank):
            raise VaediagError(f"under torchrun every process uses the GPU of its local rank; give device=cuda, "
                               f"not {device}")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    elif device.type == "cpu":
        backend = "gloo"
    else:
        raise VaediagError(f"training on several processes needs CUDA GPUs or the CPU, not {device.type}; "
                           "use device=cuda or device=cpu")
    if not dist.is_initialized():
        try:
            dist.init_process_group(backend, timeout=TIMEOUT, device_id=device if backend == "nccl" else None)
        except (RuntimeError, ValueError) as e:
            raise VaediagError(f"could not join the torchrun job ({first_line(e, 200)})") from None
    return Dist(rank, world, local_rank, local_world), device


# ------------------------------------------------------------------------------ models
def _autograd_all_reduce_functional(t: torch.Tensor) -> torch.Tensor:
    import torch.distributed._functional_collectives as fc

    return fc.wait_tensor(fc.all_reduce(t, "sum", dist.group.WORLD))


def _autograd_all_reduce_legacy(t: torch.Tensor) -> torch.Tensor:
    import warnings

    from torch.distributed.nn.functional import all_reduce

    with warnings.catch_warnings():  # deprecated in recent torch in favour of the functional collectives
        warnings.simplefilter("ignore", FutureWarning)
        # the group named: the default's is the process group of when torch imported it, not a later one
        return all_reduce(t, group=dist.group.WORLD)


def _has_functional_autograd() -> bool:
    try:
        import torch.distributed._functional_collectives as fc
    except ImportError:
        return False
    return hasattr(fc, "all_reduce_backward")


# Sum over ranks, differentiable (the gradient of a sum is the sum of the ranks' gradients). The
# functional collectives have an autograd rule in recent torch; older torch has only the legacy API.
autograd_all_reduce = _autograd_all_reduce_functional if _has_functional_autograd() else _autograd_all_reduce_legacy


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm with the statistics of the whole global batch across all processes.

    In training mode inside a multi-process job, the per-channel sum, then the sum of squared
    deviations, are all-reduced with :func:`autograd_all_reduce` (gradients flow through the
    statistics to every rank's inputs, as in one process). Mean and variance are
    computed in fp32 (two passes, no E[x^2] - E[x]^2 cancellation). Otherwise it is the ordinary
    BatchNorm. Unlike ``torch.nn.SyncBatchNorm`` it runs on any device and backend, so the CPU/gloo
    tests exercise the same code as GPU jobs. Parameters and buffers keep BatchNorm's names, so
    checkpoints move freely between one and several processes.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2-D input, got {input.dim()}-D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        c = x.shape[1]
        dims = [0, *range(2, x.dim())]
        view = (1, c) + (1,) * (x.dim() - 2)
        xf = x.float()
        count = xf.new_tensor([x.numel() // c])
        sums = autograd_all_reduce(torch.cat([xf.sum(dims), count]))
        n = sums[c].detach()
        mean = sums[:c] / n
        xc = xf - mean.view(view)
        var = autograd_all_reduce((xc * xc).sum(dims)) / n  # biased, for normalising
        y = xc * torch.rsqrt(var + self.eps).view(view)
        if self.affine:
            y = y * self.weight.view(view) + self.bias.view(view)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * (n / (n - 1)), alpha=m)  # unbiased, as BatchNorm
        return y.to(x.dtype)


def convert_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm in ``module`` by a :class:`GlobalBatchNorm` sharing its parameters
    and buffers (same names, same objects: optimisers and state dicts are unaffected)."""
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, GlobalBatchNorm):
        new = GlobalBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                              module.track_running_stats)
        if module.affine:
            new.weight, new.bias = module.weight, module.bias
        if module.track_running_stats:
            new.running_mean, new.running_var = module.running_mean, module.running_var
            new.num_batches_tracked = module.num_batches_tracked
        new.train(module.training)
        return new
    for name, child in module.named_children():
        new_child = convert_batchnorm(child)
        if new_child is not child:
            setattr(module, name, new_child)
    return module


def wrap(model: nn.Module, device: torch.device, find_unused: bool = False) -> nn.Module:
    """DistributedDataParallel around ``model`` (whose BatchNorms are already global)."""
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                   find_unused_parameters=find_unused)
