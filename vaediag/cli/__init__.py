"""The ``vaediag`` command. Each group of verbs lives in its own module with a ``register(sub)``
function that adds its subparsers (``set_defaults(func=...)``); this module only dispatches and
turns a :class:`VaediagError` into one line on stderr (once per torchrun job when every rank raises
it), with the Python arguments it names put in the command's flags (:mod:`vaediag.cli.words`). Exit status: 0 success, 1 runtime failure (:class:`VaediagError`), 2 usage error (argparse's, or
:class:`UsageError`)."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from vaediag.cli.words import in_flags
from vaediag.errors import UsageError, VaediagError

# Verb modules, in the order their verbs appear in --help. A module that is absent is skipped.
VERB_MODULES = (
    "vaediag.cli.engine",  # train, sample, demo
    "vaediag.cli.enhance",  # stage2
    "vaediag.cli.diagnostics",  # diagnose, figure1, figure9, figure10, report
    "vaediag.cli.theory",  # theory
    "vaediag.cli.quality",  # fid, table
    "vaediag.cli.cache",  # cache
    "vaediag.cli.info",  # info
)


class ArgumentParser(argparse.ArgumentParser):
    """argparse that answers a usage mistake with one line (and a pointer to --help) and exit status 2,
    and takes no abbreviated options (``--max-mem`` for ``--max-memory-gb``): a script that abbreviates breaks
    the day an option with the same prefix is added. Subparsers are of this class too."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # noqa: D401
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="vaediag",
        description="Diagnose VAEs and check the theory of Dai & Wipf, 'Diagnosing and Enhancing VAE "
        "Models' (ICLR 2019): a two-stage VAE, the paper's diagnostics and figures, a theory lab, FID.",
    )
    from vaediag import __version__

    parser.add_argument("--version", action="version", version=f"vaediag {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    for name in VERB_MODULES:
        if importlib.util.find_spec(name.rsplit(".", 1)[0]) is None or importlib.util.find_spec(name) is None:
            continue
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, or a usage error already printed as one line (no torch yet)
        return int(e.code or 0) if not isinstance(e.code, str) else 2
    from vaediag.api.process import SharedError, env_world, prepare_process

    prepare_process()  # before any worker thread exists (threads inherit the denormal flag)
    if not getattr(args, "func", None):  # no verb: a usage error, so the usage goes to stderr
        parser.print_usage(sys.stderr)
        print("vaediag: error: name a command (see 'vaediag --help')", file=sys.stderr)
        return 2
    rank, world = env_world()
    try:
        if world > 1 and args.command != "train":
            raise SharedError(f"only 'vaediag train' runs on several processes; run 'vaediag {args.command}' "
                              "as one process (without torchrun)")
        if getattr(args, "quiet", False):  # --quiet on every verb: nothing on stderr but errors
            import contextlib
            import io

            with contextlib.redirect_stderr(io.StringIO()):
                return int(args.func(args) or 0)
        return int(args.func(args) or 0)
    except VaediagError as e:
        # Under torchrun an error that every rank raises together is printed once (by rank 0);
        # one raised by a single rank is printed by that rank, with its number.
        if rank == 0 or not isinstance(e, SharedError):
            where = f" (rank {rank})" if world > 1 and not isinstance(e, SharedError) else ""
            print(f"vaediag {args.command}{where}: error: {in_flags(str(e), args.command)}", file=sys.stderr)
        return 2 if isinstance(e, UsageError) else 1  # exit status: 0 success, 1 runtime failure, 2 usage error
    except KeyboardInterrupt:
        print(f"vaediag {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
