"""'vaediag fid --images A --reference B': loading arrays and image folders, FID and KID of two sets."""

import json

import numpy as np
import pytest

from _facts import facts, says
from vaediag.cli import main
from vaediag.errors import VaediagError
from vaediag.quality.sets import load_images, score_sets, to_nchw_unit


class Flatten:
    """A stand-in extractor: the pixels are the features."""

    name = "proxy-pixels"

    def __call__(self, images):
        return images.reshape(len(images), -1).float()


def _imgs(n=300, seed=0, c=1, side=2):
    return np.random.default_rng(seed).uniform(0.2, 0.8, (n, c, side, side)).astype(np.float32)


def test_fid_of_shifted_sets_is_the_squared_shift():
    a = _imgs()
    r = score_sets(a, a + 0.1, Flatten(), kid_subsets=10, kid_subset_size=100)
    assert r.fid == pytest.approx(4 * 0.1 ** 2, rel=1e-6)  # same covariance: ||mean shift||^2 over 4 pixels
    same = score_sets(a, a, Flatten(), kid_subsets=10, kid_subset_size=100)
    assert same.fid == pytest.approx(0.0, abs=1e-9) and r.kid > 10 * abs(same.kid)


def test_layouts_and_scaling():
    u8 = (np.arange(2 * 3 * 3 * 3) % 256).astype(np.uint8).reshape(2, 3, 3, 3)
    x = to_nchw_unit(u8)  # (N, C=3, H, W) kept
    assert x.shape == (2, 3, 3, 3) and x.max() == pytest.approx(53 / 255)
    assert to_nchw_unit(np.zeros((4, 5, 6, 3), np.uint8)).shape == (4, 3, 5, 6)  # channels-last
    assert to_nchw_unit(np.zeros((4, 5, 6), np.float32)).shape == (4, 1, 5, 6)  # grey
    with pytest.raises(VaediagError, match="divide by 255"):
        to_nchw_unit(np.full((4, 5, 6), 200.0))
    with pytest.raises(VaediagError, match="shape"):
        to_nchw_unit(np.zeros((4, 5, 6, 7), np.float32))


def test_folders_npz_and_npy_read_the_same_images(tmp_path):
    from PIL import Image

    u8 = (np.random.default_rng(0).uniform(0, 255, (5, 6, 7, 3))).astype(np.uint8)
    (tmp_path / "png").mkdir()
    for i, a in enumerate(u8):
        Image.fromarray(a).save(tmp_path / "png" / f"{i:03d}.png")
    np.save(tmp_path / "a.npy", u8)
    np.savez(tmp_path / "a.npz", images=u8)
    ref = load_images(tmp_path / "a.npy")
    np.testing.assert_array_equal(load_images(tmp_path / "png"), ref)
    np.testing.assert_array_equal(load_images(tmp_path / "a.npz"), ref)
    assert ref.shape == (5, 3, 6, 7)
    Image.fromarray(u8[0, :3]).save(tmp_path / "png" / "999.png")
    with pytest.raises(VaediagError, match=facts("999.png", "7x6")):
        load_images(tmp_path / "png")
    with pytest.raises(VaediagError, match=facts(tmp_path / "missing")):
        load_images(tmp_path / "missing")


def test_cli_fid_images_reference_proxy(tmp_path, capsys):
    rng = np.random.default_rng(0)
    a = (rng.uniform(0, 1, (300, 1, 8, 8))).astype(np.float32)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", np.clip(a + 0.3, 0, 1))
    out = tmp_path / "r.json"
    assert main(["fid", "--images", str(tmp_path / "a.npy"), "--reference", str(tmp_path / "a.npy"), "--proxy",
                 "--quiet", "--kid-subsets", "10", "--kid-subset-size", "100", "--device", "cpu", "--json", str(out)]) == 0
    same = json.loads(out.read_text())
    assert same["fid"] == pytest.approx(0.0, abs=1e-6)
    assert main(["fid", "--images", str(tmp_path / "a.npy"), "--reference", str(tmp_path / "b.npy"), "--proxy",
                 "--quiet", "--kid-subsets", "10", "--kid-subset-size", "100", "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    assert "KID (proxy)" in text and "proxy Fréchet distance" in text
    # refused: an existing --json, one side missing, --run with --images
    assert main(["fid", "--images", str(tmp_path / "a.npy"), "--reference", str(tmp_path / "a.npy"), "--proxy",
                 "--json", str(out)]) == 1  # an existing file: a runtime refusal
    assert main(["fid", "--images", str(tmp_path / "a.npy"), "--proxy"]) == 2
    assert main(["fid", "--run", str(tmp_path), "--images", str(tmp_path / "a.npy"), "--reference",
                 str(tmp_path / "a.npy"), "--proxy"]) == 2
    err = capsys.readouterr().err
    assert says(err, out, "--overwrite", "--run", "--images", "--reference")


def test_fid_sets_returns_a_score_whose_json_is_the_file(tmp_path):
    import vaediag

    rng = np.random.default_rng(1)
    a = rng.uniform(0, 1, (40, 1, 8, 8)).astype(np.float32)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", np.clip(a[::-1] + 0.2, 0, 1))
    s = vaediag.fid_sets(tmp_path / "a.npy", tmp_path / "b.npy", proxy=True, device="cpu",
                         options=vaediag.FidOptions(kid_subsets=4, kid_subset_size=100), json_path=tmp_path / "r.json")
    assert isinstance(s, vaediag.Score) and s.images == str(tmp_path / "a.npy") and s.n_images == 40
    assert s.kid_subset_size == 20 and s.kid_subset_size_note in s.notes  # 100 does not fit in 40
    stored = json.loads((tmp_path / "r.json").read_text())
    assert stored == s.to_dict() and stored["kid"]["subset_size_note"] == s.kid_subset_size_note
    assert s.kid_subset_size_note not in stored["notes"] and stored["fid"] > 0
