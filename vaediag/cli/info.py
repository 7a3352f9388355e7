"""``vaediag info RUN``: what a run is, how far each stage got, gamma, the last diagnosis and the command to
run next; the work is :func:`vaediag.api.info` (read from the run's files, no network loaded)."""

from __future__ import annotations

import argparse
import json

INFO_HELP = """\
Say what a run is (data set, architecture, kappa, gamma learned or fixed, preset), how far each stage
got (steps checkpointed of its schedule, the last logged gamma, training time), the last diagnosis
(r_hat, gamma, the verdict) if there is one, and the command to run next. Reads the run's files only.

examples:
  vaediag info runs/quick
  vaediag info runs/quick --json | python -m json.tool
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="what a run is, how far it got, its last diagnosis and what to run next",
                       description=INFO_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", metavar="RUN", help="run directory")
    p.add_argument("--json", action="store_true", help="print the same as one JSON object (its fields: "
                   "vaediag.RunInfo)")
    p.add_argument("--quiet", action="store_true", help="nothing on stderr but errors")
    p.set_defaults(func=cmd_info)


def cmd_info(args: argparse.Namespace) -> int:
    from vaediag.api.runs import info as run_info

    info = run_info(args.run)
    if args.json:
        print(json.dumps(info.to_dict(), indent=1))
    else:
        print("\n".join(info.lines()))
    return 0
