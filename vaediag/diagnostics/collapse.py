"""Posterior-collapse statistics of any VAE meeting :mod:`vaediag.diagnostics.protocol`, beside the paper's r_hat.

- KL per latent dimension, mean over the data: KL_j = E_x 0.5 (mu_j^2 + var_j - log var_j - 1) for a
  diagonal encoder (the terms of eq. (2)'s KL). For a full covariance the per-coordinate values are the
  KLs of the coordinate marginals and ``kl_total`` is the full KL (their sum differs from it by the
  correlations).
- Active units (Burda, Grosse & Salakhutdinov, 2016, "Importance weighted autoencoders", section 5.2):
  A_j = Var_x(E_q[z_j | x]) = Var_x mu_j; unit j is active when A_j > ``au_threshold`` (default 0.01,
  their value).
- Mutual information I(x; z) under q (Hoffman & Johnson, 2016, "ELBO surgery"):
  I = E_x E_{z~q(z|x)} [log q(z|x) - log q(z)], with the aggregated posterior
  q(z) = (1/N) sum_i q(z|x_i) over the N inputs used and one z per input. This is the mutual information
  of the empirical data distribution (uniform over the N inputs); as an estimate of the population value
  it is biased LOW and can never exceed log N (the own component alone gives q(z) >= q(z|x_i) / N), so
  it is trustworthy only when I is well below log N, which is reported beside it.
- Importance-weighted log-likelihood (Burda et al., 2016, eq. 8):
  log p(x) >= L_K = E log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x), z_k ~ q(z|x), with the model's decoder:
  Gaussian p(x|z) = N(mu_x(z), gamma I) (eq. 2, gamma a variance, in the model's units), or Bernoulli
  log p(x|z) = sum_i x_i log p_i + (1 - x_i) log(1 - p_i), p = mu_x(z) (probabilities clipped to
  [1e-7, 1 - 1e-7]; for grey values in [0, 1] this is the binary cross-entropy, as trained, not a
  normalised density); the mean over inputs and its standard error (std over inputs / sqrt(n)). L_1 is
  the ELBO; L_K increases with K to log p(x). Nats per input.
- Eq. (8)/(9): near the optimum 2 KL = -r_hat log gamma + O(1), so the KL predicted from r_hat and
  gamma is -(r_hat / 2) log gamma; it is compared with the measured total KL (the O(1) term is
  sum_j log s_j^2 / 2 over the used directions, so only their agreement in slope across gamma is a
  prediction, not equality).

Active units and r_hat measure different things: active units ask whether the posterior MEAN moves
with x; r_hat asks whether the posterior VARIANCE has left 1 (the decoder uses the direction, eq. 73).
They agree on an optimal encoder (Var mu_j = 1 - lambda_j when q(z) = N(0, I)), and disagree when the
encoder is not optimal: a mean that moves with x along a direction whose variance stays ~1 (the decoder
ignores it) counts as active but not in r_hat; Burda's 0.01 cut also counts directions whose lambda_j is
as large as 0.99, which r_hat's 1/2 cut (s_j^2 > gamma) does not.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from vaediag.errors import VaediagError
from vaediag.objective import LOG_2PI

AU_THRESHOLD = 0.01


# ---------------------------------------------------------------------------- pure cores
def kl_terms(mu: torch.Tensor, second: torch.Tensor, full: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(per-coordinate KL (B, k), total KL (B,)) of q(z|x) = N(mu, Sigma) to N(0, I)."""
    mu, second = mu.double(), second.double()
    var = torch.diagonal(second, dim1=1, dim2=2) if full else second
    per = 0.5 * (mu.pow(2) + var - var.log() - 1.0)
    if not full:
        return per, per.sum(1)
    k = mu.shape[1]
    total = 0.5 * (torch.diagonal(second, dim1=1, dim2=2).sum(1) + mu.pow(2).sum(1) - k - torch.logdet(second))
    return per, total


def active_units(mu_var: np.ndarray, threshold: float = AU_THRESHOLD) -> int:
    """Burda et al.: #{j : Var_x mu_j > threshold}."""
    return int(np.sum(np.asarray(mu_var) > threshold))


def log_normal_diag(z: torch.Tensor, mu: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag(var)), summed over the last dimension (broadcasts)."""
    return -0.5 * (((z - mu) ** 2) / var + var.log() + LOG_2PI).sum(-1)


def log_normal_full(z: torch.Tensor, mu: torch.Tensor, chol: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, L L^T), z and mu (..., k), chol (..., k, k), broadcasting over leading dims."""
    diff = (z - mu).unsqueeze(-1)
    sol = torch.linalg.solve_triangular(chol, diff, upper=False).squeeze(-1)
    k = z.shape[-1]
    return -0.5 * (sol.pow(2).sum(-1) + k * LOG_2PI) - torch.diagonal(chol, dim1=-2, dim2=-1).log().sum(-1)


def diag_matrix_parts(mu: torch.Tensor, var: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """What :func:`log_normal_diag_matrix` needs of the components: 1/var, mu/var and
    sum_d (mu^2/var + log var + log 2 pi), computed once for every chunk of z."""
    inv = 1.0 / var
    return inv, mu * inv, (mu * mu * inv + var.log() + LOG_2PI).sum(-1)


def log_normal_diag_matrix(z: torch.Tensor, mu: torch.Tensor, var: torch.Tensor, parts=None) -> torch.Tensor:
    """(a, b) matrix of log N(z_a; mu_b, diag(var_b)) by matrix products, memory a b (not a b k):
    -0.5 [z^2 (1/var)^T - 2 z (mu/var)^T + sum_d (mu^2/var + log var + log 2 pi)] (``parts``:
    :func:`diag_matrix_parts` of mu and var, when already computed)."""
    inv, mu_inv, const = parts if parts is not None else diag_matrix_parts(mu, var)
    return -0.5 * ((z * z) @ inv.T - 2.0 * z @ mu_inv.T + const[None, :])


def mutual_information(mu: torch.Tensor, second: torch.Tensor, full: bool, generator: torch.Generator,
                       chunk: int = 256, matrix_above: int = 64) -> float:
    """I(x; z) under q for the N inputs given (see the module docstring: biased low, at most log N).
    A diagonal posterior of more than ``matrix_above`` numbers uses :func:`log_normal_diag_matrix`
    (the same quantity, time and memory linear in k)."""
    mu, second = mu.double().cpu(), second.double().cpu()
    n, k = mu.shape
    eps = torch.randn(n, k, generator=generator, dtype=torch.float64)
    if not full and k > matrix_above:
        z = mu + second.sqrt() * eps
        del eps
        own, parts = log_normal_diag(z, mu, second), diag_matrix_parts(mu, second)
        mix = torch.cat([torch.logsumexp(log_normal_diag_matrix(z[a:a + chunk], mu, second, parts), dim=1)
                         for a in range(0, n, chunk)]) - math.log(n)
        return float((own - mix).mean())
    if full:
        chol = torch.linalg.cholesky(second)
        z = mu + (chol @ eps.unsqueeze(-1)).squeeze(-1)
        own = log_normal_full(z, mu, chol)
    else:
        z = mu + second.sqrt() * eps
        own = log_normal_diag(z, mu, second)
    log_mix = []
    for a in range(0, n, chunk):
        zc = z[a:a + chunk, None, :]  # (c, 1, k) against every component (1, n, k)
        lp = log_normal_full(zc, mu[None], chol[None]) if full else log_normal_diag(zc, mu[None], second[None])
        log_mix.append(torch.logsumexp(lp, dim=1) - math.log(n))
    return float((own - torch.cat(log_mix)).mean())


def kl_eq9(r_hat: int, gamma: float | None) -> float | None:
    """Eq. (9): the KL predicted near the optimum, -(r_hat / 2) log gamma (nats, up to O(1))."""
    if gamma is None or not gamma > 0:
        return None
    return -0.5 * r_hat * math.log(gamma)


# ---------------------------------------------------------------------------- gatherers
class CollapseAccumulator:
    """Sums over batches for the KL per dimension and the variance of the posterior means."""

    def __init__(self, k: int):
        self.kl = np.zeros(k)
        self.kl_total = 0.0
        self.s = np.zeros(k)
        self.ss = np.zeros(k)
        self.n = 0

    def add(self, mu: torch.Tensor, second: torch.Tensor, full: bool) -> None:
        per, total = kl_terms(mu, second, full)
        m = mu.detach().double().cpu().numpy()
        self.kl += per.sum(0).cpu().numpy()
        self.kl_total += float(total.sum())
        self.s += m.sum(0)
        self.ss += (m * m).sum(0)
        self.n += len(m)

    def summary(self, au_threshold: float = AU_THRESHOLD) -> tuple[dict, dict]:
        n = max(self.n, 1)
        mean = self.s / n
        mu_var = np.clip(self.ss / n - mean * mean, 0.0, None)  # Var_x mu_j (population variance)
        kl = self.kl / n
        return ({"kl_per_dim": kl.tolist(), "kl_total": self.kl_total / n,
                 "active_units": active_units(mu_var, au_threshold), "active_units_threshold": au_threshold,
                 "posterior_mean_variance": mu_var.tolist()},
                {"kl_per_dim": kl, "posterior_mean_variance": mu_var})


BERNOULLI_EPS = 1e-7


def log_px_given_z(mean: torch.Tensor, x: torch.Tensor, likelihood: str, gamma: float | None) -> torch.Tensor:
    """log p(x|z) summed over the numbers of an input; ``mean`` (..., d) decodes, ``x`` broadcastable."""
    mean, x = mean.double(), x.double()
    if likelihood == "bernoulli":
        p = mean.clamp(BERNOULLI_EPS, 1.0 - BERNOULLI_EPS)
        return (x * p.log() + (1.0 - x) * torch.log1p(-p)).sum(-1)
    d = mean.shape[-1]
    return -0.5 * ((mean - x).pow(2).sum(-1) / gamma + d * (LOG_2PI + math.log(gamma)))  # eq. (2)'s decoder


@torch.no_grad()
def iw_log_likelihood(model, x: torch.Tensor, gamma: float | None, k: int = 100, generator: torch.Generator | None = None,
                      batch: int = 50, likelihood: str = "gaussian", chunk: int = 256, step=None) -> dict:
    """Importance-weighted bound L_K of log p(x) per input (floats ``x``, in the model's units) with the
    Gaussian decoder N(mu_x(z), gamma I) or, ``likelihood="bernoulli"``, the Bernoulli decoder.

    Returns {mean, stderr, k, n, per_input (numpy), elbo_mean (L_1 from the first sample), likelihood} in nats.
    The K x batch decodes are made ``chunk`` at a time, at most
    :data:`~vaediag.diagnostics.budget.BATCH_NUMBERS` decoded numbers (memory flat in K); ``step(i)`` is
    called with the inputs done (progress)."""
    from vaediag.diagnostics.budget import batch_size
    from vaediag.diagnostics.protocol import encode_posterior

    if likelihood == "gaussian" and not (gamma is not None and math.isfinite(gamma) and gamma > 0):
        raise VaediagError("the importance-weighted log-likelihood needs the decoder variance gamma; declare it "
                           "with adapt(model, gamma=...)")
    if k < 1:
        raise VaediagError(f"k (importance samples) must be at least 1, got {k}")
    gen = generator or torch.Generator().manual_seed(0)
    out, elbo = [], []
    for i in range(0, len(x), batch):
        xb = x[i:i + batch]
        b = len(xb)
        mu, second, full = encode_posterior(model, xb)
        mu, second = mu.double(), second.double()
        kk = mu.shape[1]
        eps = torch.randn(k, b, kk, generator=gen, dtype=torch.float64).to(mu.device)
        if full:
            chol = torch.linalg.cholesky(second)
            z = mu + (chol @ eps.unsqueeze(-1)).squeeze(-1)  # (K, B, k)
            log_q = log_normal_full(z, mu, chol)
        else:
            z = mu + second.sqrt() * eps
            log_q = log_normal_diag(z, mu, second)
        log_pz = -0.5 * (z.pow(2) + LOG_2PI).sum(-1)
        zf = z.reshape(k * b, kk).to(xb.dtype if xb.dtype.is_floating_point else torch.float32)
        flat = xb.reshape(b, -1)
        chunk = batch_size(flat.shape[1], chunk)
        rows = torch.arange(k * b, device=flat.device) % b  # row r of zf is sample r // b of input r % b
        log_px = torch.cat([log_px_given_z(model.decode(zf[j:j + chunk]).reshape(len(zf[j:j + chunk]), -1),
                                           flat[rows[j:j + chunk]], likelihood, gamma)
                            for j in range(0, k * b, chunk)]).reshape(k, b)
        logw = log_px + log_pz - log_q  # (K, B)
        out.append((torch.logsumexp(logw, 0) - math.log(k)).cpu())
        elbo.append(logw[0].cpu())
        if step is not None:
            step(min(i + batch, len(x)))
    per = torch.cat(out).numpy()
    n = len(per)
    return {"mean": float(per.mean()), "stderr": float(per.std(ddof=1) / math.sqrt(n)) if n > 1 else None,
            "k": int(k), "n": int(n), "elbo_mean": float(torch.cat(elbo).mean()), "per_input": per,
            "likelihood": likelihood}


def collapse_notes(summary: dict) -> list[str]:
    """Sentences holding the collapse statistics against r_hat and eq. (9)."""
    notes = []
    au, r = summary.get("active_units"), summary.get("r_hat")
    if au is not None and r is not None and au != r:
        notes.append(f"active units ({au}, Var_x mu_j > {summary['active_units_threshold']:g}) and r_hat ({r}, "
                     "lambda_j < 1/2) differ: active units ask whether the posterior mean moves with x, r_hat "
                     "whether the posterior variance left 1 (the decoder uses the direction); they agree on an "
                     "optimal encoder, where Var_x mu_j = 1 - lambda_j.")
    mi, cap = summary.get("mutual_information"), summary.get("mutual_information_max")
    if mi is not None and cap is not None and mi > 0.7 * cap:
        notes.append(f"the I(x; z) estimate {mi:.3g} nats is near its ceiling log N = {cap:.3g}: it is biased "
                     "low; use more inputs (mi_n, or n=) for a trustworthy value.")
    return notes
