"""The typed results of sample quality: :class:`Score` (FID and KID of one image set against real
images: ``vaediag.score`` and ``vaediag.fid_sets``) and :class:`RunScores` (a run's stage-1 samples,
two-stage samples and reconstructions: ``vaediag.fid``). Read them by attribute; ``to_dict()`` is the
JSON that ``vaediag fid`` writes (the same keys as before these classes existed) and ``from_dict``
reads it back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from vaediag.quality.evaluate import SOURCES, Protocol


@dataclass(frozen=True)
class Score:
    """FID and KID of one image set against real images (``vaediag.score``, ``vaediag.fid_sets``).

    ``fid``: the Fréchet distance of the features (FID with Inception pool3; with ``proxy`` the offline
    random-conv stand-in, NOT an FID, ``metric`` "proxy-fd"); ``kid``, ``kid_std``: KID (unbiased MMD^2,
    cubic kernel) as mean and standard deviation over ``kid_subsets`` random subsets of
    ``kid_subset_size`` images of each set (kept below both set sizes); ``n_images``, ``n_reference``;
    ``features``: the extractor's name; ``notes``: what to know (a singular covariance, a smaller subset);
    ``kid_subset_size_note``: the note that the subsets were made smaller than asked (also in ``notes``),
    or None; ``elapsed_seconds``: the time taken (features and both distances); ``images``,
    ``reference``: the paths scored, or None for arrays."""

    fid: float
    kid: float
    kid_std: float
    kid_subsets: int
    kid_subset_size: int
    n_images: int
    n_reference: int
    features: str
    proxy: bool
    metric: str
    notes: tuple[str, ...] = ()
    kid_subset_size_note: str | None = None
    elapsed_seconds: float | None = None
    images: str | None = None
    reference: str | None = None

    @classmethod
    def from_sets(cls, r: dict, notes: tuple[str, ...] = (), images=None, reference=None) -> Score:
        """From the dict of :func:`vaediag.quality.sets.score_sets`; ``notes`` go before its own."""
        k = r["kid"]
        note = k.get("subset_size_note")
        return cls(fid=float(r["fid"]), kid=float(k["mean"]), kid_std=float(k["std"]), kid_subsets=int(k["subsets"]),
                   kid_subset_size=int(k["subset_size"]), n_images=int(r["n_images"]),
                   n_reference=int(r["n_reference"]), features=r["features"], proxy=bool(r["proxy"]),
                   metric=r["metric"], notes=(*notes, *r["notes"], *([note] if note else [])),
                   kid_subset_size_note=note, elapsed_seconds=r.get("elapsed_seconds"),
                   images=None if images is None else str(images),
                   reference=None if reference is None else str(reference))

    def to_dict(self) -> dict:
        """The JSON of ``vaediag fid --images A --reference B --json F`` (KID under ``kid``, its subset
        note there and not in ``notes``)."""
        return {"fid": self.fid, "kid": {"mean": self.kid, "std": self.kid_std, "subsets": self.kid_subsets,
                                         "subset_size": self.kid_subset_size,
                                         "subset_size_note": self.kid_subset_size_note},
                "n_images": self.n_images, "n_reference": self.n_reference, "features": self.features,
                "proxy": self.proxy, "metric": self.metric,
                "notes": [n for n in self.notes if n != self.kid_subset_size_note],
                "elapsed_seconds": self.elapsed_seconds, "images": self.images, "reference": self.reference}

    @classmethod
    def from_dict(cls, d: dict) -> Score:
        """Read :meth:`to_dict`'s layout back."""
        return cls.from_sets(d, images=d.get("images"), reference=d.get("reference"))

    def __str__(self) -> str:
        name = "proxy FD (not FID)" if self.proxy else "FID"
        return (f"{name} {self.fid:.4g}, KID {self.kid:.4g} ± {self.kid_std:.2g} ({self.kid_subsets} subsets of "
                f"{self.kid_subset_size}; {self.n_images} vs {self.n_reference} images)")


@dataclass(frozen=True)
class Spread:
    """A score over sampling seeds: ``mean`` and ``std`` (sample standard deviation, ddof = 1; 0 for one
    seed) of ``values`` (one per seed), each from ``n`` images."""

    mean: float
    std: float
    values: tuple[float, ...]
    n: int

    @classmethod
    def from_dict(cls, d: dict | None) -> Spread | None:
        return None if d is None else cls(mean=float(d["mean"]), std=float(d["std"]),
                                          values=tuple(float(v) for v in d["values"]), n=int(d["n"]))

    def to_dict(self) -> dict:
        return {"mean": self.mean, "std": self.std, "values": list(self.values), "n": self.n}


@dataclass(frozen=True)
class SourceScore:
    """One source of a run (stage-1 samples, two-stage samples or reconstructions) against the held-out
    images: ``fid`` (the Fréchet distance: FID, or the proxy's), ``kid`` (per seed the mean KID over 10
    subsets; None when KID was off), ``mse`` (reconstructions only: the squared pixel error per pixel,
    images in [0, 1]; else None)."""

    fid: Spread
    kid: Spread | None = None
    mse: Spread | None = None

    @classmethod
    def from_dict(cls, d: dict | None) -> SourceScore | None:
        if d is None:
            return None
        return cls(fid=Spread.from_dict(d), kid=Spread.from_dict(d.get("kid")), mse=Spread.from_dict(d.get("mse")))

    def to_dict(self) -> dict:
        extra = {name: s.to_dict() for name, s in (("kid", self.kid), ("mse", self.mse)) if s is not None}
        return {**self.fid.to_dict(), **extra}


@dataclass(frozen=True)
class ScoredModel:
    """The run's stage-1 model as scored: ``gamma_mode`` ("learned" or "fixed"), ``gamma_init``,
    ``decoder`` ("gaussian" or "bernoulli"), ``arch``, ``gamma`` (the decoder variance at scoring, in
    the model's units)."""

    gamma_mode: str | None
    gamma_init: float | None
    decoder: str | None
    arch: str | None
    gamma: float | None


@dataclass(frozen=True)
class RunScores:
    """What ``vaediag.fid(run)`` returns: each source scored against the run's held-out images.

    ``stage1``, ``stage2``, ``recon``: a :class:`SourceScore` each, None when not scored (``sources``
    gives the scored ones in order); ``metric``: "fid" or "proxy-fd"; ``proxy``: the offline proxy
    features (NOT an FID); ``notes``: what to know (a smaller n, an unfinished stage, a skipped source);
    ``protocol``: everything that determines the scores (``Protocol``: features, preprocessing, data set
    and split, ``n``, ``seeds``, ...); ``real_stats_cached``: the real-image statistics came from the
    cache; ``run``: the run directory; ``model``: a :class:`ScoredModel`; ``elapsed_seconds``; ``time``:
    when it was scored (ISO 8601); ``path``: the file it was written to (RUN/quality/fid.json or
    proxy.json), None when not written (not part of the JSON)."""

    stage1: SourceScore | None
    stage2: SourceScore | None
    recon: SourceScore | None
    metric: str
    proxy: bool
    notes: tuple[str, ...]
    protocol: Protocol
    real_stats_cached: bool
    run: str
    model: ScoredModel
    elapsed_seconds: float
    time: str
    path: str | None = None

    @property
    def sources(self) -> dict[str, SourceScore]:
        """The scored sources by name, in the order stage1, stage2, recon."""
        return {s: getattr(self, s) for s in SOURCES if getattr(self, s) is not None}

    @classmethod
    def from_dict(cls, d: dict, path: str | None = None) -> RunScores:
        """From the dict of :func:`vaediag.quality.evaluate.evaluate_run` (or a stored fid.json)."""
        known = {f.name for f in fields(Protocol)}
        m = d.get("model") or {}
        return cls(**{s: SourceScore.from_dict(d.get(s)) for s in SOURCES}, metric=d["metric"], proxy=bool(d["proxy"]),
                   notes=tuple(d.get("notes", ())), protocol=Protocol(**{k: v for k, v in d["protocol"].items() if k in known}),
                   real_stats_cached=bool(d.get("real_stats_cached")), run=d.get("run"),
                   model=ScoredModel(**{f.name: m.get(f.name) for f in fields(ScoredModel)}),
                   elapsed_seconds=d.get("elapsed_seconds"), time=d.get("time"),
                   path=path if path is not None else d.get("path"))

    def to_dict(self) -> dict:
        """The JSON stored in RUN/quality/fid.json (proxy.json) and written by ``--json``."""
        return {**{s: v.to_dict() for s, v in self.sources.items()}, "metric": self.metric, "proxy": self.proxy,
                "notes": list(self.notes), "protocol": self.protocol.to_dict(),
                "real_stats_cached": self.real_stats_cached, "run": self.run, "model": asdict(self.model),
                "elapsed_seconds": self.elapsed_seconds, "time": self.time}

    def __str__(self) -> str:
        name = "proxy FD (not FID)" if self.proxy else "FID"
        parts = [f"{s} {v.fid.mean:.4g} ± {v.fid.std:.2g}" for s, v in self.sources.items()]
        return f"{name} of {self.run} (n = {self.protocol.n}, {self.protocol.seeds} seed(s)): " + ", ".join(parts)
