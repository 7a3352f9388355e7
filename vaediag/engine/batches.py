"""Where a stage's batches come from: the global order of examples (:class:`BatchOrder`, checkpointed),
stage 1's images or vectors (:class:`ImageBatches`, in memory or streamed by worker processes) and
stage 2's latents (:class:`LatentBatches`: z = mu + sigma * eps, a fresh eps every epoch)."""

from __future__ import annotations

import os
from typing import Iterator

import torch

from vaediag.data import Dataset
from vaediag.engine.devices import fits_on
from vaediag.errors import VaediagError


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


def image_batches(data: Dataset, kappa: int, device: torch.device, loader: str, workers: int | None,
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
