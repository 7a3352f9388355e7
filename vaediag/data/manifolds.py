"""Synthetic manifolds with known intrinsic dimension r, ambient dimension d and measure.

``make(name, n, seed, **params) -> (X, truth)`` with X an (n, d) float32 array and ``truth`` a dict
holding ``name``, ``r``, ``d`` and ``measure`` (a description of the ground-truth law mu_gt).
``REGISTRY`` maps names to generators; the engine reads ``--dataset manifold:NAME?key=value&...``
through :func:`make`; :func:`truth_table` lists every generator's truth at its default parameters
(like skdim's benchmark table).

``seed`` fixes the sample; the embedding (rotation into R^d, random smooth map) is fixed per
``embed_seed`` so that train and test draws with different seeds lie on the same manifold.
Every measure is non-Gaussian on its manifold (so the two-stage argument of section 4 has something
to fix). Scales are O(1) so that a VAE with gamma starting at 1 trains without standardisation.
"""

from __future__ import annotations

import functools
import inspect
from typing import Callable

import numpy as np

from vaediag.errors import VaediagError


def _rotation(d: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """A (k, d) matrix with orthonormal rows: a fixed random isometric embedding R^k -> R^d."""
    q, _ = np.linalg.qr(rng.standard_normal((d, k)))
    return q[:, :k].T


def _need(cond: bool, msg: str) -> None:
    if not cond:
        raise VaediagError(msg)


def _check_rd(r: int, d: int, need: int, what: str) -> None:
    _need(int(r) >= 1, f"the {what} needs r >= 1, got r={r}")
    _need(int(d) >= need, f"the {what} with r={r} needs d >= {need}, got d={d}")


def linear(n: int, r: int = 3, d: int = 10, seed: int = 0, embed_seed: int = 1234) -> tuple[np.ndarray, dict]:
    """An r-dim linear subspace of R^d; coordinates i.i.d. uniform on [-1, 1] (a cube, not a Gaussian)."""
    _check_rd(r, d, r, "linear subspace")
    u = np.random.default_rng(seed).uniform(-1.0, 1.0, size=(n, r))
    x = u @ _rotation(d, r, np.random.default_rng(embed_seed))
    return x.astype(np.float32), {"name": "linear", "r": r, "d": d,
                                  "measure": f"uniform on the cube [-1,1]^{r} in a random {r}-dim subspace"}


def sphere(n: int, r: int = 2, d: int = 10, seed: int = 0, embed_seed: int = 1234) -> tuple[np.ndarray, dict]:
    """The unit r-sphere S^r in R^{r+1}, uniform measure, embedded isometrically in R^d."""
    _check_rd(r, d, r + 1, "sphere")
    rng = np.random.default_rng(seed)
    y = rng.standard_normal((n, r + 1))
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    x = y @ _rotation(d, r + 1, np.random.default_rng(embed_seed))
    return x.astype(np.float32), {"name": "sphere", "r": r, "d": d,
                                  "measure": f"uniform on the unit {r}-sphere, rotated into R^{d}"}


def torus(n: int, r: int = 2, d: int = 10, seed: int = 0, embed_seed: int = 1234) -> tuple[np.ndarray, dict]:
    """The flat r-torus (S^1)^r in R^{2r}, embedded isometrically in R^d; angles i.i.d. von Mises(0, 1)."""
    _check_rd(r, d, 2 * r, "torus")
    theta = np.random.default_rng(seed).vonmises(0.0, 1.0, size=(n, r))
    y = np.concatenate([np.cos(theta), np.sin(theta)], axis=1)
    x = y @ _rotation(d, 2 * r, np.random.default_rng(embed_seed))
    return x.astype(np.float32), {"name": "torus", "r": r, "d": d,
                                  "measure": f"product of {r} von Mises(0, 1) angles on the flat torus in R^{2 * r}"}


def swissroll(n: int, r: int = 2, d: int = 10, seed: int = 0, embed_seed: int = 1234) -> tuple[np.ndarray, dict]:
    """The Swiss roll (t cos t, h, t sin t)/(3 pi), t uniform on [1.5 pi, 4.5 pi], h uniform on [-1, 1],
    rotated into R^d (r = 2 only)."""
    _need(int(r) == 2, f"the Swiss roll is 2-dimensional; got r={r}")
    _check_rd(r, d, 3, "Swiss roll")
    rng = np.random.default_rng(seed)
    t = rng.uniform(1.5 * np.pi, 4.5 * np.pi, n)
    h = rng.uniform(-1.0, 1.0, n)
    y = np.stack([t * np.cos(t) / (3 * np.pi), h, t * np.sin(t) / (3 * np.pi)], axis=1)
    x = y @ _rotation(d, 3, np.random.default_rng(embed_seed))
    return x.astype(np.float32), {"name": "swissroll", "r": 2, "d": d,
                                  "measure": "uniform in (t, h): not uniform in area on the roll"}


def _embedding_params(r: int, d: int, embed_seed: int, width: int = 16):
    rng = np.random.default_rng(embed_seed)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    a, b = q[:, :r], q[:, r:]  # orthonormal, mutually orthogonal column blocks
    c = rng.standard_normal((r, width)) * 1.5
    w = rng.standard_normal((width, d - r)) / np.sqrt(width)
    bias = rng.uniform(-1, 1, width)
    return a, b, c, w, bias


def embedding_map(u: np.ndarray, d: int, embed_seed: int = 1234) -> np.ndarray:
    """The fixed smooth embedding x = A u + B (tanh(u C + b) W): A, B orthonormal with orthogonal ranges,
    so A^T x = u and the map is injective with a Jacobian of rank r everywhere (a graph over R^r)."""
    r = u.shape[1]
    a, b, c, w, bias = _embedding_params(r, d, embed_seed)
    return u @ a.T + (np.tanh(u @ c + bias) @ w) @ b.T


def embedding(n: int, r: int = 2, d: int = 10, seed: int = 0, embed_seed: int = 1234) -> tuple[np.ndarray, dict]:
    """A fixed random smooth embedding of R^r into R^d (:func:`embedding_map`) of a skewed latent law:
    u_i = (g_i - 2) / sqrt(2), g_i ~ Gamma(shape 2, scale 1) i.i.d. (mean 0, variance 1, skewness sqrt 2)."""
    _check_rd(r, d, r + 1, "smooth embedding")
    g = np.random.default_rng(seed).gamma(2.0, 1.0, size=(n, r))
    u = (g - 2.0) / np.sqrt(2.0)
    x = embedding_map(u, d, embed_seed)
    return x.astype(np.float32), {"name": "embedding", "r": r, "d": d,
                                  "measure": f"(Gamma(2,1) - 2)/sqrt 2 latent law on R^{r} through a tanh embedding into R^{d}"}


def mixture_params(d: int, embed_seed: int = 1234):
    """Weights (3,), means (3, d), standard deviations (3,) of the r = d mixture (see :func:`mixture`)."""
    rng = np.random.default_rng(embed_seed)
    means = rng.standard_normal((3, d))
    means *= 1.5 / np.linalg.norm(means, axis=1, keepdims=True)
    return np.array([0.5, 0.3, 0.2]), means, np.array([0.3, 0.5, 0.7])


def mixture(n: int, r: int | None = None, d: int = 3, seed: int = 0, embed_seed: int = 1234) -> tuple[np.ndarray, dict]:
    """r = d: a 3-component isotropic Gaussian mixture on R^d (weights .5/.3/.2, sds .3/.5/.7, means on the
    sphere of radius 1.5): a density that is nonzero everywhere and not Gaussian (Theorem 1's setting)."""
    _need(r is None or int(r) == int(d), f"the mixture fills R^d, so r must equal d; got r={r}, d={d}")
    _need(int(d) >= 1, f"the mixture needs d >= 1, got d={d}")
    rng = np.random.default_rng(seed)
    w, m, s = mixture_params(d, embed_seed)
    k = rng.choice(3, size=n, p=w)
    x = m[k] + s[k, None] * rng.standard_normal((n, d))
    return x.astype(np.float32), {"name": "mixture", "r": d, "d": d,
                                  "measure": f"3-component Gaussian mixture density on R^{d}"}


# The teacher: a network of the theory lab's student decoder architecture (two SiLU hidden layers of 64,
# then a linear layer to R^d; vaediag.theory.sweep.GroupedVAE's decoder) with random weights, applied to
# r-dimensional latents. The student decoder, whose kappa >= r inputs include these r, represents it
# exactly, so the manifold and its law are realisable: the assumption of Theorems 2 and 4 holds by
# construction. Choices (measured with 4,000 points, seed 0, embed_seed 1234):
# * first layer: nn.Linear's default init range times TEACHER_GAIN / r. The gain makes the map curved: at
#   gain 1 the curve r = 1 has affine dimension 8 (singular values below 1e-4 of the largest), at 4 it has
#   10 (smallest 3.6e-4). Divided by r because a random map of more latents bends in more directions: at
#   gain 4 for every r the lab's VAE ends on r = 5 at gamma 1e-2 ... 4e-2 with r_hat 2-4 (variances up to
#   0.2; quick budget, and 1e-2 with 8,000 steps), at 4/5 at 2.5e-3 with r_hat = 5 (quick budget). The smallest singular value is then 3.6e-4 (r = 1),
#   0.017, 0.041, 0.12 (r = 5) of the largest; 25 %, 18 %, 13 %, 10 % of the variance lies outside the
#   best r-dimensional subspace (curved, affine dimension d).
# * teacher(u) -> teacher(M u), M = E[J^T J]^(-1/2) (det 1), TEACHER_WHITEN times: the latent directions
#   stretch the manifold equally on average (a random map has some directions 6x weaker than others);
#   still a network of the same architecture (M is absorbed into the first layer).
TEACHER_HIDDEN = (64, 64)
TEACHER_GAIN = 4.0  # divided by r
TEACHER_WHITEN = 3
_TEACHER_REF = 4096  # points of the fixed reference draw that sets the output scale


def _silu(a: np.ndarray) -> np.ndarray:
    return a / (1.0 + np.exp(-a))


def _mlp(u: np.ndarray, layers: list) -> np.ndarray:
    h = u
    for i, (w, c) in enumerate(layers):
        h = h @ w + c
        if i < len(layers) - 1:
            h = _silu(h)
    return h


def _jacobian_gram(u: np.ndarray, layers: list) -> np.ndarray:
    """E_u[J(u)^T J(u)] (r, r) of the MLP at the points u, J by the chain rule (SiLU' = s (1 + a (1 - s)))."""
    h, jac = u, None
    for i, (w, c) in enumerate(layers):
        a = h @ w + c
        jac = np.broadcast_to(w, (len(u), *w.shape)) if jac is None else jac @ w  # (n, r, fan_out)
        if i < len(layers) - 1:
            s = 1.0 / (1.0 + np.exp(-a))
            jac = jac * (s * (1 + a * (1 - s)))[:, None, :]
            h = a * s
    return np.einsum("nio,njo->ij", jac, jac) / len(u)


def teacher_layers(r: int, d: int, embed_seed: int = 1234) -> list[tuple[np.ndarray, np.ndarray]]:
    """The teacher's (weight (fan_in, fan_out), bias) per layer: nn.Linear's default init (uniform on
    +-1/sqrt(fan_in)) from ``embed_seed``, the first layer's range times TEACHER_GAIN / r, then whitened
    (see TEACHER_WHITEN), the last layer scaled so that the centred output of a fixed reference draw
    u ~ N(0, I_r) has total variance r (O(1) data). A fresh copy: the caller may change it."""
    return [(w.copy(), c.copy()) for w, c in _teacher_layers(int(r), int(d), int(embed_seed))]


@functools.lru_cache(maxsize=128)
def _teacher_layers(r: int, d: int, embed_seed: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """:func:`teacher_layers`, made once per (r, d, embed_seed) (the whitening costs about 60 ms; a training
    and a test draw of one teacher share it), its arrays read-only."""
    rng = np.random.default_rng([embed_seed, r, d])
    sizes = [r, *TEACHER_HIDDEN, d]
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        bound = 1.0 / np.sqrt(a) * (TEACHER_GAIN / r if i == 0 else 1.0)
        layers.append((rng.uniform(-bound, bound, (a, b)), rng.uniform(-bound, bound, b)))
    u = rng.standard_normal((_TEACHER_REF, r))
    for _ in range(TEACHER_WHITEN):  # teacher(u) -> teacher(M u), M = E[J^T J]^(-1/2) normalised to det 1
        g = _jacobian_gram(u, layers)
        e, v = np.linalg.eigh(g)
        m = (v * (e / np.exp(np.log(e).mean())) ** -0.5) @ v.T
        w0, c0 = layers[0]
        layers[0] = (m @ w0, c0)
    ref = _mlp(u, layers)
    scale = np.sqrt(r / ref.var(0).sum())
    w, c = layers[-1]
    layers[-1] = (w * scale, c * scale)
    for w, c in layers:
        w.flags.writeable = c.flags.writeable = False
    return tuple(layers)


def teacher_map(u: np.ndarray, d: int, embed_seed: int = 1234) -> np.ndarray:
    """x = teacher(u): the decoder-architecture network of :func:`teacher_layers` applied to (n, r) latents."""
    return _mlp(np.asarray(u, dtype=np.float64), list(_teacher_layers(int(u.shape[1]), int(d), int(embed_seed))))


def teacher(n: int, r: int = 2, d: int = 10, seed: int = 0, embed_seed: int = 1234) -> tuple[np.ndarray, dict]:
    """A realisable manifold: x = teacher(u), u ~ N(0, I_r), the teacher a random network of the lab's student
    decoder architecture (:func:`teacher_layers`). The student's decoder with the teacher's weights on r of
    its kappa inputs reproduces the data law exactly (the prior is the latent law)."""
    _check_rd(r, d, r + 1, "teacher manifold")
    u = np.random.default_rng(seed).standard_normal((n, r))
    return teacher_map(u, d, embed_seed).astype(np.float32), {
        "name": "teacher", "r": r, "d": d,
        "measure": f"N(0, I_{r}) through a random SiLU network {r}-{'-'.join(map(str, TEACHER_HIDDEN))}-{d} "
                   "(the student decoder's architecture)"}


REGISTRY: dict[str, Callable[..., tuple[np.ndarray, dict]]] = {
    "linear": linear, "sphere": sphere, "torus": torus, "swissroll": swissroll,
    "embedding": embedding, "mixture": mixture, "teacher": teacher,
}


def make(name: str, n: int = 5000, seed: int = 0, **params) -> tuple[np.ndarray, dict]:
    """Draw n points of the named manifold; ``seed`` fixes the sample, the embedding is fixed per name."""
    if name not in REGISTRY:
        raise VaediagError(f"unknown manifold {name!r}; known: {', '.join(sorted(REGISTRY))}")
    fn = REGISTRY[name]
    allowed = set(inspect.signature(fn).parameters) - {"n", "seed"}
    bad = sorted(set(params) - allowed)
    if bad:
        raise VaediagError(f"manifold {name!r} takes no parameter {', '.join(bad)}; it takes {', '.join(sorted(allowed))}")
    if int(n) < 1:
        raise VaediagError(f"a manifold sample needs n >= 1, got n={n}")
    ints = {k: int(v) for k, v in params.items() if k in ("r", "d", "embed_seed") and v is not None}
    return fn(n=int(n), seed=seed, **{**params, **ints})


def truth_table() -> list[dict]:
    """Each registered generator's truth (name, r, d, measure) at its default parameters."""
    return [make(name, n=1)[1] for name in REGISTRY]


def local_rank(x: np.ndarray, k: int = 20, n_points: int = 50, tol: float = 0.2, seed: int = 0) -> np.ndarray:
    """Local PCA rank at ``n_points`` random points: the number of singular values of the k nearest
    neighbours (centred) above ``tol`` times the largest. On an r-manifold sampled densely enough that
    the neighbourhood's curvature is small, this is r (the rank of the tangent space)."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(x), size=min(n_points, len(x)), replace=False)
    x = np.asarray(x, dtype=np.float64)
    out = []
    for i in idx:
        dist = np.linalg.norm(x - x[i], axis=1)
        nb = x[np.argsort(dist)[:k]]
        s = np.linalg.svd(nb - nb.mean(0), compute_uv=False)
        out.append(int((s > tol * s[0]).sum()))
    return np.array(out)
