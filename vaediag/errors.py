"""The one exception type users see: its message is the whole answer to a mistake."""


class VaediagError(Exception):
    """A user-facing error. The CLI prints its message as one line and exits 1 (a runtime failure:
    a run that cannot be opened, a file that cannot be written, a check that fails)."""


class UsageError(VaediagError):
    """A mistake in the command line that argparse cannot see (a value out of range, options that
    exclude each other). The CLI prints its message as one line and exits 2, as argparse does."""
