"""The two levers that cut `vaediag theory --quick`'s CPU time without changing a number, measured in one run.

    PYTHONPATH=. python benchmarks/bench_theory_quick_levers.py [--steps 600] [--repeats 3]

1. Stage 2 (the lab's size: width 256, depth 3, batch 100, kappa 6, one torch thread): the loop as it was,
   the engine's ``adam_step`` at every step (``torch.optim.Adam(fused=True).step`` with its per-step
   bookkeeping), against ``vaediag.theory.sweep.train_stage2`` now (the engine's first step, then the fused
   kernel called directly). CPU milliseconds per step, alternating, median of ``--repeats``; both runs must end
   with the same parameters to the bit.
2. The mini-batch gather of ``train_sweep`` (a chunk of 250 steps of 38 groups, batch 128, d = 10: the other
   manifolds' run): ``data[arange(G), idx]`` as it was against ``index_select`` on the rows now; the same
   tensor, CPU milliseconds per chunk (16 chunks per 4,000-step run).
3. ``evaluate`` of those 38 VAEs on 2,000 held-out points, 8 noise draws: as it was (``losses`` per draw, which
   encodes again, then a second decode of the same z) against now (one encode, one decode per draw); the same
   arrays to the bit.
Beside them, this machine's fp32 matmul rate (2048 x 2048, torch's default threads). On a shared machine read
the ratios.
"""

from __future__ import annotations

import argparse
from pathlib import Path
import statistics
import sys
import time

import torch

from vaediag.engine.config import Stage2Config
from vaediag.engine.loop import Precision, adam_step
from vaediag.engine.models import Stage2VAE
from vaediag.engine.schedule import lr_at, make_adam
from vaediag.objective import reparameterize
from vaediag.theory.sweep import GroupedVAE, evaluate, train_stage2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from theory_quick_ratio import matmul_gflops  # noqa: E402 (the same measurement as the whole-run ratio)

KW = {"width": 256, "depth": 3, "batch": 100, "lr": 1e-3, "weight_decay": 5e-4, "gamma_init": 1e-2, "seed": 7}


def stage2_before(mu: torch.Tensor, logvar: torch.Tensor, steps: int) -> Stage2VAE:
    """train_stage2 as it was: the engine's adam_step at every step (frozen copy)."""
    sd, (n, k) = logvar.mul(0.5).exp(), mu.shape
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(KW["seed"])
        model = Stage2VAE(Stage2Config(latent_dim=k, width=KW["width"], depth=KW["depth"], gamma_init=KW["gamma_init"]))
    opt = make_adam(model.param_groups(KW["weight_decay"]), KW["lr"])
    halve, amp = max(1, (3 * steps) // 8), Precision("fp32", torch.device("cpu"))
    gen = torch.Generator().manual_seed(10_000 + KW["seed"])
    for step in range(steps):
        idx = torch.randint(0, n, (KW["batch"],), generator=gen)
        e = torch.randn(KW["batch"], 2 * k, generator=gen)
        adam_step(model, opt, lr_at(step, KW["lr"], halve), mu[idx] + sd[idx] * e[:, :k], e[:, k:], amp)
    return model.eval()


def _cpu(f):
    t = time.process_time()
    out = f()
    return time.process_time() - t, out


def bench_stage2(steps: int, repeats: int) -> None:
    torch.manual_seed(0)
    mu, logvar = torch.randn(4000, 6), torch.randn(4000, 6) * 0.1 - 2
    times = {"before": [], "now": []}
    stage2_before(mu, logvar, 50)  # warm-up
    for _ in range(repeats):
        tb, mb = _cpu(lambda: stage2_before(mu, logvar, steps))
        tn, mn = _cpu(lambda: train_stage2(mu, logvar, steps=steps, **KW))
        times["before"].append(tb / steps * 1e3)
        times["now"].append(tn / steps * 1e3)
    same = all(torch.equal(a, b) for a, b in zip(mb.state_dict().values(), mn.state_dict().values()))
    b, n = statistics.median(times["before"]), statistics.median(times["now"])
    print(f"stage 2, {steps} steps x {repeats}: engine step {b:.2f} ms, fast step {n:.2f} ms CPU per step; "
          f"ratio {n / b:.2f}; the same parameters to the bit: {same}")


def bench_gather(repeats: int) -> None:
    G, N, d, n, B = 38, 4000, 10, 250, 128
    data, idx = torch.randn(G, N, d), torch.randint(0, N, (n, G, B))
    rows, offset, ar = data.reshape(G * N, d), torch.arange(G)[None, :, None] * N, torch.arange(G)[None, :, None]
    times = {"before": [], "now": []}
    for _ in range(repeats * 5):
        tb, a = _cpu(lambda: data[ar, idx])
        tn, c = _cpu(lambda: rows.index_select(0, (idx + offset).view(-1)).view(n, G, B, d))
        times["before"].append(tb * 1e3)
        times["now"].append(tn * 1e3)
    b, m = statistics.median(times["before"]), statistics.median(times["now"])
    print(f"gather of a chunk (G={G}, {n} steps, batch {B}, d={d}): advanced indexing {b:.1f} ms, index_select "
          f"{m:.1f} ms CPU; ratio {m / b:.2f}; the same tensor: {torch.equal(a, c)}")


@torch.no_grad()
def evaluate_before(model: GroupedVAE, x: torch.Tensor, n_eps: int = 8, seed: int = 0) -> dict:
    """evaluate's noise loop as it was (frozen copy): model.losses per draw, then the same z decoded again."""
    gen = torch.Generator().manual_seed(seed)
    mu, logvar = model.encode(x)
    acc = {"loss": 0.0, "recon": 0.0, "kl": 0.0, "mse_eps": 0.0}
    for _ in range(n_eps):
        eps = torch.randn(mu.shape, generator=gen)
        out = model.losses(x, eps)
        for k in ("loss", "recon", "kl"):
            acc[k] = acc[k] + out[k] / n_eps
        rec = model.decode(reparameterize(mu, logvar, eps))
        acc["mse_eps"] = acc["mse_eps"] + (rec - x).pow(2).sum(-1).mean(1) / n_eps
    return {k: v.numpy() for k, v in acc.items()}


def bench_evaluate(repeats: int) -> None:
    G = 38
    model, x = GroupedVAE(10, 6, [float("nan")] * G, list(range(G))), torch.randn(G, 2000, 10)
    evaluate(model, x)  # warm-up
    times = {"before": [], "now": []}
    for _ in range(repeats):
        tb, a = _cpu(lambda: evaluate_before(model, x))
        tn, c = _cpu(lambda: evaluate(model, x))
        times["before"].append(tb)
        times["now"].append(tn)
    b, m = statistics.median(times["before"]), statistics.median(times["now"])
    same = all((a[k] == c[k]).all() for k in a)
    print(f"evaluate of {G} VAEs on 2,000 points: as it was {b:.2f} s, now {m:.2f} s CPU; ratio {m / b:.2f}; "
          f"the same arrays to the bit: {same}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=600, help="stage-2 steps per timing (default 600)")
    ap.add_argument("--repeats", type=int, default=3, help="alternating timings, median kept (default 3)")
    a = ap.parse_args()
    peak, threads = matmul_gflops(), torch.get_num_threads()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)  # as the vaediag command does
    bench_stage2(a.steps, a.repeats)
    bench_gather(a.repeats)
    bench_evaluate(a.repeats)
    torch.set_num_threads(threads)
    print(f"fp32 matmul (2048 x 2048, torch's default threads): {peak:.0f} GFLOP/s before, {matmul_gflops():.0f} after")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
