"""How much image variance the latent directions of a model of the offline digits have to share.

    python benchmarks/digits_budget.py [--run RUN] [--inputs 4] [--seed 0] [--threads 1]

Prints, for the 4,500 mnist5k training digits (images in [0, 1]): their summed pixel variance and half
the mean squared distance between two random digits (the two agree for any data set: both are the
trace of the covariance), and the largest principal-component variances (for a linear decoder
x = W z + b with z ~ N(0, I), the image variance along a direction is its squared gain s_j^2, and
the gains that best fit the data are these variances). With --run, for the run's stage-1 model on its first ``--inputs`` training
digits (the inputs `vaediag diagnose` perturbs), under the standard protocol (unit-scale noise, 15
decodes, population variance summed over pixels; a fresh draw of the noise):

- the image variance of every eigendirection of Sigma_z(x), summed over all kappa directions and over
  the five smallest-lambda ones (what supplement Fig. 9 lists);
- the image variance of 15 decodes of mu_z + eps with eps ~ N(0, I) in all kappa directions at once
  (for a decoder linear over the unit ball around mu_z this equals the sum over directions);
- the summed pixel variance of the decodes of 4,500 prior samples z ~ N(0, I) (the model's own digits).

For comparison it prints the five MNIST image variances of the paper's supplement Fig. 9 and their sum.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from vaediag.data import load_dataset
from vaediag.diagnostics.perturb import N_DECODES, perturb_directions
from vaediag.engine.runs import Run

PAPER_MNIST_FIVE = (27.3, 27.2, 19.6, 13.9, 12.8)  # supplement Fig. 9, MNIST, smallest lambda first


def summed_pixel_variance(x: torch.Tensor) -> float:
    """sum over pixels of the per-pixel variance over the rows of x (population variance)."""
    return float(x.reshape(len(x), -1).double().var(dim=0, unbiased=False).sum())


def half_mean_pair_distance(x: torch.Tensor, pairs: int, gen: torch.Generator) -> float:
    """E ||x_a - x_b||^2 / 2 over random pairs a != b (equals the summed variance in expectation)."""
    flat = x.reshape(len(x), -1).double()
    a = torch.randint(len(x), (pairs,), generator=gen)
    b = (a + torch.randint(1, len(x), (pairs,), generator=gen)) % len(x)
    return float((flat[a] - flat[b]).pow(2).sum(dim=1).mean() / 2)


@torch.no_grad()
def isotropic_variance(model, x: torch.Tensor, gen: torch.Generator, n_decodes: int = N_DECODES) -> np.ndarray:
    """Per input: summed pixel variance of n_decodes decodes of mu_z(x) + eps, eps ~ N(0, I_kappa)."""
    mu, _ = model.encode(x)
    out = []
    for m in mu:
        z = m + torch.randn(n_decodes, len(m), generator=gen, dtype=torch.float64).to(m.dtype)
        out.append(float(model.decode(z).reshape(n_decodes, -1).double().var(dim=0, unbiased=False).sum()))
    return np.array(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", help="a run on mnist5k (its stage 1)")
    ap.add_argument("--inputs", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(args.seed)
    data = load_dataset("mnist5k") if args.run is None else Run.open(args.run).dataset()
    x = data.to_float(torch.as_tensor(data.train))
    print(f"mnist5k training digits: {len(x)}; summed pixel variance {summed_pixel_variance(x):.1f}; "
          f"half the mean squared distance of two random digits {half_mean_pair_distance(x, 20000, gen):.1f}")
    flat = x.reshape(len(x), -1).double()
    pca = torch.linalg.eigvalsh(torch.cov(flat.T, correction=0)).flip(0)  # descending
    print(f"   principal-component variances (a linear decoder's best directions): five largest "
          f"{np.round(pca[:5].numpy(), 1).tolist()} (sum {float(pca[:5].sum()):.1f}); the largest 5 / 10 / 20 "
          f"hold {float(pca[:5].sum() / pca.sum()):.0%} / {float(pca[:10].sum() / pca.sum()):.0%} / "
          f"{float(pca[:20].sum() / pca.sum()):.0%} of the total")
    print(f"paper, supplement Fig. 9 (MNIST), five smallest-lambda directions: {PAPER_MNIST_FIVE}, "
          f"sum {sum(PAPER_MNIST_FIVE):.1f}")
    if args.run is None:
        return
    model = Run.open(args.run).load_model(1, "cpu")
    xs = x[:args.inputs]
    pert = perturb_directions(model, xs, generator=gen)
    lam, var = pert["lam"].mean(0), pert["variance"].mean(0)
    order = np.argsort(lam, kind="stable")
    print(f"{args.run}: image variance (mean over {len(xs)} inputs) summed over all {len(lam)} directions "
          f"{var.sum():.1f}; five smallest-lambda {np.round(var[order[:5]], 1).tolist()} (sum "
          f"{var[order[:5]].sum():.1f}); directions with mean lambda < 0.5: {int((lam < 0.5).sum())}, "
          f"their sum {var[lam < 0.5].sum():.1f}")
    iso = isotropic_variance(model, xs, gen)
    print(f"   unit noise in all directions at once (mu_z + eps, eps ~ N(0, I)): {iso.mean():.1f} "
          f"(per input {np.round(iso, 1).tolist()})")
    with torch.no_grad():
        prior = model.decode(torch.randn(len(x), len(lam), generator=gen))
    print(f"   decodes of {len(x)} prior samples z ~ N(0, I): summed pixel variance {summed_pixel_variance(prior):.1f}")


if __name__ == "__main__":
    main()
