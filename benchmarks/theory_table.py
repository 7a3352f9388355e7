"""The "Theory lab: measured" tables of docs/results/theory.md, from the JSON of a quick and a full run of the lab.

    vaediag theory --quick --json q.json
    vaediag theory --json f.json --figures figs
    python benchmarks/theory_table.py q.json f.json

Prints two Markdown tables: every check (quick beside full: measured, predicted, tolerance, verdicts)
and the r_hat table of the full run (truth, the selected restart, every restart's r_hat and held-out
loss, the two estimators), then each run's pass count and elapsed time as the program measured it.
Nothing here is typed by hand: paste the output into docs/results/theory.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

from vaediag.api import fmt as _fmt, rhat_cells


def _cell(v) -> str:
    return _fmt(v).replace("|", "\\|")


def _claim(q: str, f: str) -> str:
    """One claim for both runs: the text they share, then each run's own parenthesis where they differ."""
    if q == f:
        return q
    base_q, base_f = re.sub(r"\s*\([^()]*\)\s*$", "", q), re.sub(r"\s*\([^()]*\)\s*$", "", f)
    if base_q != base_f:
        raise SystemExit(f"the two runs list different checks: {q!r} vs {f!r}; pass a quick and a full run of one version")
    extra_q, extra_f = q[len(base_q):].strip(" ()"), f[len(base_f):].strip(" ()")
    return f"{base_q} (quick: {extra_q}; full: {extra_f})"


def checks_table(q: dict, f: dict) -> str:
    if len(q["checks"]) != len(f["checks"]):
        raise SystemExit(f"the runs have {len(q['checks'])} and {len(f['checks'])} checks; pass a quick and a full "
                         "run of one version")
    out = ["| claim | quick: measured | full: measured | predicted | tolerance | verdict (quick / full) |",
           "|---|---|---|---|---|---|"]
    for a, b in zip(q["checks"], f["checks"]):
        out.append(f"| {_cell(_claim(a['claim'], b['claim']))} | {_cell(a['measured'])} | {_cell(b['measured'])} | "
                   f"{_cell(a['predicted'])} | {_cell(a['tolerance'])} | {a['verdict']} / {b['verdict']} |")
    return "\n".join(out)


def rhat_table(run: dict) -> str:
    out = ["| data | r | r_hat VAE (gamma) | restarts' r_hat (held-out loss) | MLE | TwoNN | affine dim. | checked |",
           "|---|---|---|---|---|---|---|---|"]
    out += ["| " + " | ".join(rhat_cells(r)) + " |" for r in run["rhat_table"]]
    return "\n".join(out)


def summary(name: str, run: dict) -> str:
    n = len(run["checks"])
    ok = sum(c["verdict"] == "pass" for c in run["checks"])
    return f"{name}: {ok}/{n} pass, {run['elapsed_seconds']:.0f} s by the program's clock (seed {run['config']['seed']})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("quick", help="JSON of `vaediag theory --quick --json PATH`")
    ap.add_argument("full", help="JSON of `vaediag theory --json PATH`")
    a = ap.parse_args()
    runs = []
    for path, want in ((a.quick, True), (a.full, False)):
        if not os.path.isfile(path):
            print(f"theory_table: {path} does not exist; make it with `vaediag theory{' --quick' if want else ''} "
                  f"--json {path}`", file=sys.stderr)
            return 2
        try:
            with open(path, encoding="utf-8") as fh:
                run = json.load(fh)
            ok = isinstance(run, dict) and {"checks", "config", "rhat_table", "elapsed_seconds"} <= run.keys()
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            ok = False
        if not ok:
            print(f"theory_table: {path} is not the JSON of `vaediag theory --json`", file=sys.stderr)
            return 2
        if run.get("config", {}).get("quick") is not want:
            print(f"theory_table: {path} is not a {'quick' if want else 'full'} run; pass the quick run first",
                  file=sys.stderr)
            return 2
        runs.append(run)
    q, f = runs
    print(checks_table(q, f))
    print()
    print(rhat_table(f))
    print()
    print(summary("quick", q))
    print(summary("full", f))
    return 0


if __name__ == "__main__":
    sys.exit(main())
