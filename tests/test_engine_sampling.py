"""The samplers of engine/sampling.py on stand-in models whose output law is known in closed form."""

import numpy as np
import torch
import torch.nn as nn

from vaediag.engine.sampling import sample_posterior, sample_stage1, sample_two_stage, two_stage_latents


class AffineStage2(nn.Module):
    """mu_z(u) = a u + b, gamma_z = exp(log_gamma): z ~ N(b, (a^2 + gamma_z) I) when u ~ N(0, I)."""

    def __init__(self, a, b, log_gamma):
        super().__init__()
        self.a, self.b = torch.tensor(a), torch.tensor(b)
        self.device_probe = nn.Parameter(torch.zeros(()))  # the samplers read the device from a parameter
        self.log_gamma = torch.tensor(log_gamma)

    def decode(self, u):
        return self.a * u + self.b


class ShiftDecoder(nn.Module):
    def __init__(self, k):
        super().__init__()
        self.cfg = type("Cfg", (), {"latent_dim": k})()
        self.w = nn.Parameter(torch.zeros(()))

    def decode(self, z):
        return z + 10.0


def test_posterior_draws_have_the_posterior_moments_and_are_seeded():
    mu, logvar = torch.tensor([[1.0, -2.0]]).expand(200_000, 2), torch.log(torch.tensor([[0.25, 4.0]])).expand(200_000, 2)
    z = sample_posterior(mu, logvar, torch.Generator().manual_seed(0))
    np.testing.assert_allclose(z.mean(0).numpy(), [1.0, -2.0], atol=0.02)
    np.testing.assert_allclose(z.var(0).numpy(), [0.25, 4.0], rtol=0.02)
    small = sample_posterior(mu[:5], logvar[:5], torch.Generator().manual_seed(0))
    eps = torch.randn((5, 2), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(small, mu[:5] + torch.tensor([0.5, 2.0]) * eps)


def test_two_stage_latents_have_variance_a2_plus_gamma_z():
    stage2 = AffineStage2(0.5, 3.0, float(np.log(0.75)))  # variance 0.25 + 0.75 = 1
    z = two_stage_latents(stage2, (100_000, 3), torch.Generator().manual_seed(1))
    assert z.shape == (100_000, 3)
    np.testing.assert_allclose(z.mean(0).numpy(), 3.0, atol=0.02)
    np.testing.assert_allclose(z.var(0).numpy(), 1.0, rtol=0.02)


def test_grouped_log_gamma_broadcasts_per_group():
    stage2 = AffineStage2(0.0, 0.0, 0.0)
    stage2.log_gamma = torch.log(torch.tensor([1e-4, 4.0]))  # (G,) one per group of the theory lab's sweep
    z = two_stage_latents(stage2, (2, 50_000, 1), torch.Generator().manual_seed(2))
    np.testing.assert_allclose(z.var(1).squeeze().numpy(), [1e-4, 4.0], rtol=0.03)


def test_stage1_and_two_stage_samples_decode_the_latents():
    model = ShiftDecoder(4)
    x = sample_stage1(model, 6, torch.Generator().manual_seed(3))
    z = torch.randn((6, 4), generator=torch.Generator().manual_seed(3))
    assert torch.equal(x, z + 10.0)
    stage2 = AffineStage2(0.0, -10.0, float(np.log(1e-12)))  # z = -10 up to 1e-6: x = 0
    x2 = sample_two_stage(model, stage2, 5, torch.Generator().manual_seed(4))
    assert x2.shape == (5, 4) and float(x2.abs().max()) < 1e-4
