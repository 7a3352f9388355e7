"""Sampling: the one reparameterisation draw and the one two-stage sampler (section 4), used by
the CLI, the quality scores and the theory lab, and ``draw`` for a run directory.

Shapes are free: the functions work on (n, kappa) latents of the engine's models and on the
(G, n, kappa) latents of the theory lab's batched sweep alike.
"""

from __future__ import annotations

import numpy as np
import torch

from vaediag.engine.devices import resolve_device
from vaediag.errors import UsageError, VaediagError, check_positive_int
from vaediag.objective import reparameterize


def _randn(shape, generator: torch.Generator | None, device) -> torch.Tensor:
    # Drawn on the CPU from a CPU generator, then moved: the same numbers on every device.
    return torch.randn(tuple(shape), generator=generator, device="cpu").to(device)


def sample_posterior(mu: torch.Tensor, second: torch.Tensor, generator: torch.Generator | None = None, *,
                     variance: bool = False) -> torch.Tensor:
    """z ~ q(z|x) with a fresh eps ~ N(0, I) (drawn from ``generator`` on the CPU): z = mu + Sigma^(1/2) eps.

    ``second``: the log-variance (B, k) of a diagonal encoder (``variance=True``: the variances
    themselves), or a full covariance (B, k, k) (Cholesky factor)."""
    eps = _randn(mu.shape, generator, mu.device).to(mu.dtype)
    if second.dim() == mu.dim() + 1:
        return mu + (torch.linalg.cholesky(second) @ eps.unsqueeze(-1)).squeeze(-1)
    if variance:
        return mu + second.sqrt() * eps
    return reparameterize(mu, second, eps)


def two_stage_latents(stage2, shape, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """Section 4, step 3, first half: u ~ N(0, I), z ~ p(z|u) = N(mu_z(u), gamma_z I), of ``shape``."""
    device = device or next(stage2.parameters()).device
    u = _randn(shape, generator, device)
    noise = _randn(shape, generator, device)
    lg = stage2.log_gamma
    lg = lg.reshape(tuple(lg.shape) + (1,) * (len(shape) - lg.dim()))  # scalar, or one per group
    return stage2.decode(u) + (0.5 * lg).exp() * noise


def sample_stage1(model, n: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """x = mu_x(z), z ~ N(0, I): the one-stage ancestral sampler (decoder mean)."""
    device = device or next(model.parameters()).device
    return model.decode(_randn((n, model.cfg.latent_dim), generator, device))


def sample_two_stage(model, stage2, n: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """Section 4, step 3: u ~ N(0, I), z ~ p(z|u) = N(mu_z(u), gamma_z I), x = mu_x(z)."""
    device = device or next(model.parameters()).device
    return model.decode(two_stage_latents(stage2, (n, model.cfg.latent_dim), generator, device))


@torch.no_grad()
def draw(run, stage: int = 2, n: int = 64, seed: int = 0, device: str | torch.device = "cpu",
         recon: bool = False) -> np.ndarray:
    """Samples of a run (``stage`` 1: one-stage, 2: two-stage) or, with ``recon``, the first n held-out
    inputs followed by their reconstructions mu_x(mu_z(x)); a numpy array (images in [0, 1])."""
    device = resolve_device(device) if isinstance(device, str) else device
    check_positive_int("n", n)
    gen = torch.Generator().manual_seed(seed)
    if run.stage2_only:  # a second stage on another model's codes: vaediag has no decoder for them
        if recon or stage == 1 or not run.stage_done(2):
            raise VaediagError(f"{run.path} holds only a second stage trained on another model's codes: it gives "
                               "two-stage latents z (stage=2, once 'vaediag stage2' has finished); decode them with "
                               "your model, or use vaediag.load_two_stage(run, model) in Python")
        stage2 = run.load_model(2, device)
        return two_stage_latents(stage2, (n, stage2.cfg.latent_dim), gen, device).cpu().numpy()
    model = run.load_model(1, device)
    if recon:
        data = run.dataset()
        if n > len(data.test):
            raise UsageError(f"n={n} is more than the {len(data.test)} held-out inputs")
        x = data.to_float(data.test[:n].to(device))
        mu, _ = model.encode(x)
        return np.concatenate([x.cpu().numpy(), model.decode(mu).cpu().numpy()])
    if stage == 2:
        if not run.stage_done(2):
            raise VaediagError(f"{run.path} has no finished stage 2; train it with "
                               f"vaediag.train({str(run.path)!r}, stages='2') or sample with stage=1")
        return sample_two_stage(model, run.load_model(2, device), n, gen).cpu().numpy()
    return sample_stage1(model, n, gen).cpu().numpy()
