"""The codes of any VAE for the paper's second stage (section 4): q(z|x) of a model vaediag did not
train, read through the protocol's ``encode`` (diagonal or full covariance).

Training the second stage on them is :mod:`vaediag.engine.enhance`; ``vaediag.enhance(model, data)``
(:mod:`vaediag.api`) does both and returns the two-stage sampler
(:class:`vaediag.engine.enhance.TwoStage`).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from vaediag.data import Dataset
from vaediag.diagnostics.adapt import adapt, as_tensor_data, check_data, check_decodes, model_floats
from vaediag.diagnostics.protocol import encode_posterior, frozen, model_device
from vaediag.engine.enhance import TwoStage  # noqa: F401 (the sampler enhance() returns)


@torch.no_grad()
def encode_codes(model, data, batch: int = 500, to_float: Callable = Dataset.to_float, device=None,
                 check_range: bool = True) -> tuple[np.ndarray, np.ndarray, bool]:
    """(mu (n, k), second, full) of q(z|x) over the data: ``second`` is the log-variance (n, k) for a
    diagonal encoder, the covariance (n, k, k) for a full one.

    As in a diagnosis: uint8 images are mapped into the model's ``data_range`` (:func:`adapt`), the data
    and the first decodes are checked against it and the likelihood (``check_range=False`` skips both),
    and the model is encoded in eval mode and given back unchanged (:func:`frozen`)."""
    model = adapt(model)
    x = as_tensor_data(data)
    model.bind(x.shape[1:])
    tf = model_floats(to_float, model.data_range)
    if check_range:
        check_data(x, tf, model.data_range, model.likelihood)
    device = device or model_device(model)
    mus, seconds, full = [], [], False
    with frozen(model):
        for i in range(0, len(x), batch):
            mu, second, full = encode_posterior(model, tf(x[i:i + batch].to(device)))
            if i == 0 and check_range:
                check_decodes(model.decode(mu), model.likelihood, model.data_range)
            mus.append(mu.double().cpu())
            seconds.append((second if full else second.log()).double().cpu())
    return torch.cat(mus).numpy(), torch.cat(seconds).numpy(), full
