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
from vaediag.diagnostics.adapt import adapt, as_tensor_data, check_range as _check_range
from vaediag.errors import VaediagError
from vaediag.diagnostics.protocol import encode_posterior, model_device
from vaediag.engine.enhance import TwoStage  # noqa: F401 (the sampler enhance() returns)


@torch.no_grad()
def encode_codes(model, data, batch: int = 500, to_float: Callable = Dataset.to_float, device=None,
                 check_range: bool = True) -> tuple[np.ndarray, np.ndarray, bool]:
    """(mu (n, k), second, full) of q(z|x) over the data, in eval mode: ``second`` is the log-variance
    (n, k) for a diagonal encoder, the covariance (n, k, k) for a full one."""
    model = adapt(model)
    x = as_tensor_data(data)
    if check_range:
        _check_range(x, to_float)
    device = device or model_device(model)
    was_training = model.training
    model.eval()
    mus, seconds, full = [], [], False
    try:
        for i in range(0, len(x), batch):
            mu, second, full = encode_posterior(model, to_float(x[i:i + batch].to(device)))
            mus.append(mu.double().cpu())
            seconds.append((second if full else second.log()).double().cpu())
    finally:
        model.train(was_training)
    return torch.cat(mus).numpy(), torch.cat(seconds).numpy(), full
