"""Throughput of the FID pipeline against a bare Inception forward pass, measured in one run.

    python benchmarks/bench_fid.py [--n 48] [--batch-size 16] [--threads 1] [--run RUN]

Bare: the TorchScript network on ready (B, 3, 299, 299) tensors. Pipeline: what ``vaediag fid`` does
per generated image -- stage-1 sampling from the run's decoder (an untrained InfoGAN VAE on 28x28 when
no --run is given), quantisation, grey->RGB, bilinear resize to 299, the forward pass, collecting the
features -- followed by the moments. The Fréchet distance itself is a fixed cost per score (one
2048 x 2048 matrix square root), independent of n, and is timed separately.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from vaediag.engine.config import ModelConfig
from vaediag.engine.models import VAE
from vaediag.quality.evaluate import features_of, sample_batches
from vaediag.quality.features import InceptionFeatures
from vaediag.quality.frechet import frechet_distance, gaussian_stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=48)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--run", default=None, help="score this run's stage-1 model instead of an untrained one")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.run:
        from vaediag.engine.runs import Run

        model = Run.open(args.run).load_model(1)
    else:
        torch.manual_seed(0)
        model = VAE(ModelConfig()).eval()
    net = InceptionFeatures()
    x = torch.rand(args.batch_size, 3, 299, 299, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.inference_mode():
        net.net(x[:2])  # warm-up (TorchScript profiling runs)
        t0 = time.perf_counter()
        done = 0
        while done < args.n:
            net.net(x)
            done += x.shape[0]
        bare = done / (time.perf_counter() - t0)

    g = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    feats = features_of(sample_batches("stage1", model, None, None, args.n, args.batch_size, g, torch.device("cpu")),
                        net, args.n, "bench")
    mu, sigma = gaussian_stats(feats)
    pipe = args.n / (time.perf_counter() - t0)

    other = sigma + 0.01 * np.eye(sigma.shape[0])
    t0 = time.perf_counter()
    fd = frechet_distance(mu, sigma, mu + 0.01, other)
    t_fd = time.perf_counter() - t0
    t0 = time.perf_counter()
    fd_e = frechet_distance(mu, sigma, mu + 0.01, other, method="eigh")
    t_fde = time.perf_counter() - t0

    print(f"torch threads {torch.get_num_threads()}, n = {args.n}, batch {args.batch_size}")
    print(f"bare Inception forward : {bare:7.2f} images/s")
    print(f"full FID pipeline      : {pipe:7.2f} images/s")
    print(f"ratio pipeline / bare  : {pipe / bare:7.3f}")
    print(f"Fréchet distance, 2048-d, once per score: sqrtm {t_fd:.2f} s (value {fd:.4f}), "
          f"eigh {t_fde:.2f} s (value {fd_e:.4f})")


if __name__ == "__main__":
    main()
