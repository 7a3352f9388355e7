import math

import pytest
import torch

from vaediag.engine.config import ModelConfig, Stage2Config
from vaediag.errors import VaediagError
from vaediag.engine.models import VAE, LogGamma, Stage2VAE
from vaediag.engine.sampling import sample_stage1, sample_two_stage


@pytest.mark.parametrize("arch", ["infogan", "resnet", "mlp"])
@pytest.mark.parametrize("side", [28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_output_shapes(arch, side, channels):
    torch.manual_seed(0)
    m = VAE(ModelConfig(input_shape=(channels, side, side), arch=arch, latent_dim=5)).eval()
    x = torch.rand(2, channels, side, side)
    with torch.no_grad():
        mu, logvar = m.encode(x)
        y = m.decode(mu)
    assert mu.shape == logvar.shape == (2, 5)
    assert y.shape == x.shape
    assert float(y.min()) >= 0 and float(y.max()) <= 1  # sigmoid mean for images


def test_mlp_vectors_linear_output():
    m = VAE(ModelConfig(input_shape=(7,), arch="mlp", latent_dim=3, output="linear"))
    y = m.decode(torch.randn(4, 3))
    assert y.shape == (4, 7)


def test_loss_is_eq2_computed_by_hand():
    torch.manual_seed(1)
    cfg = ModelConfig(input_shape=(6,), arch="mlp", latent_dim=2, output="linear", gamma_mode="fixed", gamma_init=0.3)
    m = VAE(cfg).double()
    x, eps = torch.randn(3, 6, dtype=torch.float64), torch.randn(3, 2, dtype=torch.float64)
    out = m.loss(x, eps)
    mu, logvar = m.encode(x)
    z = mu + (0.5 * logvar).exp() * eps
    xm = m.decode(z)
    d, g = 6, 0.3
    recon = ((x - xm) ** 2).sum(1) / (2 * g) + d / 2 * math.log(2 * math.pi * g)
    kl = 0.5 * (mu**2 + logvar.exp() - logvar - 1).sum(1)
    torch.testing.assert_close(out["loss"], (recon + kl).mean())
    torch.testing.assert_close(out["kl"], kl.mean())
    torch.testing.assert_close(out["mse"], ((x - xm) ** 2).mean())


def test_gamma_is_a_variance_and_floor_holds():
    assert VAE(ModelConfig(input_shape=(3,), arch="mlp", output="linear", gamma_mode="fixed", gamma_init=0.01)).gamma.item() == pytest.approx(0.01)
    lg = LogGamma("learned", 1.0, floor=1e-3)
    with torch.no_grad():
        lg.raw.fill_(-50.0)
    assert lg().exp().item() == pytest.approx(1e-3, rel=1e-6)
    assert lg.raw.requires_grad
    assert not LogGamma("fixed", 1.0).raw.requires_grad


def test_bernoulli_decoder_loss_is_cross_entropy():
    torch.manual_seed(0)
    m = VAE(ModelConfig(input_shape=(1, 28, 28), arch="infogan", latent_dim=4, likelihood="bernoulli")).eval()
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        out = m.loss(x, torch.zeros(2, 4))
        mu, logvar = m.encode(x)
        p = m.decode(mu)
    ce = -(x * p.log() + (1 - x) * (1 - p).log()).flatten(1).sum(1)
    torch.testing.assert_close(out["recon"], ce.mean(), rtol=1e-4, atol=1e-3)


def test_stage2_concatenates_input_before_heads_and_samples_decode():
    torch.manual_seed(0)
    s2 = Stage2VAE(Stage2Config(latent_dim=4, width=16, depth=3))
    assert s2.enc.heads[0].in_features == 16 + 4 and s2.dec.heads[0].in_features == 16 + 4
    assert sum(isinstance(l, torch.nn.Linear) for l in s2.enc.body) == 3
    m = VAE(ModelConfig(input_shape=(1, 28, 28), latent_dim=4)).eval()
    g = torch.Generator().manual_seed(0)
    x2 = sample_two_stage(m, s2.eval(), 5, g)
    x1 = sample_stage1(m, 5, g)
    assert x2.shape == x1.shape == (5, 1, 28, 28)
    assert torch.isfinite(x2).all()


@pytest.mark.parametrize("bad", [dict(latent_dim=0), dict(arch="vgg"), dict(arch="infogan", input_shape=(10,)),
                                 dict(input_shape=(1, 30, 30)), dict(gamma_init=-1.0)])
def test_bad_model_config_is_one_sentence(bad):
    cfg = dict(input_shape=(1, 28, 28))
    cfg.update(bad)
    with pytest.raises(VaediagError):
        VAE(ModelConfig(**cfg))
