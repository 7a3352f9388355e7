"""vaediag's stage-1 training loop against pythae 0.1.2's BaseTrainer, and every loop against its bare step.

    python benchmarks/bench_vs_pythae.py [--rounds 3] [--steps 30] [--threads 2] [--levers]

Both libraries train the same networks (vaediag's InfoGAN encoder and decoder, kappa 64) on the
same data (mnist5k's training digits, 28x28, in [0, 1]) with batch 100, Adam lr 1e-4 and weight
decay 5e-4, through their real loops: vaediag's ``fit`` (``train_stage1`` without its final encoding
of the data set) with its run directory, a metrics row every step and checkpoints, and
``pythae.trainers.BaseTrainer.train``. A loop's time
per step is read from inside it, as the wall-clock time between the ends of step 5 and step
5 + STEPS (vaediag: the training callbacks, called after each metrics row; pythae: its
``on_train_step_end`` callback), so set-up, the final save and the posterior encoding are left out
of both. Every measurement runs in a fresh process, as a user's training would (the allocator
setting and thread pools are per process); the vaediag process does what the ``vaediag`` command
does at start (flush denormals, ``keep_freed_memory``). The libraries alternate within each round.
Printed, as medians over rounds (range in brackets):

- images/s of each loop, their ratio (the median of the per-round ratios: each round's two
  processes ran back to back), and the fraction of the fp32 matmul peak (a 2048^2 product, the best
  over the run) each reaches, from the FLOPs of one forward + backward (torch's FlopCounterMode);
- each vaediag loop against its bare step (forward, backward, Adam step on one fixed batch, no
  loop, same process): stage 1 InfoGAN, stage 1 MLP (784-512-512-512), stage 2 (width 1,024);
- CPU seconds per step beside the wall clock: on a shared machine the CPU time is less disturbed
  by other jobs (with 2 threads it also counts the worker thread's spinning).

``--levers`` adds vaediag processes with one lever undone each: PyTorch's default (foreach) Adam
instead of the fused one, glibc's default allocator thresholds instead of ``keep_freed_memory``,
and a metrics row every 10 steps instead of every step. (Bare-step levers that did not pay, such as
channels-last convolutions: ``benchmarks/bench_step_levers.py``.) pythae is an optional,
benchmark-only dependency (``pip install --no-deps pythae==0.1.2 imageio tqdm`` keeps the installed
torch). On a quiet 2-core machine the defaults should take 3-4 minutes (one round took 65 s on a
nearly idle machine) and 8-10 with ``--levers``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # this checkout's vaediag, in this process and the workers
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TQDM_DISABLE", "1")  # pythae's progress bars (vaediag's are off too)

WARM = 5  # steps before the timed window (first-step allocations, thread-pool start)
BATCH = 100


# ---------------------------------------------------------------------------- shared
def matmul_peak(n: int = 2048, reps: int = 8) -> float:
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(3):  # the best of three: the peak, not the load
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 * reps / best


class Clock:
    """Wall and CPU time at the end of numbered steps; per-step means over a window."""

    def __init__(self):
        self.t: dict[int, tuple[float, float]] = {}

    def mark(self, step: int) -> None:
        self.t[step] = (time.perf_counter(), time.process_time())

    def per_step(self, a: int, b: int) -> tuple[float, float]:
        (w0, c0), (w1, c1) = self.t[a], self.t[b]
        return (w1 - w0) / (b - a), (c1 - c0) / (b - a)


def _data():
    from vaediag.data import Dataset, load_dataset

    data = load_dataset("mnist5k")
    return data, Dataset.to_float(data.train)


def _configs():
    from vaediag.engine.config import ModelConfig, Stage2Config

    return (ModelConfig(input_shape=(1, 28, 28), arch="infogan", latent_dim=64),
            ModelConfig(input_shape=(784,), arch="mlp", latent_dim=64, output="sigmoid"),
            Stage2Config(latent_dim=64, width=1024))


# ---------------------------------------------------------------------------- vaediag worker
def vaediag_worker(steps: int, variant: str) -> dict:
    import torch

    from vaediag.data import Dataset
    from vaediag.engine import callbacks
    from vaediag.engine import schedule
    from vaediag.engine.batches import LatentBatches, image_batches
    from vaediag.engine.config import RunConfig, StageSchedule, TrainConfig
    from vaediag.engine.loop import StageSpec, fit
    from vaediag.engine.schedule import make_adam
    from vaediag.engine.devices import keep_freed_memory
    from vaediag.engine.models import VAE, Stage2VAE
    from vaediag.engine.runs import Run

    torch.set_flush_denormal(True)  # what the vaediag command does at start
    if variant != "malloc-default":
        keep_freed_memory()
    if variant == "foreach":  # PyTorch's default Adam instead of the fused one
        schedule.fused_available = lambda groups: False
    log_every = 10 if variant == "log10" else 1
    cpu = torch.device("cpu")
    data, xf = _data()
    infogan, mlp, s2 = _configs()
    vec = Dataset("mnist5k-vectors", xf.reshape(len(xf), -1).contiguous(), xf[:10].reshape(10, -1), "vector")
    g = torch.Generator().manual_seed(0)
    mu, sd = torch.randn(len(xf), 64, generator=g), torch.rand(len(xf), 64, generator=g) * 0.1 + 0.01
    x1, e1 = xf[:BATCH], torch.randn(BATCH, 64, generator=g)

    def window(n: int) -> tuple[int, int]:
        a = WARM if log_every == 1 else 10
        return a, a + -(-n // log_every) * log_every  # whole metrics rows

    def bare(model: torch.nn.Module, x: torch.Tensor, n: int) -> tuple[float, float]:
        opt = make_adam(model.param_groups(5e-4), 1e-4)
        model.train()
        clock = Clock()
        for i in range(WARM + n + 1):
            if i >= WARM:
                clock.mark(i)
            out = model.loss(x, e1)
            opt.zero_grad(set_to_none=True)
            out["loss"].backward()
            opt.step()
        return clock.per_step(WARM, WARM + n)

    def loop(fit, n: int) -> tuple[float, float]:
        a, b = window(n)
        clock = Clock()
        with tempfile.TemporaryDirectory() as tmp, callbacks.using([lambda row: clock.mark(int(row["step"]))]):
            fit(tmp, b)
        return clock.per_step(a, b)

    def fit1(d, cfg):
        def fit(tmp, total):
            rc = RunConfig(model=cfg, train=TrainConfig(
                dataset=d.name, stage1=StageSchedule(batch_size=BATCH, lr=1e-4, epochs=None, steps=total,
                                                     lr_halve_every=None), weight_decay=5e-4, log_every=log_every))
            torch.manual_seed(0)  # train_stage1's loop without its final encoding of every digit (untimed anyway)
            fit(Run.create(f"{tmp}/run", rc), StageSpec.of_run(rc, 1, VAE(cfg), image_batches(d, 64, cpu, "auto", None),
                                                               len(d.train), cpu), progress=False)
        return fit

    def fit2(tmp, total):
        rc = RunConfig(stage2=s2, train=TrainConfig(stage2=StageSchedule(batch_size=BATCH, lr=1e-4, epochs=None, steps=total,
                                                                         lr_halve_every=None), log_every=log_every))
        torch.manual_seed(1)
        fit(Run.create(f"{tmp}/run", rc), StageSpec.of_run(rc, 2, Stage2VAE(s2), LatentBatches(mu, sd, cpu), len(mu), cpu),
            progress=False)

    r = {"loop": loop(fit1(data, infogan), steps)}
    if variant == "log10":
        return r
    torch.manual_seed(0)
    r["bare"] = bare(VAE(infogan), x1, steps)
    r["mlp loop"] = loop(fit1(vec, mlp), 5 * steps)
    torch.manual_seed(0)
    r["mlp bare"] = bare(VAE(mlp), x1.reshape(BATCH, -1), 5 * steps)
    r["s2 loop"] = loop(fit2, 3 * steps)
    torch.manual_seed(1)
    r["s2 bare"] = bare(Stage2VAE(s2), mu[:BATCH], 3 * steps)
    return r


# ---------------------------------------------------------------------------- pythae worker
def pythae_worker(steps: int) -> dict:
    import logging

    import torch
    from pythae.data.datasets import BaseDataset
    from pythae.models import VAE as PVAE
    from pythae.models import VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder
    from pythae.trainers import BaseTrainer, BaseTrainerConfig
    from pythae.trainers.training_callbacks import TrainingCallback

    from vaediag.engine.models import InfoGANDecoder, InfoGANEncoder

    torch.set_flush_denormal(True)  # the same as the vaediag process; the allocator stays glibc's default
    for name in ["pythae", *logging.root.manager.loggerDict]:
        if name.startswith("pythae"):
            logging.getLogger(name).setLevel(logging.ERROR)
    _, xf = _data()
    kappa = 64

    class Enc(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.net = InfoGANEncoder(1, 28, 28, kappa)

        def forward(self, x):
            mu, logvar = self.net(x)
            return ModelOutput(embedding=mu, log_covariance=logvar)

    class Dec(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.net = InfoGANDecoder(1, 28, 28, kappa)

        def forward(self, z):
            return ModelOutput(reconstruction=torch.sigmoid(self.net(z)))

    clock = Clock()

    class Steps(TrainingCallback):
        n = 0

        def on_train_step_end(self, training_config, **kwargs):
            self.n += 1
            clock.mark(self.n)

    x = xf[:(WARM + steps + 1) * BATCH]  # one epoch holds the window
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        model = PVAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=kappa, reconstruction_loss="mse"),
                     encoder=Enc(), decoder=Dec())
        tc = BaseTrainerConfig(output_dir=tmp, per_device_train_batch_size=BATCH, num_epochs=1, learning_rate=1e-4,
                               optimizer_params={"weight_decay": 5e-4}, no_cuda=True)
        BaseTrainer(model=model, train_dataset=BaseDataset(x, torch.zeros(len(x))), training_config=tc,
                    callbacks=[Steps()]).train()
    return {"pythae": clock.per_step(WARM, WARM + steps)}


# ---------------------------------------------------------------------------- main
def run_worker(kind: str, variant: str, args) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, __file__, "--worker", kind, "--variant", variant, "--steps", str(args.steps),
           "--threads", str(args.threads)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"the {kind} ({variant}) process failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def flops() -> dict[str, float]:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from vaediag.engine.models import VAE, Stage2VAE

    infogan, mlp, s2 = _configs()
    g = torch.Generator().manual_seed(0)
    x, e = torch.rand(BATCH, 1, 28, 28, generator=g), torch.randn(BATCH, 64, generator=g)
    out = {}
    for name, model, inp in [("infogan", VAE(infogan), x), ("mlp", VAE(mlp), x.reshape(BATCH, -1)),
                             ("s2", Stage2VAE(s2), e)]:
        with FlopCounterMode(display=False) as fc:
            model.loss(inp, e)["loss"].backward()
        out[name] = fc.get_total_flops() / BATCH
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=30, help="timed steps of the stage-1 loops (MLP 5x, stage 2 3x)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--levers", action="store_true",
                    help="also time vaediag with foreach Adam, glibc's default allocator, a row every 10 steps")
    ap.add_argument("--worker", choices=["vaediag", "pythae"], help=argparse.SUPPRESS)
    ap.add_argument("--variant", default="shipped", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rounds < 1 or not 1 <= args.steps <= 40 or args.threads < 1:
        raise SystemExit("--rounds and --threads must be at least 1 and --steps between 1 and 40 (pythae's one epoch "
                         "over mnist5k's digits holds the timed window)")
    import torch

    torch.set_num_threads(args.threads)
    if args.worker == "vaediag":
        print(json.dumps(vaediag_worker(args.steps, args.variant)))
        return
    if args.worker == "pythae":
        print(json.dumps(pythae_worker(args.steps)))
        return

    have_pythae = importlib.util.find_spec("pythae") is not None
    if not have_pythae:
        print("pythae is not installed, so only vaediag is timed (pip install --no-deps pythae==0.1.2 imageio tqdm).")
    started = time.perf_counter()
    f = flops()
    peak = matmul_peak()
    r: dict[str, list[tuple[float, float]]] = {}
    ratios: list[float] = []
    variants = ["foreach", "malloc-default", "log10"] if args.levers else []
    for i in range(args.rounds):
        jobs = [("vaediag", "shipped")] + ([("pythae", "")] if have_pythae else [])
        got: dict[str, tuple[float, float]] = {}
        for kind, variant in (jobs if i % 2 == 0 else jobs[::-1]) + [("vaediag", v) for v in variants]:
            for k, v in run_worker(kind, variant, args).items():
                name = k if variant in ("shipped", "") else f"{k} [{variant}]"
                got[name] = tuple(v)
                r.setdefault(name, []).append(tuple(v))
        if have_pythae:
            ratios.append(got["pythae"][0] / got["loop"][0])
        peak = max(peak, matmul_peak())
        print(f"round {i + 1} of {args.rounds} done ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)

    med = {k: statistics.median(w for w, _ in v) for k, v in r.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in r.items()}
    print(f"torch {torch.__version__}, {args.threads} threads, {args.rounds} interleaved rounds, {args.steps} timed "
          f"stage-1 steps each; fp32 matmul peak {peak / 1e9:.1f} GFLOP/s; {time.perf_counter() - started:.0f} s")
    print(f"stage 1 InfoGAN, mnist5k 28x28, batch {BATCH}: {f['infogan'] / 1e6:.2f} MFLOP per image forward + backward")
    print(f"  {'':40s} {'images/s':>9s} {'[range]':>11s} {'of peak':>8s} {'CPU ms/step':>12s}")
    rows = [("vaediag loop", "loop")] + ([("pythae 0.1.2 BaseTrainer", "pythae")] if have_pythae else []) + \
        [("vaediag bare step", "bare")]
    rows += [(f"vaediag loop, {d}", f"loop [{v}]") for v, d in
             [("foreach", "foreach Adam"), ("malloc-default", "glibc default allocator"),
              ("log10", "a metrics row every 10 steps")] if v in variants]
    for label, k in rows:
        lo, hi = BATCH / max(w for w, _ in r[k]), BATCH / min(w for w, _ in r[k])
        ips = BATCH / med[k]
        print(f"  {label:40s} {ips:9.1f} {f'[{lo:.0f}-{hi:.0f}]':>11s} {ips * f['infogan'] / peak:8.2f} "
              f"{cpu[k] * 1e3:12.1f}")
    if have_pythae:
        print(f"  vaediag loop / pythae loop, images/s: {statistics.median(ratios):.2f} (rounds: "
              f"{', '.join(f'{x:.2f}' for x in ratios)}; by CPU time {cpu['pythae'] / cpu['loop']:.2f})")
    print("each loop against its bare step (wall time per step; CPU time in brackets):")
    for label, a, b in [("stage 1 InfoGAN", "loop", "bare"), ("stage 1 MLP", "mlp loop", "mlp bare"),
                        ("stage 2 (width 1024)", "s2 loop", "s2 bare")]:
        print(f"  {label:22s} loop {med[a] * 1e3:7.1f} ms, bare {med[b] * 1e3:7.1f} ms: {med[a] / med[b]:.2f}x "
              f"({cpu[a] / cpu[b]:.2f}x)")
    if variants:
        print("levers undone one at a time (stage-1 loop time per step relative to vaediag as shipped; bare "
              "and stage 2 beside it):")
        for v in variants:
            parts = [f"loop {med[f'loop [{v}]'] / med['loop']:.2f}x ({cpu[f'loop [{v}]'] / cpu['loop']:.2f}x CPU)"]
            if v != "log10":
                parts += [f"bare {med[f'bare [{v}]'] / med['bare']:.2f}x",
                          f"stage 2 loop {med[f's2 loop [{v}]'] / med['s2 loop']:.2f}x"]
            print(f"  {v:15s} " + ", ".join(parts))
    print(f"MLP {f['mlp'] / 1e6:.2f} and stage 2 {f['s2'] / 1e6:.2f} MFLOP per example; fraction of peak of the "
          f"loops: MLP {BATCH / med['mlp loop'] * f['mlp'] / peak:.2f}, stage 2 {BATCH / med['s2 loop'] * f['s2'] / peak:.2f}")


if __name__ == "__main__":
    main()
