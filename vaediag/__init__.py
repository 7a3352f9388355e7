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

from vaediag.errors import UsageError, VaediagError

__version__ = "0.2.0"  # the one place the version is written (pyproject reads it)

_API = {
    "train": "vaediag.api", "resume": "vaediag.api", "open_run": "vaediag.api", "sample": "vaediag.api",
    "reconstruct": "vaediag.api", "diagnose": "vaediag.api", "figure1": "vaediag.api",
    "figure9": "vaediag.api", "figure10": "vaediag.api", "report": "vaediag.api", "theory": "vaediag.api",
    "fid": "vaediag.api", "Run": "vaediag.engine.runs", "RunConfig": "vaediag.engine.config",
    "load_dataset": "vaediag.data", "Dataset": "vaediag.data", "save_figure": "vaediag.plots",
    "enhance": "vaediag.diagnostics.enhance", "load_two_stage": "vaediag.diagnostics.enhance",
    "adapt": "vaediag.diagnostics.adapt",
}

__all__ = ["UsageError", "VaediagError", "__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        import importlib

        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vaediag' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_API))
