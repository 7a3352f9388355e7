"""vaediag: diagnose variational autoencoders and check the theory of Dai & Wipf,
"Diagnosing and Enhancing VAE Models" (ICLR 2019)."""

from vaediag.errors import VaediagError

__version__ = "0.2.0.dev0"  # the one place the version is written (pyproject reads it)
__all__ = ["VaediagError", "__version__"]
