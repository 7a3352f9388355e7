"""Scoring a run: stage-1 samples, two-stage samples and reconstructions against held-out real images.

Thin gatherers around the pure core in :mod:`vaediag.quality.frechet`: they draw images from a run's
models in batches, push them through a feature extractor and hand the moments to the core. Real-image
statistics are cached on disk, keyed by everything that determines them (data set and split, n,
feature network, preprocessing), so a second evaluation does not recompute them.
"""

from __future__ import annotations

import hashlib
import json
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from vaediag.data import Dataset
from vaediag.errors import UsageError, VaediagError, check_positive_int
from vaediag.engine.sampling import sample_posterior, sample_stage1, sample_two_stage
from vaediag.quality.frechet import DEFAULT_METHOD, check_sqrtm_scipy, frechet_distance, gaussian_stats
from vaediag.quality.kid import kid

# KID beside FID in a run's scores: per seed the mean over this many subsets of 1,000 (or n) images;
# the reported spread is the standard deviation over seeds, as for FID.
KID_SUBSETS_PER_SEED = 10
from vaediag.engine.runs import Run, atomic_save_npz, write_json

SOURCES = ("stage1", "stage2", "recon")
QUALITY_DIR = "quality"
PREPROCESS = "uint8-round;grey->rgb;bilinear-299-align_corners=False-antialias=False;(v-128)/128"
PROXY_PREPROCESS = "uint8-round;grey->rgb;native-resolution;(v-128)/128"

Progress = Callable[[str, int, int], None]


@dataclass
class Protocol:
    """Everything that determines a score. ``real_key`` hashes the part that determines the real statistics."""

    features: str  # extractor name, e.g. inception-pool3:<sha1> or proxy-randconv-v1:seed0
    preprocess: str
    dataset: str
    split_seed: int
    test_fraction: float
    n: int
    seeds: int
    seed: int = 0  # sample seeds are seed, seed+1, ..., seed+seeds-1
    generated_norm: str = "none"  # "none", or "minmax": the authors' per-image min-max rescaling
    real: str = "the first n images of the run's held-out test split"
    recon: str = "x_hat = mu_x(mu_z(x) + sigma_z(x) * eps), eps seeded, for the same n held-out images"
    std: str = "sample standard deviation (ddof=1) over seeds"
    fid_method: str = DEFAULT_METHOD  # the route to tr (S_1 S_2)^{1/2}: "eigh" or "sqrtm" (same number)

    def real_key(self) -> str:
        d = {k: getattr(self, k) for k in ("features", "preprocess", "dataset", "split_seed", "test_fraction", "n")}
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        return asdict(self)


def quality_dir(run: Run) -> Path:
    return run.path / QUALITY_DIR


def result_path(run: Run, proxy: bool) -> Path:
    return quality_dir(run) / ("proxy.json" if proxy else "fid.json")


def _again(run: Run, proxy: bool) -> str:
    """The call that scores the run again over its stored result (the CLI reads it as its command)."""
    return f"vaediag.fid({str(run.path)!r}{', proxy=True' if proxy else ''}, overwrite=True)"


def read_result(run: Run, proxy: bool) -> dict | None:
    """The stored result of ``vaediag fid`` (or ``--proxy``) for a run, or None."""
    path = result_path(run, proxy)
    if not path.is_file():
        return None
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise VaediagError(f"{path} is unreadable or not JSON ({e}); rerun {_again(run, proxy)}") from None
    if not isinstance(d, dict) or "protocol" not in d:
        raise VaediagError(f"{path} is not a vaediag FID result; rerun {_again(run, proxy)}")
    return d


# --------------------------------------------------------------------------- pure core
def summarise(values: list[float], n: int) -> dict:
    """{mean, std, values, n}: std is the sample standard deviation over seeds (0 for one seed)."""
    v = np.asarray(values, dtype=np.float64)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if v.size > 1 else 0.0,
            "values": [float(x) for x in v], "n": int(n)}


def minmax_per_image(x: torch.Tensor) -> torch.Tensor:
    """The authors' FID code rescales every generated image to [0, 1] by its own min and max."""
    flat = x.reshape(x.shape[0], -1)
    lo, hi = flat.min(dim=1, keepdim=True).values, flat.max(dim=1, keepdim=True).values
    return ((flat - lo) / (hi - lo).clamp_min(1e-12)).reshape(x.shape)


# --------------------------------------------------------------------------- gatherers
def features_of(batches: Iterator[torch.Tensor], extractor, total: int, label: str,
                progress: Progress | None = None) -> np.ndarray:
    """Run ``extractor`` over float [0, 1] image batches; (total, D) float64 features."""
    out, done = [], 0
    if progress:
        progress(label, 0, total)
    for b in batches:
        out.append(extractor(b).numpy())
        done += b.shape[0]
        if progress:
            progress(label, done, total)
    f = np.concatenate(out, axis=0).astype(np.float64)
    if not np.all(np.isfinite(f)):
        raise VaediagError(f"the {label} features contain NaN or inf: the model produced non-finite images")
    return f


def _chunks(n: int, batch_size: int) -> Iterator[tuple[int, int]]:
    for i in range(0, n, batch_size):
        yield i, min(n, i + batch_size)


def real_batches(test: torch.Tensor, n: int, batch_size: int) -> Iterator[torch.Tensor]:
    for i, j in _chunks(n, batch_size):
        yield Dataset.to_float(test[i:j])


@torch.inference_mode()
def sample_batches(source: str, model, stage2, test: torch.Tensor | None, n: int, batch_size: int,
                   generator: torch.Generator, device: torch.device, norm: str = "none",
                   mse: list | None = None) -> Iterator[torch.Tensor]:
    """Float images (B, C, H, W) on the CPU from one source; for ``recon`` the squared pixel errors of
    each batch are appended to ``mse`` (sum over pixels and images, pixel count)."""
    for i, j in _chunks(n, batch_size):
        b = j - i
        if source == "stage1":
            x = sample_stage1(model, b, generator=generator, device=device)
        elif source == "stage2":
            x = sample_two_stage(model, stage2, b, generator=generator, device=device)
        else:
            real = Dataset.to_float(test[i:j]).to(device)
            mu, logvar = model.encode(real)
            x = model.decode(sample_posterior(mu, logvar, generator))  # the one reparameterisation
            if mse is not None:
                mse.append(((x - real).pow(2).sum().item(), real.numel()))
        x = x.float().cpu()
        yield minmax_per_image(x) if norm == "minmax" else x


def real_stats(test: torch.Tensor, protocol: Protocol, extractor, cache_dir: Path, batch_size: int,
               progress: Progress | None = None, with_features: bool = False):
    """(mu, sigma, from_cache) of the real images; read from / written to ``cache_dir``. With
    ``with_features`` (for KID) the features themselves (float32) are cached too and returned fourth;
    an entry without them is recomputed."""
    key = protocol.real_key()
    path = Path(cache_dir) / f"real-{_slug(protocol.dataset)}-n{protocol.n}-{key}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as f:
                mu, sigma, stored = f["mu"], f["sigma"], str(f["key"])
                feats = f["features"].astype(np.float64) if "features" in f.files else None
            if stored == key and mu.shape == (extractor.dim,) and sigma.shape == (extractor.dim, extractor.dim) \
                    and (feats is not None or not with_features):
                return (mu, sigma, True, feats) if with_features else (mu, sigma, True)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            pass  # a corrupt cache entry is recomputed and replaced
    feats = features_of(real_batches(test, protocol.n, batch_size), extractor, protocol.n, "real", progress)
    mu, sigma = gaussian_stats(feats)
    extra = {"features": feats.astype(np.float32)} if with_features else {}
    atomic_save_npz(path, mu=mu, sigma=sigma, key=np.array(key), **extra)
    # KID uses the features as cached (float32), so a cached and a fresh evaluation give the same numbers
    return (mu, sigma, False, feats.astype(np.float32).astype(np.float64)) if with_features else (mu, sigma, False)


def _slug(s: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in s)[:40]


@dataclass
class Plan:
    """What to score in a run, resolved and validated (see :func:`plan`)."""

    sources: list[str]
    n: int
    notes: list[str] = field(default_factory=list)


def plan(run: Run, dataset: Dataset, n: int | None, sources: list[str] | None, default_n: int = 10000) -> Plan:
    """Check a run can be scored and resolve n and the sources; every problem is one sentence."""
    if dataset.kind != "image":
        raise VaediagError(f"FID needs an image data set; {run.path} was trained on vectors ({dataset.name})")
    held_out = int(dataset.test.shape[0])
    notes: list[str] = []
    if n is None:
        n = min(default_n, held_out)
        if n < default_n:
            notes.append(f"n = {n}: the held-out test set of {dataset.name} has only {held_out} images "
                         f"(the paper uses {default_n}); scores at different n are not comparable")
    elif n > held_out:
        raise UsageError(f"n={n} is larger than the held-out test set of {run.path} ({held_out} images); "
                           f"pass n={held_out} or less")
    if n < 2:
        raise UsageError(f"n={n} is too few inputs to estimate a covariance: give n= of at least 2")
    run.require_stage1()
    if not run.stage_done(1):
        notes.append("stage 1 has not finished training: its last checkpoint is scored")
    explicit = sources is not None
    sources = list(sources) if explicit else list(SOURCES)
    unknown = [s for s in sources if s not in SOURCES]
    if unknown:
        raise VaediagError(f"unknown source {unknown[0]!r}; choose from {', '.join(SOURCES)}")
    if "stage2" in sources and not run.has_checkpoint(2):
        if explicit:
            raise VaediagError(f"{run.path} has no stage-2 model, so two-stage samples cannot be scored; "
                               f"train it with vaediag.train({str(run.path)!r}, stages='2') or drop stage2")
        sources.remove("stage2")
        notes.append("stage2 skipped: the run has no stage-2 model")
    elif "stage2" in sources and not run.stage_done(2):
        notes.append("stage 2 has not finished training: its last checkpoint is scored")
    return Plan(sources=sources, n=n, notes=notes)


def evaluate_run(run: Run, extractor, n: int | None = None, seeds: int = 10, seed: int = 0,
                 sources: list[str] | None = None, device: str | torch.device = "cpu", batch_size: int = 50,
                 cache_dir: Path | None = None, norm: str = "none", progress: Progress | None = None,
                 kid_subsets: int = KID_SUBSETS_PER_SEED, method: str = DEFAULT_METHOD) -> dict:
    """Fréchet distances of each source against the held-out real images, mean ± std over ``seeds``.

    Returns a dict with one entry per scored source ({mean, std, values, n}; ``recon`` also carries the
    squared pixel error ``mse``), ``notes``, ``protocol`` and ``elapsed_seconds``. Nothing is written
    except the real-statistics cache.
    """
    t0 = time.perf_counter()  # seeds, batch_size and method are checked once, by vaediag.FidOptions
    if norm not in ("none", "minmax"):
        raise UsageError(f"generated-image normalisation must be 'none' or 'minmax', got {norm!r}")
    if method == "sqrtm":
        check_sqrtm_scipy()  # before any feature is computed
    run.require_stage1()
    dataset = run.dataset()
    p = plan(run, dataset, n, sources)
    device = torch.device(device)
    tc = run.config.train
    is_proxy = extractor.name.startswith("proxy")
    protocol = Protocol(features=extractor.name, preprocess=PROXY_PREPROCESS if is_proxy else PREPROCESS,
                        dataset=tc.dataset, split_seed=tc.seed, test_fraction=tc.test_fraction, n=p.n,
                        seeds=seeds, seed=seed, generated_norm=norm, fid_method=method)
    cache_dir = Path(cache_dir) if cache_dir is not None else quality_dir(run) / "cache"
    kid_on = kid_subsets > 0
    mu_r, sig_r, cached, *rest = real_stats(dataset.test, protocol, extractor, cache_dir, batch_size, progress,
                                            with_features=kid_on)
    feats_r = rest[0] if kid_on else None
    model = run.load_model(1, device)
    stage2 = run.load_model(2, device) if "stage2" in p.sources else None
    result: dict = {}
    for source in p.sources:
        values, mses, kids = [], [], []
        for s in range(seeds):
            g = torch.Generator().manual_seed(seed + s)
            sq: list = []
            batches = sample_batches(source, model, stage2, dataset.test, p.n, batch_size, g, device, norm, sq)
            feats = features_of(batches, extractor, p.n, f"{source} seed {seed + s}", progress)
            values.append(frechet_distance(mu_r, sig_r, *gaussian_stats(feats), method=method))
            if kid_on:  # KID beside FID: the mean over subsets of this seed's samples
                kids.append(kid(feats, feats_r, subsets=kid_subsets, seed=seed + s)["mean"])
            if sq:
                mses.append(sum(a for a, _ in sq) / sum(b for _, b in sq))
        result[source] = summarise(values, p.n)
        if kids:
            result[source]["kid"] = summarise(kids, p.n)
        if mses:
            result[source]["mse"] = summarise(mses, p.n)
    result.update(metric="proxy-fd" if is_proxy else "fid", proxy=is_proxy, notes=p.notes,
                  protocol=protocol.to_dict(), real_stats_cached=cached, run=str(run.path),
                  model={"gamma_mode": run.config.model.gamma_mode, "gamma_init": run.config.model.gamma_init,
                         "decoder": run.config.model.likelihood, "arch": run.config.model.arch,
                         "gamma": float(model.gamma.item())},
                  elapsed_seconds=round(time.perf_counter() - t0, 3),
                  time=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    return result


def check_writable(run: Run, proxy: bool, overwrite: bool) -> None:
    """Refuse, before any work, to replace a stored result unless asked."""
    path = result_path(run, proxy)
    if path.exists() and not overwrite:
        raise VaediagError(f"{path} already exists; pass overwrite=True to replace it")


def save_result(run: Run, result: dict, json_path: Path | None = None) -> Path:
    """Write the result into the run (quality/fid.json or quality/proxy.json) and optionally to ``json_path``."""
    path = result_path(run, result["proxy"])
    write_json(path, result)
    if json_path is not None:
        write_json(Path(json_path), result)
    return path
