"""The small protocol a VAE must meet to be diagnosed by vaediag (any ``torch.nn.Module`` will do).

    encode(x) -> (mu, logvar)   mu, logvar: (B, kappa); q(z|x) = N(mu, diag(exp(logvar)))
              -> (mu, cov)      or a full covariance cov: (B, kappa, kappa) (symmetric positive definite)
    decode(z) -> mean           the decoder mean mu_x(z), with the shape of one input per row
    gamma                       optional: the decoder VARIANCE (float or 0-d tensor), as in the paper

The second output of ``encode`` is read as a log-variance when it has two dimensions and as a
covariance when it has three. The diagnostics call only these members, always under
``torch.no_grad()``; put the model in eval mode yourself (vaediag's own loaders do).
"""

from __future__ import annotations

import math

import torch

from vaediag.errors import VaediagError


def check_model(model) -> None:
    """Raise :class:`VaediagError` unless ``model`` has callable ``encode`` and ``decode``."""
    for name in ("encode", "decode"):
        if not callable(getattr(model, name, None)):
            raise VaediagError(f"{type(model).__name__} has no {name}() method; a diagnosable VAE needs "
                               "encode(x) -> (mu, logvar or cov) and decode(z) -> mean (see vaediag.diagnostics.protocol)")


def encode_posterior(model, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """(mu (B, k), second, full): ``second`` is the covariance (B, k, k) when ``full``, else the
    variances exp(logvar) (B, k)."""
    from vaediag.diagnostics.adapt import unpack_encoding

    mu, second = unpack_encoding(model.encode(x))  # tuples, dicts, pythae-style outputs, distributions
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


def sample_posterior(mu: torch.Tensor, second: torch.Tensor, full: bool, eps: torch.Tensor) -> torch.Tensor:
    """z = mu + Sigma^(1/2) eps (Cholesky factor for a full covariance)."""
    if not full:
        return mu + second.sqrt() * eps
    return mu + (torch.linalg.cholesky(second) @ eps.unsqueeze(-1)).squeeze(-1)


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
