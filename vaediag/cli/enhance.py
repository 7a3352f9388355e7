"""``vaediag stage2``: the paper's second stage on codes exported by any VAE (arrays in a .npz)."""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

import numpy as np

from vaediag.errors import UsageError, VaediagError

EPILOG = """\
The .npz holds q(z|x) of your model over its training inputs: 'mu' (n, kappa) with 'logvar' (n, kappa)
for a diagonal encoder, or 'cov' (n, kappa, kappa) for a full covariance. For example:
  np.savez("codes.npz", mu=mu, logvar=logvar)
  vaediag stage2 --posteriors codes.npz --out runs/my-stage2 --stage2-epochs 800
  vaediag sample --run runs/my-stage2 --n 1000        # two-stage latents z; decode them with your model
In Python, vaediag.enhance.enhance(model, data) does the same from the model and decodes the samples.
"""


def register(sub) -> None:
    p = sub.add_parser("stage2", help="train the second stage on codes (mu, logvar or cov) exported by any VAE",
                       description="Train the paper's stage-2 VAE (section 4) on the latent codes of a model vaediag "
                       "did not train, with the engine's loop, schedule, checkpoints and resume; fresh z = mu + "
                       "sigma * eps every epoch.", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--posteriors", type=Path, help="a .npz with mu and logvar (or mu and cov)")
    p.add_argument("--out", required=True, help="run directory to create (or to continue with --resume)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted 'vaediag stage2' run in --out")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    p.add_argument("--stage2-epochs", type=float, help="epochs (default 800)")
    p.add_argument("--stage2-steps", type=int, help="optimiser steps (instead of --stage2-epochs)")
    p.add_argument("--stage2-batch-size", type=int, help="batch size (default 100)")
    p.add_argument("--stage2-lr", type=float, help="Adam learning rate (default 1e-4)")
    p.add_argument("--stage2-lr-halve-every", type=float, help="halve the learning rate every this many epochs (default 300)")
    p.add_argument("--stage2-width", type=int, help="width of the 3 dense layers (default 1024)")
    p.add_argument("--seed", type=int, default=0, help="seed of initialisation, shuffling and noise (default 0)")
    p.add_argument("--device", default="auto", help="auto (GPU when present), cpu, cuda or mps")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_stage2)


def load_codes(path: Path) -> tuple[np.ndarray, np.ndarray, bool]:
    """(mu, second, full) from a .npz with mu and logvar, or mu and cov."""
    if path.suffix.lower() != ".npz":
        raise UsageError(f"--posteriors must be a .npz file with arrays mu and logvar (or cov), got {path}")
    if not path.is_file():
        raise VaediagError(f"--posteriors {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise VaediagError(f"{path} is not a readable .npz of numeric arrays ({str(e).splitlines()[0][:120]})") from None
    if "mu" not in arrays:
        raise VaediagError(f"{path} has arrays {sorted(arrays)} but no 'mu'; save mu with logvar or cov")
    if "logvar" in arrays and "cov" in arrays:
        raise VaediagError(f"{path} has both 'logvar' and 'cov'; keep one (logvar: diagonal encoder, cov: full)")
    if "logvar" in arrays:
        return arrays["mu"], arrays["logvar"], False
    if "cov" in arrays:
        return arrays["mu"], arrays["cov"], True
    raise VaediagError(f"{path} has 'mu' but neither 'logvar' (n, kappa) nor 'cov' (n, kappa, kappa)")


def cmd_stage2(args: argparse.Namespace) -> int:
    from vaediag.engine.config import RunConfig
    from vaediag.engine.devices import resolve_device
    from vaediag.engine.train import train_stage2_on_posteriors

    device = resolve_device(args.device)
    options = [k for k in ("stage2_epochs", "stage2_steps", "stage2_batch_size", "stage2_lr", "stage2_lr_halve_every",
                           "stage2_width") if getattr(args, k) is not None]
    if args.resume:
        if args.posteriors or options or args.overwrite:
            raise UsageError("--resume continues the run in --out as it was started; give no --posteriors, "
                               "--overwrite or --stage2-* options with it")
        run = train_stage2_on_posteriors(args.out, None, None, resume=True, device=device, progress=not args.quiet)
    else:
        if args.posteriors is None:
            raise UsageError("give --posteriors FILE.npz (mu and logvar, or mu and cov), or --resume")
        if args.stage2_steps is not None and args.stage2_epochs is not None:
            raise UsageError("give --stage2-steps or --stage2-epochs, not both")
        mu, second, full = load_codes(args.posteriors)
        cfg = RunConfig()
        t = cfg.train
        t.seed = args.seed
        for k in ("stage2_epochs", "stage2_steps", "stage2_batch_size", "stage2_lr", "stage2_lr_halve_every"):
            if getattr(args, k) is not None:
                setattr(t, k, getattr(args, k))
        if args.stage2_steps is not None:
            t.stage2_epochs = None
        if args.stage2_width is not None:
            if args.stage2_width < 1:
                raise UsageError(f"--stage2-width must be a positive integer, got {args.stage2_width}")
            cfg.stage2.width = args.stage2_width
        run = train_stage2_on_posteriors(args.out, mu, second, full, config=cfg, device=device,
                                         overwrite=args.overwrite, progress=not args.quiet)
    print(f"stage 2 complete: {run.path} (sample latents with 'vaediag sample --run {run.path}')", file=sys.stderr)
    return 0
