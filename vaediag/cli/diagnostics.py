"""`vaediag diagnose`, `figure1`, `figure9`, `figure10` and `report`: parsing and printing; the work
is :mod:`vaediag.api` (imported inside each command, so that `vaediag --help` stays fast)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vaediag.cli.words import in_flags
from vaediag.errors import UsageError


def _common(p, n_default=10000):
    p.add_argument("--n", type=int, default=n_default,
                   help=f"training inputs to diagnose (default {n_default}, or all if fewer)")
    p.add_argument("--device", default="auto", help="auto (GPU when present), cpu, cuda or mps")
    p.add_argument("--quiet", action="store_true", help="nothing on stderr but errors")


def register(sub) -> None:
    _register_diagnose(sub)
    _register_figures(sub)


def _register_diagnose(sub) -> None:
    p = sub.add_parser("diagnose", help="all diagnostics of a run (or of your own model with --model)",
                       description="Compute gamma, r_hat and the lambda_j of Sigma_z(x), perturbations along "
                       "eigendirections, aggregated-posterior spectra and collapse statistics of a run (stage 2 when "
                       "trained); write RUN/diagnostics/summary.json and arrays.npz and print the verdict. With "
                       "--model module:factory (or file.py:factory) and --data, diagnose a model vaediag did not "
                       "train: the factory returns the model (or vaediag.adapt(model, likelihood=..., loss=..., "
                       "kl_weight=..., data_range=...)); --out DIR receives summary.json, arrays.npz and report.html.")
    p.add_argument("--run", default=None, help="run directory (or --model with --data)")
    p.add_argument("--model", metavar="MODULE:FACTORY", default=None,
                   help="your model: package.module:factory or path/to/file.py:factory, a function with no "
                   "arguments returning the model (or an adapted one)")
    p.add_argument("--checkpoint", metavar="FILE", default=None,
                   help="--model: a state dict to load (torch.save, read with weights_only=True; or .safetensors)")
    p.add_argument("--data", metavar="FILE", default=None,
                   help="--model: the inputs: .npy/.npz array, a folder of PNG/JPEG images, or a data-set name "
                   "(mnist5k, mnist, cifar10, ...); uint8 images are mapped into the model's data_range, floats are "
                   "taken in the model's units")
    _common(p)
    p.add_argument("--tau", type=float, default=None,
                   help="the tau of the tau-count (#{j: mean lambda_j < tau}, the count that assumes gamma -> 0; "
                   "default 0.1). It changes the tau-count only: r_hat is always the lambda_j < 1/2 count")
    p.add_argument("--seed", type=int, default=0, help="seed of the posterior samples and perturbations")
    p.add_argument("--no-iw", action="store_true",
                   help="skip the importance-weighted log-likelihood (50 decodes of each of 200 inputs)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="write summary.json and arrays.npz into DIR instead of RUN/diagnostics (a read-only run "
                   "can be diagnosed; the figure verbs only reuse diagnostics saved in the run); with --model, "
                   "the folder for summary.json, arrays.npz and report.html")
    p.add_argument("--figures", action="store_true",
                   help="--model: also write figure1.png (no gamma history), figure9.png and figure10.png into --out")
    p.add_argument("--overwrite", action="store_true", help="--model: replace files already in --out")
    p.add_argument("--json", metavar="PATH", default=None,
                   help="also write the summary to PATH (its keys: docs/diagnostics.md)")
    _budget_options(p)
    p.set_defaults(func=cmd_diagnose)


# The budget flags: (flag, Budgets field, the value that means no budget, help). Their defaults are
# vaediag.diagnostics.budget's (tests/test_cli_diagnostics.py holds the help to them).
BUDGET_FLAGS = (
    ("--perturb-directions", "perturb_directions", "all",
     "latent directions perturbed (15 decodes of each of 8 inputs per direction): half the most used, half the "
     "least used (default 16; 'all' or 0: every direction)"),
    ("--gain-directions", "gain_directions", "all",
     "directions per input whose decoder gain enters the eq. (73) fit of gamma_effective, a random sample (one "
     "Jacobian-vector product, about 3 decodes, each; default 16; 'all' or 0: every direction)"),
    ("--spectrum-dims", "spectrum_dims", "all",
     "coordinates of the aggregated-posterior spectrum (its Gram matrix grows with their square), a random "
     "sample (default 256; 'all' or 0: every coordinate)"),
    ("--max-memory-gb", "max_memory_gb", "none",
     "refuse, before any work, a diagnosis whose arrays are estimated above this many GB (default 4; 'none' "
     "or 0: no limit)"),
    ("--max-seconds", "max_seconds", "none",
     "refuse, before any work, a diagnosis estimated to take longer (default: no limit; 'none' or 0: no limit)"),
)


def _budget_value(word: str) -> str:
    """'all', 'none' or 0: no budget (None); otherwise a number, checked by vaediag.Budgets."""
    def parse(text: str):
        if text.strip().lower() in ("all", "none", "0"):
            return None
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"give a number or '{word}', got {text!r}") from None
        return int(v) if word == "all" and v.is_integer() else v
    return parse


def _budget_options(p) -> None:
    g = p.add_argument_group("budgets", "the per-direction and quadratic parts of a diagnosis; they apply only to "
                             "latents of more than 64 numbers (a smaller latent is diagnosed along every direction)")
    for flag, field, word, text in BUDGET_FLAGS:
        g.add_argument(flag, dest=field, metavar="N" if word == "all" else "X", type=_budget_value(word),
                       default=argparse.SUPPRESS, help=text)


def _budgets(api, args):
    """vaediag.Budgets from the budget flags given (the others at their defaults)."""
    given = {field: getattr(args, field) for _, field, _, _ in BUDGET_FLAGS if hasattr(args, field)}
    return api.Budgets(**given)


def _options(api, args, **more):
    """vaediag.DiagnoseOptions from the flags (--seed, --tau, --no-iw, the budgets, --json, --quiet) and ``more``."""
    return api.DiagnoseOptions(seed=args.seed, tau=api.DEFAULT_TAU if args.tau is None else args.tau, iw=not args.no_iw,
                               budgets=_budgets(api, args), progress=not args.quiet, json_path=args.json, **more)


def _register_figures(sub) -> None:
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


def count_text(d) -> str:
    """The headline count: r_hat, or 'no clear count' with the range the band allows and the directions in it;
    the tau-count and the counts by cut under their own names."""
    u, k = d.usage, d.model.latent_dim
    by_cut = " ".join(f"{c}:{v}" for c, v in (u.count_by_cut or {}).items())
    if u.clear:
        head = f"r_hat {u.r_hat} of {k}"
    else:
        lo, hi = u.r_hat_range
        head = (f"r_hat: no clear count (range {lo}-{hi}; direction(s) {', '.join(map(str, u.in_band))} in the band "
                f"[{u.band[0]:.3g}, {u.band[1]:.3g}]) of {k}")
    part = f"  partly used {', '.join(map(str, u.partly_used))}" if u.partly_used else ""
    return (f"{head}  [lambda<cut count by cut {by_cut}]  tau-count(lambda<{u.tau:g}) {u.tau_count}  "
            f"near_one {u.near_one}{part}")


def _num(v, fmt=".4g") -> str:
    return "null" if v is None else format(v, fmt)


def cmd_diagnose(args: argparse.Namespace) -> int:
    from vaediag.api import analysis as api

    if args.model is not None or args.data is not None or args.checkpoint is not None:
        return _diagnose_model(api, args)
    if args.run is None:
        raise UsageError("give --run RUN, or --model MODULE:FACTORY with --data FILE")
    if args.figures:
        raise UsageError("--figures is for --model; for a run use the figure1/figure9/figure10 verbs")
    d = api.diagnose(args.run, n=args.n, device=args.device, out=args.out, write=True, options=_options(api, args))
    _print(d)
    where = Path(args.out) if args.out else api.open_run(args.run).diagnostics_dir
    print(f"wrote {where / 'summary.json'}" + (f" and {args.json}" if args.json else "")
          + f" ({d.provenance.seconds:.1f} s)", file=sys.stderr)
    return 0


def _print(d) -> None:
    g, sp = d.gamma, d.spectra
    enc = (f"fisher_c {_num(d.fisher.c if d.fisher else None)}" if d.model.likelihood == "bernoulli" else
           f"gamma_effective {_num(g.effective)}")
    units = "" if d.model.unit_scale == 1.0 else f"  gamma_01 {_num(g.value_01)}"
    print(f"gamma {_num(g.value)}{units}  gamma_stage2 {_num(d.stage2.gamma)}  {enc}  recon_mse {_num(g.recon_mse)}  "
          f"spectrum_gap stage1 {_num(sp.gap_stage1, '.4f')} stage2 {_num(sp.gap_stage2, '.4f')}")
    print(count_text(d))
    for line in d.verdict + list(d.provenance.notes):
        print(in_flags(line, "diagnose"))  # the arguments a note names, as this command's flags


def _diagnose_model(api, args) -> int:
    if args.run is not None:
        raise UsageError("--run diagnoses a run, --model your own model: give one or the other")
    if args.model is None or args.data is None:
        raise UsageError("--model MODULE:FACTORY and --data FILE go together (--checkpoint is optional)")
    from vaediag.api.outside import diagnose_outside

    d, written = diagnose_outside(args.model, args.data, args.checkpoint, args.out, n=args.n, device=args.device,
                                  figures=args.figures,
                                  options=_options(api, args, overwrite=args.overwrite))
    _print(d)
    if written:
        print("wrote " + ", ".join(str(p) for p in written), file=sys.stderr)
    else:
        print("nothing written (give --out DIR to keep summary.json, arrays.npz and report.html)", file=sys.stderr)
    return 0


def cmd_figure1(args: argparse.Namespace) -> int:
    from vaediag.api import analysis as api

    out = api.output_file(args.out)
    api.require_stage2(args.run)
    if args.compare:
        api.open_trained(args.compare)
    fig = api.figure1(args.run, args.compare, args.n, args.device, note=_sources(api, [args.run], args))
    _save(api, fig, out)
    return 0


def cmd_figure9(args: argparse.Namespace) -> int:
    from vaediag.api import analysis as api

    out = api.output_file(args.out)
    note = _sources(api, [args.run], args)
    _save(api, api.figure9(args.run, args.n, all_rows=args.all, device=args.device, note=note), out, dpi=90)
    return 0


def cmd_figure10(args: argparse.Namespace) -> int:
    from vaediag.api import analysis as api

    out = api.output_file(args.out)
    note = _sources(api, args.run, args)
    _save(api, api.figure10(args.run, args.n, device=args.device, note=note), out)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from vaediag.api import analysis as api

    api.report(args.run, args.compare, args.n, args.device, out=args.out)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0
