"""Stage-1 training throughput against the bare step and the machine's matmul peak.

    python benchmarks/bench_train.py [--device auto] [--steps 60]

Prints, measured in one run: images/s of `vaediag.engine.train` (infogan, 32x32, batch 100, the real
loop with metrics, checkpoints and the run directory), images/s of the bare forward + backward +
Adam step of the same networks on the same batch size, the fp32 matmul peak, and the ratios
training/bare (time per image) and achieved FLOP/s / peak.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from vaediag.engine.config import ModelConfig, RunConfig, StageSchedule, TrainConfig
from vaediag.data import Dataset
from vaediag.engine.models import VAE
from vaediag.engine.runs import Run
from vaediag.engine.devices import resolve_device
from vaediag.engine.schedule import make_adam
from vaediag.engine.train import train_stage1


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_peak(device, n=2048, reps=10) -> float:
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b
    _sync(device)
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    _sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t)


def bare_step(cfg: ModelConfig, device, steps: int, batch: int) -> tuple[float, float]:
    torch.manual_seed(0)
    model = VAE(cfg).to(device).train()
    opt = make_adam(model.param_groups(5e-4), 1e-4)
    x = torch.rand(batch, *cfg.input_shape, device=device)
    eps = torch.randn(batch, cfg.latent_dim, device=device)
    with FlopCounterMode(display=False) as fc:
        model.loss(x, eps)["loss"].backward()
    flops = fc.get_total_flops()
    for i in range(steps + 5):
        if i == 5:
            _sync(device)
            t = time.perf_counter()
        out = model.loss(x, eps)
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
    _sync(device)
    return steps * batch / (time.perf_counter() - t), flops / batch


def training(cfg: ModelConfig, device, steps: int, batch: int) -> float:
    n = 5000
    x = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (n, *cfg.input_shape), dtype=np.uint8))
    data = Dataset("bench", x, x[:10], "image")
    with tempfile.TemporaryDirectory() as tmp:
        # warm-up run, then the timed run (both through the real loop)
        times = []
        for s in (5, steps + 5):
            rc = RunConfig(model=cfg, train=TrainConfig(dataset="bench", stage1=StageSchedule(batch_size=batch, epochs=None, steps=s),
                                                        checkpoint_every=500, log_every=10))
            run = Run.create(f"{tmp}/r{s}", rc)
            t = time.perf_counter()
            torch.manual_seed(0)
            train_stage1(run, data, device, progress=False)
            times.append(time.perf_counter() - t)
        return steps * batch / (times[1] - times[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch", type=int, default=100)
    args = ap.parse_args()
    device = resolve_device(args.device)
    cfg = ModelConfig(input_shape=(3, 32, 32), arch="infogan", latent_dim=64)
    peak = matmul_peak(device)
    bare, flops_per_img = bare_step(cfg, device, args.steps, args.batch)
    train_ips = training(cfg, device, args.steps, args.batch)
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"fp32 matmul peak:            {peak / 1e9:8.1f} GFLOP/s")
    print(f"bare fwd+bwd+Adam step:      {bare:8.1f} images/s  ({flops_per_img / 1e6:.0f} MFLOP/image fwd+bwd)")
    print(f"vaediag training loop:       {train_ips:8.1f} images/s")
    print(f"ratio training / bare (time per image): {bare / train_ips:.3f}")
    print(f"achieved FLOP/s / peak (training):      {train_ips * flops_per_img / peak:.3f}")


if __name__ == "__main__":
    main()
