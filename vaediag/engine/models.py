"""Stage-1 encoders/decoders (infogan, resnet, mlp) and the stage-2 VAE.

Every model here meets the small protocol the diagnostics use (see ``vaediag.diagnostics.protocol``):
``encode(x) -> (mu, logvar)`` with shapes (B, kappa), ``decode(z) -> decoder mean`` with the shape of
x, and ``gamma`` (decoder variance, a 0-d tensor).
"""

from __future__ import annotations

import math
from contextlib import nullcontext

import torch
import torch.nn as nn
import torch.nn.functional as F

from vaediag.engine.config import ModelConfig, Stage2Config
from vaediag.objective import negative_elbo, reparameterize


class LogGamma(nn.Module):
    """Scalar log decoder variance (paper convention: gamma is a variance).

    Learned: a parameter, starting at log(gamma_init). Fixed: a buffer. An optional floor keeps a
    learned gamma >= floor via a smooth reparameterisation gamma = floor + exp(raw).
    """

    def __init__(self, mode: str, init: float, floor: float = 0.0):
        super().__init__()
        self.mode, self.floor = mode, float(floor)
        start = math.log(max(init - self.floor, 1e-12)) if mode == "learned" else math.log(init)
        if mode == "learned":
            self.raw = nn.Parameter(torch.tensor(start))
        else:
            self.register_buffer("raw", torch.tensor(start))

    def forward(self) -> torch.Tensor:
        if self.mode == "learned" and self.floor > 0:
            return torch.logaddexp(self.raw, self.raw.new_tensor(math.log(self.floor)))
        return self.raw


def _fp32(t: torch.Tensor):
    """Leave autocast for what must stay in fp32 (gamma, the loss, the KL; see ``--precision``)."""
    dev = t.device.type
    return torch.autocast(dev, enabled=False) if torch.is_autocast_enabled(dev) else nullcontext()


def _full(t: torch.Tensor) -> torch.Tensor:
    """A half-precision (autocast) output in fp32; fp32 and fp64 tensors unchanged."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def _batch_means(terms: dict[str, torch.Tensor], mse: torch.Tensor) -> dict[str, torch.Tensor]:
    """The training loop's view of eq. (2): batch means of loss, recon and kl, and the pixel MSE."""
    return {"loss": terms["loss"].mean(), "recon": terms["recon"].mean(), "kl": terms["kl"].mean(), "mse": mse}


class _HasGamma:
    """gamma (decoder variance) and its log, from a ``log_gamma_`` :class:`LogGamma` submodule."""

    log_gamma_: LogGamma

    @property
    def log_gamma(self) -> torch.Tensor:
        return self.log_gamma_()

    @property
    def gamma(self) -> torch.Tensor:
        """Decoder variance (0-d tensor)."""
        return self.log_gamma.exp()

    def param_groups(self, weight_decay: float, gamma_lr_scale: float = 1.0) -> list[dict]:
        """Adam's parameter groups: weight decay on the networks only, never on log gamma (a likelihood
        parameter, not a weight); log gamma's learning rate is multiplied by ``gamma_lr_scale``."""
        named = list(self.named_parameters())  # type: ignore[attr-defined]
        gamma = [p for n, p in named if n.startswith("log_gamma_")]
        groups = [{"params": [p for n, p in named if not n.startswith("log_gamma_")], "weight_decay": weight_decay}]
        if gamma:
            groups.append({"params": gamma, "weight_decay": 0.0, "lr_scale": gamma_lr_scale})
        return groups


# --------------------------------------------------------------------------- infogan (Table 1)
class InfoGANEncoder(nn.Module):
    """conv64 4x4 s2 + lReLU -> conv128 4x4 s2 + BN + lReLU -> fc1024 + BN + lReLU -> fc 2 kappa."""

    def __init__(self, c: int, h: int, w: int, kappa: int):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(c, 64, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(64, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
        )
        self.fc = nn.Sequential(
            nn.Flatten(), nn.Linear(128 * (h // 4) * (w // 4), 1024, bias=False),
            nn.BatchNorm1d(1024), nn.LeakyReLU(0.2), nn.Linear(1024, 2 * kappa),
        )

    def forward(self, x):
        mu, s = self.fc(self.conv(x)).chunk(2, dim=1)
        with _fp32(s):
            sigma = F.softplus(_full(s)) + 1e-6  # as in the authors' code: sigma = softplus + 1e-6
            return mu, 2.0 * torch.log(sigma)


class InfoGANDecoder(nn.Module):
    """fc1024 -> fc 128*(h/4)*(w/4) (BN + ReLU each) -> deconv64 4x4 s2 + BN + ReLU -> deconv C."""

    def __init__(self, c: int, h: int, w: int, kappa: int):
        super().__init__()
        self.shape = (128, h // 4, w // 4)
        n = 128 * (h // 4) * (w // 4)
        self.fc = nn.Sequential(
            nn.Linear(kappa, 1024, bias=False), nn.BatchNorm1d(1024), nn.ReLU(),
            nn.Linear(1024, n, bias=False), nn.BatchNorm1d(n), nn.ReLU(),
        )
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
            nn.ConvTranspose2d(64, c, 4, 2, 1),
        )

    def forward(self, z):
        return self.deconv(self.fc(z).view(-1, *self.shape))  # (B, C, H, W) pre-activation


# --------------------------------------------------------------------------- resnet (supp. Fig. 11)
class ResBlock(nn.Module):
    """BN-ReLU-conv twice with a (1x1 conv / linear) shortcut; ``dense`` for the fc Scale Block."""

    def __init__(self, cin: int, cout: int, dense: bool = False):
        super().__init__()
        Norm = nn.BatchNorm1d if dense else nn.BatchNorm2d
        layer = (lambda a, b: nn.Linear(a, b)) if dense else (lambda a, b: nn.Conv2d(a, b, 3, 1, 1))
        self.body = nn.Sequential(Norm(cin), nn.ReLU(), layer(cin, cout), Norm(cout), nn.ReLU(), layer(cout, cout))
        self.short = (nn.Linear(cin, cout) if dense else nn.Conv2d(cin, cout, 1)) if cin != cout else nn.Identity()

    def forward(self, x):
        return self.short(x) + self.body(x)


def ScaleBlock(cin: int, cout: int, dense: bool = False) -> nn.Sequential:
    return nn.Sequential(ResBlock(cin, cout, dense), ResBlock(cout, cout, dense))


def _resnet_dims(cfg: ModelConfig) -> tuple[int, int]:
    side = max(cfg.input_shape[1:])
    scales = cfg.resnet_scales or (4 if side >= 64 else 3)
    dec_fc = cfg.resnet_dec_fc or (4096 if side >= 64 else 2048)
    return scales, dec_fc


class ResNetEncoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        c, h, w = cfg.input_shape
        scales, _ = _resnet_dims(cfg)
        ch = cfg.resnet_channels
        layers: list[nn.Module] = [nn.Conv2d(c, ch, 3, 1, 1)]
        for _ in range(scales):
            layers += [ScaleBlock(ch, ch), nn.Conv2d(ch, 2 * ch, 3, 2, 1)]  # stride-2 conv doubles channels
            ch, h, w = 2 * ch, (h + 1) // 2, (w + 1) // 2
        self.conv = nn.Sequential(*layers, nn.Flatten())
        self.fc = nn.Sequential(ScaleBlock(ch * h * w, cfg.resnet_fc, dense=True), nn.BatchNorm1d(cfg.resnet_fc), nn.ReLU())
        self.mu = nn.Linear(cfg.resnet_fc, cfg.latent_dim)
        self.log_sigma = nn.Linear(cfg.resnet_fc, cfg.latent_dim)  # "fc + exp" head of Fig. 11

    def forward(self, x):
        h = self.fc(self.conv(x))
        return self.mu(h), 2.0 * self.log_sigma(h)


class ResNetDecoder(nn.Module):
    """fc -> 2x2 map -> (deconv halving channels, Scale Block) until the side covers the image ->
    conv to C channels, centre-cropped to (H, W) (so 28x28 works: 32 is generated and cropped)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        c, h, w = cfg.input_shape
        _, dec_fc = _resnet_dims(cfg)
        ups = max(1, math.ceil(math.log2(max(h, w) / 2)))
        ch = dec_fc // 4
        self.shape, self.out_hw = (ch, 2, 2), (h, w)
        self.fc = nn.Linear(cfg.latent_dim, dec_fc)
        layers: list[nn.Module] = []
        for _ in range(ups):
            nxt = max(ch // 2, cfg.resnet_channels)
            layers += [nn.BatchNorm2d(ch), nn.ReLU(), nn.ConvTranspose2d(ch, nxt, 4, 2, 1), ScaleBlock(nxt, nxt)]
            ch = nxt
        layers += [nn.BatchNorm2d(ch), nn.ReLU(), nn.Conv2d(ch, c, 3, 1, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z):
        y = self.net(self.fc(z).view(-1, *self.shape))
        h, w = self.out_hw
        top, left = (y.shape[2] - h) // 2, (y.shape[3] - w) // 2
        return y[:, :, top:top + h, left:left + w]


# --------------------------------------------------------------------------- mlp (vectors)
def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = math.prod(cfg.input_shape)
        self.net = _mlp([d, *cfg.mlp_hidden, 2 * cfg.latent_dim])

    def forward(self, x):
        mu, logvar = self.net(x.reshape(x.shape[0], -1)).chunk(2, dim=1)
        return mu, logvar


class MLPDecoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.shape = cfg.input_shape
        self.net = _mlp([cfg.latent_dim, *reversed(cfg.mlp_hidden), math.prod(cfg.input_shape)])

    def forward(self, z):
        return self.net(z).view(-1, *self.shape)


# --------------------------------------------------------------------------- the stage-1 VAE
class VAE(_HasGamma, nn.Module):
    """Stage 1: diagonal-Gaussian encoder, Gaussian (or Bernoulli) decoder, scalar gamma."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        if cfg.arch == "infogan":
            self.encoder, self.decoder = InfoGANEncoder(*cfg.input_shape, cfg.latent_dim), InfoGANDecoder(*cfg.input_shape, cfg.latent_dim)
        elif cfg.arch == "resnet":
            self.encoder, self.decoder = ResNetEncoder(cfg), ResNetDecoder(cfg)
        else:
            self.encoder, self.decoder = MLPEncoder(cfg), MLPDecoder(cfg)
        self.log_gamma_ = LogGamma(cfg.gamma_mode, cfg.gamma_init, cfg.gamma_floor)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar), each (B, kappa)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder mean mu_x(z) (for the cross-entropy baseline: the Bernoulli mean)."""
        y = self.decoder(z)
        return torch.sigmoid(y) if self.cfg.output == "sigmoid" else y

    def loss(self, x: torch.Tensor, eps: torch.Tensor) -> dict[str, torch.Tensor]:
        """Eq. (2) with one reparameterised sample per input; batch means of loss, recon, kl, mse.

        Under autocast the networks run in lower precision; z, gamma, the loss and the KL in fp32."""
        mu, logvar = self.encode(x)
        with _fp32(x):
            mu, logvar = _full(mu), _full(logvar)
            z = reparameterize(mu, logvar, eps)
        raw = self.decoder(z)
        with _fp32(x):
            raw = _full(raw)
            mean = torch.sigmoid(raw) if self.cfg.output == "sigmoid" else raw
            bernoulli = self.cfg.likelihood == "bernoulli"
            terms = negative_elbo(x, raw if bernoulli else mean, mu, logvar,
                                  None if bernoulli else self.log_gamma, self.cfg.likelihood)
            return _batch_means(terms, (x - mean).detach().pow(2).mean())

    def forward(self, x: torch.Tensor, eps: torch.Tensor) -> dict[str, torch.Tensor]:
        """The training loss (:meth:`loss`): DistributedDataParallel synchronises through ``forward``."""
        return self.loss(x, eps)


# --------------------------------------------------------------------------- stage 2
class _Stage2Net(nn.Module):
    """`depth` dense ReLU layers; the input is concatenated to the last hidden layer before the heads."""

    def __init__(self, din: int, width: int, depth: int, dout: int, heads: int):
        super().__init__()
        layers: list[nn.Module] = []
        a = din
        for _ in range(depth):
            layers += [nn.Linear(a, width), nn.ReLU()]
            a = width
        self.body = nn.Sequential(*layers)
        self.heads = nn.ModuleList(nn.Linear(width + din, dout) for _ in range(heads))

    def forward(self, x):
        h = torch.cat([self.body(x), x], dim=1)
        return [head(h) for head in self.heads]


class Stage2VAE(_HasGamma, nn.Module):
    """The second VAE: learns q(z) of stage 1 (z dimension kappa, latent u of dimension kappa)."""

    def __init__(self, cfg: Stage2Config):
        super().__init__()
        self.cfg = cfg
        k = cfg.latent_dim
        self.enc = _Stage2Net(k, cfg.width, cfg.depth, k, heads=2)
        self.dec = _Stage2Net(k, cfg.width, cfg.depth, k, heads=1)
        self.log_gamma_ = LogGamma("learned", cfg.gamma_init, cfg.gamma_floor)

    def encode(self, z):
        mu, logvar = self.enc(z)
        return mu, logvar

    def decode(self, u):
        return self.dec(u)[0]

    def loss(self, z: torch.Tensor, eps: torch.Tensor) -> dict[str, torch.Tensor]:
        """Eq. (2) for the second stage (data z, latent u); fp32 outside the networks, as stage 1."""
        mu, logvar = self.encode(z)
        with _fp32(z):
            mu, logvar = _full(mu), _full(logvar)
            u = reparameterize(mu, logvar, eps)
        mean = self.decode(u)
        with _fp32(z):
            mean = _full(mean)
            terms = negative_elbo(z, mean, mu, logvar, self.log_gamma)
            return _batch_means(terms, (z - mean).detach().pow(2).mean())

    def forward(self, z: torch.Tensor, eps: torch.Tensor) -> dict[str, torch.Tensor]:
        """The training loss (:meth:`loss`), for DistributedDataParallel."""
        return self.loss(z, eps)
