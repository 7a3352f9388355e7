"""The Fisher calibration c of Bernoulli VAEs as people write them, over training, on the mnist5k digits.

    python benchmarks/fisher_calibration.py [--steps 300,1000,3000,6000] [--models mlp:1,linear:1,mlp:4,mlp:0.25]
                                            [--latent 16] [--n 64] [--seed 0]

Two Bernoulli (binary cross-entropy) VAEs with a diagonal Gaussian encoder (784-256-256 ReLU, heads for
mu and log variance) trained with Adam (lr 1e-3, batch 100) on the 4,500 training digits (grey values in
[0, 1], as the cross-entropy baselines use them):

- ``mlp``: decoder k-256-256-784 ReLU + sigmoid (its logits are piecewise linear in z);
- ``linear``: decoder sigmoid(W z + b) (logits linear in z: the Gauss-Newton Hessian is exact).

``--models`` lists decoder:beta pairs: beta weighs the KL term (a beta-VAE). Its encoder's optimum is
Sigma_z^-1 = I + F / beta, so the fit should give c = 1 / beta: the reading says how the encoder stands to
the likelihood (beta > 1: "under-confident", beta < 1: "over-confident").

At each step count in ``--steps`` it encodes the first ``--n`` held-out digits and reports the Fisher
fit (:func:`vaediag.diagnostics.fisher.fit_fisher_calibration`: c, R^2, reading), the plain eq. (73) fit
of the probabilities (gamma_effective, which for a Bernoulli decoder is a J^2-weighted mean of p (1 - p),
at most 1/4), and the count of directions with mean lambda < 1/2 with its clarity
(:func:`vaediag.diagnostics.usage.count_clarity`). One thread; the numbers, not the time, are the result.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn as nn

import vaediag
from vaediag.diagnostics.fisher import fisher_gains, fit_fisher_calibration
from vaediag.diagnostics.gamma import decoder_gains, fit_effective_gamma
from vaediag.diagnostics.usage import count_clarity


class BernoulliVAE(nn.Module):
    def __init__(self, k: int, linear_decoder: bool, d: int = 784, h: int = 256):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU())
        self.mu, self.logvar = nn.Linear(h, k), nn.Linear(h, k)
        self.dec = (nn.Sequential(nn.Linear(k, d), nn.Sigmoid()) if linear_decoder else
                    nn.Sequential(nn.Linear(k, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, d), nn.Sigmoid()))

    def encode(self, x):
        h = self.enc(x.flatten(1))
        return self.mu(h), self.logvar(h)

    def decode(self, z):
        return self.dec(z)


def loss_fn(model, x, beta):
    mu, logvar = model.encode(x)
    z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
    p = model.decode(z)
    rec = nn.functional.binary_cross_entropy(p, x.flatten(1), reduction="sum") / len(x)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum() / len(x)
    return rec + beta * kl


def measure(model, x):
    model.eval()
    with torch.no_grad():
        mu, logvar = model.encode(x)
    var = logvar.exp()
    fit = fit_fisher_calibration(*fisher_gains(model, mu, var, False))
    plain = fit_effective_gamma(*decoder_gains(model, mu, var, False))
    cc = count_clarity(var.double().mean(0).numpy())
    model.train()
    return fit, plain, cc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", default="300,1000,3000,6000")
    ap.add_argument("--models", default="mlp:1,linear:1,mlp:4,mlp:0.25")
    ap.add_argument("--latent", type=int, default=16)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    marks = sorted(int(s) for s in args.steps.split(","))
    data = vaediag.load_dataset("mnist5k")
    train = data.to_float(data.train)
    held = data.to_float(data.test[: args.n])
    print("| decoder | beta | steps | c | R^2 | rms (nats) | reading | gamma_effective (plain J^T J) | r_hat | "
          "clear (in band) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for spec in args.models.split(","):
        name, beta = spec.split(":")[0], float(spec.split(":")[1])
        torch.manual_seed(args.seed)
        model = BernoulliVAE(args.latent, linear_decoder=name == "linear")
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        gen = torch.Generator().manual_seed(args.seed)
        t0 = time.perf_counter()
        for step in range(1, marks[-1] + 1):
            idx = torch.randint(len(train), (100,), generator=gen)
            opt.zero_grad()
            loss_fn(model, train[idx], beta).backward()
            opt.step()
            if step in marks:
                fit, plain, cc = measure(model, held)
                c = "-" if fit.c is None else f"{fit.c:.3g}"
                r2 = "-" if fit.r2 is None else f"{fit.r2:.3f}"
                g = "-" if plain["gamma"] is None else f"{plain['gamma']:.3g}"
                rms = "-" if fit.rms_log_residual is None else f"{fit.rms_log_residual:.2f}"
                print(f"| {name} | {beta:g} | {step} | {c} | {r2} | {rms} | {fit.reading} | {g} | {cc.r_hat} | "
                      f"{cc.clear} ({len(cc.in_band)}) |", flush=True)
        print(f"<!-- {spec}: {time.perf_counter() - t0:.0f} s -->", flush=True)


if __name__ == "__main__":
    main()
