"""Decodes along single eigendirections of Sigma_z(x) (Theorem 4; Figure 1 centre; supplement Fig. 9).

For an input x with posterior N(mu_z, Sigma_z) and eigenpairs (lambda_j, v_j), draw
z_s = mu_z + scale * eps_s * v_j, eps_s ~ N(0, 1), s = 1..15, and decode with the decoder mean
mu_x(z_s). The "image variance" of direction j is the per-pixel variance over the 15 decodes
(population variance, ddof = 0), summed over pixels (and channels), in the model's units (images in
[0, 1] unless the model declares another ``data_range``). That puts MNIST values in the tens, like the
paper's supplement Fig. 9. Its mean over the inputs comes with a standard error (std over inputs /
sqrt(m)): each input has its own draws eps_s, so it covers both the inputs and the draws.

Noise scale (the paper does not state it): ``scale = 1`` (default), the same N(0, 1) noise in every
direction, which is what makes active directions (small lambda_j) vary a lot and inactive ones
(lambda_j ≈ 1) not at all, as the paper's figures show. ``scale="posterior"`` uses sqrt(lambda_j) v_j
instead, i.e. exactly z ~ q(z|x) restricted to one direction: Theorem 4 predicts near-zero variance in
every direction as gamma -> 0. The same 15 eps values are used for every direction of an input.
"""

from __future__ import annotations

import numpy as np
import torch

from vaediag.diagnostics.budget import N_DECODES, batch_size
from vaediag.diagnostics.protocol import encode_posterior, posterior_eigen



@torch.no_grad()
def perturb_directions(model, x: torch.Tensor, n_decodes: int = N_DECODES, scale: float | str = 1.0,
                       generator: torch.Generator | None = None, keep_images: int = 1,
                       chunk: int = 256, picture: tuple[int, ...] | None = None, directions=None, step=None) -> dict:
    """Perturb mu_z(x) along every eigendirection of Sigma_z(x) for each row of ``x`` (floats), or along
    ``directions`` (indices, the budget of :mod:`vaediag.diagnostics.budget`) only.

    Returns ``lam`` and ``variance`` (m, p): eigenvalue and image variance per input and perturbed
    direction (direction j = coordinate j for a diagonal encoder, the j-th smallest eigenvalue otherwise;
    p = k, or the directions given, in their order: ``directions``);
    ``images`` (p, n_decodes, *picture) float16 decodes of the first input (``picture``: the (C, H, W)
    a decode is shown as; default the input's own shape);
    ``full`` (bool); ``scale``. ``step(i)`` is called after each input (progress). At most ``chunk``
    decodes, and at most :data:`~vaediag.diagnostics.budget.BATCH_NUMBERS` decoded numbers, at once.
    """
    gen = generator or torch.Generator().manual_seed(0)
    mu, second, full = encode_posterior(model, x)
    lam, vec = posterior_eigen(mu, second, full)
    m, k = mu.shape
    picture = tuple(picture) if picture is not None else tuple(x.shape[1:])
    sel = torch.arange(k, device=mu.device) if directions is None else torch.as_tensor(np.asarray(directions), device=mu.device)
    chunk = batch_size(int(np.prod(picture)), chunk)
    lams, variances, images = [], [], None
    for i in range(m):
        eps = torch.randn(n_decodes, generator=gen, dtype=torch.float64).to(mu.device, mu.dtype)  # (S,)
        dirs = (vec[i].T if full else torch.eye(k, device=mu.device, dtype=mu.dtype))[sel]  # (p, k): row = v_j
        lam_i = lam[i][sel]
        size = lam_i.clamp_min(0).sqrt() if scale == "posterior" else torch.full_like(lam_i, float(scale))
        z = mu[i] + (size[:, None, None] * eps[None, :, None]) * dirs[:, None, :]  # (p, S, k)
        per = max(1, chunk // n_decodes)  # directions decoded together (about ``chunk`` decodes): memory flat in k
        var, keep = [], []
        for j in range(0, len(z), per):
            out = model.decode(z[j:j + per].reshape(-1, k)).reshape(len(z[j:j + per]), n_decodes, -1)
            var.append(out.double().var(dim=1, unbiased=False).sum(dim=1).cpu())
            if i < keep_images and images is None:
                keep.append(out.reshape(len(out), n_decodes, *picture).to(torch.float16).cpu())
        variances.append(torch.cat(var).numpy())
        lams.append(lam_i.double().cpu().numpy())
        if keep:
            images = torch.cat(keep).numpy()
        if step is not None:
            step(i + 1)
    return {"lam": np.stack(lams), "variance": np.stack(variances), "images": images, "full": full,
            "scale": scale, "n_decodes": n_decodes, "directions": sel.cpu().numpy()}


def perturbation_table(lam: np.ndarray, variance: np.ndarray, unit_scale: float = 1.0, directions=None) -> list[dict]:
    """Mean over inputs per direction, ordered by lambda ascending: [{direction, lambda, image_variance,
    image_variance_stderr (None with one input)}] (``directions``: the direction of each column, when not
    every direction was perturbed); with ``unit_scale`` s != 1 (the width of the model's
    data range) also ``image_variance_01``, the variance of images mapped to [0, 1] (divided by s^2)."""
    var = np.asarray(variance, dtype=np.float64)
    lm, vm = np.asarray(lam).mean(0), var.mean(0)
    se = var.std(0, ddof=1) / np.sqrt(len(var)) if len(var) > 1 else None
    order = np.argsort(lm, kind="stable")
    rows = []
    for j in order:
        row = {"direction": int(j if directions is None else directions[j]), "lambda": float(lm[j]), "image_variance": float(vm[j]),
               "image_variance_stderr": None if se is None else float(se[j])}
        if unit_scale != 1.0:
            row["image_variance_01"] = float(vm[j]) / unit_scale ** 2
        rows.append(row)
    return rows


def figure_rows(k: int, lam: np.ndarray, smallest: int = 5, all_rows: bool = False) -> list[int]:
    """Directions to show: all ordered by lambda, or the ``smallest`` smallest-lambda ones plus the largest."""
    order = list(np.argsort(np.asarray(lam), kind="stable"))
    if all_rows or k <= smallest + 1:
        return [int(j) for j in order]
    return [int(j) for j in order[:smallest]] + [int(order[-1])]
