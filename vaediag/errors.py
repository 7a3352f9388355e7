"""The exceptions users see: the message is the whole answer to a mistake.

Each is also the built-in exception it is, so ordinary ``except`` clauses catch it:

==========================  =========================================  ================
class                       also a                                     CLI exit status
==========================  =========================================  ================
:class:`VaediagError`       ``Exception`` (a runtime failure)          1
:class:`UsageError`         ``ValueError`` (a wrong argument)          2
:class:`NotFoundError`      ``FileNotFoundError`` (a missing run/file)  1
==========================  =========================================  ================

All three are :class:`VaediagError`, which is what the CLI catches (``vaediag/cli/__init__.py``): it
prints the message as one line and exits with the status above.
"""

from __future__ import annotations

import math


class VaediagError(Exception):
    """A user-facing error. The CLI prints its message as one line and exits 1 (a runtime failure:
    a run that cannot be opened, a file that cannot be written, a check that fails)."""


class UsageError(VaediagError, ValueError):
    """A mistake in the command line or in an argument that argparse cannot see (a value out of range,
    options that exclude each other, an unknown name). Also a ``ValueError``. The CLI prints its
    message as one line and exits 2, as argparse does."""


class NotFoundError(VaediagError, FileNotFoundError):
    """A run, file or folder that does not exist. Also a ``FileNotFoundError`` (an ``OSError``) whose
    ``filename`` is the missing path when one is given. The CLI prints the message as one line and
    exits 1.

    ``NotFoundError("no run at X: the directory does not exist", path=X)``."""

    def __init__(self, message: str, path: object = None) -> None:
        # OSError's one-argument form: str(e) is the message itself (not "[Errno 2] ...").
        super().__init__(message)
        self.filename = None if path is None else str(path)

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __reduce__(self) -> tuple[type[NotFoundError], tuple[str, str | None]]:  # pickled across processes (torchrun ranks, worker pools) as it was made
        return (type(self), (str(self), self.filename))


# The argument checks written once for the whole library; each names the argument as the caller wrote it
# (``batch_size=``), which the command line reads as its flag (``--batch-size``).
def check_positive_int(name: str, value: object) -> int:
    """``value`` as an int if it is a whole number of at least 1, else a :class:`UsageError` naming ``name``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
            and value == int(value) and value >= 1:
        return int(value)
    raise UsageError(f"{name}= must be a positive integer, got {value!r}")


def check_fraction(name: str, value: object) -> float:
    """``value`` as a float if it lies strictly between 0 and 1, else a :class:`UsageError` naming ``name``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1:
        return float(value)
    raise UsageError(f"{name}= must be between 0 and 1, got {value!r}")
