"""A Stable-Diffusion-style ``AutoencoderKL`` as diffusers writes it, tiny, without diffusers: the same
interface (``encode(x).latent_dist`` with ``.mean``/``.logvar``/``.var``/``.sample()``/``.kl()``,
``decode(z).sample``, ``config.scaling_factor``, ``len(block_out_channels) - 1`` down-samplings by 2,
GroupNorm + SiLU ResNet blocks, ``quant_conv``/``post_quant_conv``), and its training loss as the SD
recipes write it (MSE on [-1, 1] + a KL weight of 1e-6). :func:`autoencoder_kl` builds diffusers' own
class from a config when diffusers is installed and this stand-in otherwise.
"""

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


class DiagonalGaussianDistribution:
    def __init__(self, parameters, deterministic=False):
        self.parameters = parameters
        self.mean, self.logvar = torch.chunk(parameters, 2, dim=1)
        self.logvar = torch.clamp(self.logvar, -30.0, 20.0)
        self.deterministic = deterministic
        self.std = torch.exp(0.5 * self.logvar)
        self.var = torch.exp(self.logvar)

    def sample(self, generator=None):
        return self.mean + self.std * torch.randn(self.mean.shape, generator=generator, dtype=self.mean.dtype)

    def kl(self):
        return 0.5 * torch.sum(torch.pow(self.mean, 2) + self.var - 1.0 - self.logvar, dim=[1, 2, 3])

    def mode(self):
        return self.mean


@dataclass
class AutoencoderKLOutput:
    latent_dist: DiagonalGaussianDistribution


@dataclass
class DecoderOutput:
    sample: torch.Tensor


class Config(dict):
    __getattr__ = dict.get


class ResnetBlock(nn.Module):
    def __init__(self, cin, cout, groups):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(groups, cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2, self.conv2 = nn.GroupNorm(groups, cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        return self.skip(x) + self.conv2(F.silu(self.norm2(h)))


class StandInAutoencoderKL(nn.Module):
    def __init__(self, in_channels=1, out_channels=1, block_out_channels=(16, 32), latent_channels=4,
                 norm_num_groups=8, scaling_factor=0.18215):
        super().__init__()
        self.config = Config(in_channels=in_channels, out_channels=out_channels, latent_channels=latent_channels,
                             block_out_channels=tuple(block_out_channels), scaling_factor=scaling_factor)
        ch, g = list(block_out_channels), norm_num_groups
        enc = [nn.Conv2d(in_channels, ch[0], 3, padding=1)]
        for i, c in enumerate(ch):
            enc.append(ResnetBlock(ch[max(i - 1, 0)], c, g))
            if i < len(ch) - 1:
                enc.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
        enc += [nn.GroupNorm(g, ch[-1]), nn.SiLU(), nn.Conv2d(ch[-1], 2 * latent_channels, 3, padding=1)]
        self.encoder = nn.Sequential(*enc)
        self.quant_conv = nn.Conv2d(2 * latent_channels, 2 * latent_channels, 1)
        self.post_quant_conv = nn.Conv2d(latent_channels, latent_channels, 1)
        dec = [nn.Conv2d(latent_channels, ch[-1], 3, padding=1)]
        rev = ch[::-1]
        for i, c in enumerate(rev):
            dec.append(ResnetBlock(rev[max(i - 1, 0)], c, g))
            if i < len(rev) - 1:
                dec += [nn.Upsample(scale_factor=2.0, mode="nearest"), nn.Conv2d(c, c, 3, padding=1)]
        dec += [nn.GroupNorm(g, ch[0]), nn.SiLU(), nn.Conv2d(ch[0], out_channels, 3, padding=1)]
        self.decoder = nn.Sequential(*dec)

    def encode(self, x, return_dict=True):
        posterior = DiagonalGaussianDistribution(self.quant_conv(self.encoder(x)))
        return AutoencoderKLOutput(latent_dist=posterior) if return_dict else (posterior,)

    def decode(self, z, return_dict=True):
        dec = self.decoder(self.post_quant_conv(z))
        return DecoderOutput(sample=dec) if return_dict else (dec,)

    def forward(self, sample, sample_posterior=False, return_dict=True, generator=None):
        posterior = self.encode(sample).latent_dist
        z = posterior.sample(generator=generator) if sample_posterior else posterior.mode()
        return self.decode(z, return_dict=return_dict)


def autoencoder_kl(in_channels=1, block_out_channels=(16, 32), latent_channels=4, norm_num_groups=8,
                   real: bool | None = None, seed: int = 0):
    """diffusers' AutoencoderKL from a config (``real=True``, or None and diffusers installed), else the stand-in."""
    torch.manual_seed(seed)
    if real is None:
        try:
            import diffusers  # noqa: F401

            real = True
        except ImportError:
            real = False
    if real:
        from diffusers import AutoencoderKL

        n = len(block_out_channels)
        return AutoencoderKL(in_channels=in_channels, out_channels=in_channels, down_block_types=("DownEncoderBlock2D",) * n,
                             up_block_types=("UpDecoderBlock2D",) * n, block_out_channels=tuple(block_out_channels),
                             latent_channels=latent_channels, norm_num_groups=norm_num_groups, layers_per_block=1)
    return StandInAutoencoderKL(in_channels, in_channels, block_out_channels, latent_channels, norm_num_groups)


def sd_loss(vae, x, kl_weight=1e-6, generator=None):
    """The SD VAE recipe's loss without its perceptual and GAN terms: MSE (mean) on [-1, 1] + kl_weight KL."""
    posterior = vae.encode(x).latent_dist
    rec = vae.decode(posterior.sample(generator=generator)).sample
    return F.mse_loss(rec, x, reduction="mean") + kl_weight * posterior.kl().mean()


def train_kl(vae, x, steps=30, lr=2e-3, seed=0):
    """A few Adam steps on ``x`` (in [-1, 1]) with :func:`sd_loss`; returns the model in train mode."""
    torch.manual_seed(seed)
    opt = torch.optim.Adam(vae.parameters(), lr=lr)
    vae.train()
    for step in range(steps):
        xb = x[(step * 32) % len(x):][:32]
        loss = sd_loss(vae, xb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return vae
