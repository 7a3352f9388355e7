"""The small protocol a VAE must meet to be diagnosed by vaediag (any ``torch.nn.Module`` will do).

    encode(x) -> (mu, logvar)   mu, logvar: (B, kappa); q(z|x) = N(mu, diag(exp(logvar)))
                                or spatial, (B, C, H, W) each (read through ``adapt``: flattened to
                                kappa = C H W numbers, the shape kept; :mod:`vaediag.diagnostics.spatial`)
              -> (mu, cov)      or a full covariance cov: (B, kappa, kappa) (symmetric positive definite)
    decode(z) -> mean           the decoder mean mu_x(z), with the shape of one input per row
    gamma                       optional: the decoder VARIANCE (float or 0-d tensor), as in the paper

The second output of ``encode`` is read as a log-variance when it has two dimensions and as a
covariance when it has three. The diagnostics call only these members, always under
``torch.no_grad()`` and inside :func:`frozen`: every submodule is in eval mode while it is diagnosed
(BatchNorm uses and keeps its running statistics, dropout is off) and gets its own previous mode back
afterwards, so a diagnosis never changes the model (its state dict is bit-identical). Only modules
reachable from the model are switched: a model given as plain functions (``adapt(encode=f, decode=g)``)
is called as it is.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn as nn

from vaediag.errors import VaediagError

# What encoders and decoders of other libraries return, read by duck typing (no new dependencies).
MU_NAMES = ("mu", "embedding", "loc", "mean", "z_mean")
LOGVAR_NAMES = ("logvar", "log_var", "log_covariance", "log_variance", "z_log_var")
COV_NAMES = ("cov", "covariance", "covariance_matrix")
RECON_NAMES = ("reconstruction", "recon_x", "x_hat", "x_recon", "recon", "mean", "loc", "sample")
# Outputs that wrap the posterior: diffusers' AutoencoderKLOutput.latent_dist (a DiagonalGaussianDistribution
# with .mean and .logvar), and the same under other names.
DIST_NAMES = ("latent_dist", "posterior", "dist")


def _field(out, names):
    for n in names:
        if isinstance(out, dict) and n in out and out[n] is not None:
            return out[n], n
        v = getattr(out, n, None) if not isinstance(out, (torch.Tensor, np.ndarray)) else None
        if v is not None and not callable(v):
            return v, n
    return None, None


def as_tensor(v, what: str) -> torch.Tensor:
    if isinstance(v, torch.Tensor):
        return v
    if isinstance(v, np.ndarray):
        return torch.from_numpy(v)
    raise VaediagError(f"{what} is a {type(v).__name__}, not a tensor; wrap the model with "
                       "vaediag.diagnostics.adapt.adapt(model, encode=..., decode=...) so it returns tensors")


def unpack_encoding(out) -> tuple[torch.Tensor, torch.Tensor]:
    """(mu, second) from what ``encode`` returned; ``second`` is a log-variance (B, k) or a covariance
    (B, k, k) (the protocol's convention)."""
    dist = torch.distributions
    inner, _ = _field(out, DIST_NAMES) if not isinstance(out, (tuple, list, dist.Distribution)) else (None, None)
    if inner is not None:
        out = inner
    if isinstance(out, dist.MultivariateNormal):
        return out.loc, out.covariance_matrix
    if isinstance(out, dist.Independent) and isinstance(out.base_dist, dist.Normal):
        out = out.base_dist
    if isinstance(out, dist.Normal):
        return out.loc, 2.0 * out.scale.log()
    if isinstance(out, (tuple, list)) and not hasattr(out, "keys"):
        if len(out) < 2:
            raise VaediagError(f"encode() returned a {type(out).__name__} of length {len(out)}; it must return "
                               "(mu, logvar) or (mu, cov)")
        return as_tensor(out[0], "encode()'s mu"), as_tensor(out[1], "encode()'s second output")
    if isinstance(out, (torch.Tensor, np.ndarray)):
        raise VaediagError("encode() returned one tensor; it must return (mu, logvar) or (mu, cov). If your "
                           "encoder returns [mu, logvar] concatenated, use adapt(model, encode=lambda x: "
                           "model.encode(x).chunk(2, dim=1))")
    mu, _ = _field(out, MU_NAMES)
    lv, _ = _field(out, LOGVAR_NAMES)
    cov, _ = _field(out, COV_NAMES)
    if mu is None or (lv is None and cov is None):
        keys = list(out.keys()) if hasattr(out, "keys") else [a for a in dir(out) if not a.startswith("_")][:12]
        raise VaediagError(f"encode() returned a {type(out).__name__} (fields {keys}) in which vaediag finds no "
                           f"mean ({'/'.join(MU_NAMES)}) and log-variance ({'/'.join(LOGVAR_NAMES)}) or covariance "
                           f"({'/'.join(COV_NAMES)}); use adapt(model, encode=lambda x: (mu, logvar))")
    return as_tensor(mu, "encode()'s mean"), as_tensor(lv if lv is not None else cov, "encode()'s second output")


def unpack_decoding(out) -> torch.Tensor:
    """The decoder mean from what ``decode`` returned."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, np.ndarray):
        return torch.from_numpy(out)
    if isinstance(out, torch.distributions.Distribution):
        return out.mean
    if isinstance(out, (tuple, list)) and not hasattr(out, "keys"):
        raise VaediagError(f"decode() returned a {type(out).__name__} of {len(out)} items; it must return the "
                           "decoder mean: use adapt(model, decode=lambda z: model.decode(z)[0]) (or the item "
                           "that is the mean)")
    v, _ = _field(out, RECON_NAMES)
    if v is None:
        keys = list(out.keys()) if hasattr(out, "keys") else type(out).__name__
        raise VaediagError(f"decode() returned a {type(out).__name__} ({keys}) with no decoder mean "
                           f"({'/'.join(RECON_NAMES)}); use adapt(model, decode=lambda z: <the mean tensor>)")
    return as_tensor(v, "decode()'s mean")


def check_model(model) -> None:
    """Raise :class:`VaediagError` unless ``model`` has callable ``encode`` and ``decode``."""
    for name in ("encode", "decode"):
        if not callable(getattr(model, name, None)):
            raise VaediagError(f"{type(model).__name__} has no {name}() method; a diagnosable VAE needs "
                               "encode(x) -> (mu, logvar or cov) and decode(z) -> mean (see vaediag.diagnostics.protocol)")


def _modules(obj) -> list[nn.Module]:
    """Every ``nn.Module`` reachable from ``obj``: itself, or (an adapter of plain objects) the modules it wraps."""
    if isinstance(obj, nn.Module):
        return list(obj.modules())
    found = []
    for v in vars(obj).values() if hasattr(obj, "__dict__") else ():
        if isinstance(v, nn.Module):
            found += list(v.modules())
    return found


@contextlib.contextmanager
def frozen(*models) -> Iterator[None]:
    """Eval mode for every submodule of ``models`` (None skipped) inside the block, each submodule's own
    previous ``training`` flag restored afterwards, even after an exception. A model in train mode would
    otherwise update BatchNorm's running statistics with the diagnosis inputs and apply dropout."""
    saved: dict[int, tuple[nn.Module, bool]] = {}
    for m in models:
        if m is None:
            continue
        for sub in _modules(m) + ([m] if not isinstance(m, nn.Module) else []):
            if isinstance(sub, nn.Module):
                saved.setdefault(id(sub), (sub, sub.training))
    try:
        for sub, _ in saved.values():
            sub.training = False  # the flag only: Module.eval() may be overridden, and recurses
        yield
    finally:
        for sub, was in saved.values():
            sub.training = was


def encode_posterior(model, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """(mu (B, k), second, full): ``second`` is the covariance (B, k, k) when ``full``, else the
    variances exp(logvar) (B, k)."""
    mu, second = unpack_encoding(model.encode(x))  # tuples, dicts, pythae-style outputs, distributions
    if mu.dim() > 2:
        raise VaediagError(f"encode() returned a spatial mean of shape {tuple(mu.shape)}; pass the model through "
                           "vaediag.adapt(model) (it reads spatial latents and keeps their shape)")
    if second.dim() == 3:
        if second.shape != (mu.shape[0], mu.shape[1], mu.shape[1]):
            raise VaediagError(f"encode() returned mu {tuple(mu.shape)} with a covariance of shape "
                               f"{tuple(second.shape)}; expected (B, kappa, kappa)")
        return mu, second, True
    if second.shape != mu.shape:
        raise VaediagError(f"encode() returned mu {tuple(mu.shape)} and logvar {tuple(second.shape)}; "
                           "they must have the same shape (B, kappa)")
    return mu, second.exp(), False


def posterior_eigen(mu: torch.Tensor, second: torch.Tensor, full: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Eigenvalues lambda_j of Sigma_z(x) and, for a full covariance, the eigenvectors.

    Diagonal encoder: lambda = the variances, in coordinate order, and the eigendirections are the
    coordinate axes (returned as None). Full covariance: ``torch.linalg.eigh``, eigenvalues
    ascending (B, k) and eigenvectors as columns (B, k, k).
    """
    if not full:
        return second, None
    lam, vec = torch.linalg.eigh(0.5 * (second + second.transpose(1, 2)))
    return lam, vec


def decoder_variance(model) -> float | None:
    """The model's gamma (decoder variance) as a float, or None when it has none."""
    g = getattr(model, "gamma", None)
    if g is None:
        return None
    try:
        g = g() if callable(g) and not isinstance(g, torch.Tensor) else g
        v = float(g.detach()) if isinstance(g, torch.Tensor) else float(g)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def model_device(model) -> torch.device:
    try:
        return next(model.parameters()).device
    except (StopIteration, AttributeError):
        return torch.device("cpu")
