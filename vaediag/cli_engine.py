"""`vaediag train`, `vaediag sample` and `vaediag demo`."""

from __future__ import annotations

import argparse
import io
import math
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

from vaediag.config import ARCHS, LOADERS, PRECISIONS, PRESETS, RunConfig
from vaediag.errors import VaediagError
from vaediag.runs import Run, atomic_write_bytes

TRAIN_HELP = """\
Train a two-stage VAE (Dai & Wipf, section 4): stage 1 learns the manifold with a learned decoder
variance gamma; stage 2 learns the distribution of stage 1's latents. Without --preset the
schedule is the supplement's MNIST one (400 + 800 epochs, Adam lr 1e-4 halved every 150 / 300
epochs, weight decay 5e-4, batch 100); `--preset quick` trains in a few minutes on a CPU.

examples:
  vaediag train --preset quick --out runs/quick
  vaediag train --dataset mnist --data-dir ~/data --preset paper-mnist --out runs/mnist
  vaediag train --dataset 'manifold:sphere?r=2&d=10&n=5000' --steps 6000 --out runs/sphere
  vaediag train --resume runs/mnist            # after Ctrl-C or a crash
  vaediag train --stages 2 --out runs/mnist --stage2-epochs 100 --overwrite   # redo stage 2

several processes (PyTorch DistributedDataParallel; GPUs with NCCL, CPUs with gloo):
  torchrun --standalone --nproc_per_node 4 -m vaediag train --preset paper-celeba --data-dir ~/data \
      --precision bf16 --out runs/celeba
  torchrun --standalone --nproc_per_node 2 -m vaediag train --resume runs/celeba   # any number of processes
The global batch (--batch-size) is split across the processes: the learning-rate schedule, the
loss curve and the checkpoints are those of one process with the same batch.
"""

# The options of `train` that set a config field, with the field they set.
_TRAIN_FIELDS = {
    "dataset": "train.dataset", "data_dir": "train.data_dir", "data_cache": "train.data_cache", "seed": "train.seed",
    "batch_size": "train.batch_size", "lr": "train.lr", "weight_decay": "train.weight_decay",
    "epochs": "train.epochs", "steps": "train.steps", "lr_halve_every": "train.lr_halve_every",
    "stage2_epochs": "train.stage2_epochs", "stage2_steps": "train.stage2_steps",
    "stage2_batch_size": "train.stage2_batch_size", "stage2_lr": "train.stage2_lr",
    "stage2_lr_halve_every": "train.stage2_lr_halve_every",
    "checkpoint_every": "train.checkpoint_every", "log_every": "train.log_every",
    "test_fraction": "train.test_fraction", "arch": "model.arch", "latent_dim": "model.latent_dim",
    "gamma_floor": "model.gamma_floor", "stage2_width": "stage2.width",
    "gamma_lr_scale": "train.gamma_lr_scale", "precision": "train.precision", "loader": "train.loader",
    "workers": "train.workers",
}
# How to compute, not what: these may be changed when a run is resumed.
_RESUME_FIELDS = ("precision", "loader", "workers")


def register(sub) -> None:
    p = sub.add_parser("train", help="train stage 1 and/or stage 2 into a run directory",
                       description=TRAIN_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("run")
    g.add_argument("--out", help="run directory to create")
    g.add_argument("--resume", metavar="RUN", help="continue an interrupted run from its last checkpoint")
    g.add_argument("--overwrite", action="store_true", help="replace an existing run (or stage 2 with --stages 2)")
    g.add_argument("--preset", choices=sorted(PRESETS), help="a named schedule (paper-* follow supplement section 6)")
    g.add_argument("--stages", default=None, choices=["1", "2", "12"], help="which stages to train (default 12)")
    g.add_argument("--device", default="auto", help="auto (GPU when present), cpu, cuda or mps")
    g.add_argument("--seed", type=int, help="seed of the split, initialisation and noise (default 0)")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.add_argument("--precision", choices=PRECISIONS, help="fp32 (default, bit-for-bit reproducible on the CPU), "
                   "or bf16 / fp16 autocast around the networks (GPUs; gamma, the loss and the KL stay fp32; "
                   "fp16 with a gradient scaler)")
    g = p.add_argument_group("data")
    g.add_argument("--dataset", help="mnist5k (default, offline), mnist, fashion-mnist, cifar10, celeba, "
                   "a .npy/.npz path, or manifold:NAME?r=..&d=..&n=..")
    g.add_argument("--data-dir", help="where mnist/, fashion-mnist/, cifar-10-batches-py/, celeba/ live (default data)")
    g.add_argument("--data-cache", metavar="DIR", help="where celeba's decoded uint8 cache lives "
                   "(default DATA/celeba/vaediag-cache; build it ahead with 'vaediag cache')")
    g.add_argument("--test-fraction", type=float, help="held-out share when the data set has no official split (0.1)")
    g.add_argument("--loader", choices=LOADERS, help="memory (index a tensor in RAM, on the GPU or memory-mapped), "
                   "stream (worker processes read ahead; pinned memory on CUDA) or auto (default: stream "
                   "memory-mapped image caches that do not fit on the GPU). Same batches either way")
    g.add_argument("--workers", type=int, help="loader worker processes with --loader stream "
                   "(default: a share of the cores, at most 4)")
    g = p.add_argument_group("model")
    g.add_argument("--arch", choices=ARCHS, help="infogan (Table 1, default for images), resnet (supp. Fig. 11), mlp (vectors)")
    g.add_argument("--latent-dim", type=int, help="kappa, the latent dimension (default 64)")
    g.add_argument("--gamma", default=None, help="'learned' (default; decoder variance, log-parameterised), "
                   "'fixed' (gamma = 1) or a number (fixed at that variance)")
    g.add_argument("--gamma-floor", type=float, help="lower bound on a learned gamma (variance); default none")
    g.add_argument("--decoder", choices=["gaussian", "cross-entropy"], default=None,
                   help="Gaussian decoder of eq. (2) (default) or the cross-entropy baseline")
    g.add_argument("--stage2-width", type=int, help="width of stage 2's 3 dense layers (default 1024)")
    g = p.add_argument_group("schedule")
    g.add_argument("--epochs", type=float, help="stage-1 epochs (default 400)")
    g.add_argument("--steps", type=int, help="stage-1 optimiser steps (instead of --epochs)")
    g.add_argument("--stage2-epochs", type=float, help="stage-2 epochs (default 800)")
    g.add_argument("--stage2-steps", type=int, help="stage-2 steps (instead of --stage2-epochs)")
    g.add_argument("--batch-size", type=int, help="stage-1 batch size (default 100)")
    g.add_argument("--stage2-batch-size", type=int, help="stage-2 batch size (default 100)")
    g.add_argument("--lr", type=float, help="Adam learning rate (default 1e-4)")
    g.add_argument("--stage2-lr", type=float, help="stage-2 learning rate (default: --lr)")
    g.add_argument("--lr-halve-every", type=float, help="halve the stage-1 lr every this many epochs (default 150)")
    g.add_argument("--stage2-lr-halve-every", type=float, help="the same for stage 2 (default 300)")
    g.add_argument("--weight-decay", type=float, help="Adam weight decay on network weights (default 5e-4)")
    g.add_argument("--gamma-lr-scale", type=float, help="multiplies the learning rate of log gamma only "
                   "(default 1 = the paper; the quick preset uses 10)")
    g.add_argument("--checkpoint-every", type=int, help="steps between checkpoints (default 500)")
    g.add_argument("--log-every", type=int, help="steps per metrics row; each row averages them (default 1)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sample", help="draw samples (stage 1 or two-stage) or reconstructions as a PNG grid + .npy",
                       description="Draw samples from a trained run: --stage 1 decodes z ~ N(0, I); --stage 2 "
                       "uses the extended ancestral process u -> z -> x (section 4). --recon reconstructs "
                       "held-out inputs instead. Writes PATH (PNG grid) and PATH with .npy (raw values).")
    p.add_argument("--run", required=True, help="run directory")
    p.add_argument("--stage", type=int, default=2, choices=[1, 2], help="1: one-stage, 2: two-stage (default)")
    p.add_argument("--recon", action="store_true", help="reconstructions of held-out inputs instead of samples")
    p.add_argument("--n", type=int, default=64, help="how many (default 64)")
    p.add_argument("--out", help="PNG path (default RUN/samples/stageS.png)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("demo", help="the main job offline on a CPU: quick learned- and fixed-gamma runs, stage 2, figures",
                       description="Train, on the 5,000 offline MNIST digits, a quick learned-gamma VAE with its "
                       "second stage and a quick fixed-gamma (gamma = 1) VAE, then write the figures into "
                       "--figures. Existing finished demo runs are reused (--overwrite retrains).")
    p.add_argument("--runs", default="runs/demo", help="where the demo runs go (default runs/demo)")
    p.add_argument("--figures", default="figures", help="where figures go (default figures)")
    p.add_argument("--overwrite", action="store_true", help="retrain the demo runs")
    p.add_argument("--device", default="auto")
    p.add_argument("--steps", type=int, help=argparse.SUPPRESS)
    p.add_argument("--stage2-steps", type=int, help=argparse.SUPPRESS)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_demo)


# ---------------------------------------------------------------------------- train
def build_config(args: argparse.Namespace) -> RunConfig:
    """Defaults, then the preset, then every option given on the command line."""
    cfg = RunConfig()
    values: dict[str, object] = {}
    if args.preset:
        values.update(PRESETS[args.preset])
    given = {k: getattr(args, k) for k in _TRAIN_FIELDS if getattr(args, k, None) is not None}
    # --steps replaces --epochs (and the other way round), for each stage
    for steps, epochs in (("steps", "epochs"), ("stage2_steps", "stage2_epochs")):
        if steps in given and epochs in given:
            raise VaediagError(f"give --{epochs.replace('_', '-')} or --{steps.replace('_', '-')}, not both")
        if steps in given:
            values[epochs] = None
        if epochs in given:
            values[steps] = None
    values.update(given)
    for key, val in values.items():
        path = _TRAIN_FIELDS.get(key, f"train.{key}")
        if key == "stage2_width":
            path = "stage2.width"
        section, name = path.split(".")
        setattr(getattr(cfg, section), name, val)
    if args.gamma is not None:
        g = str(args.gamma).lower()
        if g == "learned":
            cfg.model.gamma_mode, cfg.model.gamma_init = "learned", 1.0
        elif g == "fixed":
            cfg.model.gamma_mode, cfg.model.gamma_init = "fixed", 1.0
        else:
            try:
                val = float(g)
            except ValueError:
                raise VaediagError(f"--gamma must be 'learned', 'fixed' or a positive number, got {args.gamma!r}") from None
            if not (math.isfinite(val) and val > 0):
                raise VaediagError(f"--gamma must be a positive variance, got {args.gamma}")
            cfg.model.gamma_mode, cfg.model.gamma_init = "fixed", val
    if args.decoder == "cross-entropy":
        cfg.model.decoder = "bernoulli"
    cfg.train.preset = args.preset
    cfg.train.stages = args.stages or "12"
    cfg.train.validate()
    return cfg


def finish_config(cfg: RunConfig, data, arch_given: bool) -> None:
    """Fill in what depends on the data: input shape, architecture and output for vectors."""
    cfg.model.input_shape = tuple(int(s) for s in data.shape)
    if data.kind == "vector":
        if not arch_given:
            cfg.model.arch = "mlp"
        cfg.model.output = "linear"
        if cfg.model.decoder == "bernoulli":
            raise VaediagError("the cross-entropy decoder needs images in [0, 1]; this data set holds vectors")
    cfg.stage2.latent_dim = cfg.model.latent_dim
    cfg.model.validate()


def cmd_train(args: argparse.Namespace) -> int:
    from vaediag import distributed
    from vaediag.train import resolve_device

    device = resolve_device(args.device)  # a bad --device is refused before anything is written
    ctx, device = distributed.setup(device)
    try:
        code = _cmd_train(args, ctx, device)
    except distributed.SharedError:  # every rank is here: leave the job together
        ctx.close()
        raise
    # Any other exception was raised on this rank alone: the others wait in a collective, so no
    # barrier; exiting lets torchrun see the failure and stop the job.
    ctx.close()
    return code


def _cmd_train(args: argparse.Namespace, ctx, device: torch.device) -> int:
    from vaediag import distributed
    from vaediag.train import train

    quiet = args.quiet or not ctx.is_main
    if args.resume:
        run = ctx.on_main(_open_for_resume, args)
        stages = tuple(int(s) for s in run.config.train.stages)
        train(run, stages=stages, device=device, resume=True, progress=not quiet, dist=ctx)
        if ctx.is_main:
            print(f"run complete: {run.path}", file=sys.stderr)
        return 0
    if not args.out:  # the same on every rank: said once
        raise distributed.SharedError("say where the run goes with --out RUN (or continue one with --resume RUN)")
    if args.stages == "2":
        run = ctx.on_main(_prepare_stage2_only, args)
        train(run, stages=(2,), device=device, progress=not quiet, dist=ctx)
        if ctx.is_main:
            print(f"stage 2 complete: {run.path}", file=sys.stderr)
        return 0
    made: dict = {}
    run = ctx.on_main(_create_run, args, made)
    stages = tuple(int(s) for s in run.config.train.stages)
    train(run, stages=stages, device=device, progress=not quiet, data=made.get("data"), dist=ctx)
    if ctx.is_main:
        print(f"run complete: {run.path}", file=sys.stderr)
    return 0


def _open_for_resume(args: argparse.Namespace) -> Run:
    fixed = [k for k in _TRAIN_FIELDS if getattr(args, k) is not None and k not in _RESUME_FIELDS]
    if args.out or args.overwrite or args.preset or fixed or args.gamma or args.decoder or args.stages:
        raise VaediagError("--resume continues a run with its own settings; give only --resume RUN "
                           "(and optionally --device, --precision, --loader, --workers, --quiet)")
    run = Run.open(args.resume)
    changed = {k: getattr(args, k) for k in _RESUME_FIELDS if getattr(args, k) is not None}
    if changed:
        for k, v in changed.items():
            setattr(run.config.train, k, v)
        run.config.train.validate()
        run.save_config()
    if not run.has_checkpoint(1) and "1" in run.config.train.stages:
        print(f"{run.path} has no checkpoint yet; starting it from the beginning", file=sys.stderr)
    return run


def _create_run(args: argparse.Namespace, made: dict) -> Run:
    """Validate the options, load the data, create the run directory (``made['data']``: the data)."""
    cfg = build_config(args)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise VaediagError(f"{out} exists and is not a directory; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not args.overwrite:
        what = "a vaediag run" if (out / "config.json").exists() else "a non-empty directory"
        raise VaediagError(f"{out} is already {what}; pass --overwrite to replace it, or --resume to continue it")
    from vaediag.data import load_dataset

    t = cfg.train
    data = load_dataset(t.dataset, t.data_dir, seed=t.seed, test_fraction=t.test_fraction, cache_dir=t.data_cache,
                        progress=not args.quiet)
    finish_config(cfg, data, arch_given=args.arch is not None)
    made["data"] = data
    return Run.create(out, cfg, overwrite=args.overwrite)


def _prepare_stage2_only(args: argparse.Namespace) -> Run:
    """``--stages 2 --out RUN``: check, apply the stage-2 options and clear the old stage 2."""
    run = Run.open(args.out)
    not_stage2 = [k for k in _TRAIN_FIELDS if getattr(args, k) is not None and not k.startswith("stage2")
                  and k not in ("seed", "checkpoint_every", "log_every", "weight_decay", *_RESUME_FIELDS)]
    if not_stage2 or args.gamma or args.decoder or args.preset:
        raise VaediagError("with --stages 2 only stage-2 options (--stage2-*) may be given; stage 1 is already trained")
    if not run.stage_done(1):
        raise VaediagError(f"{run.path} has no finished stage 1; train it first (vaediag train --resume {run.path})")
    if run.has_checkpoint(2):
        if not args.overwrite:
            raise VaediagError(f"{run.path} already has a stage 2; pass --overwrite to retrain it")
        shutil.rmtree(run.stage_dir(2))
    t, s2 = run.config.train, run.config.stage2
    for k in ("stage2_epochs", "stage2_steps", "stage2_batch_size", "stage2_lr", "stage2_lr_halve_every",
              "seed", "checkpoint_every", "log_every", "weight_decay", *_RESUME_FIELDS):
        v = getattr(args, k)
        if v is not None:
            setattr(t, k, v)
    if args.stage2_steps is not None:
        t.stage2_epochs = None
    if args.stage2_epochs is not None:
        t.stage2_steps = None
    if args.stage2_width is not None:
        s2.width = args.stage2_width
    t.validate()
    t.stages = "12"
    run.save_config()
    return run


# ---------------------------------------------------------------------------- sample
def cmd_sample(args: argparse.Namespace) -> int:
    from vaediag.train import resolve_device

    if args.n < 1:
        raise VaediagError(f"--n must be a positive integer, got {args.n}")
    run = Run.open(args.run)
    out = Path(args.out) if args.out else run.samples_dir / ("recon.png" if args.recon else f"stage{args.stage}.png")
    if out.suffix.lower() != ".png":
        raise VaediagError(f"--out must be a .png path, got {out}")
    if args.out and not out.parent.is_dir():
        raise VaediagError(f"the folder of --out does not exist: {out.parent}")
    device = resolve_device(args.device)
    x = draw(run, args.stage, args.n, args.seed, device, recon=args.recon)
    write_samples(run, x, out)
    print(f"wrote {out} and {out.with_suffix('.npy')}", file=sys.stderr)
    return 0


@torch.no_grad()
def draw(run: Run, stage: int, n: int, seed: int, device, recon: bool = False) -> np.ndarray:
    """Samples (stage 1 or two-stage) or reconstructions of the first n held-out inputs, as numpy."""
    from vaediag.models import sample_stage1, sample_two_stage

    gen = torch.Generator().manual_seed(seed)
    if run.stage2_only:  # a second stage on another model's codes: vaediag has no decoder for them
        from vaediag.models import sample_latents_two_stage

        if recon or stage == 1 or not run.stage_done(2):
            raise VaediagError(f"{run.path} holds only a second stage trained on another model's codes: it gives "
                               "two-stage latents z (--stage 2, once 'vaediag stage2' has finished); decode them with "
                               "your model, or use vaediag.enhance.load_two_stage(run, model) in Python")
        return sample_latents_two_stage(run.load_model(2, device), n, gen).cpu().numpy()
    model = run.load_model(1, device)
    if recon:
        data = run.dataset()
        if n > len(data.test):
            raise VaediagError(f"--n {n} is more than the {len(data.test)} held-out inputs")
        x = data.to_float(data.test[:n].to(device))
        mu, _ = model.encode(x)
        return np.concatenate([x.cpu().numpy(), model.decode(mu).cpu().numpy()])
    if stage == 2:
        if not run.stage_done(2):
            raise VaediagError(f"{run.path} has no finished stage 2; train it with "
                               f"'vaediag train --stages 2 --out {run.path}' or sample with --stage 1")
        return sample_two_stage(model, run.load_model(2, device), n, gen).cpu().numpy()
    return sample_stage1(model, n, gen).cpu().numpy()


def write_samples(run: Run, x: np.ndarray, out: Path) -> None:
    from vaediag.images import make_grid, save_png

    buf = io.BytesIO()
    np.save(buf, x)
    atomic_write_bytes(out.with_suffix(".npy"), buf.getvalue())
    if x.ndim == 4:
        save_png(out, make_grid(x), scale=2 if x.shape[-1] <= 32 else 1)
    else:
        _scatter_png(run, x, out)


def _scatter_png(run: Run, x: np.ndarray, out: Path) -> None:
    """Vector samples: the first two principal coordinates of held-out data, with the samples."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ref = run.load_posteriors()[0] if run.stage2_only else run.dataset().test.numpy()
    mean = ref.mean(0)
    _, _, vt = np.linalg.svd(ref - mean, full_matrices=False)
    p_ref, p_x = (ref - mean) @ vt[:2].T, (x - mean) @ vt[:2].T
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(p_ref[:, 0], p_ref[:, 1], s=4, alpha=0.4, label="encoder means mu_z(x)" if run.stage2_only else "held-out data")
    ax.scatter(p_x[:, 0], p_x[:, 1], s=4, alpha=0.6, label="generated")
    ax.set_xlabel("principal coordinate 1")
    ax.set_ylabel("principal coordinate 2")
    ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(out, buf.getvalue())


# ---------------------------------------------------------------------------- demo
def demo_runs(args: argparse.Namespace) -> dict[str, Run]:
    """Train (or reuse) the demo's learned-gamma two-stage run and fixed-gamma run."""
    from vaediag.train import train

    root = Path(args.runs)
    specs = {"learned": (["--gamma", "learned"], "12"), "fixed": (["--gamma", "fixed"], "1")}
    runs = {}
    for name, (extra, stages) in specs.items():
        path = root / name
        if path.is_dir() and (path / "config.json").exists() and not args.overwrite:
            run = Run.open(path)
            if all(run.stage_done(int(s)) for s in stages):
                print(f"demo: reusing the finished run {path} (--overwrite retrains)", file=sys.stderr)
            else:
                print(f"demo: continuing {path}", file=sys.stderr)
                train(run, stages=tuple(int(s) for s in stages), device=args.device, resume=True, progress=not args.quiet)
            runs[name] = run
            continue
        argv = ["train", "--preset", "quick", "--out", str(path), "--stages", stages, *extra, "--log-every", "5"]
        if args.steps:
            argv += ["--steps", str(args.steps)]
        if args.stage2_steps:
            argv += ["--stage2-steps", str(args.stage2_steps)]
        if args.overwrite:
            argv.append("--overwrite")
        if args.quiet:
            argv.append("--quiet")
        argv += ["--device", args.device]
        from vaediag.cli import build_parser

        targs = build_parser().parse_args(argv)
        print(f"demo: training the {name}-gamma run into {path}", file=sys.stderr)
        cmd_train(targs)
        runs[name] = Run.open(path)
    return runs


def cmd_demo(args: argparse.Namespace) -> int:
    figures = Path(args.figures)
    if figures.exists() and not figures.is_dir():
        raise VaediagError(f"--figures {figures} exists and is not a directory")
    runs = demo_runs(args)
    figures.mkdir(parents=True, exist_ok=True)
    written = demo_figures(runs, figures)
    for p in written:
        print(f"wrote {p}", file=sys.stderr)
    return 0


def demo_figures(runs: dict[str, Run], figures: Path) -> list[Path]:
    """The engine's figures: samples of the three models (supplement Fig. 2) and reconstructions."""
    from vaediag.figures_engine import reconstructions_figure, samples_figure
    from vaediag.images import make_grid

    device = torch.device("cpu")
    panels = [
        ("VAE (fixed $\\gamma$ = 1)", make_grid(draw(runs["fixed"], 1, 64, 0, device), nrow=8)),
        ("VAE (learned $\\gamma$)", make_grid(draw(runs["learned"], 1, 64, 0, device), nrow=8)),
        ("2-Stage VAE", make_grid(draw(runs["learned"], 2, 64, 0, device), nrow=8)),
    ]
    out = [figures / "samples.png", figures / "reconstructions.png"]
    samples_figure(panels).savefig(out[0], dpi=110, bbox_inches="tight")
    rec = {name: draw(runs[name], 1, 32, 0, device, recon=True) for name in ("fixed", "learned")}
    reconstructions_figure(rec).savefig(out[1], dpi=110, bbox_inches="tight")
    out += diagnostic_figures(runs, figures)
    return out


def diagnostic_figures(runs: dict[str, Run], figures: Path, device: str = "cpu", n: int = 5000) -> list[Path]:
    """Figure 1 (learned vs fixed gamma), supplement Figs. 9 and 10 and the HTML report of the demo."""
    from vaediag.diagnostics.cli import save_figure
    from vaediag.diagnostics.summary import diagnose_run
    from vaediag.figures import figure1_for_run, figure9_for_run, figure10_for_runs, report_for_run
    from vaediag.runs import atomic_write_text

    for run in runs.values():
        diagnose_run(run, n=n, device=device)
    out = [figures / "figure1.png", figures / "figure9.png", figures / "figure10.png", figures / "report.html"]
    save_figure(figure1_for_run(runs["learned"], runs["fixed"], device, n), out[0], dpi=90, verbose=False)
    save_figure(figure9_for_run(runs["learned"], device, n), out[1], dpi=80, verbose=False)
    save_figure(figure10_for_runs([runs["learned"], runs["fixed"]], device, n,
                                  labels=["learned $\\gamma$", "fixed $\\gamma$ = 1"]), out[2], dpi=90, verbose=False)
    atomic_write_text(out[3], report_for_run(runs["learned"], runs["fixed"], device, n))
    return out
