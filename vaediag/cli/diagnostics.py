"""`vaediag diagnose`, `figure1`, `figure9`, `figure10` and `report`: parsing and printing; the work
is :mod:`vaediag.api` (imported inside each command, so that `vaediag --help` stays fast)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path



def _common(p, n_default=10000):
    p.add_argument("--n", type=int, default=n_default,
                   help=f"training inputs to diagnose (default {n_default}, or all if fewer)")
    p.add_argument("--device", default="auto", help="auto (GPU when present), cpu, cuda or mps")
    p.add_argument("--quiet", action="store_true", help="nothing on stderr but errors")


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
                   help="also write the summary to PATH (its keys: docs/diagnostics.md)")
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


def _sources(api, runs: list[str], args) -> str:
    """Make sure each run's saved diagnostics fit this figure's settings (recomputed when they do not),
    say on stderr which were reused and which computed, and return the same as one line for the figure."""
    got = api.diagnostics_sources(runs, args.n, args.device)
    for path, source in got:
        print(f"{path}: {source}", file=sys.stderr)
    return "; ".join(f"{path.name}: {source}" for path, source in got)


def _save(api, fig, out, dpi: int = 110) -> None:
    api.save_figure(fig, out, dpi=dpi)
    print(f"wrote {out}", file=sys.stderr)


def cmd_diagnose(args: argparse.Namespace) -> int:
    from vaediag import api

    tau = api.DEFAULT_TAU if args.threshold is None else args.threshold
    summary, _ = api.diagnose(args.run, n=args.n, device=args.device, tau=tau, seed=args.seed, write=True,
                              out_dir=args.out, json_path=args.json)
    g2 = summary["gamma_stage2"]
    print(f"gamma {summary['gamma']:.4g}  gamma_stage2 {'null' if g2 is None else f'{g2:.4g}'}  "
          f"recon_mse {summary['recon_mse']:.4g}  r_hat {summary['r_hat']} (tau-count {summary['active_dims']})  near_one {summary['near_one']}  "
          f"spectrum_gap stage1 {summary['spectrum_gap']['stage1']:.4f} stage2 "
          f"{'null' if summary['spectrum_gap']['stage2'] is None else format(summary['spectrum_gap']['stage2'], '.4f')}")
    for line in api.verdict(summary) + summary["notes"]:
        print(line)
    where = Path(args.out) if args.out else api.open_run(args.run).diagnostics_dir
    print(f"wrote {where / 'summary.json'}" + (f" and {args.json}" if args.json else "")
          + f" ({summary['seconds']:.1f} s)", file=sys.stderr)
    return 0


def cmd_figure1(args: argparse.Namespace) -> int:
    from vaediag import api

    out = api.output_file(args.out)
    api.require_stage2(args.run)
    if args.compare:
        api.open_trained(args.compare)
    fig = api.figure1(args.run, args.compare, args.n, args.device, note=_sources(api, [args.run], args))
    _save(api, fig, out)
    return 0


def cmd_figure9(args: argparse.Namespace) -> int:
    from vaediag import api

    out = api.output_file(args.out)
    note = _sources(api, [args.run], args)
    _save(api, api.figure9(args.run, args.n, all_rows=args.all, device=args.device, note=note), out, dpi=90)
    return 0


def cmd_figure10(args: argparse.Namespace) -> int:
    from vaediag import api

    out = api.output_file(args.out)
    note = _sources(api, args.run, args)
    _save(api, api.figure10(args.run, args.n, device=args.device, note=note), out)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from vaediag import api

    api.report(args.run, args.compare, args.n, args.device, out=args.out)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0
