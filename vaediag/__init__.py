"""vaediag: diagnose variational autoencoders and check the theory of Dai & Wipf,
"Diagnosing and Enhancing VAE Models" (ICLR 2019).

The package, from the bottom up (imports point one way, upwards never):

- ``errors``, ``io``, ``progress``, ``objective`` (eq. 2): the base every layer uses.
- ``data``: data sets, the CelebA cache, synthetic manifolds with their truth.
- ``engine``: config beside the models, the training loop, the run directory, sampling, devices, torchrun.
- ``diagnostics`` (gamma, lambda_j / r_hat, perturbations, spectra, the verdict) and ``quality`` (FID).
- ``theory``: the constructions and numerical checks of Theorems 1-4 and eqs. (8), (9), (73).
- ``plots``: every figure, as functions returning matplotlib Figures; the HTML report.
- ``api``: the Python API below; ``cli``: the ``vaediag`` command.

The public API is imported lazily, so that ``import vaediag`` and ``vaediag --help`` stay fast.
"""

from vaediag.errors import NotFoundError, UsageError, VaediagError

__version__ = "0.2.0"  # the one place the version is written (pyproject reads it)

# The public API, imported lazily from vaediag.api on first use.
_API = ("train", "resume", "open_run", "sample", "reconstruct", "diagnose", "figure1", "figure9", "figure10",
        "report", "check_theory", "fid", "load_dataset", "save_figure", "enhance", "load_two_stage", "adapt", "stage2",
        "demo", "fid_sets", "table", "save_samples", "prepare_process", "Dataset", "Run", "RunConfig",
        "info", "load_model", "RunInfo", "StageInfo", "Diagnosis", "score", "Score", "RunScores")

__all__ = ["NotFoundError", "UsageError", "VaediagError", "__version__", *_API]


def __getattr__(name: str):
    import importlib

    # every name of vaediag.api (the main ones listed in __all__); vaediag.api itself is a submodule
    api = importlib.import_module("vaediag.api") if not name.startswith("_") and name != "api" else None
    if api is None or (name not in _API and name not in api.__all__):
        raise AttributeError(f"module 'vaediag' has no attribute {name!r}")
    return getattr(api, name)


def __dir__():
    return sorted(set(globals()) | set(_API))
