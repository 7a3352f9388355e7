"""Message tests on the key facts: the argument or flag named, the numbers, the file, not the wording.

``pytest.raises(UsageError, match=facts("latent_dim", 0))`` passes when the message names each fact, in
any order, however the sentence around them is written; ``says(text, *facts)`` is the same test on a string
(a CLI's stderr).
"""

import re


def facts(*words: object) -> str:
    """A regex (for ``pytest.raises(match=...)``) that a text matches when it holds each of ``words``
    (their ``str``, as written)."""
    return "(?s)" + "".join(f"(?=.*{re.escape(str(w))})" for w in words)


def says(text: str, *words: object) -> bool:
    """Whether ``text`` holds each of ``words`` (their ``str``)."""
    return all(str(w) in text for w in words)
