"""Levers on vaediag's bare stage-1 step (InfoGAN, mnist 28x28, batch 100, kappa 64), A/B in one process.

    python benchmarks/bench_step_levers.py [--threads 1] [--blocks 8] [--per 3] [--variants base,malloc,cl,...]

Each variant is its own model and optimiser; the variants take turns in blocks of ``--per`` steps
(the order reversed every other block), so load on a shared machine falls on all of them alike.
Printed per variant: wall and CPU ms per step, minor page faults per step, and the CPU time relative
to the first variant (the ratio of the means, and the median of the per-block ratios).

Variants (combine with ``-``, e.g. ``malloc-cl``):

- ``base``: fused Adam, glibc's malloc at its initial thresholds (128 KiB mmap and trim threshold,
  without the dynamic raise glibc applies in a fresh process: mallopt cannot restore that, so a
  fresh process sits between ``base`` and ``malloc``; bench_vs_pythae.py --levers times that case);
- ``malloc``: ``vaediag.engine.devices.keep_freed_memory``'s thresholds (1 GiB);
- ``cl``: channels-last memory format for the model and the batch;
- ``keep``: ``zero_grad(set_to_none=False)`` (gradients kept and zeroed instead of freed);
- ``foreach``: PyTorch's default (foreach) Adam instead of the fused one.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's vaediag

from vaediag.engine.schedule import make_adam
from vaediag.engine.config import ModelConfig
from vaediag.engine.models import VAE

BATCH = 100
LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")


def allocator(keep: bool) -> None:
    size = 1 << 30 if keep else 128 * 1024
    LIBC.mallopt(-1, size)  # M_TRIM_THRESHOLD
    LIBC.mallopt(-3, size)  # M_MMAP_THRESHOLD


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--blocks", type=int, default=8)
    ap.add_argument("--per", type=int, default=3, help="steps per block")
    ap.add_argument("--variants", default="base,malloc,cl,malloc-cl,malloc-keep,malloc-foreach")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    variants = args.variants.split(",")
    g = torch.Generator().manual_seed(0)
    x, eps = torch.rand(BATCH, 1, 28, 28, generator=g), torch.randn(BATCH, 64, generator=g)
    state = {}
    for v in variants:
        parts = v.split("-")
        torch.manual_seed(0)
        model = VAE(ModelConfig(input_shape=(1, 28, 28), arch="infogan", latent_dim=64))
        xv = x
        if "cl" in parts:
            model, xv = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
        opt = make_adam(model.param_groups(5e-4), 1e-4)
        if "foreach" in parts:  # the same groups, PyTorch's default Adam
            opt = torch.optim.Adam([{"params": gr["params"], "weight_decay": gr["weight_decay"]}
                                    for gr in opt.param_groups], lr=1e-4)
        state[v] = (model.train(), opt, xv, "malloc" in parts, "keep" not in parts)
    res = {v: ([], [], []) for v in variants}
    for b in range(args.blocks + 1):  # block 0 warms up
        for v in variants if b % 2 == 0 else variants[::-1]:
            model, opt, xv, keep_mem, to_none = state[v]
            allocator(keep_mem)
            opt.zero_grad(set_to_none=to_none)
            model.loss(xv, eps)["loss"].backward()  # one untimed pass after switching
            t, c = time.perf_counter(), time.process_time()
            f = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            for _ in range(args.per):
                out = model.loss(xv, eps)
                opt.zero_grad(set_to_none=to_none)
                out["loss"].backward()
                opt.step()
            if b:
                res[v][0].append((time.perf_counter() - t) / args.per)
                res[v][1].append((time.process_time() - c) / args.per)
                res[v][2].append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f) / args.per)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.blocks} blocks of {args.per} steps per variant")
    b0 = variants[0]
    for v in variants:
        w, c = statistics.mean(res[v][0]), statistics.mean(res[v][1])
        paired = statistics.median(a / z for a, z in zip(res[v][1], res[b0][1]))
        faults = statistics.mean(res[v][2])
        print(f"  {v:16s} wall {w * 1e3:7.1f} ms  CPU {c * 1e3:7.1f} ms  faults/step {faults:6.0f}  "
              f"CPU vs {b0}: {c / statistics.mean(res[b0][1]):.3f} (paired median {paired:.3f})")


if __name__ == "__main__":
    main()
