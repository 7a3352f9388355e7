"""Sample quality of any two image sets (``vaediag fid --images A --reference B``): load .npy / .npz
arrays or folders of PNG / JPEG files, push both through one feature extractor, report FID (the Fréchet
distance of :mod:`.frechet`) and KID (:mod:`.kid`) side by side.

Images are read as float in [0, 1], shape (N, C, H, W) with C = 1 or 3: uint8 arrays are divided by
255, float arrays must already lie in [0, 1]; (N, H, W) is grey, (N, H, W, C) with C in {1, 3} is
channels-last. Folders: every .png / .jpg / .jpeg file (sorted by name), all of one size; colour
images are read as RGB, grey ones as one channel (a folder must not mix the two).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from vaediag.data.datasets import load_array  # the one reader of .npy / .npz (also for api/outside.py)
from vaediag.errors import NotFoundError, VaediagError
from vaediag.quality.frechet import frechet_distance, gaussian_stats
from vaediag.quality.kid import SUBSET_SIZE, SUBSETS, kid
from vaediag.quality.scores import Score

IMAGE_EXTS = (".png", ".jpg", ".jpeg")


def load_images(path: str | Path) -> np.ndarray:
    """Float32 images in [0, 1], (N, C, H, W), from a .npy / .npz file or a folder of PNG / JPEG files."""
    p = Path(path)
    if not p.exists():
        raise NotFoundError(f"{p} does not exist; give a .npy or .npz array or a folder of PNG/JPEG images", path=p)
    if p.is_dir():
        arr = read_folder(p)
    elif p.suffix.lower() in (".npy", ".npz"):
        arr = load_array(p, mmap=True)
    else:
        raise VaediagError(f"{p}: give a .npy or .npz array or a folder of PNG/JPEG images")
    return to_nchw_unit(np.asarray(arr), str(p))


def read_folder(p: Path) -> np.ndarray:
    """The PNG/JPEG images of a folder, sorted by name, as stored (uint8, (N, H, W) or (N, H, W, 3))."""
    from PIL import Image, UnidentifiedImageError

    files = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_EXTS and f.is_file())
    if len(files) < 2:
        raise VaediagError(f"{p} holds {len(files)} PNG/JPEG image(s); at least 2 are needed")
    out, mode0 = [], None
    for f in files:
        try:
            with Image.open(f) as im:
                mode = "L" if im.mode in ("L", "1", "I;16", "I") else "RGB"
                a = np.asarray(im.convert(mode))
        except (OSError, UnidentifiedImageError) as e:
            raise VaediagError(f"{f} is not a readable image ({e})") from None
        mode0 = mode0 or mode
        if mode != mode0:
            raise VaediagError(f"{p} mixes grey and colour images ({files[0].name} is {mode0}, {f.name} is {mode}); "
                               "convert them to one kind")
        if out and a.shape != out[0].shape:
            raise VaediagError(f"{p}: {f.name} is {a.shape[1]}x{a.shape[0]} but {files[0].name} is "
                               f"{out[0].shape[1]}x{out[0].shape[0]}; all images must have one size")
        out.append(a)
    return np.stack(out)


def to_nchw_unit(arr: np.ndarray, what: str = "the images") -> np.ndarray:
    """(N, H, W), (N, H, W, C) or (N, C, H, W) with C in {1, 3}; uint8 or float in [0, 1] -> float32 NCHW."""
    if arr.dtype == np.uint8:
        x = arr.astype(np.float32) / 255.0
    elif np.issubdtype(arr.dtype, np.floating):
        x = arr.astype(np.float32)
        lo, hi = float(np.min(x)), float(np.max(x))
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise VaediagError(f"{what} contain NaN or infinite values")
        if lo < -1e-3 or hi > 1 + 1e-3:
            hint = "divide by 255" if hi > 2 else "rescale them to [0, 1]"
            raise VaediagError(f"{what}: float images must lie in [0, 1], these range over [{lo:.3g}, {hi:.3g}]; {hint}")
    else:
        raise VaediagError(f"{what} have dtype {arr.dtype}; give uint8 (0-255) or float (0-1) images")
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[1] not in (1, 3) and x.shape[3] in (1, 3):
        x = x.transpose(0, 3, 1, 2)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise VaediagError(f"{what} have shape {arr.shape}; give (N, H, W), (N, H, W, C) or (N, C, H, W) with C = 1 or 3")
    if len(x) < 2:
        raise VaediagError(f"{what} hold {len(x)} image(s); at least 2 are needed")
    return np.ascontiguousarray(x)


def features(images: np.ndarray, extractor, batch_size: int = 50,
             progress: Callable[[str, int, int], None] | None = None, label: str = "images") -> np.ndarray:
    out = []
    for i in range(0, len(images), batch_size):
        out.append(extractor(torch.from_numpy(np.asarray(images[i:i + batch_size]))).numpy())
        if progress:
            progress(label, min(i + batch_size, len(images)), len(images))
    f = np.concatenate(out).astype(np.float64)
    if not np.isfinite(f).all():
        raise VaediagError(f"the features of {label} contain NaN or inf")
    return f


def score_sets(images: np.ndarray, reference: np.ndarray, extractor, batch_size: int = 50,
               kid_subsets: int = SUBSETS, kid_subset_size: int = SUBSET_SIZE, seed: int = 0,
               progress=None) -> Score:
    """FID and KID of ``images`` against ``reference`` with a feature extractor of your choice.

    Args:
        images: float32 (N, C, H, W) images in [0, 1] (a model's samples).
        reference: the real images, in the same form.
        extractor: the features: :class:`~vaediag.quality.features.InceptionFeatures` (FID) or
            :class:`~vaediag.quality.features.ProxyFeatures` (offline, not an FID).
        batch_size: images per forward pass.
        kid_subsets: how many random subsets KID averages over.
        kid_subset_size: images per KID subset (kept below both set sizes).
        seed: seed of the KID subsets.
        progress: None, or a ``(label, done, total)`` callback.

    Returns:
        A :class:`~vaediag.quality.scores.Score` (``.fid``, ``.kid``, ``.kid_std``, ``.n_images``, ``.notes``, ...;
        ``.to_dict()`` is its JSON).

    Raises:
        VaediagError: features that are not finite.
    """
    t0 = time.perf_counter()
    fi = features(images, extractor, batch_size, progress, "images")
    fr = features(reference, extractor, batch_size, progress, "reference")
    notes = []
    if min(len(fi), len(fr)) < fi.shape[1]:
        notes.append(f"fewer images ({min(len(fi), len(fr))}) than feature dimensions ({fi.shape[1]}): the covariances "
                     "are singular and FID is biased upwards; KID is unbiased at any n")
    proxy = extractor.name.startswith("proxy")
    return Score.from_sets({"fid": frechet_distance(*gaussian_stats(fi), *gaussian_stats(fr)),
                            "kid": {k: v for k, v in kid(fi, fr, kid_subsets, kid_subset_size, seed).items()
                                    if k != "values"},
                            "n_images": len(fi), "n_reference": len(fr), "features": extractor.name, "proxy": proxy,
                            "metric": "proxy-fd" if proxy else "fid", "notes": notes,
                            "elapsed_seconds": round(time.perf_counter() - t0, 3)})
