"""The readers on tiny files written here in each real format."""

import gzip
import pickle
import struct

import numpy as np
import pytest
import torch

from _facts import facts
from vaediag.data.datasets import (Dataset, load_dataset, load_mnist5k, parse_manifold_spec, read_cifar_batch, read_idx)
from vaediag.errors import VaediagError


def write_idx(path, arr, gz=False):
    header = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    data = header + arr.astype(np.uint8).tobytes()
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(data)


def test_mnist5k_is_the_real_digits():
    x = load_mnist5k()
    assert x.shape == (5000, 1, 28, 28) and x.dtype == np.uint8
    assert x.max() == 255 and x.min() == 0
    # digits: ink in the centre, blank corners
    assert x[:, 0, :3, :3].max() == 0 and x[:, 0, 10:18, 10:18].mean() > 60


def test_mnist5k_split_is_shuffled_and_reproducible():
    a, b = load_dataset("mnist5k", seed=3), load_dataset("mnist5k", seed=3)
    assert len(a.train) == 4500 and len(a.test) == 500
    assert torch.equal(a.test, b.test)
    assert not torch.equal(load_dataset("mnist5k", seed=4).test, a.test)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_reader_round_trip(tmp_path, gz):
    rng = np.random.default_rng(0)
    tr, te = rng.integers(0, 256, (7, 28, 28)), rng.integers(0, 256, (3, 28, 28))
    (tmp_path / "fashion-mnist").mkdir()
    sfx = ".gz" if gz else ""
    write_idx(tmp_path / "fashion-mnist" / f"train-images-idx3-ubyte{sfx}", tr, gz)
    write_idx(tmp_path / "fashion-mnist" / f"t10k-images-idx3-ubyte{sfx}", te, gz)
    ds = load_dataset("fashion-mnist", tmp_path)
    assert ds.train.shape == (7, 1, 28, 28) and ds.test.shape == (3, 1, 28, 28)
    np.testing.assert_array_equal(ds.train[:, 0].numpy(), tr)
    np.testing.assert_array_equal(ds.test[:, 0].numpy(), te)


def test_idx_truncated_and_missing(tmp_path):
    p = tmp_path / "x"
    write_idx(p, np.zeros((4, 5, 5)))
    p.write_bytes(p.read_bytes()[:-3])
    with pytest.raises(VaediagError, match="truncated"):
        read_idx(p)
    with pytest.raises(VaediagError, match="train-images-idx3-ubyte.*t10k-images-idx3-ubyte"):
        load_dataset("mnist", tmp_path)


def _cifar_batch(path, n, seed):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072)).astype(np.uint8)
    with open(path, "wb") as f:
        pickle.dump({b"batch_label": b"x", b"labels": list(range(n)), b"data": data}, f, protocol=2)
    return data


def test_cifar_reader(tmp_path):
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    batches = [_cifar_batch(base / f"data_batch_{i}", 2, i) for i in range(1, 6)]
    test = _cifar_batch(base / "test_batch", 3, 9)
    ds = load_dataset("cifar10", tmp_path)
    assert ds.train.shape == (10, 3, 32, 32) and ds.test.shape == (3, 3, 32, 32)
    # row-major 3072 = 3 x 32 x 32, channel first (the CIFAR layout)
    np.testing.assert_array_equal(ds.train[0].numpy().reshape(-1), batches[0][0])
    np.testing.assert_array_equal(ds.test.numpy().reshape(3, -1), test)


def test_cifar_reader_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    p = tmp_path / "data_batch_1"
    p.write_bytes(pickle.dumps({b"data": Evil()}, protocol=2))
    with pytest.raises(VaediagError, match=facts(p, ".system")):
        read_cifar_batch(p)


def test_celeba_folder(tmp_path):
    from PIL import Image

    folder = tmp_path / "celeba" / "img_align_celeba"
    folder.mkdir(parents=True)
    for i in range(4):
        a = np.zeros((218, 178, 3), np.uint8)
        a[:, :, i % 3] = 200  # one colour per image
        Image.fromarray(a).save(folder / f"{i + 1:06d}.jpg", quality=95)
    (tmp_path / "celeba" / "list_eval_partition.txt").write_text("000001.jpg 0\n000002.jpg 0\n000003.jpg 1\n000004.jpg 2\n")
    ds = load_dataset("celeba", tmp_path)
    assert ds.train.shape == (3, 3, 64, 64) and ds.test.shape == (1, 3, 64, 64)
    img = ds.test[0].float()
    assert img[0].mean() > 180 and img[1].mean() < 20  # image 4 is red: the official test image


def test_celeba_missing_says_where(tmp_path):
    with pytest.raises(VaediagError, match="img_align_celeba"):
        load_dataset("celeba", tmp_path)


def test_npy_vectors_and_images(tmp_path):
    v = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float64)
    np.save(tmp_path / "v.npy", v)
    ds = load_dataset(str(tmp_path / "v.npy"), seed=0, test_fraction=0.2)
    assert ds.kind == "vector" and ds.shape == (4,) and len(ds.test) == 10
    # used as given: the rows are the original rows
    dist = np.abs(ds.train.numpy()[:, None, :] - v[None]).max(-1).min(-1)
    assert dist.max() < 1e-6
    im = np.random.default_rng(1).integers(0, 256, (20, 8, 8)).astype(np.uint8)
    np.savez(tmp_path / "im.npz", x=im)
    ds = load_dataset(str(tmp_path / "im.npz"))
    assert ds.kind == "image" and ds.shape == (1, 8, 8)
    assert Dataset.to_float(ds.train).max() <= 1.0


@pytest.mark.parametrize("arr, msg", [
    (np.array([[1.0, np.nan], [0.0, 1.0]]), "NaN"),
    (np.zeros((3,)), "shape"),
    (np.zeros((2, 2, 2, 2, 2)), "shape"),
    (np.zeros((0, 4)), "empty"),
    (np.array([["a", "b"], ["c", "d"]]), "numbers"),
    (np.full((4, 5, 5), 3.0), r"\[0, 1\]"),
])
def test_bad_arrays(tmp_path, arr, msg):
    np.save(tmp_path / "a.npy", arr)
    with pytest.raises(VaediagError, match=msg):
        load_dataset(str(tmp_path / "a.npy"))


def test_unreadable_array_file(tmp_path):
    (tmp_path / "a.npy").write_bytes(b"not an array")
    with pytest.raises(VaediagError, match=facts(tmp_path / "a.npy")):
        load_dataset(str(tmp_path / "a.npy"))


def test_manifold_spec():
    assert parse_manifold_spec("manifold:sphere?r=2&d=10&n=300") == ("sphere", {"r": 2, "d": 10, "n": 300})
    ds = load_dataset("manifold:sphere?r=2&d=10&n=300")
    x = torch.cat([ds.train, ds.test]).double()
    assert x.shape == (300, 10)
    torch.testing.assert_close(x.norm(dim=1), torch.ones(300, dtype=torch.float64), rtol=1e-5, atol=1e-5)
    # the points span an (r + 1) = 3 dimensional linear subspace
    s = torch.linalg.svdvals(x)
    assert s[2] > 1 and s[3] < 1e-4


def test_unknown_dataset():
    with pytest.raises(VaediagError, match=facts("imagenet", "mnist")):
        load_dataset("imagenet")


@pytest.mark.parametrize("key", ["x", "X", "data", "images", "samples", "arr_0", "anything_alone"])
def test_one_npz_reader_for_training_diagnosis_and_fid(tmp_path, key):
    # a file that trains (--dataset) is read the same by diagnose --data and fid --images: one load_array
    from vaediag.api.outside import load_inputs
    from vaediag.data.datasets import NPZ_KEYS, load_array
    from vaediag.quality import sets
    from vaediag.quality.sets import load_images

    assert sets.load_array is load_array and key in NPZ_KEYS + ("anything_alone",)
    im = np.random.default_rng(0).integers(0, 256, (12, 6, 6)).astype(np.uint8)
    path = tmp_path / "im.npz"
    np.savez(path, **{key: im})
    assert load_dataset(str(path)).shape == (1, 6, 6)
    np.testing.assert_array_equal(load_inputs(path).numpy(), im)
    np.testing.assert_array_equal(load_images(path)[:, 0], im / np.float32(255))


def test_an_npz_without_a_known_key_is_refused_everywhere_naming_its_arrays(tmp_path):
    from vaediag.data.datasets import load_array
    from vaediag.quality.sets import load_images

    np.savez(tmp_path / "two.npz", a=np.zeros((3, 2)), b=np.ones((3, 2)))
    for read in (lambda p: load_dataset(str(p)), load_images, load_array):
        with pytest.raises(VaediagError, match="2 arrays \\(a, b\\)"):
            read(tmp_path / "two.npz")
    np.savez(tmp_path / "both.npz", samples=np.zeros((3, 2)), x=np.ones((3, 2)))
    assert load_array(tmp_path / "both.npz").max() == 1.0  # NPZ_KEYS in order: x before samples
