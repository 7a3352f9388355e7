"""Supplement section 11: the optimal encoder covariance near a VAE optimum.

Linearising the decoder at mu_z (eq. 70) turns the per-sample objective into (eq. 71)
    l(Sigma) = tr(Sigma (I/2 + J^T J / (2 gamma))) - 1/2 log|Sigma| + const,
whose minimiser is (eq. 73) Sigma* = (I + J^T J / gamma)^-1, with eigenvalues (eq. 74)
gamma / (gamma + S_i) for the r nonzero eigenvalues S_i of J^T J and 1 for the other kappa - r.

:func:`optimise_covariance` minimises eq. (71) numerically over Sigma = L L^T (L lower triangular
with a positive diagonal) without using eq. (73), so the two can be compared.
"""

from __future__ import annotations

import numpy as np
import torch


def objective(sigma: torch.Tensor, jtj: torch.Tensor, gamma: float) -> torch.Tensor:
    """Eq. (71) without constants: tr(Sigma (I + J^T J / gamma)) / 2 - log|Sigma| / 2."""
    k = sigma.shape[-1]
    a = torch.eye(k, dtype=sigma.dtype) + jtj / gamma
    return 0.5 * torch.trace(sigma @ a) - 0.5 * torch.logdet(sigma)


def closed_form(J: np.ndarray, gamma: float) -> np.ndarray:
    """Eq. (73): (I + J^T J / gamma)^-1."""
    k = J.shape[1]
    return np.linalg.inv(np.eye(k) + J.T @ J / gamma)


def predicted_eigenvalues(J: np.ndarray, gamma: float, r: int) -> np.ndarray:
    """Eq. (74): gamma / (gamma + S_i) for the r largest eigenvalues S_i of J^T J, then kappa - r ones (ascending)."""
    s = np.sort(np.linalg.eigvalsh(J.T @ J))[::-1][:r]
    return np.sort(np.concatenate([gamma / (gamma + s), np.ones(J.shape[1] - r)]))


def optimise_covariance(J: np.ndarray, gamma: float, iters: int = 100) -> np.ndarray:
    """Minimise eq. (71) over Sigma = L L^T by damped Newton steps in float64, starting from Sigma = I.

    L is lower triangular with diagonal exp(theta) (log-Cholesky: the optimum's small eigenvalues are
    O(gamma)); gradient and Hessian come from (reverse-mode) autograd. (L-BFGS stalls here: the problem's curvature
    spans 1 to 1/gamma.)"""
    k = J.shape[1]
    jtj = torch.as_tensor(J.T @ J, dtype=torch.float64)
    rows, cols = torch.tril_indices(k, k, -1)

    def sigma(theta):
        L = torch.diag(torch.exp(theta[:k]))
        L = L.index_put((rows, cols), theta[k:])
        return L @ L.T

    def f(theta):
        return objective(sigma(theta), jtj, gamma)

    theta = torch.zeros(k + len(rows), dtype=torch.float64)
    lam = 1e-6
    for _ in range(iters):
        th = theta.clone().requires_grad_(True)
        g = torch.autograd.grad(f(th), th)[0]
        H = torch.autograd.functional.hessian(f, theta, vectorize=True)  # vmap over the rows: one pass
        if float(g.norm()) < 1e-13:
            break
        f0 = float(f(theta))
        while True:  # Levenberg-Marquardt damping: accept a step only if it lowers the loss
            step = torch.linalg.solve(H + lam * torch.eye(len(theta), dtype=torch.float64), -g)
            if float(f(theta + step)) <= f0:
                theta, lam = theta + step, max(lam / 10, 1e-12)
                break
            lam *= 10
            if lam > 1e12:
                return sigma(theta).detach().numpy()
    return sigma(theta).detach().numpy()


def random_jacobian(d: int, kappa: int, r: int, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    """A (d, kappa) matrix of rank exactly r (a decoder Jacobian whose image is an r-dim tangent space)."""
    a = rng.standard_normal((d, r))
    b = rng.standard_normal((r, kappa))
    return scale * a @ b
