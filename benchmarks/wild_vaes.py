"""The VAEs people have, diagnosed as a new user would: the PyTorch-examples VAE (784-400-20, sigmoid,
binary cross-entropy + KL) trained on the offline 5,000 MNIST digits, then diagnosed as what it is
(``likelihood="bernoulli"``) and as the README once suggested (a Gaussian with gamma = 1).

    python benchmarks/wild_vaes.py [--epochs 10] [--n 2000]

Prints the importance-weighted log-likelihood (K = 50, 200 inputs) under both readings, gamma_effective
with its R^2, r_hat with its range over cuts, and whether diagnosing changed the model. The model class
is the one the tests use (tests/_wild.py), as its authors wrote it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _wild import ExamplesVAE, examples_loss  # noqa: E402

from vaediag.data import load_dataset  # noqa: E402
from vaediag.diagnostics import diagnose  # noqa: E402
from vaediag.diagnostics.adapt import adapt  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--n", type=int, default=2000, help="inputs diagnosed")
    a = ap.parse_args()
    torch.manual_seed(0)
    data = load_dataset("mnist5k", seed=0, test_fraction=0.1, progress=False)
    x = torch.as_tensor(data.train).float().div(255).reshape(len(data.train), 784)
    model = ExamplesVAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    t0 = time.perf_counter()
    for _ in range(a.epochs):  # the examples' loop: batches of 128, Adam 1e-3
        for i in range(0, len(x), 128):
            recon, mu, logvar = model(x[i:i + 128])
            loss = examples_loss(recon, x[i:i + 128], mu, logvar)
            opt.zero_grad()
            loss.backward()
            opt.step()
    print(f"trained {a.epochs} epochs on {len(x)} digits in {time.perf_counter() - t0:.1f} s")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    t0 = time.perf_counter()
    bern = diagnose(adapt(model, likelihood="bernoulli"), x[:a.n])
    print(f"diagnosed {a.n} inputs in {time.perf_counter() - t0:.1f} s")
    gauss = diagnose(adapt(model, gamma=1.0), x[:a.n])
    iw, u, f = bern.likelihood, bern.usage, bern.fisher
    print(f"IW log-likelihood, Bernoulli decoder: {iw.mean:.1f} ± {iw.stderr:.1f} (ELBO {iw.elbo_mean:.1f}) nats")
    print(f"IW log-likelihood, read as Gaussian gamma = 1: {gauss.likelihood.mean:.1f} nats")
    print(f"Fisher calibration c {f.c:.4g} (R^2 of log lambda {f.r2:.2f}, rms {f.rms_log_residual:.2f}), {f.reading}")
    print(f"r_hat {u.r_hat} of 20, clear {u.clear}, in the band {u.in_band}, range {u.r_hat_range}, "
          f"partly used {u.partly_used}, tau_count {u.tau_count}")
    same = all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    print(f"state dict unchanged by diagnosis: {same}")
    for line in bern.verdict:
        print("  -", line)


if __name__ == "__main__":
    main()
