"""vaediag: diagnose variational autoencoders and check the theory of Dai & Wipf,
"Diagnosing and Enhancing VAE Models" (ICLR 2019)."""

from vaediag.errors import VaediagError

__version__ = "0.1.0"
__all__ = ["VaediagError", "__version__"]
