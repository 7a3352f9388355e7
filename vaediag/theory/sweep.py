"""Batched training of G small MLP VAEs as one model (a gamma grid, several seeds, several data sets).

Each layer holds a (G, fan_in, fan_out) weight and a (G, 1, fan_out) bias and runs as one
``torch.baddbmm``; the objective is the sum of the G per-group eq. (2) losses, so each group's
gradient is its own and Adam (elementwise) trains every group exactly as it would alone. Group g draws
its initial weights, mini-batches and reparameterisation noise from its own seed ``seeds[g]``: a group
trained in a batch of 8 follows the same trajectory as the same group trained alone (up to
floating-point summation order), which the tests check.

gamma per group: a fixed value, or learned (``nan`` in ``gammas``: log gamma is a parameter that
starts at log 1 = 0, paper convention gamma = variance). Fixed groups carry the parameter too, but
their log gamma is replaced by the fixed value and its gradient is zero, so Adam never moves it.

Speed (these models are a few MFLOP per step, so per-step overhead, not arithmetic, sets the time;
``benchmarks/bench_theory_sweep.py`` measures each lever):
  * every parameter of every group lives in one flat tensor (weights and biases are views of it), so
    Adam is one fused kernel, called directly by :class:`FlatAdam` (torch.optim's ``step`` bookkeeping
    cost 10x the kernel for one model; the six-operation update where the build has no fused kernel);
  * the training step computes eq. (2)'s gradient by hand (:func:`GroupedVAE.grad_step`: forward and
    backward of the MLPs, the reparameterisation and eq. (2), written out with ``baddbmm``/``bmm``
    into views of one flat gradient buffer, SiLU's derivative by torch's fused ``silu_backward``, no
    input gradient for the encoder) instead of through autograd; it is tested against autograd
    of :meth:`GroupedVAE.losses`, which is eq. (2) as assembled by ``vaediag.objective.negative_elbo``;
  * mini-batches and noise are gathered per chunk of steps, not per step; the learning rate is a
    number set per step, not a scheduler object; losses are read back only at logging steps.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vaediag.diagnostics.eigen import r_hat
from vaediag.engine.config import Stage2Config
from vaediag.engine.loop import Precision, adam_step
from vaediag.engine.models import Stage2VAE
from vaediag.engine.schedule import lr_at as _lr_at
from vaediag.engine.schedule import make_adam
from vaediag.objective import LOG_2PI, negative_elbo, reparameterize



class FlatAdam:
    """Adam over one flat parameter and its gradient buffer, the learning rate passed per step:
    torch.optim.Adam's update (no weight decay, no amsgrad) without its per-step Python bookkeeping.

    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;  p <- p - lr/(1 - b1^t) m / (sqrt(v/(1 - b2^t)) + eps).
    One fused kernel (torch's own ``_fused_adam_``, the kernel of ``Adam(fused=True)``) where this torch
    has it, else the same update in six in-place operations (``Adam(foreach=False)``'s order)."""

    def __init__(self, param: torch.Tensor, grad: torch.Tensor, betas=(0.9, 0.999), eps: float = 1e-8,
                 fused: bool | None = None):
        self.p, self.g = param, grad
        self.m, self.v = torch.zeros_like(param), torch.zeros_like(param)
        self.b1, self.b2, self.eps = float(betas[0]), float(betas[1]), float(eps)
        self.t = 0
        self._t = torch.zeros((), dtype=torch.float32, device=param.device)  # the fused kernel's step count
        self.fused = hasattr(torch, "_fused_adam_") if fused is None else fused

    def step(self, lr: float) -> None:
        self.t += 1
        if self.fused:
            self._t.add_(1)
            try:
                torch._fused_adam_([self.p], [self.g], [self.m], [self.v], [], [self._t], lr=lr, beta1=self.b1,
                                   beta2=self.b2, weight_decay=0.0, eps=self.eps, amsgrad=False, maximize=False)
                return
            except (RuntimeError, NotImplementedError, TypeError):  # no fused kernel for this device/build
                self.fused = False
        self.m.lerp_(self.g, 1 - self.b1)
        self.v.mul_(self.b2).addcmul_(self.g, self.g, value=1 - self.b2)
        denom = self.v.sqrt().div_(math.sqrt(1 - self.b2 ** self.t)).add_(self.eps)
        self.p.addcdiv_(self.m, denom, value=-lr / (1 - self.b1 ** self.t))


def _silu_backward_composite(grad: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(a)
    return grad * s * (1 + a * (1 - s))


# torch's fused SiLU derivative (one kernel instead of four) where this build has it
_silu_backward = getattr(getattr(torch.ops.aten, "silu_backward", None), "default", None) or _silu_backward_composite


class GroupedVAE(nn.Module):
    """G MLP VAEs (SiLU between layers) with a scalar gamma each (fixed or learned).

    All tensors carry a leading G axis. Parameters: one flat ``nn.Parameter``; ``enc_w[i]`` (G, a, b),
    ``enc_b[i]`` (G, 1, b), ``dec_w``, ``dec_b`` and ``log_gamma_param`` (G,) are views of it."""

    def __init__(self, d: int, kappa: int, gammas, seeds, hidden=(64, 64)):
        super().__init__()
        gammas = np.asarray(gammas, dtype=float)
        self.G, self.d, self.kappa, self.hidden = len(gammas), d, kappa, tuple(hidden)
        gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
        enc_sizes, dec_sizes = [d, *hidden, 2 * kappa], [kappa, *reversed(hidden), d]
        self.shapes: list[tuple[int, ...]] = []
        parts = []
        for sizes in (enc_sizes, dec_sizes):
            for a, b in zip(sizes[:-1], sizes[1:]):
                bound = 1.0 / math.sqrt(a)  # nn.Linear's default init range
                w = torch.stack([torch.rand(a, b, generator=g) * 2 * bound - bound for g in gens])
                c = torch.stack([torch.rand(1, b, generator=g) * 2 * bound - bound for g in gens])
                parts += [w, c]
                self.shapes += [tuple(w.shape), tuple(c.shape)]
        parts.append(torch.zeros(self.G))  # log gamma starts at log 1 = 0
        self.shapes.append((self.G,))
        self.n_enc = len(enc_sizes) - 1
        self.flat = nn.Parameter(torch.cat([p.reshape(-1) for p in parts]))
        learned = np.isnan(gammas)
        self.register_buffer("learned", torch.as_tensor(learned))
        self.register_buffer("fixed_log_gamma",
                             torch.as_tensor(np.log(np.where(learned, 1.0, gammas)), dtype=torch.float32))
        self._bind()

    def _views(self, t: torch.Tensor) -> list[torch.Tensor]:
        sizes = [math.prod(s) for s in self.shapes]
        return [v.view(s) for v, s in zip(torch.split(t, sizes), self.shapes)]

    def _bind(self) -> None:
        """Views of the flat parameter (valid while its storage lives: Adam updates it in place)."""
        v = self._views(self.flat.data)
        n = self.n_enc
        self.enc_w, self.enc_b = v[0:2 * n:2], v[1:2 * n:2]
        self.dec_w, self.dec_b = v[2 * n:-1:2], v[2 * n + 1:-1:2]
        self.log_gamma_param = v[-1]

    def _apply(self, fn, recurse=True):  # .to(device) may replace the storage: rebind the views
        out = super()._apply(fn, recurse)
        self._bind()
        return out

    def group_tensors(self, g: int) -> list[torch.Tensor]:
        """Group g's weights and biases (and log gamma), in layer order: for comparisons."""
        return [v[g] for v in self._views(self.flat.data)]

    def _params(self):
        """(enc_w, enc_b, dec_w, dec_b, log_gamma_param): the cached views, or, when autograd records,
        fresh views of the flat parameter (so that ``losses(...).backward()`` reaches it)."""
        if not (torch.is_grad_enabled() and self.flat.requires_grad):
            return self.enc_w, self.enc_b, self.dec_w, self.dec_b, self.log_gamma_param
        v, n = self._views(self.flat), self.n_enc
        return v[0:2 * n:2], v[1:2 * n:2], v[2 * n:-1:2], v[2 * n + 1:-1:2], v[-1]

    @property
    def log_gamma(self) -> torch.Tensor:
        """(G,) log decoder variances."""
        return torch.where(self.learned, self._params()[4], self.fixed_log_gamma)

    @staticmethod
    def _mlp(x, ws, bs, keep: list | None = None):
        n = len(ws)
        for i, (w, b) in enumerate(zip(ws, bs)):
            a = torch.baddbmm(b, x, w)
            if i < n - 1:
                x = F.silu(a)
                if keep is not None:  # grad_step (no autograd): keep a and SiLU(a) for the backward
                    keep.append((a, x))
            else:
                x = a
        return x

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ew, eb = self._params()[:2]
        mu, logvar = self._mlp(x, ew, eb).chunk(2, dim=-1)
        return mu, logvar  # (G, B, kappa) each

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        dw, db = self._params()[2:4]
        return self._mlp(z, dw, db)  # (G, B, d)

    def losses(self, x: torch.Tensor, eps: torch.Tensor) -> dict[str, torch.Tensor]:
        """Eq. (2) per group, batch means: {"loss", "recon", "kl"} each (G,)."""
        mu, logvar = self.encode(x)
        return self._eq2(x, mu, logvar, self.decode(reparameterize(mu, logvar, eps)))

    def _eq2(self, x, mu, logvar, mean) -> dict[str, torch.Tensor]:
        """Eq. (2) per group, batch means, from the encoder's output and the decoded mean."""
        G, B, d = x.shape
        lg = self.log_gamma.repeat_interleave(B)
        t = negative_elbo(x.reshape(G * B, d), mean.reshape(G * B, d), mu.reshape(G * B, -1),
                          logvar.reshape(G * B, -1), lg)  # eq. (2), the package's one assembly
        return {k: v.view(G, B).mean(1) for k, v in t.items()}

    @torch.no_grad()
    def grad_step(self, x: torch.Tensor, eps: torch.Tensor, grad: torch.Tensor, want_loss: bool = False):
        """Write d(sum_g loss_g)/d(flat) into ``grad`` (flat, same layout), loss_g = eq. (2) batch mean.

        Forward: h = SiLU(b + h W) per hidden layer; (mu, logvar) = encoder(x); z = mu + exp(logvar/2)
        eps; mean = decoder(z). Backward, with B the batch size and r = x - mean:
          dL/dmean = -r / (gamma B);  dL/dlog gamma = sum_b (d/2 - |r_b|^2 / (2 gamma)) / B  (learned only)
          dL/dmu = dL/dz + mu / B;   dL/dlogvar = dL/dz (z - mu) / 2 + (exp(logvar) - 1) / (2 B)
          SiLU'(a) = s (1 + a (1 - s)), s = sigmoid(a) (torch's fused silu_backward); dW = h_prev^T dA,
          db = sum_b dA; the encoder's input gradient is not formed (x is data).
        Returns the (G,) losses when ``want_loss`` (one extra reduction), else None."""
        _, B, d = x.shape
        k = self.kappa
        gv = self._views(grad)
        n = self.n_enc
        gew, geb, gdw, gdb, glg = gv[0:2 * n:2], gv[1:2 * n:2], gv[2 * n:-1:2], gv[2 * n + 1:-1:2], gv[-1]
        ke: list = []
        out = self._mlp(x, self.enc_w, self.enc_b, ke)
        mu, logvar = out[..., :k], out[..., k:]
        std = torch.exp(0.5 * logvar)
        dz_mu = std * eps  # z - mu
        z = mu + dz_mu
        kd: list = []
        mean = self._mlp(z, self.dec_w, self.dec_b, kd)
        lg = self.log_gamma
        inv_g = torch.exp(-lg)[:, None, None]  # (G, 1, 1)
        r = x - mean
        sq = r.pow(2).sum(-1)  # (G, B)
        dA = r.mul_(-inv_g / B)  # dL/dmean, in place of r
        glg.copy_(torch.where(self.learned, (0.5 * d - 0.5 * sq.mean(1) * inv_g[:, 0, 0]), torch.zeros_like(lg)))
        dz = self._backward(z, dA, self.dec_w, kd, gdw, gdb)
        dout = torch.cat([dz + mu / B, 0.5 * dz * dz_mu + (std * std - 1) / (2 * B)], dim=-1)
        self._backward(x, dout, self.enc_w, ke, gew, geb, need_dx=False)
        if not want_loss:
            return None
        recon = 0.5 * sq.mean(1) * inv_g[:, 0, 0] + 0.5 * d * (LOG_2PI + lg)  # eq. (2), first term
        kl = 0.5 * (mu.pow(2) + std * std - logvar - 1).sum(-1).mean(1)  # eq. (2), KL term
        return recon + kl

    @staticmethod
    def _backward(x_in, dA, ws, keep, gws, gbs, need_dx: bool = True):
        """Backpropagate dA (gradient at the last pre-activation) through an MLP; returns dL/dx_in
        (None when not ``need_dx``: the encoder's input is data)."""
        for i in range(len(ws) - 1, -1, -1):
            h_prev = keep[i - 1][1] if i > 0 else x_in
            torch.bmm(h_prev.transpose(1, 2), dA, out=gws[i])
            torch.sum(dA, dim=1, keepdim=True, out=gbs[i])
            if i == 0 and not need_dx:
                return None
            dh = torch.bmm(dA, ws[i].transpose(1, 2))
            if i == 0:
                return dh
            dA = _silu_backward(dh, keep[i - 1][0])  # dh SiLU'(a), SiLU'(a) = s (1 + a (1 - s)), s = sigmoid(a)

    def select(self, g: int) -> GroupedVAE:
        """A copy holding only group g (G = 1)."""
        gam = [float("nan") if bool(self.learned[g]) else math.exp(float(self.fixed_log_gamma[g]))]
        m = GroupedVAE(self.d, self.kappa, gam, [0], self.hidden).to(self.flat.device)
        with torch.no_grad():
            for dst, src in zip(m._views(m.flat.data), self.group_tensors(g)):
                dst[0].copy_(src)
        return m


@dataclass
class SweepResult:
    model: GroupedVAE
    log_gamma: np.ndarray  # (n_logged, G) log gamma during training
    loss: np.ndarray  # (n_logged, G) training loss (batch) during training
    steps_logged: np.ndarray
    seconds: float


def lr_at(step: int, steps: int, lr: float) -> float:
    """Learning rate at ``step`` (0-based): constant for the first 70% of steps, then linear to lr/10."""
    return _lr_at(step, lr, anneal=(0.7 * steps, 0.3 * steps))


def train_sweep(data: torch.Tensor, kappa: int, gammas, seeds, steps: int = 4000, batch: int = 128,
                lr: float = 2e-3, hidden=(64, 64), device: str | torch.device = "cpu", log_every: int = 100,
                progress: Callable[[int, int], None] | None = None, chunk: int = 250,
                on_log: Callable[[int, GroupedVAE], None] | None = None,
                gamma_floor: tuple[float, float] | None = None) -> SweepResult:
    """Train G VAEs at once. data: (G, N, d) (one data set per group) or (N, d) (shared).
    ``on_log(step, model)`` is called at every logging step (for diagnostics along the way).

    Adam, learning rate ``lr`` constant for the first 70% of steps, then linearly down to lr/10 (a
    short anneal so the fixed-gamma groups settle near their optimum; the paper leaves the schedule open).
    ``gamma_floor = (g0, frac)``: a gamma warm-up, off by default: for the first ``frac`` of the steps every
    learned gamma is held at or above g0 (log gamma clipped after each Adam step), then learned freely.
    """
    gammas = np.asarray(gammas, dtype=float)
    G = len(gammas)
    data = torch.as_tensor(data, dtype=torch.float32).to(device)
    shared = data.dim() == 2  # one data set for every group
    N, d = data.shape[-2:]
    model = GroupedVAE(d, kappa, gammas, seeds, hidden).to(device)
    model.flat.grad = torch.zeros_like(model.flat)
    grad = model.flat.grad
    opt = FlatAdam(model.flat.data, grad)
    gens = [torch.Generator().manual_seed(10_000 + int(s)) for s in seeds]
    rows = data if shared else data.reshape(G * N, d)  # group g's point i: row i if shared, else row g N + i
    offset = 0 if shared else torch.arange(G, device=device)[None, :, None] * N
    lg_log, loss_log, logged = [], [], []
    if gamma_floor is not None and not (gamma_floor[0] > 0 and 0 <= gamma_floor[1] <= 1):
        raise ValueError(f"gamma_floor = (g0, frac) needs g0 > 0 and 0 <= frac <= 1, got {tuple(gamma_floor)}")
    floor_until, log_floor = (0, 0.0) if gamma_floor is None else (int(gamma_floor[1] * steps),
                                                                   math.log(gamma_floor[0]))
    t0 = time.perf_counter()
    for start in range(0, steps, chunk):
        n = min(chunk, steps - start)
        # Per-group randomness, drawn in chunks: (n, G, B) indices and (n, G, B, kappa) noise.
        idx = torch.stack([torch.randint(0, N, (n, batch), generator=g) for g in gens], 1).to(device)
        eps = torch.stack([torch.randn(n, batch, kappa, generator=g) for g in gens], 1).to(device)
        xb = rows.index_select(0, (idx + offset).view(-1)).view(n, G, batch, d)  # (n, G, B, d): the chunk's
        # mini-batches, gathered once (index_select: the same rows as data[arange(G), idx], about 2x faster)
        for i in range(n):
            s = start + i + 1
            log = s % log_every == 0 or s == steps
            loss = model.grad_step(xb[i], eps[i], grad, want_loss=log)
            opt.step(lr_at(s - 1, steps, lr))
            if s <= floor_until:  # fixed groups ignore log_gamma_param, so clipping it touches only learned ones
                model.log_gamma_param.clamp_(min=log_floor)
            if log:
                lg_log.append(model.log_gamma.detach().cpu().numpy().copy())
                loss_log.append(loss.cpu().numpy().copy())
                logged.append(s)
                if on_log:
                    on_log(s, model)
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
    dev = model.flat.device
    x = torch.as_tensor(x, dtype=torch.float32, device=dev)
    if x.dim() == 2:
        x = x.unsqueeze(0).expand(model.G, -1, -1)
    gen = torch.Generator().manual_seed(seed)
    mu, logvar = model.encode(x)
    acc = {"loss": 0.0, "recon": 0.0, "kl": 0.0, "mse_eps": 0.0}
    for _ in range(n_eps):  # model.losses(x, eps), without encoding x again or decoding the same z twice
        eps = torch.randn(mu.shape, generator=gen).to(dev)
        rec = model.decode(reparameterize(mu, logvar, eps))
        out = model._eq2(x, mu, logvar, rec)
        for k in ("loss", "recon", "kl"):
            acc[k] = acc[k] + out[k] / n_eps
        acc["mse_eps"] = acc["mse_eps"] + (rec - x).pow(2).sum(-1).mean(1) / n_eps
    res = {k: v.cpu().numpy() for k, v in acc.items()}
    res["mse_mean"] = (model.decode(mu) - x).pow(2).sum(-1).mean(1).cpu().numpy()
    res["enc_var"] = np.sort(logvar.exp().mean(1).cpu().numpy(), axis=1)
    res["gamma"] = model.log_gamma.exp().cpu().numpy()
    return res


def r_hat_per_model(enc_var: np.ndarray, tau: float) -> np.ndarray:
    """eq. (9)'s r_hat of each model: :func:`vaediag.diagnostics.eigen.r_hat` applied to each row of
    ``enc_var`` (G, kappa) (encoder variances averaged over points) with the threshold ``tau``."""
    ev = np.asarray(enc_var)
    return np.array([r_hat(row, tau) for row in ev.reshape(-1, ev.shape[-1])]).reshape(ev.shape[:-1])


class _FusedAdamStep:
    """The step of a fused ``torch.optim.Adam`` (``make_adam``'s) whose state its first ``step()`` created: the
    same kernel, ``torch._fused_adam_``, on the same tensors and per-group settings, without ``Optimizer.step``'s
    per-step bookkeeping (hooks, profiler records, regrouping the tensors), which costs more than the kernel on a
    small network. The update is the same to the bit (tested)."""

    def __init__(self, opt: torch.optim.Adam):
        self.groups = []
        for g in opt.param_groups:
            st = [opt.state[p] for p in g["params"]]
            self.groups.append((list(g["params"]), [s["exp_avg"] for s in st], [s["exp_avg_sq"] for s in st],
                                [s["step"] for s in st], g))
        self.params = [p for ps, *_ in self.groups for p in ps]

    @classmethod
    def of(cls, opt: torch.optim.Optimizer) -> _FusedAdamStep | None:
        """The fast step of ``opt``, or None where it does not apply (not a fused Adam, amsgrad, no state yet)."""
        ok = isinstance(opt, torch.optim.Adam) and all(
            g.get("fused") and not g.get("amsgrad") and not g.get("maximize") and not g.get("decoupled_weight_decay")
            and not g.get("capturable") and not g.get("differentiable") and all(p in opt.state for p in g["params"])
            for g in opt.param_groups)
        return cls(opt) if ok and hasattr(torch, "_fused_adam_") else None

    def step(self, lr: float) -> None:
        """One Adam update at learning rate ``lr`` (times each group's ``lr_scale``, as ``set_lr``)."""
        for ps, m, v, t, g in self.groups:
            g["lr"] = lr * g.get("lr_scale", 1.0)
            torch._foreach_add_(t, 1)
            torch._fused_adam_(ps, [p.grad for p in ps], m, v, [], t, amsgrad=False, lr=g["lr"],
                               beta1=g["betas"][0], beta2=g["betas"][1], weight_decay=g["weight_decay"],
                               eps=g["eps"], maximize=False, grad_scale=None, found_inf=None)


def train_stage2(mu: torch.Tensor, logvar: torch.Tensor, width: int, depth: int = 3, steps: int = 4000,
                 batch: int = 100, lr: float = 1e-3, weight_decay: float = 5e-4, gamma_init: float = 1.0,
                 seed: int = 0, device: str | torch.device = "cpu"):
    """Section 4's second stage: the engine's :class:`Stage2VAE` on z ~ q(z|x) of stage 1.

    mu, logvar: (N, kappa) stage-1 posteriors of the training set. Each step draws a batch of
    examples and a fresh z = mu + sigma * e1 for each (as the engine's stage-2 batches do), and the
    reparameterisation noise e2. Adam with weight decay on the networks only (never on log gamma_z,
    a likelihood parameter), as the engine; the learning rate halves every 3/8 of the steps (the
    paper's MNIST stage 2 halves at 300 of 800 epochs). gamma_z starts at ``gamma_init`` (learned from
    there). Initial weights come from ``seed``."""
    mu, sd = mu.detach().to(device), logvar.detach().mul(0.5).exp().to(device)
    n, k = mu.shape
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Stage2VAE(Stage2Config(latent_dim=k, width=width, depth=depth, gamma_init=gamma_init)).to(device)
    opt = make_adam(model.param_groups(weight_decay), lr)  # the engine's optimiser and parameter groups
    halve = max(1, (3 * steps) // 8)
    amp = Precision("fp32", torch.device(device))
    gen = torch.Generator().manual_seed(10_000 + seed)
    fast = None
    for step in range(steps):  # batches drawn with replacement; the engine's step and schedule
        idx = torch.randint(0, n, (batch,), generator=gen).to(device)
        e = torch.randn(batch, 2 * k, generator=gen).to(device)
        z = mu[idx] + sd[idx] * e[:, :k]  # a fresh draw z ~ q(z|x)
        if fast is None:  # the engine's step (its first creates Adam's state), then the same update without
            adam_step(model, opt, _lr_at(step, lr, halve), z, e[:, k:], amp)  # its per-step bookkeeping
            fast = _FusedAdamStep.of(opt) or False
        elif fast:
            for p in fast.params:
                p.grad = None
            model.loss(z, e[:, k:])["loss"].backward()
            fast.step(_lr_at(step, lr, halve))
        else:
            adam_step(model, opt, _lr_at(step, lr, halve), z, e[:, k:], amp)
    return model.eval()
