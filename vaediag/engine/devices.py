"""Which device to compute on, whether a tensor fits on it, and the CPU allocator setting of a training process."""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
import sys

import torch

from vaediag.errors import VaediagError


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
        raise VaediagError(f"unknown device={name!r}; use auto, cpu, cuda or mps")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise VaediagError(f"device={name} was asked for but no CUDA GPU is available; use device=cpu")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise VaediagError("device=mps was asked for but MPS is not available; use device=cpu")
    return torch.device(name)


def fits_on(device: torch.device, nbytes: int) -> bool:
    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return nbytes < 0.4 * free


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep the memory a training step frees, for the rest of the process.

    A CPU step allocates and frees the same large tensors every time (activations, gradients: the
    InfoGAN's biggest gradient is 25.7 MB). By default glibc serves blocks above its mmap threshold
    with fresh mappings and gives freed memory back to the kernel above its trim threshold, so the next
    step faults the pages in again (11,500 page faults per stage-1 step here, even with the fused
    Adam). With the trim threshold at 1 GiB and the mmap threshold as high as glibc allows (it refuses
    more than 32 MiB on 64-bit builds, so 1 GiB is tried first, then 32 MiB) the freed blocks are
    reused: 695 faults per step and 0.92x the CPU time on one thread (``benchmarks/bench_step_levers.py``, docs/digits.md). The price: the
    process stays at its peak resident size. ``vaediag`` (the command) calls this at start; library
    users may call it themselves. Returns whether the settings took (False off glibc: macOS, musl).
    """
    libc = _glibc()
    if libc is None:
        return False
    try:  # mallopt(M_TRIM_THRESHOLD = -1, ...), mallopt(M_MMAP_THRESHOLD = -3, ...); 1 on success
        return bool(libc.mallopt(-1, 1 << 30)) and bool(libc.mallopt(-3, 1 << 30) or libc.mallopt(-3, 32 << 20))
    except AttributeError:
        return False


def release_freed_memory() -> bool:
    """Hand the memory this process has freed back to the operating system: glibc's ``malloc_trim(0)``.

    A long pass over batches (a diagnosis) frees each batch's tensors before the next, but glibc keeps freed
    heap memory resident (above all once it has raised its mmap threshold after freeing a large block, or
    after :func:`keep_freed_memory`), so the resident size grows with the number of batches although nothing
    is kept; trimming between batches keeps it flat in n. Returns whether it ran (False off glibc)."""
    libc = _glibc()
    if libc is None:
        return False
    try:
        libc.malloc_trim(0)
    except AttributeError:
        return False
    return True


_LIBC: list = []  # the loaded C library, once (loading runs ldconfig); [None] where it cannot be loaded


def _glibc():
    """The C library where it is glibc (Linux but musl, macOS, Windows: None)."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    if not _LIBC:
        try:
            _LIBC.append(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"))
        except OSError:
            _LIBC.append(None)
    return _LIBC[0]
