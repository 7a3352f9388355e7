"""A linear-Gaussian VAE with a closed form for everything (shared by the known-answer tests).

Generative model: z ~ N(0, I_k), x = W z + sqrt(gamma) e, W = U diag(s) with orthonormal columns U (d x k),
so p(x) = N(0, W W^T + gamma I) and the exact posterior is DIAGONAL: Sigma = diag(gamma / (gamma + s_j^2))
(eq. 73 with J = W), mu_j = s_j / (gamma + s_j^2) u_j^T x. A zero s_j is an unused direction (lambda_j = 1).
"""

import math

import numpy as np
import torch
import torch.nn as nn


class LinearGaussianDiagVAE(nn.Module):
    def __init__(self, s2, gamma, d=None, seed=0, var_scale=1.0):
        super().__init__()
        s = torch.tensor(np.sqrt(np.asarray(s2, dtype=np.float64)))
        k = len(s)
        d = d or k + 3
        g = torch.Generator().manual_seed(seed)
        U, _ = torch.linalg.qr(torch.randn(d, k, generator=g, dtype=torch.float64))
        self.U, self.s, self.g = U, s, float(gamma)
        self.W = U * s  # (d, k)
        self.gamma = torch.tensor(float(gamma), dtype=torch.float64)
        self.var_scale = var_scale  # != 1: a deliberately non-optimal encoder variance

    @property
    def lam(self):
        return self.g / (self.g + self.s ** 2)

    def sample(self, n, seed=1):
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(n, len(self.s), generator=g, dtype=torch.float64)
        return z @ self.W.T + math.sqrt(self.g) * torch.randn(n, self.W.shape[0], generator=g, dtype=torch.float64)

    def encode(self, x):
        mu = (x.double() @ self.U) * (self.s / (self.g + self.s ** 2))
        return mu, (self.lam * self.var_scale).log().expand(len(x), -1)

    def decode(self, z):
        return z.double() @ self.W.T

    def log_px(self, x):
        d = self.W.shape[0]
        cov = self.W @ self.W.T + self.g * torch.eye(d, dtype=torch.float64)
        return torch.distributions.MultivariateNormal(torch.zeros(d, dtype=torch.float64), cov).log_prob(x.double())
