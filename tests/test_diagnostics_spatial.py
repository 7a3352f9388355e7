"""Spatial latents: the maps and counts of vaediag.diagnostics.spatial against counts written here, and
diffusers-style AutoencoderKLs (the interface-faithful stand-in of tests/_kl.py always, diffusers' own
class when installed) diagnosed without glue."""

import numpy as np
import pytest
import torch

from _facts import facts
import vaediag
from vaediag.diagnostics import spatial
from vaediag.diagnostics.adapt import adapt
from vaediag.diagnostics.budget import Budgets
from vaediag.diagnostics.summary import diagnose
from vaediag.diagnostics.protocol import encode_posterior
from vaediag.errors import VaediagError

from _kl import StandInAutoencoderKL, autoencoder_kl


def _lam(c=4, h=14, w=14, used=(0, 50, 180, 196), seed=0):
    """lambda per (channel, position): channel c used (0.01) at used[c] random positions, else 0.95."""
    rng = np.random.default_rng(seed)
    lam = np.full((c, h * w), 0.95)
    for ch, u in enumerate(used):
        lam[ch, rng.choice(h * w, size=u, replace=False)] = 0.01
    return lam.reshape(c, h, w)


def test_flatten_and_unflatten_keep_torch_order():
    mu = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2)
    lv = -mu
    m, s, shape = spatial.flatten_posterior(mu, lv)
    assert shape == (3, 2, 2) and m.shape == (2, 12) and torch.equal(m[1, 5], mu[1, 1, 0, 1])
    assert torch.equal(spatial.unflatten(m, shape), mu)
    flat = torch.zeros(2, 5)
    assert spatial.flatten_posterior(flat, flat)[2] is None
    with pytest.raises(VaediagError, match=facts(tuple(mu.shape), tuple(lv[:, :2].shape))):
        spatial.flatten_posterior(mu, lv[:, :2])


def test_counts_per_channel_and_position_against_direct_counts():
    lam = _lam()
    flat = lam.ravel()
    per_channel = spatial.r_hat_per_channel(flat, (4, 14, 14))
    assert per_channel == [0, 50, 180, 196]
    assert sum(per_channel) == int(np.sum(flat < 0.5))  # they add up to r_hat
    pos = spatial.r_hat_per_position(flat, (4, 14, 14))
    direct = np.array([[sum(lam[c, i, j] < 0.5 for c in range(4)) for j in range(14)] for i in range(14)])
    assert np.array_equal(pos, direct)
    assert spatial.channel_sentences(flat, (4, 14, 14))[2].startswith("channel 2: used at 180 of 196 positions")
    assert np.array_equal(spatial.lambda_map(flat, (4, 14, 14)), lam)
    assert spatial.map_shape((3, 10)) == (3, 1, 10)
    with pytest.raises(VaediagError, match=facts(flat.size - 1, (4, 14, 14))):
        spatial.lambda_map(flat[:-1], (4, 14, 14))


def _data(n=8, side=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, side, side, generator=g) * 2 - 1


def _diagnose(m, x):
    """A light diagnosis (this file checks shapes, not the perturbations' or eq. (73)'s numbers)."""
    return diagnose(m, x, iw_k=0, perturb_inputs=2, gamma_fit_n=4, device=torch.device("cpu"),
                    budgets=Budgets(perturb_directions=4, gain_directions=4))


def _vae(real=False):
    return autoencoder_kl(block_out_channels=(8, 8), norm_num_groups=4, real=real).eval()


def _check_spatial(d, vae, x):
    sp = d.spatial
    assert sp.shape == (4, 8, 8) and d.model.latent_dim == 256
    with torch.no_grad():  # independent: the model's own posterior variances, averaged over the inputs
        var = vae.encode(x).latent_dist.var.double().mean(0)
    np.testing.assert_allclose(sp.lambda_map, var.numpy(), rtol=1e-5)
    assert sum(sp.r_hat_per_channel) == d.usage.r_hat == int((var < 0.5).sum())
    assert sp.r_hat_per_position.shape == (8, 8) and int(sp.r_hat_per_position.sum()) == d.usage.r_hat
    assert len(sp.channel_verdict) == 4 and sp.positions_per_channel == 64
    by_channel = [v for v in d.verdict if v.startswith("By channel")]  # the verdict names each channel
    assert len(by_channel) == 1 and all(f"channel {c}: used at {n} of 64" in by_channel[0]
                                        for c, n in enumerate(sp.r_hat_per_channel))
    back = type(d).from_dict(*d)  # the spatial section survives the files' pair
    assert back.spatial.shape == sp.shape and np.array_equal(back.spatial.lambda_map, sp.lambda_map)


def test_stand_in_autoencoder_kl_is_read_without_glue():
    vae, x = _vae(), _data()
    m = adapt(vae, loss="mean_sq", kl_weight=1e-6, data_range=(-1, 1))
    d = _diagnose(m, x)
    _check_spatial(d, vae, x)
    assert d.model.latent_scaling_factor == pytest.approx(0.18215)
    assert any("scaling_factor" in note for note in d.provenance.notes)
    assert d.provenance.budgets["active"] == {"perturb_directions": True, "gain_directions": True, "spectrum_dims": False,
                                              "perturb_numbers": False, "gain_numbers": False,
                                              "mi_numbers": False}
    assert len(d.perturbations.rows) == 4 and d.effective_fit.directions == 4
    assert sorted(r.direction for r in d.perturbations.rows) == sorted(d.perturbations.directions.tolist())


@pytest.mark.parametrize("how", ["latent_dist", "tuple"])
def test_spatial_encode_functions_of_the_issue(how):
    """encode=lambda x: vae.encode(x).latent_dist and spatial (mu, logvar) tensors crashed with a numpy error."""
    vae, x = _vae(), _data(6)
    enc = (lambda t: vae.encode(t).latent_dist) if how == "latent_dist" else \
        (lambda t: (vae.encode(t).latent_dist.mean, vae.encode(t).latent_dist.logvar))
    m = adapt(vae, encode=enc, decode=lambda z: vae.decode(z).sample, gamma=0.01, data_range=(-1, 1))
    assert _diagnose(m, x).spatial.shape == (4, 8, 8)


def test_raw_spatial_model_gets_one_sentence():
    with pytest.raises(VaediagError, match=facts("vaediag.adapt(model)")):
        encode_posterior(StandInAutoencoderKL(block_out_channels=(8, 8), norm_num_groups=4), _data(2))


def test_flat_latent_has_no_shape():
    from _wild import ExamplesVAE

    torch.manual_seed(0)
    d = vaediag.diagnose(adapt(ExamplesVAE(), likelihood="bernoulli"), torch.rand(8, 784), n=None, device="cpu",
                         options=vaediag.DiagnoseOptions(iw=False))
    assert d.spatial is None and "lambda_map" not in d.arrays
    assert not any(d.provenance.budgets["active"].values())


def test_diffusers_autoencoder_kl_from_a_config():
    pytest.importorskip("diffusers")
    vae, x = _vae(real=True), _data()
    assert type(vae).__module__.startswith("diffusers")
    d = _diagnose(adapt(vae, loss="mean_sq", kl_weight=1e-6, data_range=(-1, 1)), x)
    _check_spatial(d, vae, x)
    assert d.model.latent_scaling_factor == pytest.approx(vae.config.scaling_factor)
