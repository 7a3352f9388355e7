"""`vaediag cache`: decode a data set once into its memory-mapped cache, or check that cache."""

from __future__ import annotations

import argparse
import sys

CACHE_HELP = """\
Decode CelebA's JPEGs once into a uint8 cache file (N x 3 x 64 x 64, training rows then test
rows) with a JSON manifest beside it; training, diagnostics and FID then memory-map it instead of
decoding 202,599 images each time. Every load builds the cache when it is missing or when the
images changed, so this verb is only needed to build it ahead of time: before `torchrun`, so that
the ranks do not all race to build it, or on a login node with more cores.

The cache goes to DATA/celeba/vaediag-cache/ unless --data-cache DIR is given (use the same DIR
when training). A corrupt cache is refused, never replaced silently: --rebuild replaces it.

exit status: 0 when the cache is built or sound, 2 when it is absent (--check), out of date or
corrupt, with one sentence saying what to do.

examples:
  vaediag cache --dataset celeba --data-dir ~/data
  vaediag cache --dataset celeba --data-dir /shared/data --data-cache /scratch/$USER/celeba-cache
  vaediag cache --dataset celeba --data-dir ~/data --check
"""


def register(sub) -> None:
    p = sub.add_parser("cache", help="decode CelebA once into a memory-mapped cache (before torchrun)",
                       description=CACHE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="celeba", help="the data set to cache; only celeba for now (default)")
    p.add_argument("--data-dir", default="data", help="the folder holding celeba/ (default data)")
    p.add_argument("--data-cache", metavar="DIR", help="folder of the cache (default DATA/celeba/vaediag-cache)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random split, used only without "
                   "list_eval_partition.txt (default 0)")
    p.add_argument("--test-fraction", type=float, default=0.1, help="held-out share of the random split (0.1)")
    p.add_argument("--workers", type=int, help="decoding processes (default min(8, CPUs))")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--rebuild", action="store_true", help="decode again even if the cache is sound or corrupt")
    g.add_argument("--check", action="store_true", help="only verify the cache (exit 0 if sound, 2 if not)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the cache's description as one JSON object")
    p.set_defaults(func=cmd_cache)


def cmd_cache(args: argparse.Namespace) -> int:
    from vaediag.api.quality import cache
    from vaediag.errors import UsageError, VaediagError

    try:
        if args.dataset != "celeba":
            raise UsageError(f"the cache handles only --dataset celeba for now, not {args.dataset!r}")
        info = cache(args.data_dir, args.data_cache, seed=args.seed, test_fraction=args.test_fraction,
                     workers=args.workers, rebuild=args.rebuild, check=args.check, progress=not args.quiet)
    except VaediagError as e:
        if not args.check or isinstance(e, UsageError):
            raise
        # --check answers a question: "not sound" is its documented exit status 2 (CACHE_HELP), with the
        # sentence saying what to do (the dispatcher prints it as the one line of a status-2 answer)
        raise UsageError(f"check failed: {e}") from None
    if args.json:
        import json

        print(json.dumps(info, default=str))
        return 0
    n, c, h, w = info["shape"]
    print(f"{info['path']}: {info['what']}\n"
          f"  shape {n} x {c} x {h} x {w} {info['dtype']}, {n * c * h * w / 1e6:.1f} MB\n"
          f"  split {info['split']}: n_train {info['n_train']}, n_test {info['n_test']}\n"
          f"  {info['seconds']:.2f} s", file=sys.stdout)
    return 0
