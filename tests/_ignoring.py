"""A VAE whose decoder ignores all but its first r latent coordinates (shared by the diagnostics tests)."""

import math

import torch
import torch.nn as nn


class IgnoringVAE(nn.Module):
    """Diagonal encoder; the decoder uses only the first r latent coordinates (x = tanh(A z_{1:r}))."""

    def __init__(self, d=12, k=6, r=2, active_var=1e-3, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.A = nn.Parameter(torch.randn(d, r, generator=g), requires_grad=False)
        self.B = nn.Parameter(torch.randn(k, d, generator=g) * 0.1, requires_grad=False)
        self.r, self.k = r, k
        lv = torch.zeros(k)
        lv[:r] = math.log(active_var)
        self.register_buffer("lv", lv)
        self.gamma = torch.tensor(1e-3)

    def encode(self, x):
        return x @ self.B.T, self.lv.expand(len(x), -1)

    def decode(self, z):
        return z[:, :self.r] @ self.A.T  # linear: the image variance along e_j is var(eps) ||A_j||^2
