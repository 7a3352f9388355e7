"""``vaediag theory``: run every check of the theory lab, print the table, write JSON and figures.

Exit status: 0 when every check passes, 1 when any check fails (so CI can gate on the theory),
2 for bad arguments (one sentence on stderr, from the dispatcher).
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

from vaediag.errors import UsageError, VaediagError
from vaediag.io import jsonable, write_json


def register(sub) -> None:
    p = sub.add_parser(
        "theory", help="numerically check Theorems 1-4, eqs. (8), (9), (73) and the two-stage argument",
        description="Run the theory lab: the constructions of Theorems 1 and 2, eq. (73), batched VAE sweeps "
        "for Theorems 3-4 and eqs. (8)-(9), the two-stage argument, and r_hat against the MLE and TwoNN "
        "intrinsic-dimension estimators. Prints claim | measured | predicted | tolerance | verdict. "
        "Exit status 0 if every check passes, 1 if any fails, 2 for bad arguments. Measured on 2 quiet CPU "
        "cores: --quick 20 s, the full run 67 s (docs/theory.md).")
    p.add_argument("--quick", action="store_true", help="4,000 training points and Adam steps instead of 8,000, 3 "
                   "restarts instead of 4; skips the mnist5k VAE")
    p.add_argument("--json", metavar="PATH", help="write the checks (and the r_hat table) as JSON to PATH")
    p.add_argument("--figures", metavar="DIR", help="write one PNG per theorem to DIR (created if absent)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    p.add_argument("--device", default="cpu", help="torch device for the VAE sweeps (default cpu)")
    p.add_argument("--jobs", type=int, default=2, choices=(1, 2),
                   help="processes: 2 (default) runs the constructions of Theorems 1, 2 and eq. (73), the other "
                   "manifolds' VAEs and the mixture's in a second process while this one trains the sweep manifold's "
                   "VAEs and stage 2 (same numbers); 1 runs everything in this process")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: these models are too small to gain from more)")
    p.set_defaults(func=run)


def _validate(args) -> None:
    if args.seed < 0:
        raise UsageError(f"--seed must be a non-negative integer, got {args.seed}")
    if args.threads < 1:
        raise UsageError(f"--threads must be at least 1, got {args.threads}")
    if args.json:
        parent = Path(args.json).expanduser().resolve().parent
        if not parent.is_dir():
            raise VaediagError(f"--json {args.json}: the folder {parent} does not exist; create it or choose another path")
        if Path(args.json).is_dir():
            raise UsageError(f"--json {args.json} is a folder; give a file path such as {Path(args.json) / 'theory.json'}")
    if args.figures and Path(args.figures).exists() and not Path(args.figures).is_dir():
        raise UsageError(f"--figures {args.figures} is a file; give a folder")
    import torch

    try:
        dev = torch.device(args.device)
    except RuntimeError:
        raise UsageError(f"--device {args.device!r} is not a torch device; use cpu or cuda") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise VaediagError("--device cuda was asked for but no CUDA device is available; use --device cpu")


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if math.isfinite(v) else str(v)
    if isinstance(v, dict):
        return ", ".join(f"{k}={_fmt(x)}" for k, x in v.items())
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v)


def format_table(checks: list[dict]) -> str:
    """Plain-text table: claim | measured | predicted | tolerance | verdict."""
    cols = ("claim", "measured", "predicted", "tolerance", "verdict")
    rows = [[_fmt(c[k]) for k in cols] for c in checks]
    w = [max(len(k), *(len(r[i]) for r in rows)) for i, k in enumerate(cols)]
    line = lambda r: " | ".join(x.ljust(w[i]) for i, x in enumerate(r))
    return "\n".join([line(cols), "-+-".join("-" * x for x in w), *map(line, rows)])


def rhat_cells(r: dict, gamma_label: str = "") -> list[str]:
    """One row of the r_hat table as cells: data, r, r_hat (gamma), every restart's r_hat (held-out loss),
    MLE, TwoNN, affine dimension, checked or why not (also the README's table: benchmarks/theory_table.py)."""
    rs = r.get("restarts") or []
    rest = ", ".join(f"{x['r_hat']} ({x['held_out_loss']:.2f})" for x in rs) if rs else "-"
    checked = "yes" if r.get("checked") else f"no: {r.get('note', '')}"
    return [r["data"], "?" if r["r"] is None else str(r["r"]), f"{r['r_hat_vae']} ({gamma_label}{r['gamma']:.2g})",
            rest, f"{r['mle']:.2f}", f"{r['twonn']:.2f}", str(r.get("affine", "-")), checked]


def format_rhat(rows: list[dict]) -> str:
    """The r_hat table: truth, r_hat of the selected restart (and every restart's), MLE, TwoNN, checked or why not."""
    head = ("data | r (truth) | r_hat VAE (learned gamma) | restarts' r_hat (held-out loss) | MLE (k=20) | TwoNN | "
            "affine dim. | checked")
    out = [head, "-" * len(head)]
    out += [" | ".join(rhat_cells(r, gamma_label="gamma=")) for r in rows]
    out.append("r_hat: encoder variances below the lab's cut (see checks.VAR_THRESHOLD); the restart with the lowest "
               "held-out loss is the one reported and checked. affine dim.: the smallest affine subspace holding the "
               "data (checks.AFFINE_REL_TOL); a decoder linear in that many latent directions reproduces it exactly.")
    return "\n".join(out)


def format_reported(reported: list[dict]) -> str:
    """The reported rows, apart from the checks: what was measured and why it is not a check."""
    out = ["Reported, not checked (the theorem's assumption does not hold, or the truth is unknown):"]
    for r in reported:
        out.append(f"- {r['data']}: {_fmt(r['measured'])}")
        out.append(f"  reason: {r['reason']}")
    return "\n".join(out)


def run(args) -> int:
    _validate(args)
    import torch

    from vaediag.theory.checks import Settings, run_all

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    t0 = time.perf_counter()
    progress = lambda msg: print(f"[{time.perf_counter() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True)
    s = Settings.make(args.quick, seed=args.seed, device=args.device, progress=progress, jobs=args.jobs)
    checks, art = run_all(s)
    elapsed = time.perf_counter() - t0
    print(format_table(checks))
    print()
    print(format_rhat(art["estimators"]["rows"]))
    print()
    print(format_reported(art["estimators"]["reported"]))
    n_fail = sum(c["verdict"] == "fail" for c in checks)
    print(f"\n{len(checks) - n_fail}/{len(checks)} checks pass ({'quick' if args.quick else 'full'}, seed {args.seed}, "
          f"{elapsed:.0f} s); {len(art['estimators']['reported'])} rows reported apart, above")
    if args.json:
        doc = {"checks": jsonable(checks), "rhat_table": jsonable(art["estimators"]["rows"]),
               "reported": jsonable(art["estimators"]["reported"]),
               "config": {"quick": args.quick, "seed": args.seed, "device": args.device, "threads": args.threads,
                          "jobs": args.jobs},
               "elapsed_seconds": elapsed}
        write_json(Path(args.json), doc)
    if args.figures:
        from vaediag.plots import save_figure
        from vaediag.plots.theory import all_figures

        out = Path(args.figures)
        out.mkdir(parents=True, exist_ok=True)
        for name, fig in all_figures(art).items():
            save_figure(fig, out / f"{name}.png", dpi=110)
        progress(f"figures written to {out}")
    return 1 if n_fail else 0
