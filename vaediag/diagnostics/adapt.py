"""Adapters: bring a VAE that does not meet :mod:`vaediag.protocol` as it is, and its data, to vaediag.

No new dependencies: the shapes below are recognised by duck typing.

- :func:`unpack_encoding` reads what an encoder returned: a pair ``(mu, logvar)`` / ``(mu, cov)``, a dict
  or an object with attributes (``mu`` / ``embedding`` / ``loc`` / ``mean`` and ``logvar`` / ``log_var`` /
  ``log_covariance`` / ``cov`` / ``covariance``; pythae's ``ModelOutput`` is both), or a
  ``torch.distributions`` Normal / MultivariateNormal. A second output named ``log_covariance`` is a
  LOG-VARIANCE (B, kappa) there, as in pythae.
- :func:`unpack_decoding` reads what a decoder returned: a tensor, a dict / object with
  ``reconstruction`` / ``recon_x`` / ``x_hat`` / ``mean`` / ``loc``, or a distribution (its mean).
- :func:`adapt` wraps a model (methods ``encode`` / ``decode``, or submodules ``encoder`` / ``decoder``
  as in pythae and many Lightning modules) or plain functions into a module that meets the protocol,
  and records what is known of gamma (the decoder VARIANCE): learned, fixed (declared, or implied by
  the loss: :func:`implied_gamma`), or unknown -- never a silent 1.
- :func:`as_tensor_data` turns numpy arrays, lists and DataLoaders into one tensor; :func:`check_range`
  refuses images outside [0, 1] after vaediag's scaling (uint8 / 255).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn

from vaediag.errors import VaediagError

MU_NAMES = ("mu", "embedding", "loc", "mean", "z_mean")
LOGVAR_NAMES = ("logvar", "log_var", "log_covariance", "log_variance", "z_log_var")
COV_NAMES = ("cov", "covariance", "covariance_matrix")
RECON_NAMES = ("reconstruction", "recon_x", "x_hat", "x_recon", "recon", "mean", "loc")

# What a squared-error loss implies for gamma (the decoder variance), with d = numbers per input:
# the Gaussian data term ||x - mu||^2 / (2 gamma) (eq. 2) equals c ||x - mu||^2 when gamma = 1 / (2 c).
IMPLIED = {
    "sum_sq_half": ("0.5 * sum of squared errors + KL (e.g. pythae's 'mse' reconstruction loss)", lambda d: 1.0),
    "sum_sq": ("sum of squared errors + KL", lambda d: 0.5),
    "mean_sq": ("mean squared error over the d numbers of an input + KL (F.mse_loss, reduction='mean')",
                lambda d: d / 2.0),
}


def implied_gamma(loss: str, d: int | None = None) -> float:
    """The decoder variance a squared-error loss implies (eq. 2): ``sum_sq_half`` -> 1, ``sum_sq`` ->
    1/2, ``mean_sq`` -> d/2 (d = numbers per input)."""
    if loss not in IMPLIED:
        raise VaediagError(f"unknown loss {loss!r}; give one of {', '.join(IMPLIED)} or pass gamma= directly")
    if loss == "mean_sq" and not d:
        raise VaediagError("loss='mean_sq' implies gamma = d/2: pass data_dim=d (numbers per input)")
    return float(IMPLIED[loss][1](d))


def _field(out, names):
    for n in names:
        if isinstance(out, dict) and n in out and out[n] is not None:
            return out[n], n
        v = getattr(out, n, None) if not isinstance(out, (torch.Tensor, np.ndarray)) else None
        if v is not None and not callable(v):
            return v, n
    return None, None


def _tensor(v, what: str) -> torch.Tensor:
    if isinstance(v, torch.Tensor):
        return v
    if isinstance(v, np.ndarray):
        return torch.from_numpy(v)
    raise VaediagError(f"{what} is a {type(v).__name__}, not a tensor; wrap the model with "
                       "vaediag.diagnostics.adapt.adapt(model, encode=..., decode=...) so it returns tensors")


def unpack_encoding(out) -> tuple[torch.Tensor, torch.Tensor]:
    """(mu, second) from what ``encode`` returned; ``second`` is a log-variance (B, k) or a covariance
    (B, k, k) (the protocol's convention)."""
    dist = torch.distributions
    if isinstance(out, dist.MultivariateNormal):
        return out.loc, out.covariance_matrix
    if isinstance(out, dist.Independent) and isinstance(out.base_dist, dist.Normal):
        out = out.base_dist
    if isinstance(out, dist.Normal):
        return out.loc, 2.0 * out.scale.log()
    if isinstance(out, (tuple, list)) and not hasattr(out, "keys"):
        if len(out) < 2:
            raise VaediagError(f"encode() returned a {type(out).__name__} of length {len(out)}; it must return "
                               "(mu, logvar) or (mu, cov)")
        return _tensor(out[0], "encode()'s mu"), _tensor(out[1], "encode()'s second output")
    if isinstance(out, (torch.Tensor, np.ndarray)):
        raise VaediagError("encode() returned one tensor; it must return (mu, logvar) or (mu, cov). If your "
                           "encoder returns [mu, logvar] concatenated, use adapt(model, encode=lambda x: "
                           "model.encode(x).chunk(2, dim=1))")
    mu, _ = _field(out, MU_NAMES)
    lv, _ = _field(out, LOGVAR_NAMES)
    cov, _ = _field(out, COV_NAMES)
    if mu is None or (lv is None and cov is None):
        keys = list(out.keys()) if hasattr(out, "keys") else [a for a in dir(out) if not a.startswith("_")][:12]
        raise VaediagError(f"encode() returned a {type(out).__name__} (fields {keys}) in which vaediag finds no "
                           f"mean ({'/'.join(MU_NAMES)}) and log-variance ({'/'.join(LOGVAR_NAMES)}) or covariance "
                           f"({'/'.join(COV_NAMES)}); use adapt(model, encode=lambda x: (mu, logvar))")
    return _tensor(mu, "encode()'s mean"), _tensor(lv if lv is not None else cov, "encode()'s second output")


def unpack_decoding(out) -> torch.Tensor:
    """The decoder mean from what ``decode`` returned."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, np.ndarray):
        return torch.from_numpy(out)
    if isinstance(out, torch.distributions.Distribution):
        return out.mean
    if isinstance(out, (tuple, list)) and not hasattr(out, "keys"):
        raise VaediagError(f"decode() returned a {type(out).__name__} of {len(out)} items; it must return the "
                           "decoder mean: use adapt(model, decode=lambda z: model.decode(z)[0]) (or the item "
                           "that is the mean)")
    v, _ = _field(out, RECON_NAMES)
    if v is None:
        keys = list(out.keys()) if hasattr(out, "keys") else type(out).__name__
        raise VaediagError(f"decode() returned a {type(out).__name__} ({keys}) with no decoder mean "
                           f"({'/'.join(RECON_NAMES)}); use adapt(model, decode=lambda z: <the mean tensor>)")
    return _tensor(v, "decode()'s mean")


def _pick(model, explicit, method: str, sub: str, what: str):
    if explicit is not None:
        if not callable(explicit):
            raise VaediagError(f"{what}= must be a function, got a {type(explicit).__name__}")
        return explicit
    if model is not None:
        f = getattr(model, method, None)
        if callable(f):
            return f
        f = getattr(model, sub, None)
        if callable(f):
            return f
    name = type(model).__name__ if model is not None else "no model"
    raise VaediagError(f"{name} has neither {method}() nor an {sub} submodule; pass {what}=a function "
                       f"(e.g. adapt(model, {what}=lambda t: ...))")


class Adapted(nn.Module):
    """A VAE that meets :mod:`vaediag.protocol`: ``encode``/``decode`` return tensors, ``gamma`` is the
    decoder variance or None, ``gamma_mode`` is "learned", "fixed" or "unknown" and ``gamma_note``
    says in one sentence where gamma comes from."""

    def __init__(self, model=None, encode=None, decode=None, gamma: float | None = None,
                 gamma_mode: str | None = None, loss: str | None = None, data_dim: int | None = None):
        super().__init__()
        self.inner = model if isinstance(model, nn.Module) else None  # its parameters (device) show through
        # plain attributes, not submodules (the model is registered once, as ``inner``)
        object.__setattr__(self, "_model", model)
        object.__setattr__(self, "_encode", _pick(model, encode, "encode", "encoder", "encode"))
        object.__setattr__(self, "_decode", _pick(model, decode, "decode", "decoder", "decode"))
        from vaediag.diagnostics.protocol import decoder_variance

        own = decoder_variance(model) if model is not None else None
        if gamma is not None:
            g = float(gamma)
            if not (math.isfinite(g) and g > 0):
                raise VaediagError(f"gamma= must be a positive number (the decoder VARIANCE), got {gamma}")
            self._gamma, self.gamma_mode = g, gamma_mode or "fixed"
            self.gamma_note = f"gamma = {g:g} was declared ({self.gamma_mode}) and is used."
        elif own is not None:
            mode = gamma_mode or gamma_mode_of(model)
            if mode == "unknown":  # a gamma that is (or comes from) a trained parameter is learned
                trained = isinstance(model, nn.Module) and any("gamma" in n for n, _ in model.named_parameters())
                mode = "learned" if trained else "fixed"
            self._gamma, self.gamma_mode = None, mode
            how = "" if gamma_mode or gamma_mode_of(model) != "unknown" else (
                " (a parameter named *gamma*: learned)" if mode == "learned" else
                " (not a trained parameter: taken as fixed; pass gamma_mode='learned' if it was learned)")
            self.gamma_note = f"the model's own gamma ({own:.4g}) is used, {mode}{how}."
        elif loss is not None:
            g = implied_gamma(loss, data_dim)
            self._gamma, self.gamma_mode = g, "fixed"
            self.gamma_note = (f"this model has no learned gamma; its loss ({IMPLIED[loss][0]}) implies gamma = "
                               f"{g:g}, used as a fixed gamma; pass gamma= to override.")
        else:
            self._gamma, self.gamma_mode = None, "unknown"
            self.gamma_note = no_gamma_note()
        if self.gamma_mode not in ("learned", "fixed", "unknown"):
            raise VaediagError(f"gamma_mode must be 'learned' or 'fixed', got {gamma_mode!r}")

    @property
    def gamma(self):
        if self._gamma is not None:
            return self._gamma
        from vaediag.diagnostics.protocol import decoder_variance

        return decoder_variance(self._model) if self._model is not None else None

    def encode(self, x):
        return unpack_encoding(self._encode(x))

    def decode(self, z):
        return unpack_decoding(self._decode(z))

    def train(self, mode: bool = True):
        super().train(mode)
        if self._model is not None and not isinstance(self._model, nn.Module) and hasattr(self._model, "train"):
            self._model.train(mode)
        return self


def no_gamma_note() -> str:
    return ("this model has no learned gamma; its loss implies one: 0.5 * sum of squared errors (pythae's 'mse') "
            "implies gamma = 1, a sum of squared errors gamma = 1/2, a per-pixel mean squared error gamma = d/2 "
            "(d numbers per input); pass gamma= (or loss=) to adapt() to declare it.")


def adapt(model=None, encode=None, decode=None, gamma: float | None = None, gamma_mode: str | None = None,
          loss: str | None = None, data_dim: int | None = None) -> Adapted:
    """A protocol-meeting view of ``model`` (or of the functions ``encode`` / ``decode``).

    ``model``: anything with ``encode``/``decode`` methods or ``encoder``/``decoder`` submodules whose
    outputs :func:`unpack_encoding` / :func:`unpack_decoding` read (pythae models, Lightning modules,
    dict-returning nets). ``gamma``: declare the decoder variance (``gamma_mode`` "fixed" unless told
    "learned"); ``loss``: derive a fixed gamma from a squared-error loss (:func:`implied_gamma`).
    An adapted model is returned unchanged unless new settings are given.
    """
    if isinstance(model, Adapted) and encode is None and decode is None and gamma is None and loss is None:
        return model
    return Adapted(model, encode, decode, gamma, gamma_mode, loss, data_dim)


def gamma_mode_of(model) -> str:
    """'learned', 'fixed' or 'unknown' for any model: an adapter's record; vaediag's own models know."""
    mode = getattr(model, "gamma_mode", None)
    if mode in ("learned", "fixed", "unknown"):
        return mode
    cfg = getattr(model, "cfg", None)
    if getattr(cfg, "gamma_mode", None) in ("learned", "fixed"):
        return cfg.gamma_mode
    lg = getattr(model, "log_gamma_", None)
    if lg is not None and getattr(lg, "mode", None) in ("learned", "fixed"):
        return lg.mode
    return "unknown"


# ---------------------------------------------------------------------------- data
def as_tensor_data(data, limit: int | None = None) -> torch.Tensor:
    """One tensor of inputs (rows) from a tensor, numpy array, list of arrays, or an iterable of
    batches such as a DataLoader (a batch may be ``x``, ``(x, y, ...)`` or a dict with ``x``/``data``/
    ``image``/``images``/``input``); at most ``limit`` rows are read."""
    if isinstance(data, torch.Tensor):
        x = data
    elif isinstance(data, np.ndarray):
        if data.dtype == object:
            raise VaediagError("the data is a numpy array of Python objects; give a numeric array (n, ...)")
        x = torch.from_numpy(np.ascontiguousarray(data))
    elif isinstance(data, (str, bytes)) or data is None:
        raise VaediagError(f"the data must be a tensor, numpy array or DataLoader of inputs, got {data!r}")
    elif isinstance(data, (list, tuple)) and data and all(isinstance(r, (torch.Tensor, np.ndarray)) for r in data) \
            and len({tuple(r.shape) for r in data}) == 1 and not isinstance(data[0], torch.utils.data.DataLoader):
        x = torch.stack([torch.as_tensor(r) for r in data])
    elif hasattr(data, "__iter__"):
        parts, got = [], 0
        for batch in data:
            xb = _batch_inputs(batch)
            parts.append(xb)
            got += len(xb)
            if limit is not None and got >= limit:
                break
        if not parts:
            raise VaediagError("the data loader yielded no batches")
        try:
            x = torch.cat(parts)
        except RuntimeError as e:
            raise VaediagError(f"the data loader's batches do not stack into one tensor ({str(e).splitlines()[0]})") from None
    else:
        raise VaediagError(f"the data must be a tensor, numpy array or DataLoader of inputs, got a {type(data).__name__}")
    if x.dim() < 2:
        raise VaediagError(f"the data has shape {tuple(x.shape)}; give one input per row, (n, ...) with n >= 2")
    if not (x.dtype.is_floating_point or x.dtype == torch.uint8):
        x = x.float()
    return x[:limit] if limit is not None else x


def _batch_inputs(batch) -> torch.Tensor:
    if isinstance(batch, dict):
        for k in ("x", "data", "image", "images", "input", "inputs"):
            if k in batch:
                return _tensor(batch[k], f"the data loader's batch['{k}']")
        raise VaediagError(f"a data loader batch is a dict with keys {list(batch)}; vaediag reads x/data/image/images/input")
    if isinstance(batch, (list, tuple)):
        if not batch:
            raise VaediagError("a data loader yielded an empty batch")
        batch = batch[0]
    t = _tensor(batch, "a data loader batch")
    return t if t.dim() >= 2 else t.unsqueeze(1)


def check_range(x: torch.Tensor, to_float=None, rows: int = 256, tol: float = 1e-3) -> None:
    """Images (inputs with 3 or more dimensions: C, H, W) must lie in [0, 1] after ``to_float``
    (vaediag divides uint8 by 255); vectors are not checked."""
    if x.dim() < 3:
        return
    xb = x[:rows]
    xf = to_float(xb) if to_float is not None else (xb.float() / 255.0 if xb.dtype == torch.uint8 else xb)
    lo, hi = float(xf.min()), float(xf.max())
    if lo < -tol or hi > 1 + tol:
        hint = "divide by 255" if hi > 2 else "rescale them to [0, 1]"
        raise VaediagError(f"images must lie in [0, 1] (uint8 is divided by 255), but these floats range over "
                           f"[{lo:.3g}, {hi:.3g}]: {hint} (the model must see the same scale it was trained on), "
                           "or pass check_range=False for data that are not images in [0, 1]")
