"""The functions behind vaediag's public API, one module per kind of work, for notebooks and scripts
(``vaediag.train(...)``; the names and where each lives: ``vaediag.__all__`` and ``vaediag._HOMES``).
The ``vaediag`` command calls these functions and only adds parsing and printing.

    import vaediag
    run = vaediag.train("runs/quick", preset="quick", steps=300)     # stage 1 + stage 2
    x = vaediag.sample(run, stage=2, n=64)                           # (64, 1, 28, 28) in [0, 1]
    d = vaediag.diagnose(run)                                         # a typed Diagnosis: d.gamma, d.usage, d.verdict
    vaediag.figure1(run)                                              # a matplotlib Figure (inline in Jupyter)

- :mod:`~vaediag.api.runs`: training and sampling a run (``train``, ``resume``, ``open_run``, ``sample``, ...).
- :mod:`~vaediag.api.two_stage`: ``stage2`` (the second stage on given codes), ``enhance``, ``load_two_stage``.
- :mod:`~vaediag.api.analysis`: ``diagnose``, the paper's figures, ``report``, ``check_theory``.
- :mod:`~vaediag.api.quality`: ``fid``, ``fid_sets``, ``score``, ``table`` (with :class:`FidOptions`).
- :mod:`~vaediag.api.demos`, :mod:`~vaediag.api.outside`, :mod:`~vaediag.api.process`,
  :mod:`~vaediag.api.options`: what the command's verbs ``demo``, ``diagnose --model`` and the process
  set-up need; importable, not part of the public API.
- :mod:`~vaediag.api.theory_lab`: ``vaediag.lab``, the theory lab's cores for notebooks.

This package keeps no list of its own: each public name of ``vaediag`` is an attribute of it too
(``vaediag.api.train is vaediag.train``), and nothing else is.
"""

from __future__ import annotations

from vaediag import __all__ as _PUBLIC

__all__ = [n for n in _PUBLIC if n != "__version__"]


def __getattr__(name: str) -> object:
    if name in __all__:
        import importlib

        return getattr(importlib.import_module("vaediag"), name)
    raise AttributeError(f"module 'vaediag.api' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
