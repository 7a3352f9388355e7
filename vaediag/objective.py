"""The VAE objective of the paper, eq. (2), in nats, with the paper's gamma conventions: the one
place it is assembled (:func:`negative_elbo`), used by both stages of the engine and by the theory
lab's batched sweep.

Conventions (reference: paper section 2, Definition 1):
  * gamma is the decoder **variance**: p(x|z) = N(mu_x(z), gamma I). Models store log(gamma).
    (The authors' TF code stores the log of a standard deviation; paper gamma = exp(2 * that).)
  * Everything is summed over data dimensions and latent dimensions and averaged over the batch.
    Averaging the reconstruction over pixels while summing the KL would reweight the KL by kappa/d.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2.0 * math.pi)


def _flat(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0], -1)


def gaussian_nll(x: torch.Tensor, mean: torch.Tensor, log_gamma: torch.Tensor) -> torch.Tensor:
    """-log N(x | mean, gamma I) per sample, summed over dimensions.  # eq. (2), first term

    Returns a (B,) tensor: sum_d (x - mean)^2 / (2 gamma) + (d/2) log(2 pi gamma).
    """
    sq = _flat(x - mean).pow(2).sum(dim=1)  # (B,)
    d = sq.new_tensor(float(_flat(x).shape[1]))
    return 0.5 * sq * torch.exp(-log_gamma) + 0.5 * d * (LOG_2PI + log_gamma)


def bernoulli_nll(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Cross-entropy decoder baseline: -log Bernoulli(x | sigmoid(logits)), summed; x in [0, 1]."""
    return _flat(F.binary_cross_entropy_with_logits(logits, x, reduction="none")).sum(dim=1)


def kl_std_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) per sample: 0.5 sum(mu^2 + s^2 - log s^2 - 1)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0).sum(dim=1)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """z = mu + sigma * eps."""
    return mu + torch.exp(0.5 * logvar) * eps


def negative_elbo(x: torch.Tensor, decoded: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                  log_gamma: torch.Tensor | None = None, decoder: str = "gaussian") -> dict[str, torch.Tensor]:
    """Eq. (2) per sample, in nats: ``{"recon", "kl", "loss"}``, each (B,).

    Args:
        x: (B, ...) data; decoded: the decoder's output of the same shape — its mean mu_x(z) for the
            Gaussian decoder, its logits for the cross-entropy (``decoder="bernoulli"``) baseline.
        mu, logvar: (B, kappa) encoder mean and log-variance (a diagonal Sigma_z).
        log_gamma: log decoder variance, a scalar or one value per sample (B,); Gaussian decoder only.
    """
    if decoder == "bernoulli":
        recon = bernoulli_nll(x, decoded)
    else:
        recon = gaussian_nll(x, decoded, log_gamma)
    kl = kl_std_normal(mu, logvar)
    return {"recon": recon, "kl": kl, "loss": recon + kl}
