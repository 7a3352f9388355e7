"""The protocol a VAE meets: posterior sampling with a full covariance (its sample covariance is the
given one), and one-sentence errors for models that do not meet it."""

import numpy as np
import pytest
import torch
import torch.nn as nn
from _facts import facts
from _ignoring import IgnoringVAE

from vaediag.diagnostics import diagnose
from vaediag.diagnostics.protocol import decoder_variance, encode_posterior
from vaediag.engine.sampling import sample_posterior
from vaediag.errors import VaediagError


def test_protocol_full_covariance_sampling_and_errors():
    cov = torch.tensor([[2.0, 0.6], [0.6, 0.5]], dtype=torch.float64)
    mu = torch.tensor([1.0, -1.0], dtype=torch.float64)
    n = 100000
    z = sample_posterior(mu.expand(n, 2), cov.expand(n, 2, 2), torch.Generator().manual_seed(0))
    np.testing.assert_allclose(np.cov(z.numpy().T), cov.numpy(), atol=0.03)
    np.testing.assert_allclose(z.numpy().mean(0), mu.numpy(), atol=0.02)
    var = torch.tensor([0.25, 4.0], dtype=torch.float64)  # a diagonal encoder: variances or log-variances, one draw
    zv = sample_posterior(mu.expand(n, 2), var.expand(n, 2), torch.Generator().manual_seed(1), variance=True)
    zl = sample_posterior(mu.expand(n, 2), var.log().expand(n, 2), torch.Generator().manual_seed(1))
    torch.testing.assert_close(zv, zl)
    np.testing.assert_allclose(zv.numpy().var(0), var.numpy(), rtol=0.02)

    class NoDecode(nn.Module):
        def encode(self, x):
            return x, x

    with pytest.raises(VaediagError, match="decode"):
        diagnose(NoDecode(), torch.zeros(4, 2))

    class BadShapes(IgnoringVAE):
        def encode(self, x):
            return x[:, :6], x[:, :5]

    with pytest.raises(VaediagError, match=facts("(3, 6)", "(3, 5)")):
        encode_posterior(BadShapes(), torch.zeros(3, 12))
    assert decoder_variance(nn.Linear(2, 2)) is None
