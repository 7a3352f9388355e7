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
    s, g = bern.summary, gauss.summary
    fit = s["gamma_effective_fit"]
    print(f"IW log-likelihood, Bernoulli decoder: {s['iw_log_likelihood']['mean']:.1f} ± {s['iw_log_likelihood']['stderr']:.1f}"
          f" (ELBO {s['iw_log_likelihood']['elbo_mean']:.1f}) nats")
    print(f"IW log-likelihood, read as Gaussian gamma = 1: {g['iw_log_likelihood']['mean']:.1f} nats")
    print(f"gamma_effective {fit['gamma']:.4g} (R^2 of log lambda {fit['r2']:.2f}, rms {fit['rms_log_residual']:.2f})")
    print(f"r_hat {s['r_hat']} of 20, clear {s['r_hat_clear']}, cuts 0.3..0.7 give {s['r_hat_range']}, "
          f"separation {s['r_hat_separation']}, tau_count {s['tau_count']}")
    same = all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    print(f"state dict unchanged by diagnosis: {same}")
    for line in bern.verdict:
        print("  -", line)


if __name__ == "__main__":
    main()
