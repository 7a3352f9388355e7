"""Sample quality: FID of a run, FID and KID of any two image sets (:func:`score`: arrays or files), the paper's Table 1."""

from __future__ import annotations

import os
from pathlib import Path

from vaediag.api.runs import RunLike, open_run
from vaediag.errors import UsageError, VaediagError
from vaediag.quality.scores import RunScores, Score


class StderrProgress:
    """Adapts the engine's progress bar (stderr, images/s, ETA) to the ``(label, done, total)`` callback."""

    def __init__(self):
        self.label, self.bar = None, None

    def __call__(self, label: str, done: int, total: int) -> None:
        from vaediag.progress import Progress

        if label != self.label:
            if self.bar is not None:
                self.bar.close()
            self.label, self.bar = label, Progress(total, desc=f"{label:>14} img")
        self.bar.update(done)
        if done >= total:
            self.bar.close()
            self.label, self.bar = None, None


def _extractor(proxy: bool, inception, device):
    """(features, device): Inception pool3 (``inception``: a TorchScript file, default the FID one) or,
    with ``proxy``, the offline random-feature stand-in (not an FID)."""
    from vaediag.engine.devices import resolve_device
    from vaediag.quality.features import InceptionFeatures, ProxyFeatures

    dev = resolve_device(device) if isinstance(device, str) else device  # auto = CUDA, then MPS, then CPU
    return (ProxyFeatures(device=dev) if proxy else InceptionFeatures(inception, device=dev)), dev


def _no_proxy_with_inception(proxy: bool, inception) -> None:
    if proxy and inception is not None:
        raise UsageError("--proxy and --inception exclude each other: the proxy uses no Inception network")


def _progress(progress):
    return StderrProgress() if progress is True else (progress or None)


def fid(run: RunLike, n: int | None = None, seeds: int = 10, seed: int = 0, sources: list[str] | None = None,
        proxy: bool = False, device: str = "auto", batch_size: int = 50, *, inception: str | os.PathLike | None = None,
        minmax: bool = False, fid_method: str = "eigh", cache_dir: str | os.PathLike | None = None,
        progress=None, write: bool = False, overwrite: bool = False,
        json_path: str | os.PathLike | None = None) -> RunScores:
    """FID (Inception pool3; ``proxy=True``: an offline random-feature stand-in, not an FID) of a run's
    stage-1 samples, two-stage samples and reconstructions against its held-out images.

    ``inception``: a TorchScript FID Inception file; ``minmax``: rescale each generated image by its own
    min and max as the authors' code does (not standard FID); ``fid_method``: "eigh" or "sqrtm" (the
    same number); ``cache_dir``: where real-image statistics are cached; ``progress``: True for a bar
    on stderr or a ``(label, done, total)`` callback. ``write`` stores RUN/quality/fid.json (proxy.json)
    as ``vaediag fid`` does (``overwrite`` replaces it; ``json_path``: once more).

    Returns a :class:`~vaediag.quality.scores.RunScores` (``.stage1.fid.mean``, ``.recon.mse``, ...;
    ``.to_dict()`` is the stored JSON)."""
    from vaediag.quality.evaluate import check_writable, evaluate_run, save_result

    run = open_run(run)
    if seeds < 1:
        raise UsageError(f"--seeds must be at least 1, got {seeds}")
    if batch_size < 1:
        raise UsageError(f"--batch-size must be a positive integer, got {batch_size}")
    _no_proxy_with_inception(proxy, inception)
    if write:
        check_writable(run, proxy, overwrite)
    extractor, dev = _extractor(proxy, inception, device)
    result = evaluate_run(run, extractor, n=n, seeds=seeds, seed=seed, sources=sources, device=dev,
                          batch_size=batch_size, cache_dir=cache_dir, norm="minmax" if minmax else "none",
                          progress=_progress(progress), method=fid_method)
    path = str(save_result(run, result, json_path=json_path)) if write else None
    return RunScores.from_dict(result, path=path)


def fid_sets(images: str | os.PathLike, reference: str | os.PathLike, *, proxy: bool = False,
             inception: str | os.PathLike | None = None, device: str = "auto", batch_size: int = 50,
             kid_subsets: int = 100, kid_subset_size: int = 1000, seed: int = 0, progress=None,
             json_path: str | os.PathLike | None = None, overwrite: bool = False) -> Score:
    """FID and KID (unbiased, mean and std over random subsets) of the images ``images`` (a .npy, .npz or
    folder of PNG/JPEG from any model) against the real images ``reference``: a :class:`Score` (with
    ``images`` and ``reference`` set); its ``to_dict()`` also to ``json_path``."""
    from vaediag.io import write_json
    from vaediag.quality.sets import load_images, score_sets

    _no_proxy_with_inception(proxy, inception)
    if batch_size < 1 or kid_subsets < 1 or kid_subset_size < 2:
        raise UsageError("--batch-size and --kid-subsets must be positive and --kid-subset-size at least 2")
    if json_path is not None and Path(json_path).exists() and not overwrite:
        raise VaediagError(f"{json_path} already exists; pass --overwrite to replace it")
    x, ref = load_images(Path(images)), load_images(Path(reference))
    extractor, _ = _extractor(proxy, inception, device)
    res = score_sets(x, ref, extractor, batch_size=batch_size, kid_subsets=kid_subsets,
                     kid_subset_size=kid_subset_size, seed=seed, progress=_progress(progress))
    result = Score.from_sets(res, images=images, reference=reference)
    if json_path is not None:
        write_json(Path(json_path), result.to_dict())
    return result


def _image_set(x, data_range, what: str):
    """Float32 (N, C, H, W) images in [0, 1] from a path (.npy, .npz, folder) or an array / tensor in
    ``data_range`` (mapped to [0, 1])."""
    import numpy as np

    from vaediag.quality.sets import load_images, to_nchw_unit

    if isinstance(x, (str, os.PathLike)):
        return load_images(Path(x))
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    if not isinstance(x, np.ndarray):
        raise UsageError(f"{what} must be a path, a numpy array or a tensor of images, got a {type(x).__name__}")
    lo, hi = data_range
    if (lo, hi) != (0.0, 1.0) and x.dtype != np.uint8:
        x = (x.astype(np.float32) - lo) / (hi - lo)
    return to_nchw_unit(x, what)


def score(images, reference, *, proxy: bool | None = False, inception: str | os.PathLike | None = None,
          device: str = "auto", batch_size: int = 50, kid_subsets: int = 100, kid_subset_size: int = 1000,
          seed: int = 0, data_range=(0.0, 1.0), progress=None) -> Score:
    """FID and KID of ``images`` (a model's samples) against ``reference`` (real images): a :class:`Score`.

    Each is a path (.npy, .npz, or a folder of PNG/JPEG) or an array / tensor (N, C, H, W), (N, H, W) or
    (N, H, W, C); uint8 images are divided by 255, float images are in ``data_range`` (e.g. (-1, 1) for a
    Tanh decoder; mapped to [0, 1]). ``proxy``: False (Inception pool3: FID), True (the offline random-conv
    proxy: not an FID), None (Inception when its weights are installed, else the proxy, saying so in
    ``notes``). ``inception``: a TorchScript FID Inception file."""
    from vaediag.quality.features import find_inception_weights
    from vaediag.quality.sets import score_sets

    _no_proxy_with_inception(bool(proxy), inception)
    if batch_size < 1 or kid_subsets < 1 or kid_subset_size < 2:
        raise UsageError("batch_size and kid_subsets must be positive and kid_subset_size at least 2")
    from vaediag.diagnostics.adapt import _range

    rng = _range(data_range)
    x, ref = _image_set(images, rng, "the images"), _image_set(reference, rng, "the reference images")
    notes: list[str] = []
    if proxy is None:
        try:
            find_inception_weights(inception)
            proxy = False
        except VaediagError:
            proxy = True
            notes.append("the FID Inception weights are not installed: the offline proxy features were used (not an FID)")
    extractor, _ = _extractor(proxy, inception, device)
    r = score_sets(x, ref, extractor, batch_size=batch_size, kid_subsets=kid_subsets,
                   kid_subset_size=kid_subset_size, seed=seed, progress=_progress(progress))
    paths = {name: str(v) for name, v in (("images", images), ("reference", reference)) if isinstance(v, (str, os.PathLike))}
    return Score.from_sets(r, notes=tuple(notes), **paths)


def table(runs: list[RunLike], prefer_proxy: bool = False, out: str | os.PathLike | None = None,
          json_path: str | os.PathLike | None = None) -> str:
    """Table 1 of the paper (Markdown) from runs' stored FID results, beside the published values;
    also written to ``out`` (Markdown) and ``json_path`` when given."""
    from vaediag.io import atomic_write_text, write_json
    from vaediag.quality.table import load_results, table_markdown

    results = load_results([open_run(p) for p in runs], prefer_proxy=prefer_proxy)
    md = table_markdown(results)
    if out is not None:
        atomic_write_text(Path(out), md)
    if json_path is not None:
        write_json(Path(json_path), {"markdown": md, "results": results})
    return md


def cache(dataset: str = "celeba", data_dir: str = "data", data_cache: str | None = None, seed: int = 0,
          test_fraction: float = 0.1, workers: int | None = None, rebuild: bool = False, check: bool = False,
          progress: bool = True) -> dict:
    """Decode CelebA once into its memory-mapped cache (``check``: only verify it); the cache's info,
    with ``what`` saying what was done."""
    from vaediag.data import imagecache

    if dataset != "celeba":
        raise UsageError(f"vaediag cache handles only --dataset celeba for now, not {dataset!r}")
    if workers is not None and workers < 1:
        raise UsageError(f"--workers must be a positive integer, got {workers}")
    if not 0 < test_fraction < 1:
        raise UsageError(f"--test-fraction must be between 0 and 1, got {test_fraction}")
    if check:
        info = imagecache.check_cache(data_dir, seed, test_fraction, cache_dir=data_cache)
        info["what"] = "sound" if info["checked_against_source"] else \
            "sound (the JPEGs are absent: not compared with them)"
    else:
        _, _, info = imagecache.celeba_arrays(data_dir, seed, test_fraction, cache_dir=data_cache,
                                              progress=progress, workers=workers, rebuild=rebuild)
        info["what"] = "built" if info["built"] else "sound (already built)"
    return info
