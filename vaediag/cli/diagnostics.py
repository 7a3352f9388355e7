"""`vaediag diagnose`, `figure1`, `figure9`, `figure10` and `report`: parsing and printing; the work
is in :mod:`vaediag.diagnostics` and :mod:`vaediag.plots` (imported inside each command, so that
`vaediag --help` stays fast)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vaediag.errors import UsageError, VaediagError

FIG_EXTS = (".png", ".pdf", ".svg")


def _common(p, n_default=10000):
    p.add_argument("--n", type=int, default=n_default,
                   help=f"training inputs to diagnose (default {n_default}, or all if fewer)")
    p.add_argument("--device", default="auto", help="auto (GPU when present), cpu, cuda or mps")


def register(sub) -> None:
    p = sub.add_parser("diagnose", help="all diagnostics of a run -> RUN/diagnostics/summary.json",
                       description="Compute gamma, r_hat and the lambda_j of Sigma_z(x), perturbations along "
                       "eigendirections and aggregated-posterior spectra of a run (stage 2 when trained); write "
                       "RUN/diagnostics/summary.json and arrays.npz and print the verdict.")
    p.add_argument("--run", required=True, help="run directory")
    _common(p)
    p.add_argument("--threshold", type=float, default=None,
                   help="tau: a dimension is active when its mean lambda_j < tau (default 0.1, "
                   "vaediag.diagnostics.eigen.DEFAULT_TAU)")
    p.add_argument("--seed", type=int, default=0, help="seed of the posterior samples and perturbations")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="write summary.json and arrays.npz into DIR instead of RUN/diagnostics (a read-only run "
                   "can be diagnosed; the figure verbs only reuse diagnostics saved in the run)")
    p.add_argument("--json", metavar="PATH", default=None,
                   help="also write the summary to PATH (its keys: docs/json.md)")
    p.set_defaults(func=cmd_diagnose)

    p = sub.add_parser("figure1", help="the paper's Figure 1 (gamma, perturbations, spectra) for a run",
                       description="Figure 1: log gamma and squared pixel error over training (with --compare, "
                       "a second run such as a fixed-gamma one), decodes along eigendirections, and singular "
                       "values of stage-1 / stage-2 latent samples against N(0, I). Needs a finished stage 2.")
    p.add_argument("--run", required=True, help="run directory (learned gamma, both stages)")
    p.add_argument("--compare", metavar="RUN", help="another run whose gamma trajectory is drawn beside it")
    p.add_argument("--out", required=True, help="output file: .png, .pdf or .svg")
    _common(p)
    p.set_defaults(func=cmd_figure1)

    p = sub.add_parser("figure9", help="supplement Fig. 9: decodes along each eigendirection, ordered by lambda",
                       description="One row per latent direction, ordered by lambda_j, 15 decodes per row, with "
                       "lambda_j and the image variance on each row (the 5 smallest-lambda rows and the largest "
                       "unless --all).")
    p.add_argument("--run", required=True, help="run directory")
    p.add_argument("--out", required=True, help="output file: .png, .pdf or .svg")
    p.add_argument("--all", action="store_true", help="one row for every latent direction")
    _common(p)
    p.set_defaults(func=cmd_figure9)

    p = sub.add_parser("figure10", help="supplement Fig. 10: histogram of lambda_j, several runs side by side",
                       description="Histogram of all eigenvalues lambda_j of Sigma_z(x) over the training inputs; "
                       "give --run several times for panels side by side.")
    p.add_argument("--run", required=True, action="append", help="run directory (repeatable)")
    p.add_argument("--out", required=True, help="output file: .png, .pdf or .svg")
    _common(p)
    p.set_defaults(func=cmd_figure10)

    p = sub.add_parser("report", help="one self-contained HTML page: verdict, every number, figures",
                       description="Write a self-contained HTML report (figures embedded) with every diagnostic "
                       "number of the run and a plain-language verdict.")
    p.add_argument("--run", required=True, help="run directory")
    p.add_argument("--compare", metavar="RUN", help="a second run for Figure 1's gamma panel")
    p.add_argument("--out", required=True, help="output .html file")
    _common(p)
    p.set_defaults(func=cmd_report)


def _open(path: str):
    from vaediag.engine.runs import Run

    run = Run.open(path)
    run.require_stage1()
    return run


def _out(path: str, exts=FIG_EXTS) -> Path:
    out = Path(path)
    if out.suffix.lower() not in exts:
        raise UsageError(f"--out {out} must end in {', '.join(exts)}")
    if not out.parent.is_dir():
        raise VaediagError(f"--out {out}: the directory {out.parent} does not exist; create it first")
    if out.is_dir():
        raise UsageError(f"--out {out} is a directory; give a file name")
    return out


def _out_dir(path: str) -> Path:
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a folder for summary.json and arrays.npz")
    if not out.parent.is_dir():
        raise VaediagError(f"--out {out}: the folder {out.parent} does not exist; create it first")
    return out


def _json_path(path: str) -> Path:
    out = Path(path)
    if out.is_dir():
        raise UsageError(f"--json {out} is a folder; give a file path such as {out / 'summary.json'}")
    if not out.parent.is_dir():
        raise VaediagError(f"--json {out}: the folder {out.parent} does not exist; create it first")
    return out


def _sources(runs, args) -> str:
    """Make sure each run's saved diagnostics fit this figure's settings (recomputed when they do not),
    say on stderr which were reused and which computed, and return the same as one line for the figure."""
    from vaediag.diagnostics.summary import ensure_diagnostics

    notes = []
    for run in runs:
        summary, _ = ensure_diagnostics(run, args.device, _n(args))
        notes.append(f"{run.path.name}: {summary['source']}")
        print(f"{run.path}: {summary['source']}", file=sys.stderr)
    return "; ".join(notes)


def _stamp(fig, note: str):
    """The figure says where its diagnostics came from (a small grey line at its bottom)."""
    fig.text(0.005, 0.0, note, fontsize=6, color="0.45", ha="left", va="top")
    return fig


def _n(args) -> int:
    if args.n < 2:
        raise UsageError(f"--n must be at least 2, got {args.n}")
    return args.n


def _save(fig, out: Path, dpi: int = 110) -> None:
    from vaediag.plots import save_figure

    save_figure(fig, out, dpi=dpi)
    print(f"wrote {out}", file=sys.stderr)


def cmd_diagnose(args: argparse.Namespace) -> int:
    from vaediag.diagnostics.eigen import DEFAULT_TAU
    from vaediag.diagnostics.summary import diagnose_run
    from vaediag.diagnostics.verdict import verdict

    tau = DEFAULT_TAU if args.threshold is None else args.threshold
    if not 0 < tau:
        raise UsageError(f"--threshold must be positive, got {tau}")
    run = _open(args.run)
    out_dir = _out_dir(args.out) if args.out else run.diagnostics_dir
    json_path = _json_path(args.json) if args.json else None
    summary, _ = diagnose_run(run, n=_n(args), device=args.device, tau=tau, seed=args.seed, out_dir=out_dir)
    if json_path is not None:
        from vaediag.io import write_json

        write_json(json_path, summary)
    g2 = summary["gamma_stage2"]
    print(f"gamma {summary['gamma']:.4g}  gamma_stage2 {'null' if g2 is None else f'{g2:.4g}'}  "
          f"recon_mse {summary['recon_mse']:.4g}  r_hat {summary['r_hat']} (tau-count {summary['active_dims']})  near_one {summary['near_one']}  "
          f"spectrum_gap stage1 {summary['spectrum_gap']['stage1']:.4f} stage2 "
          f"{'null' if summary['spectrum_gap']['stage2'] is None else format(summary['spectrum_gap']['stage2'], '.4f')}")
    for line in verdict(summary) + summary["notes"]:
        print(line)
    print(f"wrote {out_dir / 'summary.json'}" + (f" and {json_path}" if json_path else "")
          + f" ({summary['seconds']:.1f} s)", file=sys.stderr)
    return 0


def cmd_figure1(args: argparse.Namespace) -> int:
    from vaediag.plots.paper import figure1_for_run

    out = _out(args.out)
    run = _open(args.run)
    if not run.stage_done(2):
        raise VaediagError(f"Figure 1's right panel compares stage 1 with stage 2, and {run.path} has no finished "
                           f"stage 2; train it with 'vaediag train --stages 2 --out {run.path}'")
    compare = _open(args.compare) if args.compare else None
    note = _sources([run], args)
    _save(_stamp(figure1_for_run(run, compare, args.device, _n(args)), note), out)
    return 0


def cmd_figure9(args: argparse.Namespace) -> int:
    from vaediag.plots.paper import figure9_for_run

    out = _out(args.out)
    run = _open(args.run)
    note = _sources([run], args)
    _save(_stamp(figure9_for_run(run, args.device, _n(args), all_rows=args.all), note), out, dpi=90)
    return 0


def cmd_figure10(args: argparse.Namespace) -> int:
    from vaediag.plots.paper import figure10_for_runs

    out = _out(args.out)
    runs = [_open(r) for r in args.run]
    note = _sources(runs, args)
    _save(_stamp(figure10_for_runs(runs, args.device, _n(args)), note), out)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from vaediag.io import atomic_write_text
    from vaediag.plots.report import report_for_run

    out = _out(args.out, exts=(".html", ".htm"))
    run = _open(args.run)
    compare = _open(args.compare) if args.compare else None
    atomic_write_text(out, report_for_run(run, compare, args.device, _n(args)))
    print(f"wrote {out}", file=sys.stderr)
    return 0
