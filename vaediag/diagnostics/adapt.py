"""Adapters: bring a VAE that does not meet :mod:`vaediag.diagnostics.protocol` as it is, and its data, to vaediag.

No new dependencies: the shapes other libraries return are recognised by duck typing
(:func:`~vaediag.diagnostics.protocol.unpack_encoding`, :func:`~vaediag.diagnostics.protocol.unpack_decoding`,
re-exported here).

- :func:`adapt` wraps a model (methods ``encode`` / ``decode``, or submodules ``encoder`` / ``decoder``
  as in pythae and many Lightning modules) or plain functions into a module that meets the protocol,
  and records what the model's likelihood is:
  - ``likelihood="gaussian"`` (eq. 2): what is known of gamma (the decoder VARIANCE): learned, fixed
    (declared, or implied by the loss and the KL weight: :func:`implied_gamma`), or unknown -- never a
    silent 1;
  - ``likelihood="bernoulli"``: a decoder whose outputs are pixel probabilities (sigmoid + binary
    cross-entropy); it has no gamma (its effective gamma is fitted by eq. 73, :mod:`.gamma`);
  - ``data_range=(lo, hi)``: the range of the model's own inputs and decodes (e.g. (-1, 1) for a Tanh
    decoder); data are fed to the model in that range, numbers are reported in its units;
  - ``model.image_shape = (C, H, W)``: the picture a flat decoder output (e.g. 784 numbers) is, read from the
    model; inferred for square sizes (784 -> 1 x 28 x 28, 3072 -> 3 x 32 x 32), see :func:`infer_image_shape`.
- :func:`as_tensor_data` turns numpy arrays, lists and DataLoaders into one tensor; :func:`check_data`
  refuses data outside the model's range (:func:`model_floats` maps uint8 images into it).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn

from vaediag.diagnostics.protocol import (COV_NAMES, LOGVAR_NAMES, MU_NAMES, RECON_NAMES, as_tensor,  # noqa: F401
                                          decoder_variance, unpack_decoding, unpack_encoding)
from vaediag.diagnostics.spatial import flatten_posterior, unflatten
from vaediag.errors import UsageError, VaediagError

LIKELIHOODS = ("gaussian", "bernoulli")

# What a squared-error loss implies for gamma (the decoder variance), with d = numbers per input and the
# KL weighted by beta (kl_weight): the loss  c ||x - mu||^2 + beta KL  is beta times the negative ELBO
# of eq. (2) with ||x - mu||^2 / (2 gamma), when gamma = beta / (2 c).
IMPLIED = {
    "sum_sq_half": ("0.5 * sum of squared errors + KL (e.g. pythae's 'mse' reconstruction loss)", lambda d: 1.0),
    "sum_sq": ("sum of squared errors + KL", lambda d: 0.5),
    "mean_sq": ("mean squared error over the d numbers of an input + KL (F.mse_loss, reduction='mean')",
                lambda d: d / 2.0),
}
BERNOULLI_LOSSES = ("bce",)  # binary cross-entropy (sum or mean over pixels): the Bernoulli decoder


def implied_gamma(loss: str, d: int | None = None, kl_weight: float = 1.0) -> float:
    """The decoder variance a squared-error loss with KL weight beta implies (eq. 2): ``sum_sq_half`` ->
    beta, ``sum_sq`` -> beta/2, ``mean_sq`` -> beta d/2 (d = numbers per input)."""
    if loss not in IMPLIED:
        raise UsageError(f"unknown loss {loss!r}; give one of {', '.join(IMPLIED + BERNOULLI_LOSSES)} or pass gamma= directly")
    if loss == "mean_sq" and not d:
        raise UsageError("loss='mean_sq' implies gamma = kl_weight * d / 2: pass data_dim=d (numbers per input)")
    return float(kl_weight) * float(IMPLIED[loss][1](d))


# Flat outputs that are pictures: side s >= 8 squares, one channel or three (784 -> 1x28x28, 3072 -> 3x32x32).
MIN_SIDE = 8


def infer_image_shape(d: int) -> tuple[int, int, int] | None:
    """(C, H, W) of a flat output of ``d`` numbers when it is a square picture of side >= 8 with 1 or 3
    channels, else None (then give the model an ``image_shape`` attribute)."""
    for c in (1, 3):
        if d % c == 0:
            s = math.isqrt(d // c)
            if s * s * c == d and s >= MIN_SIDE:
                return (c, s, s)
    return None


def _pick(model, explicit, method: str, sub: str, what: str):
    if explicit is not None:
        if not callable(explicit):
            raise UsageError(f"{what}= must be a function, got a {type(explicit).__name__}")
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


def _range(data_range) -> tuple[float, float] | None:
    if data_range is None:
        return None
    try:
        lo, hi = (float(v) for v in data_range)
    except (TypeError, ValueError):
        raise UsageError(f"data_range= must be a pair (lo, hi), got {data_range!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise UsageError(f"data_range= must be a pair (lo, hi) of finite numbers with lo < hi, got {data_range!r}")
    return lo, hi


def _shape(image_shape) -> tuple[int, ...] | None:
    if image_shape is None:
        return None
    try:
        shp = tuple(int(v) for v in image_shape)
    except (TypeError, ValueError):
        raise UsageError(f"the model's image_shape must be (C, H, W) or (H, W), got {image_shape!r}") from None
    if len(shp) == 2:
        shp = (1,) + shp
    if len(shp) != 3 or min(shp) < 1:
        raise UsageError(f"the model's image_shape must be (C, H, W) or (H, W) of positive sizes, got {image_shape!r}")
    return shp


class Adapted(nn.Module):
    """A VAE that meets :mod:`vaediag.diagnostics.protocol`: ``encode``/``decode`` return tensors; ``gamma``
    is the decoder variance or None, ``gamma_mode`` is "learned", "fixed", "unknown" or "none" (a
    Bernoulli decoder has no gamma) and ``gamma_note`` says in one sentence where gamma comes from;
    ``likelihood``, ``kl_weight``, ``data_range`` (None: (0, 1) for images, unchecked for vectors) and
    ``image_shape`` are as declared. A loss whose gamma depends on d waits for :meth:`bind` (the data)."""

    def __init__(self, model=None, encode=None, decode=None, gamma: float | None = None,
                 gamma_mode: str | None = None, loss: str | None = None, data_dim: int | None = None,
                 likelihood: str | None = None, kl_weight: float = 1.0, data_range=None, image_shape=None):
        super().__init__()
        self.inner = model if isinstance(model, nn.Module) else None  # its parameters (device) show through
        # plain attributes, not submodules (the model is registered once, as ``inner``)
        object.__setattr__(self, "_model", model)
        object.__setattr__(self, "_encode", _pick(model, encode, "encode", "encoder", "encode"))
        object.__setattr__(self, "_decode", _pick(model, decode, "decode", "decoder", "decode"))
        if loss is not None and loss not in IMPLIED and loss not in BERNOULLI_LOSSES:
            raise UsageError(f"unknown loss {loss!r}; give one of {', '.join(tuple(IMPLIED) + BERNOULLI_LOSSES)} "
                             "or pass gamma= directly")
        if likelihood is None:
            likelihood = "bernoulli" if loss in BERNOULLI_LOSSES else "gaussian"
        if likelihood not in LIKELIHOODS:
            raise UsageError(f"likelihood= must be 'gaussian' or 'bernoulli', got {likelihood!r}")
        beta = float(kl_weight)
        if not (math.isfinite(beta) and beta > 0):
            raise UsageError(f"kl_weight= must be a positive number (the weight of the KL term), got {kl_weight!r}")
        self.likelihood, self.kl_weight, self.loss = likelihood, beta, loss
        self.data_range, self.image_shape = _range(data_range), _shape(image_shape)
        self.data_dim = int(data_dim) if data_dim else None
        self.latent_shape = None  # (C, H, W) once a spatial posterior has been read (vaediag.diagnostics.spatial)
        self.scaling_factor = _scaling_factor(model)
        if likelihood == "bernoulli":
            self._init_bernoulli(gamma, loss)
        else:
            self._init_gaussian(model, gamma, gamma_mode, loss)
        if self.gamma_mode not in ("learned", "fixed", "unknown", "none"):
            raise UsageError(f"gamma_mode must be 'learned' or 'fixed', got {gamma_mode!r}")

    def _init_bernoulli(self, gamma, loss) -> None:
        if gamma is not None or (loss is not None and loss not in BERNOULLI_LOSSES):
            raise UsageError("a Bernoulli decoder has no gamma: drop gamma= / loss= or pass likelihood='gaussian'")
        if self.data_range not in (None, (0.0, 1.0)):
            raise UsageError(f"likelihood='bernoulli' models data in [0, 1], but data_range={self.data_range}: "
                             "pass likelihood='gaussian' for data in another range")
        self._gamma, self._pending, self.gamma_mode = None, None, "none"
        self.gamma_note = ("the decoder is Bernoulli (pixel probabilities, binary cross-entropy): it has no gamma; "
                           "its effective gamma is fitted from eq. (73) (gamma_effective).")
        if self.kl_weight != 1.0:
            self.gamma_note += (f" The KL was weighted by {self.kl_weight:g}: the log-likelihood is that of the "
                                "Bernoulli decoder, which that objective did not maximise.")

    def _init_gaussian(self, model, gamma, gamma_mode, loss) -> None:
        own = decoder_variance(model) if model is not None else None
        self._pending = None
        beta = f" with the KL weighted by {self.kl_weight:g}" if self.kl_weight != 1.0 else ""
        if loss in BERNOULLI_LOSSES:
            raise UsageError("loss='bce' is the Bernoulli decoder: pass likelihood='bernoulli' (or leave likelihood out)")
        if gamma is not None:
            try:
                g = float(gamma)
            except (TypeError, ValueError):
                g = float("nan")
            if not (math.isfinite(g) and g > 0):
                raise UsageError(f"gamma= must be a positive number (the decoder VARIANCE), got {gamma!r}")
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
                " (not a trained parameter: taken as fixed; set model.gamma_mode = 'learned' if it was learned)")
            self.gamma_note = f"the model's own gamma ({own:.4g}) is used, {mode}{how}."
        elif loss is not None:
            self._gamma, self.gamma_mode = None, "fixed"
            self._pending = loss
            if loss != "mean_sq" or self.data_dim:
                self._resolve(self.data_dim)
            else:
                self.gamma_note = f"gamma follows from the loss ({IMPLIED[loss][0]}){beta} once d is known."
            return
        else:
            self._gamma, self.gamma_mode = None, "unknown"
            self.gamma_note = no_gamma_note()
        if self.kl_weight != 1.0:
            self.gamma_note += (f" The KL was weighted by {self.kl_weight:g}; with gamma declared, the weight is "
                                "not used (declare loss= instead to derive gamma from it).")

    def _resolve(self, d: int | None) -> None:
        loss = self._pending
        g = implied_gamma(loss, d, self.kl_weight)
        self._gamma, self._pending = g, None
        beta = f" with the KL weighted by {self.kl_weight:g}" if self.kl_weight != 1.0 else ""
        dd = f", d = {d}" if loss == "mean_sq" else ""
        self.gamma_note = (f"this model has no learned gamma; its loss ({IMPLIED[loss][0]}){beta} implies gamma = "
                           f"{g:g}{dd} (up to a factor it is the negative ELBO of that Gaussian decoder, eq. 2), used as "
                           "a fixed gamma; likelihoods are those of this implied Gaussian model. Pass gamma= to override.")

    def bind(self, x_shape) -> None:
        """Learn from the data's row shape what was left open: d for a loss whose gamma depends on it, and
        (for flat rows) the picture shape."""
        d = int(np.prod(tuple(x_shape)))
        if self.data_dim is None:
            self.data_dim = d
        elif self.data_dim != d and self.loss == "mean_sq":
            raise UsageError(f"gamma was derived from loss='mean_sq' with d = {self.data_dim} numbers per input, but "
                             f"these inputs have {d}: adapt the model again for inputs of {d} numbers")
        if self._pending is not None:
            self._resolve(self.data_dim)
        if self.image_shape is not None and int(np.prod(self.image_shape)) != d:
            raise UsageError(f"image_shape={self.image_shape} holds {int(np.prod(self.image_shape))} numbers but an "
                             f"input has {d}: give the model the image_shape of one input")

    def picture_shape(self, x_shape) -> tuple[int, ...] | None:
        """The (C, H, W) a decode is shown as: the data's own image shape, the declared one, or inferred for flat rows."""
        x_shape = tuple(x_shape)
        if self.image_shape is not None:
            return self.image_shape
        if len(x_shape) == 3:
            return x_shape
        if len(x_shape) == 2:
            return (1,) + x_shape
        return infer_image_shape(x_shape[0]) if len(x_shape) == 1 else None

    @property
    def gamma(self):
        if self._gamma is not None:
            return self._gamma
        return decoder_variance(self._model) if self._model is not None and self.likelihood == "gaussian" else None

    def encode(self, x):
        mu, second, shape = flatten_posterior(*unpack_encoding(self._encode(x)))
        if shape is not None:
            self.latent_shape = shape
        return mu, second

    def decode(self, z):
        return unpack_decoding(self._decode(unflatten(z, self.latent_shape)))

    def train(self, mode: bool = True):
        super().train(mode)
        if self._model is not None and not isinstance(self._model, nn.Module) and hasattr(self._model, "train"):
            self._model.train(mode)
        return self


def _scaling_factor(model) -> float | None:
    """diffusers' ``config.scaling_factor`` (latents are multiplied by it before the diffusion model); the
    diagnosis reads the encoder's own, unscaled latents, in which the KL of training was computed."""
    v = getattr(getattr(model, "config", None), "scaling_factor", None)
    if v is None and isinstance(getattr(model, "config", None), dict):
        v = model.config.get("scaling_factor")
    return float(v) if isinstance(v, (int, float)) else None


def no_gamma_note() -> str:
    return ("vaediag finds no decoder variance gamma on this model (no gamma attribute, none declared). If it was "
            "trained with a squared-error loss, that loss implies one: 0.5 * sum of squared errors (pythae's 'mse') "
            "implies gamma = 1, a sum of squared errors gamma = 1/2, a per-pixel mean squared error gamma = d/2 "
            "(d numbers per input), each times the KL weight; a sigma-VAE's calibrated variance (its mean squared "
            "error) is its gamma. Pass gamma= or loss= (and kl_weight=) to adapt() to declare it, or "
            "likelihood='bernoulli' for a sigmoid decoder trained with binary cross-entropy.")


def adapt(model=None, *, encode=None, decode=None, gamma: float | None = None, loss: str | None = None,
          likelihood: str | None = None, kl_weight: float = 1.0, data_range=None) -> Adapted:
    """A view of ``model`` (or of the functions ``encode`` / ``decode``) that meets the protocol of
    :mod:`vaediag.diagnostics.protocol`, recording what its likelihood and its gamma are.

    Two rarer facts are read from the model itself when it has them, as its ``gamma`` is: ``gamma_mode``
    ("learned" or "fixed": how a declared or own gamma was trained; a declared one is taken as fixed
    otherwise) and ``image_shape`` (the (C, H, W) or (H, W) picture a flat decoder output is; inferred for
    square sizes otherwise).

    Args:
        model: anything with ``encode``/``decode`` methods or ``encoder``/``decoder`` submodules whose outputs
            :func:`unpack_encoding` / :func:`unpack_decoding` read (pythae models, Lightning modules,
            dict-returning nets, diffusers' AutoencoderKL); None with ``encode`` and ``decode``.
        encode: a function x -> (mu, logvar) (or (mu, cov), or a distribution) used instead of the model's.
        decode: a function z -> the decoder mean used instead of the model's.
        gamma: declare the decoder variance (taken as fixed unless the model says ``gamma_mode="learned"``).
        loss: "sum_sq_half", "sum_sq" or "mean_sq": derive a fixed gamma from the loss the model was trained
            with (:func:`implied_gamma`; d is read from the data).
        likelihood: "gaussian" (eq. 2, the default) or "bernoulli" (sigmoid outputs trained with binary
            cross-entropy: no gamma).
        kl_weight: the weight (beta) of the KL term in the model's loss, with ``loss``.
        data_range: the (lo, hi) range of the model's inputs and decodes (default (0, 1) for images).

    Returns:
        The :class:`Adapted` model (an adapted model is returned unchanged unless new settings are given).

    Raises:
        UsageError: an unknown loss or likelihood, a gamma or kl_weight that is not positive, gamma or loss
            with a Bernoulli decoder, a data_range that is not (lo, hi) with lo < hi, a bad image_shape.
        VaediagError: a model without encode/decode (or encoder/decoder) and no functions given.
    """
    given = (encode, decode, gamma, loss, likelihood, data_range)
    if isinstance(model, Adapted) and all(v is None for v in given) and kl_weight == 1.0:
        return model
    declared = getattr(model, "gamma_mode", None) if not isinstance(model, Adapted) else None
    mode = declared if declared in ("learned", "fixed") else None
    shape = getattr(model, "image_shape", None) if not isinstance(model, Adapted) else model.image_shape
    return Adapted(model, encode, decode, gamma, mode, loss, None, likelihood, kl_weight, data_range, shape)


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
                return as_tensor(batch[k], f"the data loader's batch['{k}']")
        raise VaediagError(f"a data loader batch is a dict with keys {list(batch)}; vaediag reads x/data/image/images/input")
    if isinstance(batch, (list, tuple)):
        if not batch:
            raise VaediagError("a data loader yielded an empty batch")
        batch = batch[0]
    t = as_tensor(batch, "a data loader batch")
    return t if t.dim() >= 2 else t.unsqueeze(1)


def model_floats(to_float, data_range):
    """``to_float`` followed by the map of [0, 1] images into the model's ``data_range`` (uint8 batches only:
    floats are taken to be in the model's units already)."""
    if data_range is None or tuple(data_range) == (0.0, 1.0):
        return to_float
    lo, hi = data_range

    def f(batch: torch.Tensor) -> torch.Tensor:
        was_uint8 = batch.dtype == torch.uint8
        out = to_float(batch)
        return out * (hi - lo) + lo if was_uint8 else out

    return f


def check_data(x: torch.Tensor, to_float, data_range, likelihood: str = "gaussian", rows: int = 256,
               tol: float = 1e-3) -> None:
    """Raise :class:`UsageError` (one sentence naming the argument to change) when the first ``rows``
    inputs lie outside the model's range: ``data_range`` when declared; (0, 1) for images (3 or more
    dimensions) and for a Bernoulli likelihood; vectors of an undeclared range are not checked."""
    if data_range is None and x.dim() < 3 and likelihood != "bernoulli":
        return
    lo, hi = data_range if data_range is not None else (0.0, 1.0)
    xf = to_float(x[:rows])
    a, b = float(xf.min()), float(xf.max())
    span = tol * (hi - lo)
    if a >= lo - span and b <= hi + span:
        return
    if likelihood == "bernoulli":
        raise UsageError(f"likelihood='bernoulli' needs data in [0, 1], but these inputs range over [{a:.3g}, {b:.3g}]: "
                         "rescale them to [0, 1] (uint8 is divided by 255) or pass likelihood='gaussian' with data_range=")
    hint = f"pass data_range=({a:.3g}, {b:.3g}) to adapt() if the model was trained on that range" if b <= 2 or a < 0 \
        else "divide by 255 or pass data_range=(0, 255) to adapt()"
    raise UsageError(f"the inputs range over [{a:.3g}, {b:.3g}], outside the model's data_range ({lo:g}, {hi:g}): "
                     f"{hint} (the model must see the scale it was trained on)")


def check_decodes(mean: torch.Tensor, likelihood: str, data_range, tol: float = 1e-6) -> None:
    """Raise :class:`UsageError` when decodes do not fit the likelihood: outside [0, 1] for a Bernoulli
    decoder (probabilities), or far outside a declared ``data_range`` (more than its width beyond it)."""
    a, b = float(mean.min()), float(mean.max())
    if likelihood == "bernoulli":
        if a < -tol or b > 1 + tol:
            raise UsageError(f"likelihood='bernoulli' needs decodes that are probabilities in [0, 1], but they range over "
                             f"[{a:.3g}, {b:.3g}]: if the decoder returns logits, adapt(model, likelihood='bernoulli', "
                             "decode=lambda z: torch.sigmoid(model.decode(z))), else pass likelihood='gaussian'")
        return
    if data_range is not None:
        lo, hi = data_range
        w = hi - lo
        if a < lo - w or b > hi + w:
            raise UsageError(f"the decodes range over [{a:.3g}, {b:.3g}], far outside data_range ({lo:g}, {hi:g}): "
                             "pass the data_range= the model was trained on (or, for logits, decode= with the sigmoid)")


def check_range(x: torch.Tensor, to_float=None, rows: int = 256, tol: float = 1e-3) -> None:
    """Images (inputs with 3 or more dimensions) must lie in [0, 1] after ``to_float``; see :func:`check_data`."""
    check_data(x, to_float or (lambda b: b.float() / 255.0 if b.dtype == torch.uint8 else b), None, rows=rows, tol=tol)
