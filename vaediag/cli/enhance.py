"""``vaediag stage2``: the paper's second stage on codes exported by any VAE (arrays in a .npz);
the work is :func:`vaediag.api.stage2`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EPILOG = """\
The .npz holds q(z|x) of your model over its training inputs: 'mu' (n, kappa) with 'logvar' (n, kappa)
for a diagonal encoder, or 'cov' (n, kappa, kappa) for a full covariance. For example:
  np.savez("codes.npz", mu=mu, logvar=logvar)
  vaediag stage2 --posteriors codes.npz --out runs/my-stage2 --stage2-epochs 800
  vaediag stage2 --resume runs/my-stage2              # after Ctrl-C or a crash (as 'vaediag train --resume')
  vaediag sample --run runs/my-stage2 --n 1000        # two-stage latents z; decode them with your model
In Python: vaediag.stage2("runs/my-stage2", "codes.npz", stage2_epochs=800), the same options by the same
names; vaediag.enhance(model, data) encodes your model's data, calls it and decodes the samples.
"""


def register(sub) -> None:
    p = sub.add_parser("stage2", help="train the second stage on codes (mu, logvar or cov) exported by any VAE",
                       description="Train the paper's stage-2 VAE (section 4) on the latent codes of a model vaediag "
                       "did not train, with the engine's loop, schedule, checkpoints and resume; fresh z = mu + "
                       "sigma * eps every epoch.", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--posteriors", type=Path, help="a .npz with mu and logvar (or mu and cov)")
    p.add_argument("--out", help="run directory to create")
    p.add_argument("--resume", metavar="RUN", default=None,
                   help="continue the interrupted 'vaediag stage2' run RUN (as 'vaediag train --resume RUN')")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    p.add_argument("--stage2-epochs", type=float, help="epochs (default 800)")
    p.add_argument("--stage2-steps", type=int, help="optimiser steps (instead of --stage2-epochs)")
    p.add_argument("--stage2-batch-size", type=int, help="batch size (default 100)")
    p.add_argument("--stage2-lr", type=float, help="Adam learning rate (default 1e-4)")
    p.add_argument("--stage2-lr-halve-every", type=float, help="halve the learning rate every this many epochs (default 300)")
    p.add_argument("--stage2-width", type=int, help="width of the dense layers (default 1024)")
    p.add_argument("--stage2-depth", type=int, help="number of dense layers (default 3)")
    p.add_argument("--seed", type=int, default=0, help="seed of initialisation, shuffling and noise (default 0)")
    p.add_argument("--device", default="auto", help="auto (GPU when present), cpu, cuda or mps")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_stage2)


def cmd_stage2(args: argparse.Namespace) -> int:
    from vaediag.api.two_stage import stage2
    from vaediag.errors import UsageError

    options = {k: getattr(args, k) for k in ("stage2_epochs", "stage2_steps", "stage2_batch_size", "stage2_lr",
                                             "stage2_lr_halve_every", "stage2_width", "stage2_depth", "seed")}
    out, resume = args.out, args.resume is not None
    if resume:
        if out:
            raise UsageError("--resume RUN continues RUN; give no --out with it")
        out = args.resume
    elif not out:
        raise UsageError("say where the run goes with --out RUN (or continue one with --resume RUN)")
    run = stage2(out, args.posteriors, resume=resume, overwrite=args.overwrite, device=args.device,
                 progress=not args.quiet, **options)
    print(f"stage 2 complete: {run.path} (sample latents with 'vaediag sample --run {run.path}')", file=sys.stderr)
    return 0
