"""Sample quality: FID of a run, FID and KID of any two image sets (:func:`score`: arrays or files), the paper's Table 1."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

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


@dataclass(frozen=True)
class FidOptions:
    """How :func:`fid`, :func:`fid_sets` and :func:`score` compute FID and KID, beyond the defaults of the
    protocol pinned in docs/quality.md (frozen; every option is checked here, once, when it is made).

    Args:
        inception: a TorchScript FID Inception file (default: the installed FID weights).
        batch_size: images per forward pass of the feature network.
        seed: the first seed: :func:`fid` draws samples with seeds ``seed`` to ``seed + seeds - 1``;
            :func:`fid_sets` and :func:`score` draw KID's subsets with it.
        seeds: :func:`fid` only: how many independent sample draws (the spread is over them).
        sources: :func:`fid` only: which of "stage1", "stage2", "recon" to score (None: each the run has).
        minmax: :func:`fid` only: rescale each generated image by its own min and max, as the authors' code
            does (not standard FID).
        fid_method: :func:`fid` only: "eigh" or "sqrtm" (the same number).
        cache_dir: :func:`fid` only: where real-image statistics are cached.
        kid_subsets: :func:`fid_sets` and :func:`score`: how many random subsets KID averages over.
        kid_subset_size: :func:`fid_sets` and :func:`score`: images per KID subset.
        progress: True for a bar on stderr, or a ``(label, done, total)`` callback; None for none.

    Raises:
        UsageError: batch_size, seeds or kid_subsets below 1, kid_subset_size below 2, a fid_method other
            than "eigh" or "sqrtm".
    """

    inception: str | os.PathLike | None = None
    batch_size: int = 50
    seed: int = 0
    seeds: int = 10
    sources: tuple[str, ...] | None = None
    minmax: bool = False
    fid_method: str = "eigh"
    cache_dir: str | os.PathLike | None = None
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    progress: Any = None

    def __post_init__(self):
        for name in ("batch_size", "seeds", "kid_subsets"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name}={getattr(self, name)} is too few: give {name}= of at least 1")
        if self.kid_subset_size < 2:
            raise UsageError(f"kid_subset_size={self.kid_subset_size} is too few: give kid_subset_size= of at least 2")
        from vaediag.quality.frechet import METHODS

        if self.fid_method not in METHODS:
            raise UsageError(f"fid_method={self.fid_method!r} is not a method: give {' or '.join(map(repr, METHODS))}")


def _no_proxy_with_inception(proxy: bool, inception) -> None:
    if proxy and inception is not None:
        raise UsageError("proxy=True and inception= exclude each other: the proxy uses no Inception network")


def _progress(progress):
    return StderrProgress() if progress is True else (progress or None)


def fid(run: RunLike, n: int | None = None, *, proxy: bool = False, device: str = "auto",
        options: FidOptions | None = None, write: bool = False, overwrite: bool = False,
        json_path: str | os.PathLike | None = None) -> RunScores:
    """FID (Inception pool3) of a run's stage-1 samples, two-stage samples and reconstructions against its
    held-out images, with KID beside it, mean and spread over ``options.seeds`` sample draws.

    Args:
        run: the run (a directory or a :class:`~vaediag.engine.runs.Run`) with a trained stage 1.
        n: images per source and seed (at least 2, at most the held-out set; None: the protocol's 10,000
            or the held-out set if smaller).
        proxy: an offline random-feature stand-in for Inception (not an FID; no weights needed).
        device: "auto" (CUDA, then MPS, then the CPU), "cpu", "cuda", ...
        options: a :class:`FidOptions` (seeds, sources, inception, batch_size, minmax, ...).
        write: store RUN/quality/fid.json (proxy.json with ``proxy``), as ``vaediag fid`` does.
        overwrite: replace that stored result (else an existing one is refused).
        json_path: a file to write the result to once more.

    Returns:
        A :class:`~vaediag.quality.scores.RunScores` (``.stage1.fid.mean``, ``.recon.mse``, ...;
        ``.to_dict()`` is the stored JSON).

    Raises:
        UsageError: ``proxy`` with ``inception``, n too small or larger than the held-out set.
        VaediagError: a run trained on vectors, no stage 2 for two-stage samples, a stored result
            without ``overwrite``, the FID weights not installed.
    """
    from vaediag.quality.evaluate import check_writable, evaluate_run, save_result

    o = options or FidOptions()
    run = open_run(run)
    _no_proxy_with_inception(proxy, o.inception)
    if write:
        check_writable(run, proxy, overwrite)
    extractor, dev = _extractor(proxy, o.inception, device)
    result = evaluate_run(run, extractor, n=n, seeds=o.seeds, seed=o.seed,
                          sources=None if o.sources is None else list(o.sources), device=dev,
                          batch_size=o.batch_size, cache_dir=o.cache_dir, norm="minmax" if o.minmax else "none",
                          progress=_progress(o.progress), method=o.fid_method)
    path = str(save_result(run, result, json_path=json_path)) if write else None
    return RunScores.from_dict(result, path=path)


def fid_sets(images: str | os.PathLike, reference: str | os.PathLike, *, proxy: bool = False, device: str = "auto",
             options: FidOptions | None = None, json_path: str | os.PathLike | None = None,
             overwrite: bool = False) -> Score:
    """FID and KID (unbiased; mean and std over random subsets) of two image sets given as files.

    Args:
        images: the images to score (from any model): a .npy, .npz or a folder of PNG/JPEG.
        reference: the real images, in the same forms.
        proxy: the offline random-feature stand-in for Inception (not an FID).
        device: "auto", "cpu", "cuda", ...
        options: a :class:`FidOptions` (inception, batch_size, kid_subsets, kid_subset_size, seed, progress).
        json_path: a file to write the result's ``to_dict()`` to.
        overwrite: replace ``json_path`` if it exists (else refused).

    Returns:
        A :class:`~vaediag.quality.scores.Score` with ``images`` and ``reference`` set.

    Raises:
        UsageError: ``proxy`` with ``inception``.
        VaediagError: ``json_path`` exists without ``overwrite``; a file that is missing or holds no images;
            the FID weights not installed.
    """
    from vaediag.io import write_json
    from vaediag.quality.sets import load_images, score_sets

    o = options or FidOptions()
    _no_proxy_with_inception(proxy, o.inception)
    if json_path is not None and Path(json_path).exists() and not overwrite:
        raise VaediagError(f"{json_path} already exists; pass overwrite=True to replace it")
    x, ref = load_images(Path(images)), load_images(Path(reference))
    extractor, _ = _extractor(proxy, o.inception, device)
    res = score_sets(x, ref, extractor, batch_size=o.batch_size, kid_subsets=o.kid_subsets,
                     kid_subset_size=o.kid_subset_size, seed=o.seed, progress=_progress(o.progress))
    result = replace(res, images=str(images), reference=str(reference))
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


def score(images, reference, *, proxy: bool | None = False, device: str = "auto", data_range=(0.0, 1.0),
          options: FidOptions | None = None) -> Score:
    """FID and KID of ``images`` (a model's samples) against ``reference`` (real images), arrays or files.

    Args:
        images: a path (.npy, .npz, or a folder of PNG/JPEG) or an array / tensor (N, C, H, W), (N, H, W)
            or (N, H, W, C); uint8 images are divided by 255, float images are in ``data_range``.
        reference: the real images, in the same forms.
        proxy: False (Inception pool3: FID), True (the offline random-conv proxy: not an FID), None
            (Inception when its weights are installed, else the proxy, saying so in ``notes``).
        device: "auto", "cpu", "cuda", ...
        data_range: the (lo, hi) of float images, e.g. (-1, 1) for a Tanh decoder (mapped to [0, 1]).
        options: a :class:`FidOptions` (inception, batch_size, kid_subsets, kid_subset_size, seed, progress).

    Returns:
        A :class:`~vaediag.quality.scores.Score` (``.fid``, ``.kid``, ``.kid_std``, ``.notes``, ...).

    Raises:
        UsageError: ``proxy`` with ``inception``, a data_range that is not (lo, hi) with lo < hi, images
            that are not a path, array or tensor.
        VaediagError: images of the wrong shape, a file that is missing, the FID weights not installed
            with ``proxy=False``.
    """
    from vaediag.diagnostics.adapt import _range
    from vaediag.quality.features import find_inception_weights
    from vaediag.quality.sets import score_sets

    o = options or FidOptions()
    _no_proxy_with_inception(bool(proxy), o.inception)
    rng = _range(data_range)
    x, ref = _image_set(images, rng, "the images"), _image_set(reference, rng, "the reference images")
    notes: list[str] = []
    if proxy is None:
        try:
            find_inception_weights(o.inception)
            proxy = False
        except VaediagError:
            proxy = True
            notes.append("the FID Inception weights are not installed: the offline proxy features were used (not an FID)")
    extractor, _ = _extractor(proxy, o.inception, device)
    r = score_sets(x, ref, extractor, batch_size=o.batch_size, kid_subsets=o.kid_subsets,
                   kid_subset_size=o.kid_subset_size, seed=o.seed, progress=_progress(o.progress))
    paths = {name: str(v) for name, v in (("images", images), ("reference", reference)) if isinstance(v, (str, os.PathLike))}
    return replace(r, notes=(*notes, *r.notes), **paths)


def table(runs: list[RunLike], prefer_proxy: bool = False, out: str | os.PathLike | None = None,
          json_path: str | os.PathLike | None = None) -> str:
    """Table 1 of the paper from runs' stored FID results (``vaediag fid --run``), beside the published values.

    Args:
        runs: the runs (directories or :class:`~vaediag.engine.runs.Run`), one row each.
        prefer_proxy: read each run's proxy result (proxy.json) when it has one, instead of fid.json.
        out: a Markdown file to write the table to as well.
        json_path: a JSON file to write the table and the results it was made from.

    Returns:
        The table, as Markdown.

    Raises:
        VaediagError: a run that cannot be opened, or has no stored FID result or an unreadable one.
    """
    from vaediag.io import atomic_write_text, write_json
    from vaediag.quality.table import load_results, table_markdown

    results = load_results([open_run(p) for p in runs], prefer_proxy=prefer_proxy)
    md = table_markdown(results)
    if out is not None:
        atomic_write_text(Path(out), md)
    if json_path is not None:
        write_json(Path(json_path), {"markdown": md, "results": results})
    return md


def cache(data_dir: str = "data", data_cache: str | None = None, *, seed: int = 0, test_fraction: float = 0.1,
          workers: int | None = None, rebuild: bool = False, check: bool = False, progress: bool = True) -> dict:
    """Decode CelebA's JPEGs once into the memory-mapped uint8 cache that training, diagnostics and FID read
    (loading builds it when missing anyway; build it ahead of time before ``torchrun``), or only verify it.

    Args:
        data_dir: the folder holding ``celeba/`` (the JPEGs and, if present, ``list_eval_partition.txt``).
        data_cache: folder of the cache; None for ``DATA/celeba/vaediag-cache``.
        seed: seed of the random train / test split, used only without ``list_eval_partition.txt``.
        test_fraction: held-out share of that random split, in (0, 1).
        workers: decoding processes; None for min(8, CPUs).
        rebuild: decode again even when the cache is sound or corrupt (a corrupt cache is never replaced
            otherwise).
        check: only verify the cache against its manifest (and the JPEGs when present); build nothing.
        progress: a progress bar on stderr while decoding.

    Returns:
        The cache's description (its manifest: shape, split, hashes, ``path``), with ``what`` saying what was
        done: ``"built"``, ``"sound (already built)"`` or, with ``check``, ``"sound"``.

    Raises:
        UsageError: ``seed``, ``test_fraction`` or ``workers`` out of range.
        VaediagError: the cache is absent (with ``check``), out of date or corrupt, or the JPEGs are missing;
            the sentence says what to run.
    """
    from vaediag.data import imagecache
    from vaediag.errors import check_fraction, check_positive_int

    if workers is not None:
        check_positive_int("workers", workers)
    check_fraction("test_fraction", test_fraction)
    if check:
        info = imagecache.check_cache(data_dir, seed, test_fraction, cache_dir=data_cache)
        info["what"] = "sound" if info["checked_against_source"] else \
            "sound (the JPEGs are absent: not compared with them)"
    else:
        _, _, info = imagecache.celeba_arrays(data_dir, seed, test_fraction, cache_dir=data_cache,
                                              progress=progress, workers=workers, rebuild=rebuild)
        info["what"] = "built" if info["built"] else "sound (already built)"
    return info
