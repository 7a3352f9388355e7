"""``vaediag theory``: run every check of the theory lab, print the table, write JSON and figures.

Exit status: 0 when every check passes, 1 when any check fails (so CI can gate on the theory),
2 for bad arguments (one sentence on stderr, from the dispatcher).
"""

from __future__ import annotations

import sys
import time


def register(sub) -> None:
    p = sub.add_parser(
        "theory", help="numerically check Theorems 1-4, eqs. (8), (9), (73) and the two-stage argument",
        description="Run the theory lab: the constructions of Theorems 1 and 2, eq. (73), batched VAE sweeps "
        "for Theorems 3-4 and eqs. (8)-(9), the two-stage argument, and r_hat against the MLE and TwoNN "
        "intrinsic-dimension estimators, and held-out teacher manifolds. Prints claim | measured | predicted | "
        "alternative | margin | se | verdict: a check passes when the measured value is closer to the claim than to "
        "its nearest alternative by at least 2 standard errors; eq. (8)'s slopes say 'inconclusive' when the budget "
        "cannot separate them, and r_hat checks when a model has not reached eq. (9)'s regime. Exit status 0 if no check fails, 1 if any fails, 2 for bad arguments. Measured "
        "results and times: docs/results/theory.md.")
    p.add_argument("--quick", action="store_true", help="4,000 training points and Adam steps instead of 8,000, "
                   "mini-batches of 48 instead of 128, 3 restarts instead of 4, 3 held-out teachers per r and ambient "
                   "dimension instead of 5; skips the mnist5k VAE")
    p.add_argument("--json", metavar="PATH", help="write the checks (and the r_hat table) as JSON to PATH")
    p.add_argument("--figures", metavar="DIR", help="write one PNG per theorem to DIR (created if absent)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    p.add_argument("--device", default="auto", help="torch device for the VAE sweeps: auto (GPU when present; "
                   "the default), cpu, cuda or mps")
    p.add_argument("--quiet", action="store_true", help="nothing on stderr but errors (the table still prints)")
    p.add_argument("--jobs", type=int, default=2, choices=(1, 2),
                   help="processes: 2 (default) trains the other manifolds' VAEs and half the held-out teachers in a "
                   "second process while this one trains the sweep manifold's VAEs and stage 2, runs the constructions of "
                   "Theorems 1, 2 and eq. (73) and trains the mixture's VAE and the other teachers (same numbers); 1 runs "
                   "everything in this process")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: these models are too small to gain from more)")
    p.set_defaults(func=run)


def run(args) -> int:
    from vaediag.api import theory_checks as api

    api.check_theory_outputs(args.json, args.figures)
    t0 = time.perf_counter()
    progress = lambda msg: print(f"[{time.perf_counter() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True)
    checks, art = api.check_theory(args.quick, seed=args.seed, device=args.device, progress=progress, jobs=args.jobs,
                             threads=args.threads)
    elapsed = time.perf_counter() - t0
    print(api.format_table(checks))
    print()
    print(api.format_rhat(art["estimators"]["rows"]))
    print()
    print(api.format_reported(art["estimators"]["reported"]))
    n_fail = sum(c["verdict"] == "fail" for c in checks)
    n_pass = sum(c["verdict"] == "pass" for c in checks)
    n_inc = len(checks) - n_pass - n_fail
    inconclusive = (f", {n_inc} inconclusive (cannot separate the claim from its alternative, or the models have not "
                    "reached the claim's regime, at this budget)") if n_inc else ""
    print(f"\n{n_pass}/{len(checks)} checks pass{inconclusive}, {n_fail} fail ({'quick' if args.quick else 'full'}, "
          f"seed {args.seed}, {elapsed:.0f} s); {len(art['estimators']['reported'])} rows reported apart, above")
    config = {"quick": args.quick, "seed": args.seed, "device": args.device, "threads": args.threads, "jobs": args.jobs}
    api.save_theory(checks, art, args.json, None, config, elapsed)
    if args.figures:
        api.save_theory(checks, art, None, args.figures)
        progress(f"figures written to {args.figures}")
    return 1 if n_fail else 0
