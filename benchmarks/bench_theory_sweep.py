"""The theory lab's speed, measured in one run: ratios are what to read on a shared machine.

    PYTHONPATH=. python benchmarks/bench_theory_sweep.py [--steps 500] [--repeats 3] [--no-quick] [--compile]

1. One model's training step and a sweep of 8 models vs 1, for each lever in turn (each timed
   ``--repeats`` times, alternating, median kept, after a warm-up):
     legacy          the step as of commit 30dcdc0 (frozen copy below): per-layer parameters, autograd,
                     foreach Adam over 13 tensors, a LambdaLR scheduler, a per-step batch gather;
     flat+fused      one flat parameter, torch's fused Adam, autograd through views of it;
     manual0+fused   the hand-written eq. (2) gradient as first written (frozen copy below: SiLU' from
                     a sigmoid kept in the forward, the encoder's input gradient formed), torch's fused Adam;
     manual+foreach  the hand-written gradient as now (``GroupedVAE.grad_step``: torch's fused
                     silu_backward, no input gradient for the encoder), torch's foreach Adam;
     manual+fused    the same with torch.optim's fused Adam;
     manual+flat     the same with ``FlatAdam`` (the fused kernel called directly, no Optimizer.step
                     bookkeeping): what ``vaediag.theory.sweep.train_sweep`` runs.
   Goals: 8 models <= 1.5x one model; one model's step <= half of legacy's.
2. The arithmetic floor: FLOPs of one step of 8 models (the matmuls of forward and backward) over the
   rate torch.bmm reaches on this core at the sweep's largest layer, measured in the same run.
3. With ``--compile``: the lab's step with ``grad_step`` under torch.compile against eager, 1 and 8 models
   (compile time of the first call, then ms/step; says so and goes on where no compiler works).
4. Wall time of ``python -m vaediag theory --quick`` (a subprocess; goal <= 30 s on 2 quiet cores).
Setting: the Theorems 3-4 sweep (embedding manifold r=2 in R^10, kappa=6, batch 128, hidden 64-64),
torch threads as given (default 1), denormals flushed (as the ``vaediag`` command does).
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from vaediag.data import manifolds
from vaediag.objective import gaussian_nll, kl_std_normal, reparameterize
from vaediag.engine.schedule import make_adam
from vaediag.theory.sweep import GroupedVAE, lr_at, train_sweep


# ----------------------------------------------------------------- frozen copy of the legacy step
class _LegacyMLP(nn.Module):
    def __init__(self, G, sizes, gens):
        super().__init__()
        self.weights, self.biases = nn.ParameterList(), nn.ParameterList()
        for a, b in zip(sizes[:-1], sizes[1:]):
            bound = 1.0 / math.sqrt(a)
            self.weights.append(nn.Parameter(torch.stack([torch.rand(a, b, generator=g) * 2 * bound - bound for g in gens])))
            self.biases.append(nn.Parameter(torch.stack([torch.rand(1, b, generator=g) * 2 * bound - bound for g in gens])))

    def forward(self, x):
        n = len(self.weights)
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b, x, w)
            if i < n - 1:
                x = F.silu(x)
        return x


class _LegacyVAE(nn.Module):
    def __init__(self, d, kappa, gammas, seeds, hidden):
        super().__init__()
        gammas = np.asarray(gammas, dtype=float)
        self.G = len(gammas)
        gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
        self.encoder = _LegacyMLP(self.G, [d, *hidden, 2 * kappa], gens)
        self.decoder = _LegacyMLP(self.G, [kappa, *reversed(hidden), d], gens)
        learned = np.isnan(gammas)
        self.register_buffer("learned", torch.as_tensor(learned))
        self.register_buffer("fixed", torch.as_tensor(np.log(np.where(learned, 1.0, gammas)), dtype=torch.float32))
        self.lgp = nn.Parameter(torch.zeros(self.G))

    def losses(self, x, eps):
        G, B, d = x.shape
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        mean = self.decoder(reparameterize(mu, logvar, eps))
        lg = torch.where(self.learned, self.lgp, self.fixed).repeat_interleave(B)
        recon = gaussian_nll(x.reshape(G * B, d), mean.reshape(G * B, d), lg).view(G, B)
        kl = kl_std_normal(mu.reshape(G * B, -1), logvar.reshape(G * B, -1)).view(G, B)
        return {"loss": (recon + kl).mean(1)}


def _legacy_sweep(data, kappa, gammas, seeds, steps, hidden, batch=128, lr=2e-3, chunk=250, log_every=100):
    G = len(gammas)
    data = torch.as_tensor(data, dtype=torch.float32).unsqueeze(0).expand(G, -1, -1)
    _, N, d = data.shape
    model = _LegacyVAE(d, kappa, gammas, seeds, hidden)
    opt = torch.optim.Adam(model.parameters(), lr=lr, foreach=True)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 1.0 if s < 0.7 * steps else 1.0 - 0.9 * (s - 0.7 * steps) / (0.3 * steps))
    gens = [torch.Generator().manual_seed(10_000 + int(s)) for s in seeds]
    ar = torch.arange(G)[:, None]
    for start in range(0, steps, chunk):
        n = min(chunk, steps - start)
        idx = torch.stack([torch.randint(0, N, (n, batch), generator=g) for g in gens], 1)
        eps = torch.stack([torch.randn(n, batch, kappa, generator=g) for g in gens], 1)
        for i in range(n):
            out = model.losses(data[ar, idx[i]], eps[i])
            opt.zero_grad(set_to_none=True)
            out["loss"].sum().backward()
            opt.step()
            sched.step()
            if (start + i + 1) % log_every == 0:
                out["loss"].detach().cpu().numpy()


# ----------------------------------------------------------------- frozen copy of the first hand-written step
class _FirstManualVAE(GroupedVAE):
    """GroupedVAE.grad_step as first written: SiLU' = s + h (1 - s) from a sigmoid kept in the forward
    (four kernels in the backward instead of one), and the encoder's input gradient formed."""

    @staticmethod
    def _mlp(x, ws, bs, keep=None):
        n = len(ws)
        for i, (w, b) in enumerate(zip(ws, bs)):
            a = torch.baddbmm(b, x, w)
            if i < n - 1 and keep is None:
                x = F.silu(a)
            elif i < n - 1:
                s = torch.sigmoid(a)
                x = a.mul_(s)
                keep.append((s, x))
            else:
                x = a
        return x

    @staticmethod
    def _backward(x_in, dA, ws, keep, gws, gbs, need_dx=True):
        for i in range(len(ws) - 1, -1, -1):
            h_prev = keep[i - 1][1] if i > 0 else x_in
            torch.bmm(h_prev.transpose(1, 2), dA, out=gws[i])
            torch.sum(dA, dim=1, keepdim=True, out=gbs[i])
            dh = torch.bmm(dA, ws[i].transpose(1, 2))
            if i > 0:
                s, h = keep[i - 1]
                dA = dh.mul_(s + h * (1 - s))
            else:
                return dh


# ----------------------------------------------------------------- the lever variants
def _variant_sweep(data, kappa, gammas, seeds, steps, hidden, manual: bool, fused: bool, batch=128, lr=2e-3,
                   chunk=250, log_every=100, cls=GroupedVAE):
    G = len(gammas)
    data = torch.as_tensor(data, dtype=torch.float32).unsqueeze(0).expand(G, -1, -1)
    _, N, d = data.shape
    model = cls(d, kappa, gammas, seeds, hidden)
    opt = make_adam([model.flat], lr) if fused else torch.optim.Adam([model.flat], lr=lr, foreach=True)
    model.flat.grad = torch.zeros_like(model.flat)
    gens = [torch.Generator().manual_seed(10_000 + int(s)) for s in seeds]
    ar = torch.arange(G)[None, :, None]
    for start in range(0, steps, chunk):
        n = min(chunk, steps - start)
        idx = torch.stack([torch.randint(0, N, (n, batch), generator=g) for g in gens], 1)
        eps = torch.stack([torch.randn(n, batch, kappa, generator=g) for g in gens], 1)
        xb = data[ar, idx]
        for i in range(n):
            s = start + i + 1
            log = s % log_every == 0
            if manual:
                loss = model.grad_step(xb[i], eps[i], model.flat.grad, want_loss=log)
            else:
                opt.zero_grad(set_to_none=False)
                out = model.losses(xb[i], eps[i])["loss"]
                out.sum().backward()
                loss = out.detach()
            opt.param_groups[0]["lr"] = lr_at(s - 1, steps, lr)
            opt.step()
            if log:
                loss.cpu().numpy()


VARIANTS = {
    "legacy": lambda *a: _legacy_sweep(*a),
    "flat+fused": lambda *a: _variant_sweep(*a, manual=False, fused=True),
    "manual0+fused": lambda *a: _variant_sweep(*a, manual=True, fused=True, cls=_FirstManualVAE),
    "manual+foreach": lambda *a: _variant_sweep(*a, manual=True, fused=False),
    "manual+fused": lambda *a: _variant_sweep(*a, manual=True, fused=True),
    "manual+flat": lambda x, k, g, s, steps, h: train_sweep(x, k, g, s, steps=steps, hidden=h),
}


def step_flops(d: int, kappa: int, hidden, batch: int) -> int:
    """Matmul FLOPs of one model's training step: forward (2 B a b per a->b layer), weight gradients
    (the same) and input gradients (the same, except the encoder's first layer: x is data)."""
    enc, dec = [d, *hidden, 2 * kappa], [kappa, *reversed(hidden), d]
    ab = sum(a * b for sizes in (enc, dec) for a, b in zip(sizes[:-1], sizes[1:]))
    return 2 * batch * (3 * ab - d * hidden[0])


def stage2_step_flops(k: int, width: int, depth: int, batch: int) -> int:
    """Matmul FLOPs of one training step of the engine's Stage2VAE (``depth`` dense layers of ``width``,
    the input concatenated before the heads; encoder 2 heads, decoder 1): forward, weight and input
    gradients (the encoder's input gradient excluded)."""
    body = k * width + (depth - 1) * width * width
    ab = 2 * body + 3 * (width + k) * k
    return 2 * batch * (3 * ab - k * width)


def bmm_rate(G: int, batch: int, width: int, reps: int = 400) -> float:
    """FLOP/s of torch.bmm at (G, batch, width) @ (G, width, width), median of 3 timings."""
    x, w = torch.randn(G, batch, width), torch.randn(G, width, width)
    out = []
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(reps):
            torch.bmm(x, w)
        out.append((time.perf_counter() - t0) / reps)
    return 2 * G * batch * width * width / statistics.median(out)


def compiled_step(width: int, steps: int) -> None:
    """The lab's step (hand-written gradient + FlatAdam) with grad_step eager and under torch.compile, on fixed
    batches: compile time of the first call, then ms/step after a warm-up (same process, alternating)."""
    from vaediag.theory.sweep import FlatAdam

    for G in (1, 8):
        m = GroupedVAE(10, 6, [float("nan")] * G, list(range(G)), (width, width))
        grad = torch.zeros_like(m.flat)
        opt = FlatAdam(m.flat.data, grad)
        x, eps = torch.randn(G, 128, 10), torch.randn(G, 128, 6)

        def eager(xb, eb):
            m.grad_step(xb, eb, grad)

        t0 = time.perf_counter()
        try:
            comp = torch.compile(eager, dynamic=False)
            comp(x, eps)
        except Exception as e:  # no compiler on this machine: say so and go on
            print(f"torch.compile, {G} model(s): not available here ({type(e).__name__}: {str(e)[:120]})")
            return
        t_compile = time.perf_counter() - t0
        res = {}
        for name, fn in (("eager", eager), ("compiled", comp)) * 2:
            for _ in range(50):
                fn(x, eps)
                opt.step(1e-3)
            t0 = time.perf_counter()
            for _ in range(steps):
                fn(x, eps)
                opt.step(1e-3)
            res.setdefault(name, []).append((time.perf_counter() - t0) / steps)
        e, c = min(res["eager"]), min(res["compiled"])
        print(f"torch.compile of grad_step, {G} model(s): {t_compile:.1f} s to compile; {1e3 * c:.3f} ms/step "
              f"compiled vs {1e3 * e:.3f} eager ({c / e:.2f}x)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-quick", action="store_true", help="skip timing 'vaediag theory --quick'")
    ap.add_argument("--quick-json", metavar="PATH", help="pass --json PATH to the timed 'vaediag theory --quick'")
    ap.add_argument("--compile", action="store_true",
                    help="also time GroupedVAE.grad_step under torch.compile (compile time and ms/step, 1 and 8 models)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)
    x, _ = manifolds.make("embedding", n=4000, seed=0, r=2, d=10)
    grid = [5e-2, 2e-2, 1e-2, 5e-3, 2.5e-3, 1.25e-3, float("nan"), float("nan")]
    h = (a.hidden, a.hidden)
    for fn in VARIANTS.values():  # warm-up
        fn(x, 6, grid[:1], [0], 100, h)
    times = {(v, G): [] for v in VARIANTS for G in (1, 8)}
    for _ in range(a.repeats):
        for v, fn in VARIANTS.items():
            for G in (1, 8):
                t0 = time.perf_counter()
                fn(x, 6, grid[:G], list(range(G)), a.steps, h)
                times[(v, G)].append(time.perf_counter() - t0)
    med = {k: statistics.median(t) for k, t in times.items()}
    print(f"steps={a.steps} hidden={h} threads={a.threads} repeats={a.repeats} (median; machine load "
          f"{os.getloadavg()[0]:.1f} at the end)")
    print(f"{'variant':16s} {'1 model ms/step':>16s} {'8 models ms/step':>17s} {'8 vs 1':>7s} {'step vs legacy':>15s}")
    base = med[("legacy", 1)]
    for v in VARIANTS:
        t1, t8 = med[(v, 1)], med[(v, 8)]
        print(f"{v:16s} {1e3 * t1 / a.steps:16.3f} {1e3 * t8 / a.steps:17.3f} {t8 / t1:6.2f}x {t1 / base:14.2f}x")
    t1, t8 = med[("manual+flat", 1)], med[("manual+flat", 8)]
    print(f"goals: 8 vs 1 = {t8 / t1:.2f}x (<= 1.5x); one model's step vs legacy = {t1 / base:.2f}x (<= 0.5x)")
    flops, rate = step_flops(10, 6, h, 128), bmm_rate(8, 128, a.hidden)
    floor = 8 * flops / rate  # s per 8-model step, matmuls alone at the measured bmm rate
    print(f"arithmetic: {flops / 1e6:.2f} MFLOP per model per step (matmuls), {8 * flops / 1e6:.1f} for 8; torch.bmm "
          f"runs at {rate / 1e9:.1f} GFLOP/s here (8 x 128x{a.hidden} @ {a.hidden}x{a.hidden}), so 8 models need >= "
          f"{1e3 * floor:.2f} ms per step in matmuls alone, 7 of them {1e3 * floor * 7 / 8:.2f} ms beyond one model.")
    print(f"8 vs 1 <= 1.5x needs one model's step >= 2 x that = {2e3 * floor * 7 / 8:.2f} ms "
          f"(measured {1e3 * t1 / a.steps:.2f} ms); the 8-model step is {1e3 * t8 / a.steps:.2f} ms, "
          f"{floor / (t8 / a.steps):.0%} of it matmul arithmetic at that rate.")
    if a.compile:
        compiled_step(a.hidden, a.steps)
    from vaediag.theory import checks_common, checks_sweep, checks_two_stage

    steps_q, R, nq = 4000, checks_sweep.RESTARTS_QUICK, len(checks_sweep.GAMMA_GRID_QUICK) + checks_sweep.RESTARTS_QUICK
    main_fl = nq * step_flops(10, 6, h, checks_common.BATCH_QUICK) * steps_q
    s2_fl = stage2_step_flops(checks_sweep.KAPPA, checks_two_stage.STAGE2_WIDTH, checks_two_stage.STAGE2_DEPTH,
                              checks_two_stage.STAGE2_BATCH) * steps_q
    print(f"theory --quick, first process: the sweep manifold's {nq} VAEs ({main_fl / 1e9:.0f} GFLOP) "
          f"then stage 2 ({s2_fl / 1e9:.0f} GFLOP, {steps_q} steps of width {checks_two_stage.STAGE2_WIDTH}): >= "
          f"{(main_fl + s2_fl) / rate:.0f} s at {rate / 1e9:.1f} GFLOP/s, before any overhead.")
    if not a.no_quick:
        cmd = [sys.executable, "-m", "vaediag", "theory", "--quick"] + (["--json", a.quick_json] if a.quick_json else [])
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        last = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else p.stderr.strip()[-300:]
        print(f"vaediag theory --quick: {wall:.1f} s wall, {cpu:.1f} s CPU (all its processes), exit {p.returncode} "
              f"({last}); machine load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
