"""Time `diagnose` on n inputs against the bare forward passes it needs, in one process.

    python benchmarks/bench_diagnose.py [--n 10000] [--threads 2]

Model: vaediag's stage-1 InfoGAN VAE (kappa = 64, 28x28) and stage-2 VAE (width 1024), freshly
initialised (timing does not depend on training). Data: random uint8 images. "bare" is a plain loop
with the same batches: stage-1 encode, decode(mu) and stage-2 encode of n inputs, plus the
perturbation decodes (4 inputs x 64 directions x 15). The ratio diagnose / bare is the overhead of
the diagnostics (eigenvalues, moments, histograms, sampling); the target is <= ~2.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from vaediag.engine.config import ModelConfig, Stage2Config
from vaediag.data import Dataset
from vaediag.diagnostics.summary import diagnose
from vaediag.engine.models import VAE, Stage2VAE


@torch.no_grad()
def bare(model, stage2, x, batch=500, perturb_inputs=4, n_decodes=15):
    for i in range(0, len(x), batch):
        xb = Dataset.to_float(x[i:i + batch])
        mu, logvar = model.encode(xb)
        model.decode(mu)
        stage2.encode(mu + (0.5 * logvar).exp() * torch.randn_like(mu))
    k = model.cfg.latent_dim
    for _ in range(perturb_inputs):
        z = torch.randn(k * n_decodes, k)
        for j in range(0, len(z), 1024):
            model.decode(z[j:j + 1024])


@torch.no_grad()
def bare_no_perturb(model, stage2, x, batch=500):
    bare(model, stage2, x, batch, perturb_inputs=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave the default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = VAE(ModelConfig()).eval()
    stage2 = Stage2VAE(Stage2Config(width=1024)).eval()
    x = torch.randint(0, 256, (args.n, 1, 28, 28), dtype=torch.uint8)
    bare(model, stage2, x[:500])  # warm-up
    t0 = time.perf_counter()
    bare(model, stage2, x)
    t_bare = time.perf_counter() - t0
    t0 = time.perf_counter()
    bare_no_perturb(model, stage2, x)
    t_fwd = time.perf_counter() - t0
    t0 = time.perf_counter()
    diagnose(model, x, stage2)
    t_diag = time.perf_counter() - t0
    print(f"n = {args.n}, threads = {torch.get_num_threads()}")
    print(f"bare forward passes (encode + decode + stage-2 encode + perturbation decodes): {t_bare:.2f} s")
    print(f"bare forward passes without the perturbation decodes:                        {t_fwd:.2f} s")
    print(f"diagnose:                                                                    {t_diag:.2f} s")
    print(f"ratio diagnose / bare = {t_diag / t_bare:.2f}   (diagnose / bare without perturbation = {t_diag / t_fwd:.2f})")


if __name__ == "__main__":
    main()
