"""Library errors in the command line's words. Library code names the Python arguments a caller passed
(``n=``, ``latent_dim=``, ``iw=False``, ``budgets=vaediag.Budgets(max_memory_gb=...)``) and the Python calls
that would help (``vaediag.resume('runs/a')``); :func:`in_flags` puts the flags and commands of the
``vaediag`` command in their place, here and nowhere else, before the one line on stderr."""

from __future__ import annotations

import ast
import re
from typing import Any

# Python argument -> the flag that sets it where the two are not spelled alike (an argument written
# name=VALUE becomes "--flag VALUE"). Any other argument is the flag spelled with dashes (latent_dim: --latent-dim)
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
    "codes": "--posteriors",
}
SWITCHES = {"iw=False": "--no-iw", "overwrite=True": "--overwrite", "rebuild=True": "--rebuild"}  # booleans: the flag alone
# How "no budget" / "no limit" is written: None in Python, a word or 0 on the command line.
PHRASES = {"or None (no budget)": "or all (no budget)", "or None (no limit)": "or 0 (no limit)",
           "budgets=vaediag.Budgets(...)": "--perturb-directions, --gain-directions, --spectrum-dims, "
                                           "--max-memory-gb or --max-seconds"}
# A Python call a message suggests -> (the verb that does the same, the flag of its first positional argument).
COMMANDS = {
    "train": ("train", "--out"),
    "resume": ("train", "--resume"),
    "stage2": ("stage2", "--out"),
    "fid": ("fid", "--run"),
    "cache": ("cache", None),
}
_BUDGET = re.compile(r"budgets=vaediag\.Budgets\((\w+)=([^)]*)\)")
_CALL = re.compile(r"vaediag\.(\w+)\(([^()]*)\)")
_ARG = re.compile(r"(?<![\w.-])(\w+)=([^\s,;:()]*)")


def flag_of(name: str, options: set[str] | frozenset[str] | None = None) -> str | None:
    """The flag that sets the Python argument ``name``: its entry in :data:`FLAGS`, or the name with dashes;
    with ``options`` (the option strings of the verb that failed) only a flag that verb has, without them
    only the entries of :data:`FLAGS`. None if there is none."""
    if name in FLAGS:
        return FLAGS[name] if options is None or FLAGS[name] in options else None
    flag = "--" + name.replace("_", "-")
    return flag if options is not None and flag in options else None


def _flag(name: str, value: str, options: frozenset[str] | None) -> str | None:
    flag = flag_of(name, options)
    if flag is None:
        return None
    if len(value) > 1 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]  # stages='2': --stages 2
    return flag if value in ("", "...", "True") else f"{flag} {value}"  # proxy=True: --proxy


def _word(value: object) -> str:
    text = str(value)
    return f'"{text}"' if not text or re.search(r"[\s'\"();&|<>$`\\]", text) else text


def _command(m: re.Match[str]) -> str:
    """``vaediag.resume('runs/a')`` -> ``'vaediag train --resume runs/a'`` (the call as written when it does
    not read as a command)."""
    written: str = m.group(0)
    verb = COMMANDS.get(m.group(1))
    try:
        call = ast.parse(written, mode="eval").body
        if not isinstance(call, ast.Call):
            return written
        args = [ast.literal_eval(a) for a in call.args]
        kwargs = {str(k.arg): ast.literal_eval(k.value) for k in call.keywords}
    except (SyntaxError, ValueError):
        return written
    if verb is None or len(args) > (verb[1] is not None) or any(k.arg is None for k in call.keywords):
        return written
    first = verb[1]
    if verb[0] == "stage2" and kwargs.get("resume") is True:  # vaediag.stage2(out, resume=True): stage2 --resume OUT
        first = "--resume"
        del kwargs["resume"]
    words = ["vaediag", verb[0]] + ([first, _word(args[0])] if first and args else [])
    for name, value in kwargs.items():
        switch, flag = SWITCHES.get(f"{name}={value}"), flag_of(name, verb_options(verb[0]))
        if switch is not None:
            words.append(switch)
        elif flag is not None:
            words += [flag] if value is True else [flag, _word(value)]
        else:
            return written
    return "'" + " ".join(words) + "'"


def in_flags(message: str, verb: str | None = None) -> str:
    """``message`` with each Python argument it names replaced by the ``vaediag`` flag that sets it and each
    Python call it suggests by the command that does the same (arguments without a flag are left as they
    are). ``verb``: the command that failed, whose flags ``latent_dim=`` and the like may become (``--latent-dim``)."""
    options = verb_options(verb) if verb else None
    message = _CALL.sub(_command, message)
    for old, new in list(PHRASES.items()) + list(SWITCHES.items()):
        message = message.replace(old, new)
    message = _BUDGET.sub(lambda m: _flag(m.group(1), m.group(2), options) or m.group(0), message)
    return _ARG.sub(lambda m: _flag(m.group(1), m.group(2), options) or m.group(0), message)


_OPTIONS: dict[str, frozenset[str]] = {}


def verb_options(verb: str) -> frozenset[str]:
    """The option strings of the verb ``verb`` (empty for a verb that does not exist)."""
    if not _OPTIONS:
        from vaediag.cli import build_parser

        group = build_parser()._subparsers
        verbs: dict[str, Any] = dict(getattr(group._group_actions[0], "choices", None) or {}) if group else {}
        _OPTIONS.update({name: frozenset(o for a in p._actions for o in a.option_strings) for name, p in verbs.items()})
    return _OPTIONS.get(verb, frozenset())
