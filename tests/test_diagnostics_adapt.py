"""Adapters: stand-in models of the shapes other libraries return, non-tensor data, and the input checks."""

from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn as nn

from _facts import facts
from _lingauss import LinearGaussianDiagVAE
from vaediag.diagnostics import diagnose
from vaediag.diagnostics.adapt import adapt, as_tensor_data, implied_gamma, unpack_decoding, unpack_encoding
from vaediag.errors import VaediagError

S2 = [3.0, 10.0, 0.0]


class ModelOutput(OrderedDict):
    """Like pythae's ModelOutput: a dict whose items are also attributes."""

    def __getattr__(self, k):
        try:
            return self[k]
        except KeyError:
            raise AttributeError(k) from None


class PythaeLike(nn.Module):
    """encoder / decoder submodules returning ModelOutput(embedding, log_covariance) / (reconstruction); no gamma."""

    def __init__(self, inner, shape=None):
        super().__init__()
        self.inner, self.shape = inner, shape
        outer = self

        class Enc(nn.Module):
            def forward(self, x):
                mu, lv = outer.inner.encode(x.reshape(len(x), -1))
                return ModelOutput(embedding=mu, log_covariance=lv)

        class Dec(nn.Module):
            def forward(self, z):
                r = outer.inner.decode(z)
                return ModelOutput(reconstruction=r if outer.shape is None else r.reshape(len(z), *outer.shape))

        self.encoder, self.decoder = Enc(), Dec()


class LightningLike(nn.Module):
    """encode / decode returning dicts; a learned log-variance parameter."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.log_gamma = nn.Parameter(torch.tensor(float(np.log(inner.g)), dtype=torch.float64))

    @property
    def gamma(self):
        return self.log_gamma.exp()

    def encode(self, x):
        mu, lv = self.inner.encode(x)
        return {"mu": mu, "logvar": lv}

    def decode(self, z):
        return {"x_hat": self.inner.decode(z)}


def _lin(gamma=1.0):
    return LinearGaussianDiagVAE(S2, gamma)


def test_pythae_like_model_is_read_and_told_it_has_no_gamma():
    m = _lin()
    x = m.sample(300)
    ref, _ = diagnose(m, x, iw_k=0)
    s, _ = diagnose(PythaeLike(m), x, iw_k=0)
    np.testing.assert_allclose(s["lambda_mean"], ref["lambda_mean"], rtol=1e-12)
    assert s["r_hat"] == 2 and s["gamma"] is None and s["gamma_mode"] == "unknown"
    assert s["gamma_regime"]["regime"] == "unknown" and s["iw_log_likelihood"] is None
    note = " ".join(s["notes"])
    assert "finds no decoder variance gamma" in note and "implies gamma = 1" in note and "Pass gamma=" in note
    assert note.count("finds no decoder variance gamma") == 1 and "sigma-VAE" in note  # one note, true for a sigma-VAE


def test_loss_implies_a_fixed_gamma():
    a = adapt(PythaeLike(_lin()), loss="sum_sq_half")
    assert a.gamma == 1.0 and a.gamma_mode == "fixed" and "implies gamma = 1" in a.gamma_note
    assert implied_gamma("sum_sq") == 0.5 and implied_gamma("mean_sq", 784) == 392.0
    with pytest.raises(VaediagError, match="data_dim"):
        implied_gamma("mean_sq")
    b = adapt(PythaeLike(_lin()), gamma=0.3)
    assert b.gamma == 0.3 and b.gamma_mode == "fixed"
    with pytest.raises(VaediagError, match=facts("gamma=", "-1")):
        adapt(PythaeLike(_lin()), gamma=-1)


def test_lightning_like_dicts_and_a_learned_gamma_parameter():
    m = _lin(0.5)
    x = m.sample(200)
    s, _ = diagnose(LightningLike(m), x, iw_k=3, iw_n=50)
    assert s["gamma"] == pytest.approx(0.5) and s["gamma_mode"] == "learned"
    # exact posterior: the importance-weighted bound is log p(x) for any k
    assert s["iw_log_likelihood"]["mean"] == pytest.approx(float(m.log_px(x[:50]).mean()), abs=1e-6)


def test_plain_functions_and_distributions():
    m = _lin()
    a = adapt(encode=lambda x: torch.distributions.Normal(m.encode(x)[0], (0.5 * m.encode(x)[1]).exp()),
              decode=lambda z: torch.distributions.Normal(m.decode(z), 1.0), gamma=1.0)
    x = m.sample(5)
    mu, lv = a.encode(x)
    torch.testing.assert_close(lv, m.encode(x)[1])
    torch.testing.assert_close(a.decode(mu), m.decode(mu))
    full = unpack_encoding(torch.distributions.MultivariateNormal(torch.zeros(1, 2), torch.eye(2)[None]))
    assert full[1].shape == (1, 2, 2)


@pytest.mark.parametrize("bad, match", [("hello", "str, not a tensor|no mean"), (torch.zeros(3, 2), "one tensor"),
                                        ((torch.zeros(3, 2),), "length 1"), ({"h": torch.zeros(3)}, "finds no mean")])
def test_encode_outputs_that_cannot_be_read_are_sentences(bad, match):
    with pytest.raises(VaediagError, match=match):
        unpack_encoding(bad)


def test_decode_outputs_that_cannot_be_read_are_sentences():
    with pytest.raises(VaediagError, match="items"):
        unpack_decoding((torch.zeros(2), torch.zeros(2)))
    with pytest.raises(VaediagError, match=facts("dict", "logits")):
        unpack_decoding({"logits": torch.zeros(2)})
    m = _lin()
    model = adapt(encode=m.encode, decode=lambda z: "not a tensor")
    with pytest.raises(VaediagError):
        diagnose(model, m.sample(20))


def test_numpy_lists_and_dataloaders_give_the_same_diagnosis():
    m = _lin()
    x = m.sample(300)
    ref, _ = diagnose(m, x, iw_k=0)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, torch.zeros(len(x))), batch_size=64)
    for data in (x.numpy(), loader, [r for r in x]):
        s, _ = diagnose(m, data, iw_k=0)
        np.testing.assert_allclose(s["lambda_mean"], ref["lambda_mean"])
        assert s["kl_total"] == pytest.approx(ref["kl_total"])
    assert len(as_tensor_data(loader, limit=100)) == 100
    for bad in ("data.npy", None, np.array([object(), object()]), torch.zeros(5)):
        with pytest.raises(VaediagError):
            as_tensor_data(bad)


def test_images_outside_unit_interval_are_refused():
    m = _lin()
    x = (m.sample(50)[:, :4].reshape(50, 1, 2, 2).sigmoid())  # images in [0, 1]
    model = PythaeLike(LinearGaussianDiagVAE([3.0, 10.0, 0.0], 1.0, d=4), shape=(1, 2, 2))
    s, _ = diagnose(model, x, iw_k=0)
    assert s["n"] == 50
    with pytest.raises(VaediagError, match=facts("255")):
        diagnose(model, x * 255.0)
    s, _ = diagnose(model, x * 255.0, iw_k=0, check_range=False)  # the user's choice
    assert s["n"] == 50


def test_model_without_encode_or_encoder():
    with pytest.raises(VaediagError, match=facts("Linear", "encode()")):
        adapt(nn.Linear(2, 2))
