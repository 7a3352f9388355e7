"""The Python API: one documented function per thing a researcher does with vaediag, for notebooks
and scripts, and the functions the ``vaediag`` command calls (it only adds parsing and printing).
Everything here is also exported from ``vaediag`` itself (``vaediag.train(...)``).

    import vaediag
    run = vaediag.train("runs/quick", preset="quick", steps=300)     # stage 1 + stage 2
    x = vaediag.sample(run, stage=2, n=64)                           # (64, 1, 28, 28) in [0, 1]
    d = vaediag.diagnose(run)                                         # a typed Diagnosis: d.gamma, d.usage, d.verdict
    vaediag.figure1(run)                                              # a matplotlib Figure (inline in Jupyter)

The names are imported lazily (``vaediag --help`` must not import torch):

- :mod:`~vaediag.api.runs`: ``train``, ``resume``, ``open_run``, ``sample``, ``reconstruct``,
  ``save_samples``.
- :mod:`~vaediag.api.two_stage`: ``stage2`` (the second stage on given codes), ``enhance`` (encode any
  VAE's data and call it), ``load_two_stage``.
- :mod:`~vaediag.api.analysis`: ``diagnose``, ``figure1``, ``figure9``, ``figure10``, ``report``,
  ``check_theory`` and ``save_theory``.
- :mod:`~vaediag.api.quality`: ``fid``, ``fid_sets``, ``table``, ``cache``, ``score`` (FID and KID of
  any two image sets, arrays or files: a ``Score``, as ``fid_sets`` returns; ``fid`` returns a run's
  ``RunScores``).
- ``Diagnosis``: what ``diagnose`` returns, typed sections (``.gamma``, ``.usage``, ``.collapse``, ...), ``.verdict``,
  ``.save(dir)``, ``Diagnosis.load(dir)``; the figures and the report draw it. ``run_diagnosis`` finds a run's
  current saved diagnosis or makes one (the one place the figures' run path is resolved).
- :mod:`~vaediag.api.demos`: ``demo``.
- :mod:`~vaediag.api.theory_lab`: ``lab``, the theory lab's cores (manifolds, constructions, eq. 73, the sweep,
  r_hat, estimators) for notebooks.
- :mod:`~vaediag.api.outside`: ``load_outside_model``, ``load_inputs``, ``diagnose_outside`` (``vaediag
  diagnose --model module:factory``).
- :mod:`~vaediag.api.process`: ``prepare_process`` (the denormal flush and allocator setting every
  training entry point applies).
"""

from __future__ import annotations

import importlib

_NAMES = {
    "vaediag.api.runs": ("train", "resume", "open_run", "sample", "reconstruct", "save_samples", "RunLike"),
    "vaediag.api.two_stage": ("stage2", "enhance", "load_two_stage"),
    "vaediag.api.analysis": ("diagnose", "figure1", "figure9", "figure10", "report", "check_theory", "save_theory",
                             "check_theory_outputs", "diagnostics_sources", "output_file", "open_trained", "require_stage2",
                             "run_diagnosis", "run_history"),
    "vaediag.api.quality": ("fid", "fid_sets", "table", "cache", "StderrProgress",
                            "score", "Score", "RunScores"),
    "vaediag.api.demos": ("demo", "DEMO_PRESET", "DEMO_FIXED_STEPS"),
    "vaediag.api.outside": ("diagnose_outside", "load_outside_model", "load_inputs"),
    "vaediag.api.process": ("prepare_process",),
    "vaediag.engine.config": ("RunConfig", "make_config", "read_config"),
    "vaediag.engine.runs": ("Run",),
    "vaediag.engine.enhance": ("TwoStage", "load_codes"),
    "vaediag.engine.distributed": ("SharedError", "SharedUsageError", "env_world"),
    "vaediag.diagnostics.eigen": ("DEFAULT_TAU",),
    "vaediag.diagnostics.verdict": ("verdict",),
    "vaediag.diagnostics.adapt": ("adapt",),
    "vaediag.diagnostics.result": ("Diagnosis",),
    "vaediag.theory.tables": ("format_table", "format_rhat", "format_reported", "rhat_cells", "fmt"),
    "vaediag.data": ("Dataset", "load_dataset"),
    "vaediag.plots": ("save_figure",),
    # what the notebooks use beyond the verbs (they import only vaediag)
    "vaediag.diagnostics.gamma": ("gamma_trajectory", "gamma_verdict"),
    "vaediag.plots.images": ("make_grid", "samples_figure"),
    "vaediag.plots.spatial": ("channel_maps_figure", "where_figure"),
    "vaediag.diagnostics.budget": ("Budgets",),
    "vaediag.quality.features": ("ProxyFeatures",),
    "vaediag.quality.sets": ("score_sets",),
    "vaediag.errors": ("NotFoundError", "UsageError", "VaediagError"),
    "vaediag.engine.info": ("RunInfo", "StageInfo"),
}
_NAMES["vaediag.api.runs"] += ("info", "load_model")  # vaediag info RUN; a run's network
_WHERE = {name: module for module, names in _NAMES.items() for name in names}
# Modules offered whole: ``vaediag.lab`` is the module vaediag.api.theory_lab.
_MODULES = {"lab": "vaediag.api.theory_lab"}

__all__ = sorted([*_WHERE, *_MODULES])


def __getattr__(name: str) -> object:
    if name in _MODULES:
        value = importlib.import_module(_MODULES[name])
        globals()[name] = value
        return value
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vaediag.api' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE) | set(_MODULES))
