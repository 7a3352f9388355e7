"""Batched training of G small MLP VAEs as one model (a gamma grid, several seeds, several data sets).

Each layer holds a (G, fan_in, fan_out) weight and a (G, 1, fan_out) bias and runs as one
``torch.baddbmm``; the loss is the sum of the G per-group eq. (2) losses, so each group's gradient is
its own and Adam (elementwise) trains every group exactly as it would alone. Group g draws its
initial weights, mini-batches and reparameterisation noise from its own seed ``seeds[g]``: a group
trained in a batch of 8 follows the same trajectory as the same group trained alone (up to
floating-point summation order), which the tests check.

gamma per group: a fixed value, or learned (``nan`` in ``gammas``: log gamma is a parameter that
starts at log 1 = 0, paper convention gamma = variance). Fixed groups still carry the parameter but
their log gamma is masked to the fixed value, so they get no gradient.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from vaediag.objective import negative_elbo, reparameterize


class GroupedMLP(nn.Module):
    """G independent MLPs sizes[0] -> ... -> sizes[-1], SiLU between layers; x (G, B, sizes[0])."""

    def __init__(self, G: int, sizes: list[int], generators: list[torch.Generator]):
        super().__init__()
        self.weights, self.biases = nn.ParameterList(), nn.ParameterList()
        for a, b in zip(sizes[:-1], sizes[1:]):
            bound = 1.0 / math.sqrt(a)  # nn.Linear's default init range
            w = torch.stack([torch.rand(a, b, generator=g) * 2 * bound - bound for g in generators])
            c = torch.stack([torch.rand(1, b, generator=g) * 2 * bound - bound for g in generators])
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = len(self.weights)
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b, x, w)
            if i < n - 1:
                x = F.silu(x)
        return x


class GroupedVAE(nn.Module):
    """G MLP VAEs with a scalar gamma each (fixed or learned); all tensors carry a leading G axis."""

    def __init__(self, d: int, kappa: int, gammas, seeds, hidden=(64, 64)):
        super().__init__()
        gammas = np.asarray(gammas, dtype=float)
        self.G, self.d, self.kappa, self.hidden = len(gammas), d, kappa, tuple(hidden)
        gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
        self.encoder = GroupedMLP(self.G, [d, *hidden, 2 * kappa], gens)
        self.decoder = GroupedMLP(self.G, [kappa, *reversed(hidden), d], gens)
        learned = np.isnan(gammas)
        self.register_buffer("learned", torch.as_tensor(learned))
        self.register_buffer("fixed_log_gamma", torch.as_tensor(np.log(np.where(learned, 1.0, gammas)), dtype=torch.float32))
        self.log_gamma_param = nn.Parameter(torch.zeros(self.G))

    @property
    def log_gamma(self) -> torch.Tensor:
        """(G,) log decoder variances."""
        return torch.where(self.learned, self.log_gamma_param, self.fixed_log_gamma)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar  # (G, B, kappa) each

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)  # (G, B, d)

    def losses(self, x: torch.Tensor, eps: torch.Tensor) -> dict[str, torch.Tensor]:
        """Eq. (2) per group, batch means: {"loss", "recon", "kl"} each (G,)."""
        G, B, d = x.shape
        mu, logvar = self.encode(x)
        mean = self.decode(reparameterize(mu, logvar, eps))
        lg = self.log_gamma.repeat_interleave(B)
        t = negative_elbo(x.reshape(G * B, d), mean.reshape(G * B, d), mu.reshape(G * B, -1),
                          logvar.reshape(G * B, -1), lg)
        return {k: v.view(G, B).mean(1) for k, v in t.items()}

    def select(self, g: int) -> "GroupedVAE":
        """A copy holding only group g (G = 1)."""
        import copy

        m = copy.deepcopy(self)
        for plist in (m.encoder.weights, m.encoder.biases, m.decoder.weights, m.decoder.biases):
            for i, p in enumerate(plist):
                plist[i] = nn.Parameter(p.data[g:g + 1].clone())
        m.learned, m.fixed_log_gamma = m.learned[g:g + 1], m.fixed_log_gamma[g:g + 1]
        m.log_gamma_param = nn.Parameter(m.log_gamma_param.data[g:g + 1].clone())
        m.G = 1
        return m


@dataclass
class SweepResult:
    model: GroupedVAE
    log_gamma: np.ndarray  # (n_logged, G) log gamma during training
    loss: np.ndarray  # (n_logged, G) training loss (batch) during training
    steps_logged: np.ndarray
    seconds: float


def train_sweep(data: torch.Tensor, kappa: int, gammas, seeds, steps: int = 4000, batch: int = 128,
                lr: float = 2e-3, hidden=(64, 64), device: str | torch.device = "cpu", log_every: int = 100,
                progress: Callable[[int, int], None] | None = None, chunk: int = 250) -> SweepResult:
    """Train G VAEs at once. data: (G, N, d) (one data set per group) or (N, d) (shared).

    Adam, learning rate ``lr`` constant for the first 70% of steps, then linearly down to lr/10 (a
    short anneal so the fixed-gamma groups settle near their optimum; the paper leaves the schedule open).
    """
    gammas = np.asarray(gammas, dtype=float)
    G = len(gammas)
    data = torch.as_tensor(data, dtype=torch.float32)
    if data.dim() == 2:
        data = data.unsqueeze(0).expand(G, -1, -1)
    data = data.to(device)
    _, N, d = data.shape
    model = GroupedVAE(d, kappa, gammas, seeds, hidden).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr, foreach=True)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 1.0 if s < 0.7 * steps else 1.0 - 0.9 * (s - 0.7 * steps) / (0.3 * steps))
    gens = [torch.Generator().manual_seed(10_000 + int(s)) for s in seeds]
    ar = torch.arange(G, device=device)[:, None]
    lg_log, loss_log, logged = [], [], []
    t0 = time.perf_counter()
    for start in range(0, steps, chunk):
        n = min(chunk, steps - start)
        # Per-group randomness, drawn in chunks: (n, G, B) indices and (n, G, B, kappa) noise.
        idx = torch.stack([torch.randint(0, N, (n, batch), generator=g) for g in gens], 1).to(device)
        eps = torch.stack([torch.randn(n, batch, kappa, generator=g) for g in gens], 1).to(device)
        for i in range(n):
            out = model.losses(data[ar, idx[i]], eps[i])
            opt.zero_grad(set_to_none=True)
            out["loss"].sum().backward()
            opt.step()
            sched.step()
            s = start + i + 1
            if s % log_every == 0 or s == steps:
                lg_log.append(model.log_gamma.detach().cpu().numpy().copy())
                loss_log.append(out["loss"].detach().cpu().numpy().copy())
                logged.append(s)
        if progress:
            progress(start + n, steps)
    return SweepResult(model, np.array(lg_log), np.array(loss_log), np.array(logged), time.perf_counter() - t0)


@torch.no_grad()
def evaluate(model: GroupedVAE, x: torch.Tensor, n_eps: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    """Held-out diagnostics per group. x: (G, M, d) or (M, d).

    Returns (arrays with leading G axis): loss, recon, kl (eq. 2, averaged over n_eps noise draws),
    mse_mean (squared error of mu_x(mu_z(x)) summed over d, mean over points), mse_eps (the same for
    mu_x(mu_z + S_z eps), eps ~ N(0, I): Theorem 4's reconstruction under noise), enc_var (G, kappa)
    encoder variances averaged over points, sorted ascending, gamma.
    """
    dev = next(model.parameters()).device
    x = torch.as_tensor(x, dtype=torch.float32, device=dev)
    if x.dim() == 2:
        x = x.unsqueeze(0).expand(model.G, -1, -1)
    gen = torch.Generator().manual_seed(seed)
    mu, logvar = model.encode(x)
    acc = {"loss": 0.0, "recon": 0.0, "kl": 0.0, "mse_eps": 0.0}
    for _ in range(n_eps):
        eps = torch.randn(mu.shape, generator=gen).to(dev)
        out = model.losses(x, eps)
        for k in ("loss", "recon", "kl"):
            acc[k] = acc[k] + out[k] / n_eps
        rec = model.decode(reparameterize(mu, logvar, eps))
        acc["mse_eps"] = acc["mse_eps"] + (rec - x).pow(2).sum(-1).mean(1) / n_eps
    res = {k: v.cpu().numpy() for k, v in acc.items()}
    res["mse_mean"] = (model.decode(mu) - x).pow(2).sum(-1).mean(1).cpu().numpy()
    res["enc_var"] = np.sort(logvar.exp().mean(1).cpu().numpy(), axis=1)
    res["gamma"] = model.log_gamma.exp().cpu().numpy()
    return res
