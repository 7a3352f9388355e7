"""Library errors in the command line's words. Library code names the Python arguments a caller passed
(``n=``, ``tau=``, ``iw=False``, ``budgets=vaediag.Budgets(max_memory_gb=...)``); :func:`in_flags` puts the
flags of the ``vaediag`` command in their place, here and nowhere else, before the one line on stderr."""

from __future__ import annotations

import re

# Python argument -> the flag that sets it (an argument written name=VALUE becomes "--flag VALUE").
FLAGS = {
    "n": "--n",
    "tau": "--tau",
    "seed": "--seed",
    "device": "--device",
    "threads": "--threads",
    "out": "--out",
    "json_path": "--json",
    "perturb_directions": "--perturb-directions",
    "gain_directions": "--gain-directions",
    "spectrum_dims": "--spectrum-dims",
    "max_memory_gb": "--max-memory-gb",
    "max_seconds": "--max-seconds",
    "seeds": "--seeds",
    "batch_size": "--batch-size",
    "kid_subsets": "--kid-subsets",
    "kid_subset_size": "--kid-subset-size",
    "fid_method": "--fid-method",
    "inception": "--inception",
    "spec": "--model",
    "checkpoint": "--checkpoint",
    "data": "--data",
    "runs": "--runs",
    "figures": "--figures",
    "steps": "--steps",
    "stage2_steps": "--stage2-steps",
    "dataset": "--dataset",
    "workers": "--workers",
    "test_fraction": "--test-fraction",
}
SWITCHES = {"iw=False": "--no-iw", "overwrite=True": "--overwrite", "proxy=True": "--proxy"}  # booleans: the flag alone
# How "no budget" / "no limit" is written: None in Python, a word or 0 on the command line.
PHRASES = {"or None (no budget)": "or all (no budget)", "or None (no limit)": "or 0 (no limit)",
           "budgets=vaediag.Budgets(...)": "--perturb-directions, --gain-directions, --spectrum-dims, "
                                           "--max-memory-gb or --max-seconds"}
_BUDGET = re.compile(r"budgets=vaediag\.Budgets\((\w+)=([^)]*)\)")
_ARG = re.compile(r"(?<![\w.-])(\w+)=([^\s,;:()]*)")


def _flag(name: str, value: str) -> str | None:
    flag = FLAGS.get(name)
    if flag is None:
        return None
    return flag if value in ("", "...") else f"{flag} {value}"


def in_flags(message: str) -> str:
    """``message`` with each Python argument it names replaced by the ``vaediag`` flag that sets it
    (arguments without a flag are left as they are)."""
    for old, new in list(PHRASES.items()) + list(SWITCHES.items()):
        message = message.replace(old, new)
    message = _BUDGET.sub(lambda m: _flag(m.group(1), m.group(2)) or m.group(0), message)
    return _ARG.sub(lambda m: _flag(m.group(1), m.group(2)) or m.group(0), message)
