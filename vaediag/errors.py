"""The one exception type users see: its message is the whole answer to a mistake."""


class VaediagError(Exception):
    """A user-facing error. The CLI prints its message as one line and exits non-zero."""
