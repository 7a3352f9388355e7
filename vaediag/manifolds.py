"""Synthetic manifolds with known intrinsic dimension r, ambient dimension d and measure.

``make(name, n, seed, **params) -> (X, truth)`` with X an (n, d) float32 array and ``truth`` a dict
holding at least ``r`` and ``d``. ``REGISTRY`` maps names to generators; the engine reads
``--dataset manifold:NAME?key=value&...`` through :func:`make`.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from vaediag.errors import VaediagError


def _rotation(d: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """A (k, d) matrix with orthonormal rows: a fixed random isometric embedding R^k -> R^d."""
    q, _ = np.linalg.qr(rng.standard_normal((d, k)))
    return q[:, :k].T


def sphere(n: int, r: int = 2, d: int = 10, seed: int = 0, embed_seed: int = 1234) -> tuple[np.ndarray, dict]:
    """The unit r-sphere S^r in R^{r+1}, uniform measure, embedded isometrically in R^d."""
    if r + 1 > d:
        raise VaediagError(f"a sphere of dimension r={r} needs d >= r + 1, got d={d}")
    rng = np.random.default_rng(seed)
    y = rng.standard_normal((n, r + 1))
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    x = y @ _rotation(d, r + 1, np.random.default_rng(embed_seed))
    return x.astype(np.float32), {"name": "sphere", "r": r, "d": d}


REGISTRY: dict[str, Callable[..., tuple[np.ndarray, dict]]] = {"sphere": sphere}


def make(name: str, n: int = 5000, seed: int = 0, **params) -> tuple[np.ndarray, dict]:
    """Draw n points of the named manifold; ``seed`` fixes the sample, the embedding is fixed per name."""
    if name not in REGISTRY:
        raise VaediagError(f"unknown manifold {name!r}; known: {', '.join(sorted(REGISTRY))}")
    try:
        return REGISTRY[name](n=n, seed=seed, **params)
    except TypeError as e:
        raise VaediagError(f"bad parameters for manifold {name!r}: {e}") from None
