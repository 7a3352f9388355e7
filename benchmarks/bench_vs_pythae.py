"""vaediag's stage-1 training loop against pythae 0.1.2's BaseTrainer, and every loop against its bare step.

    python benchmarks/bench_vs_pythae.py [--rounds 3] [--steps 90] [--threads 2] [--levers]

Both libraries train the same networks (vaediag's InfoGAN encoder and decoder, kappa 64) on the
same data (the 4,500 training digits of mnist5k, 28x28, in [0, 1]) with batch 100, Adam lr 1e-4 and
weight decay 5e-4, through their real loops: ``vaediag.train.train_stage1`` with its run directory,
metrics and checkpoints, and ``pythae.trainers.BaseTrainer.train``. Each measurement times a short
run and a longer one and keeps the difference (set-up, the final save and the posterior encoding
cancel). The libraries alternate within each round; the medians over rounds are printed with:

- images/s of each loop and their ratio (vaediag / pythae),
- the fraction of the fp32 matmul peak (a 2048^2 product, measured in the same run) each reaches,
  from the FLOPs of one forward + backward (torch's FlopCounterMode),
- each vaediag loop against its bare step (forward, backward, Adam step on one fixed batch, no
  loop): stage 1 InfoGAN, stage 1 MLP (784-512-512-512), stage 2 (width 1,024, kappa 64).

``--levers`` also measures the loop with PyTorch's default (foreach) Adam instead of the fused one
and with a metrics row every 10 steps instead of every step. pythae is an optional, benchmark-only
dependency (``pip install --no-deps pythae==0.1.2`` plus imageio and tqdm keeps the installed torch).
Timings on a shared machine are noisy: compare the ratios printed by one run.
"""

from __future__ import annotations

import argparse
import os
import logging
import statistics
import tempfile
import time
from contextlib import contextmanager

import torch
from torch.utils.flop_counter import FlopCounterMode

os.environ.setdefault("TQDM_DISABLE", "1")  # pythae's progress bars

from vaediag.engine import train as vtrain
from vaediag.engine.config import ModelConfig, RunConfig, Stage2Config, TrainConfig
from vaediag.data import Dataset, load_dataset
from vaediag.engine.models import Stage2VAE, VAE
from vaediag.engine.runs import Run

BATCH = 100


def matmul_peak(n: int = 2048, reps: int = 8) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(3):  # the best of three: the peak, not the load
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 * reps / best


def flops_per_image(model: torch.nn.Module, x: torch.Tensor, eps: torch.Tensor) -> float:
    with FlopCounterMode(display=False) as fc:
        model.loss(x, eps)["loss"].backward()
    model.zero_grad(set_to_none=True)
    return fc.get_total_flops() / len(x)


@contextmanager
def foreach_adam(on: bool):
    """Make vaediag build PyTorch's default (foreach) Adam instead of the fused one."""
    saved = vtrain._fused_ok
    if on:
        vtrain._fused_ok = lambda groups: False
    try:
        yield
    finally:
        vtrain._fused_ok = saved


# ---------------------------------------------------------------------------- vaediag
def bare(model: torch.nn.Module, x: torch.Tensor, eps: torch.Tensor, steps: int) -> float:
    """Seconds per step of forward + backward + Adam on one fixed batch."""
    opt = vtrain._optimizer(model, 1e-4, 5e-4)
    model.train()
    for i in range(steps + 3):
        if i == 3:
            t = time.perf_counter()
        out = model.loss(x, eps)
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
    return (time.perf_counter() - t) / steps


def loop_stage1(data: Dataset, cfg: ModelConfig, steps: int, log_every: int = 1) -> float:
    """Seconds per step of ``train_stage1`` (difference of a 3-step and a (3 + steps)-step run)."""
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for s in (3, 3 + steps):
            rc = RunConfig(model=cfg, train=TrainConfig(dataset=data.name, steps=s, epochs=None, batch_size=BATCH,
                                                        lr=1e-4, weight_decay=5e-4, checkpoint_every=500,
                                                        log_every=log_every))
            run = Run.create(f"{tmp}/r{s}", rc)
            t = time.perf_counter()
            vtrain.train_stage1(run, data, torch.device("cpu"), progress=False)
            times.append(time.perf_counter() - t)
    return (times[1] - times[0]) / steps


def loop_stage2(mu: torch.Tensor, sd: torch.Tensor, cfg: Stage2Config, steps: int) -> float:
    """Seconds per step of stage 2's loop (``_fit`` on given posteriors), as ``loop_stage1``."""
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for s in (3, 3 + steps):
            rc = RunConfig(stage2=cfg, train=TrainConfig(stage2_steps=s, stage2_epochs=None, checkpoint_every=500))
            run = Run.create(f"{tmp}/r{s}", rc)
            torch.manual_seed(1)
            model = Stage2VAE(cfg)
            t = time.perf_counter()
            vtrain._fit(run, 2, model, vtrain.LatentBatches(mu, sd, torch.device("cpu")), len(mu), BATCH, s,
                        1e-4, 5e-4, None, 0, torch.device("cpu"), False, False)
            times.append(time.perf_counter() - t)
    return (times[1] - times[0]) / steps


# ---------------------------------------------------------------------------- pythae
def pythae_loop(x: torch.Tensor, kappa: int):
    """Seconds per step of pythae's BaseTrainer (difference of a 1-epoch and a 2-epoch run over
    ``x``: len(x) / 100 timed steps), or None when pythae is not installed."""
    try:
        from pythae.models import VAE as PVAE, VAEConfig
        from pythae.models.base.base_utils import ModelOutput
        from pythae.data.datasets import BaseDataset
        from pythae.models.nn import BaseDecoder, BaseEncoder
        from pythae.trainers import BaseTrainer, BaseTrainerConfig
    except ImportError:
        return None
    from vaediag.engine.models import InfoGANDecoder, InfoGANEncoder

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

    logging.getLogger("pythae").setLevel(logging.ERROR)
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("pythae"):
            logging.getLogger(name).setLevel(logging.ERROR)
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for e in (1, 2):
            torch.manual_seed(0)
            model = PVAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=kappa, reconstruction_loss="mse"),
                         encoder=Enc(), decoder=Dec())
            tc = BaseTrainerConfig(  # pythae's real loop: a tqdm bar, per-epoch logging, the final save
                output_dir=tmp, per_device_train_batch_size=BATCH, num_epochs=e,
                                   learning_rate=1e-4, optimizer_params={"weight_decay": 5e-4}, no_cuda=True)
            trainer = BaseTrainer(model=model, train_dataset=BaseDataset(x, torch.zeros(len(x))), training_config=tc)
            t = time.perf_counter()
            trainer.train()
            times.append(time.perf_counter() - t)
    return (times[1] - times[0]) / (len(x) // BATCH)


# ---------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=45, help="timed steps per measurement (at most 45: pythae times "
                    "one epoch over the first 100 * STEPS digits)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--levers", action="store_true", help="also time foreach Adam and a metrics row every 10 steps")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # as the vaediag CLI does in every process
    data = load_dataset("mnist5k")
    xf = Dataset.to_float(data.train)
    if not 1 <= args.steps <= len(xf) // BATCH:
        raise SystemExit(f"--steps must be between 1 and {len(xf) // BATCH}")
    xp = xf[:args.steps * BATCH]

    infogan = ModelConfig(input_shape=(1, 28, 28), arch="infogan", latent_dim=64)
    mlp = ModelConfig(input_shape=(784,), arch="mlp", latent_dim=64, output="sigmoid")
    vec = Dataset("mnist5k-vectors", xf.reshape(len(xf), -1).contiguous(), xf[:10].reshape(10, -1), "vector")
    s2 = Stage2Config(latent_dim=64, width=1024)
    g = torch.Generator().manual_seed(0)
    mu, sd = torch.randn(len(xf), 64, generator=g), torch.rand(len(xf), 64, generator=g) * 0.1 + 0.01

    torch.manual_seed(0)
    x1, e1 = xf[:BATCH], torch.randn(BATCH, 64, generator=g)
    f_img = flops_per_image(VAE(infogan), x1, e1)
    f_mlp = flops_per_image(VAE(mlp), x1.reshape(BATCH, -1), e1)
    f_s2 = flops_per_image(Stage2VAE(s2), mu[:BATCH], e1)

    have_pythae = pythae_loop(xf[:200], 64) is not None  # also a warm-up
    if not have_pythae:
        print("pythae is not installed, so only vaediag is timed (pip install --no-deps pythae==0.1.2 imageio tqdm).")
    r: dict[str, list[float]] = {}

    def add(name, v):
        r.setdefault(name, []).append(v)

    peak = matmul_peak()
    for i in range(args.rounds):
        order = ("v", "p") if i % 2 == 0 else ("p", "v")
        for who in order:
            if who == "v":
                add("loop", loop_stage1(data, infogan, args.steps))
            elif have_pythae:
                add("pythae", pythae_loop(xp, 64))
        torch.manual_seed(0)
        add("bare", bare(VAE(infogan), x1, e1, args.steps))
        add("mlp loop", loop_stage1(vec, mlp, args.steps))
        torch.manual_seed(0)
        add("mlp bare", bare(VAE(mlp), x1.reshape(BATCH, -1), e1, args.steps))
        add("s2 loop", loop_stage2(mu, sd, s2, args.steps))
        torch.manual_seed(1)
        add("s2 bare", bare(Stage2VAE(s2), mu[:BATCH], e1, args.steps))
        if args.levers:
            with foreach_adam(True):
                add("loop foreach", loop_stage1(data, infogan, args.steps))
                torch.manual_seed(0)
                add("bare foreach", bare(VAE(infogan), x1, e1, args.steps))
                add("s2 loop foreach", loop_stage2(mu, sd, s2, args.steps))
            add("loop log10", loop_stage1(data, infogan, args.steps, log_every=10))
        peak = max(peak, matmul_peak())
    med = {k: statistics.median(v) for k, v in r.items()}

    def ips(k):
        return BATCH / med[k]

    print(f"torch {torch.__version__}, {args.threads} threads, {args.rounds} interleaved rounds of {args.steps} steps "
          f"(medians; spread in brackets); fp32 matmul peak {peak / 1e9:.1f} GFLOP/s")
    print(f"stage 1 InfoGAN, mnist5k 28x28, batch {BATCH}: {f_img / 1e6:.2f} MFLOP per image forward + backward")
    rows = [("vaediag loop", "loop")] + ([("pythae BaseTrainer", "pythae")] if have_pythae else []) + [("vaediag bare step", "bare")]
    if args.levers:
        rows += [("vaediag loop, foreach Adam", "loop foreach"), ("vaediag bare, foreach Adam", "bare foreach"),
                 ("vaediag loop, metrics every 10 steps", "loop log10")]
    for label, k in rows:
        lo, hi = BATCH / max(r[k]), BATCH / min(r[k])
        print(f"  {label:38s} {ips(k):7.1f} images/s [{lo:.0f}-{hi:.0f}]  {ips(k) * f_img / peak:.2f} of peak")
    if have_pythae:
        print(f"  ratio vaediag / pythae (images/s): {ips('loop') / ips('pythae'):.2f}")
    print("each loop against its bare step (time per step):")
    for label, a, b in [("stage 1 InfoGAN", "loop", "bare"), ("stage 1 MLP", "mlp loop", "mlp bare"),
                        ("stage 2 (width 1024)", "s2 loop", "s2 bare")]:
        print(f"  {label:22s} loop {med[a] * 1e3:6.1f} ms, bare {med[b] * 1e3:6.1f} ms: {med[a] / med[b]:.2f}x")
    if args.levers:
        print(f"  stage 2 loop with foreach Adam {med['s2 loop foreach'] * 1e3:6.1f} ms")
        print("levers (time per step of the stage-1 loop, relative to fused Adam + a row every step):")
        print(f"  foreach Adam: {med['loop foreach'] / med['loop']:.2f}x;  metrics every 10 steps: "
              f"{med['loop log10'] / med['loop']:.2f}x")
    print(f"MLP {f_mlp / 1e6:.2f} and stage 2 {f_s2 / 1e6:.2f} MFLOP per example; fraction of peak, loops: "
          f"MLP {BATCH / med['mlp loop'] * f_mlp / peak:.2f}, stage 2 {BATCH / med['s2 loop'] * f_s2 / peak:.2f}")


if __name__ == "__main__":
    main()
