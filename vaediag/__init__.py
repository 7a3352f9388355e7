"""vaediag: diagnose variational autoencoders and check the theory of Dai & Wipf,
"Diagnosing and Enhancing VAE Models" (ICLR 2019).

The package, from the bottom up (imports point one way, upwards never):

- ``errors``, ``io``, ``progress``, ``objective`` (eq. 2): the base every layer uses.
- ``data``: data sets, the CelebA cache, synthetic manifolds with their truth.
- ``engine``: config beside the models, the training loop, the run directory, sampling, devices, torchrun.
- ``diagnostics`` (gamma, lambda_j / r_hat, perturbations, spectra, the verdict) and ``quality`` (FID).
- ``theory``: the constructions and numerical checks of Theorems 1-4 and eqs. (8), (9), (73).
- ``plots``: every figure, as functions returning matplotlib Figures; the HTML report.
- ``api``: the functions behind the public names below; ``cli``: the ``vaediag`` command.

``__all__`` is the one list of public names. Each is imported lazily from the module it lives in, on
first use, so that ``import vaediag`` and ``vaediag --help`` stay fast (no torch).
"""

from vaediag.errors import NotFoundError, UsageError, VaediagError

__version__ = "0.2.0"  # the one place the version is written (pyproject reads it)

# The public API: where each name lives (its home module), imported on first use. This is the one list:
# vaediag.api derives its names from it, and tests/test_api_public.py holds its rules (each name
# documented, docstrings with Args/Returns/Raises, at most 8 parameters, no command-line plumbing).
_HOMES = {
    "vaediag.api.runs": ("train", "resume", "open_run", "info", "load_model", "sample", "reconstruct"),
    "vaediag.api.two_stage": ("stage2", "enhance", "load_two_stage"),
    "vaediag.api.analysis": ("diagnose", "DiagnoseOptions", "run_diagnosis", "figure1", "figure9", "figure10",
                             "report"),
    "vaediag.api.theory_checks": ("check_theory",),
    "vaediag.api.quality": ("fid", "fid_sets", "score", "table", "FidOptions", "cache"),
    "vaediag.engine.runs": ("Run",),
    "vaediag.engine.config": ("RunConfig",),
    "vaediag.engine.info": ("RunInfo", "StageInfo"),
    "vaediag.data": ("Dataset", "load_dataset"),
    "vaediag.diagnostics.adapt": ("adapt",),
    "vaediag.diagnostics.result": ("Diagnosis",),
    "vaediag.diagnostics.budget": ("Budgets",),
    "vaediag.diagnostics.gamma": ("gamma_trajectory", "gamma_verdict"),
    "vaediag.quality.scores": ("Score", "RunScores"),
    "vaediag.quality.sets": ("score_sets",),
    "vaediag.quality.features": ("ProxyFeatures",),
    "vaediag.plots": ("save_figure",),
    "vaediag.plots.images": ("make_grid", "samples_figure"),
    "vaediag.plots.spatial": ("channel_maps_figure", "where_figure"),
}
# Modules offered whole: ``vaediag.lab`` is the theory lab's cores (vaediag.api.theory_lab).
_MODULES = {"lab": "vaediag.api.theory_lab"}
_WHERE = {name: module for module, names in _HOMES.items() for name in names}

__all__ = ["NotFoundError", "UsageError", "VaediagError", "__version__", *_WHERE, *_MODULES]


def __getattr__(name: str):
    import importlib

    if name in _MODULES:
        value = importlib.import_module(_MODULES[name])
    elif name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
    else:
        raise AttributeError(f"module 'vaediag' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
