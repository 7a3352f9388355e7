"""The result of a diagnosis: :class:`Diagnosis`, a frozen dataclass of typed sections
(:mod:`vaediag.diagnostics.sections` and the four below), with ``.verdict``, ``.save(dir)`` and
``Diagnosis.load(dir)``.

On disk it is ``summary.json`` (JSON values, flat keys as earlier releases wrote them, plus
``schema_version``) and ``arrays.npz`` (numpy arrays); every field's key is declared beside it
(:func:`vaediag.diagnostics.schema.entry`). Files without ``schema_version`` (0.1-0.4) load too: the
pre-0.3 names (``active_dims``, ``threshold``, ``r_hat_by_threshold``, ``r_hat_by_cut``) are renamed and
what this version's rules derive (gamma in [0, 1] units, its regime, the clear band, eq. 9) is derived
again (:func:`vaediag.diagnostics.rules.derive`). ``summary, arrays = d`` still unpacks it into that pair.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
import zipfile

import numpy as np

from vaediag.diagnostics.schema import dump, entry, load, section
from vaediag.diagnostics.sections import (EffectiveFit, FisherCalibration, GammaResult, LatentUsage, ModelInfo,
                                          Perturbations, SpatialLatent, Spectra, Trajectory)
from vaediag.errors import UsageError, VaediagError
from vaediag.io import atomic_save_npz, write_json

SUMMARY, ARRAYS = "summary.json", "arrays.npz"
SCHEMA_VERSION = 2  # 1: the untyped summaries of 0.1-0.4 (no schema_version key)


@section
class Collapse:
    """Posterior-collapse statistics held against eq. (9) (:mod:`vaediag.diagnostics.collapse`)."""

    kl_per_dim: np.ndarray | None = entry("KL_j of q(z|x) to N(0, 1), mean over inputs, per direction", "nats",
                                          "eq. (2)", "kl_per_dim", "kl_per_dim", kind="array")
    kl_total: float | None = entry("KL(q(z|x) || p(z)), mean over inputs", "nats", "eq. (2)", "kl_total", kind="float")
    kl_eq9: float | None = entry("-(r_hat / 2) log gamma with gamma in [0, 1] units", "nats", "eq. (9)", "kl_eq9",
                                 kind="float")
    kl_eq9_gamma: str | None = entry("which gamma eq. (9) used: 'gamma' or 'gamma_effective' (None: neither)", "",
                                     "eq. (9)", "kl_eq9_gamma", kind="str")
    active_units: int | None = entry("#{j : Var_x mu_j > active_units_threshold} (Burda et al. 2016)", "directions",
                                     "", "active_units", kind="int")
    active_units_threshold: float | None = entry("the active-units threshold", "", "", "active_units_threshold",
                                                 kind="float")
    posterior_mean_variance: np.ndarray | None = entry("Var_x mu_j per direction", "latent units^2", "",
                                                       "posterior_mean_variance", "posterior_mean_variance", kind="array")
    mutual_information: float | None = entry("I(x; z) under q (biased low)", "nats", "", "mutual_information",
                                             kind="float")
    mutual_information_n: int | None = entry("inputs of the I(x; z) estimate", "", "", "mutual_information_n", kind="int")
    mutual_information_max: float | None = entry("log N, the estimate's ceiling", "nats", "", "mutual_information_max",
                                                 kind="float")


@section
class Likelihood:
    """The importance-weighted bound L_K of log p(x) (Burda et al. 2016, eq. 8), per input."""

    mean: float = entry("mean L_K over inputs", "nats (model units)", "", "mean", kind="float")
    stderr: float | None = entry("its standard error", "nats", "", "stderr", kind="float")
    k: int = entry("importance samples K", "", "", "k", kind="int")
    n: int = entry("inputs", "", "", "n", kind="int")
    elbo_mean: float | None = entry("mean L_1 (the ELBO)", "nats (model units)", "", "elbo_mean", kind="float")
    likelihood: str = entry("'gaussian' or 'bernoulli'", "", "", "likelihood", kind="str", default="gaussian")
    model: str | None = entry("the decoder density used, in words", "", "", "model", kind="str")
    mean_01: float | None = entry("mean L_K with the data mapped to [0, 1] (+ d log s; Gaussian)", "nats ([0, 1] units)",
                                  "", "mean_01", kind="float")
    elbo_mean_01: float | None = entry("the ELBO in [0, 1] units", "nats ([0, 1] units)", "", "elbo_mean_01",
                                       kind="float")
    per_input: np.ndarray | None = entry("L_K per input", "nats (model units)", "", npz="iw_log_likelihood_per_input",
                                         kind="array")


@section
class Stage2:
    """The second stage, a VAE on z (section 4): its gamma and training."""

    gamma: float | None = entry("stage 2's decoder variance (None without stage 2)", "latent units^2", "",
                                "gamma_stage2", kind="float")
    trajectory: Trajectory | None = entry("its gamma over training", kind="section", key="gamma_trajectory_stage2",
                                          cls=Trajectory)


@section
class RunSettings:
    """What decides a run's diagnosis besides its checkpoints: the inputs, tau and the seed."""

    n: int | None = entry("the first n training inputs were diagnosed", "", "", "n", kind="int")
    all_inputs: bool | None = entry("those n are the whole training set", "", "", "all_inputs", kind="bool")
    tau: float | None = entry("the threshold of the tau-count", "", "", "tau", kind="float")
    seed: int | None = entry("the seed of the posterior samples and perturbations", "", "", "seed", kind="int")

    def matches(self, n: int | None, tau: float, seed: int) -> bool:
        """Whether these are the settings asked for: ``n`` asks for the first n inputs (None: all of them), which
        a diagnosis of the whole training set also answers when n is at least its size."""
        if None in (self.n, self.tau, self.seed):
            return False
        same_n = n == self.n or (bool(self.all_inputs) and (n is None or n >= self.n))
        return same_n and self.tau == float(tau) and self.seed == int(seed)

    def text(self) -> str:
        """``n=..., tau=..., seed=...``, as the figures say where their diagnosis came from."""
        return f"n={self.n}, tau={self.tau:g}, seed={self.seed}"


@section
class Provenance:
    """Where the numbers come from."""

    n: int | None = entry("inputs diagnosed", "", "", "n", kind="int")
    seed: int | None = entry("the seed of every random stream", "", "", "seed", kind="int")
    seconds: float | None = entry("wall time of the diagnosis", "s", "", "seconds", kind="float")
    notes: tuple = entry("sentences beside the verdict", "", "", "notes", kind="tuple", default=())
    run: str | None = entry("the run directory (runs only)", "", "", "run", kind="str")
    config: dict | None = entry("the run's configuration digest (runs only)", "", "", "config", kind="dict")
    settings: RunSettings | None = entry("what decides a run's numbers besides its checkpoints (runs only)",
                                         kind="section", key="settings", cls=RunSettings)
    model: dict | None = entry("{factory, checkpoint, data} of a model diagnosed from the command line", "", "", "model",
                               kind="dict")
    budgets: dict | None = entry("the budgets of the per-direction and quadratic parts (vaediag.Budgets), whether each "
                                 "was active, the sizes used and the estimate made before the work", "", "", "budgets",
                                 kind="dict")
    source: str | None = entry("whether a run's saved diagnosis was reused or computed now (not saved)", "", "")
    schema_version: int = entry("the file format (1: before typed results)", "", "", "schema_version", kind="int",
                                default=SCHEMA_VERSION)

    def active_budgets(self) -> tuple[str, ...]:
        """The names of the budgets that changed this diagnosis's work (``budgets["active"]``; () when none did)."""
        active = (self.budgets or {}).get("active") or {}
        return tuple(name for name, on in active.items() if on)


@section
class Diagnosis:
    """Every diagnostic of one VAE (and its second stage), typed. ``.verdict`` gives the plain-language answers,
    ``.save(dir)`` writes summary.json and arrays.npz, ``Diagnosis.load(dir)`` reads them back (files of
    earlier releases too)."""

    model: ModelInfo = entry("likelihood, encoder, latent dimension, units", kind="section", key="", cls=ModelInfo)
    gamma: GammaResult = entry("gamma, gamma_effective, the regime, reconstruction error", kind="section", key="",
                               cls=GammaResult)
    effective_fit: EffectiveFit | None = entry("the eq. (73) fit behind gamma_effective (Gaussian decoders)",
                                               kind="section", key="gamma_effective_fit", cls=EffectiveFit)
    fisher: FisherCalibration | None = entry("the Fisher calibration c (Bernoulli decoders)", kind="section",
                                             key="fisher_fit", cls=FisherCalibration)
    usage: LatentUsage = entry("eigenvalues lambda_j, r_hat, its clarity, per-input usage", kind="section", key="",
                               cls=LatentUsage)
    perturbations: Perturbations = entry("decodes along eigendirections", kind="section", key="", cls=Perturbations)
    spectra: Spectra = entry("aggregated-posterior spectra", kind="section", key="", cls=Spectra)
    spatial: SpatialLatent | None = entry("a (C, H, W) latent by channel and position (None for a flat latent)",
                                          kind="section", key="spatial", cls=SpatialLatent)
    collapse: Collapse = entry("KL, active units, I(x; z), eq. (9)", kind="section", key="", cls=Collapse)
    likelihood: Likelihood | None = entry("the importance-weighted log-likelihood (None when skipped)", kind="section",
                                          key="iw_log_likelihood", cls=Likelihood)
    stage2: Stage2 = entry("the second stage", kind="section", key="", cls=Stage2)
    provenance: Provenance = entry("inputs, seed, time, notes, run", kind="section", key="", cls=Provenance)

    # ------------------------------------------------------------------ building and reading
    @classmethod
    def from_dict(cls, summary: dict, arrays: dict | None = None) -> "Diagnosis":
        """A Diagnosis from the flat pair (a summary.json's dict and arrays.npz's arrays), of this or an earlier
        release; what this version's rules derive is derived again (:func:`~vaediag.diagnostics.rules.derive`)."""
        from vaediag.diagnostics.rules import derive

        if not isinstance(summary, dict):
            raise VaediagError(f"a diagnosis summary is a dict of JSON values, not a {type(summary).__name__}")
        s, a = derive(summary, dict(arrays or {}))
        return load(cls, s, a)

    def to_dict(self) -> dict:
        """summary.json's content: JSON values under the keys of each field, the verdict and ``schema_version``."""
        summary: dict = {}
        dump(self, summary, {})
        summary["schema_version"] = SCHEMA_VERSION
        summary["verdict"] = self.verdict
        if self.provenance.source is None:
            summary.pop("source", None)
        return summary

    def to_arrays(self) -> dict[str, np.ndarray]:
        """arrays.npz's content."""
        arrays: dict = {}
        dump(self, {}, arrays)
        return arrays

    def replace(self, **sections) -> "Diagnosis":
        """A copy with whole sections replaced (``d.replace(provenance=...)``)."""
        return dataclasses.replace(self, **sections)

    def with_provenance(self, **fields) -> "Diagnosis":
        """A copy whose provenance has ``fields`` replaced (``source``, ``seconds``, ``model``, ...)."""
        return dataclasses.replace(self, provenance=dataclasses.replace(self.provenance, **fields))

    @property
    def verdict(self) -> list[str]:
        """Plain-language answers (:func:`vaediag.diagnostics.verdict.verdict`), one sentence or two each."""
        from vaediag.diagnostics.verdict import verdict

        return verdict(self)

    @property
    def summary(self) -> dict:
        """The JSON form (:meth:`to_dict`); read the attributes instead, this is the file's content."""
        return self.to_dict()

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays.npz form (:meth:`to_arrays`)."""
        return self.to_arrays()

    def __iter__(self):  # summary, arrays = d (the pair earlier releases returned)
        return iter((self.to_dict(), self.to_arrays()))

    # ------------------------------------------------------------------ files
    def save(self, out_dir: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write ``summary.json`` and ``arrays.npz`` into ``out_dir`` (created), each atomically; an existing
        file is refused unless ``overwrite``. Returns the folder."""
        out = Path(out_dir)
        if out.exists() and not out.is_dir():
            raise UsageError(f"{out} is a file; give a folder to save the diagnosis in")
        if not overwrite:
            there = [p.name for p in (out / SUMMARY, out / ARRAYS) if p.exists()]
            if there:
                raise UsageError(f"{out} already holds {' and '.join(there)}; choose another folder or pass overwrite=True")
        try:
            atomic_save_npz(out / ARRAYS, **self.to_arrays())
            write_json(out / SUMMARY, self.to_dict())
        except OSError as e:
            raise VaediagError(f"cannot write the diagnosis to {out}: {e.strerror or e}") from None
        return out

    @classmethod
    def load(cls, folder: str | os.PathLike, missing_ok: bool = False) -> "Diagnosis | None":
        """A saved diagnosis (``summary.json`` + ``arrays.npz``) of this or an earlier release. None when the
        files are missing and ``missing_ok``; a :class:`VaediagError` naming the file otherwise, and always for a
        file that is not a diagnosis or comes from a newer vaediag."""
        s, a = Path(folder) / SUMMARY, Path(folder) / ARRAYS
        if missing_ok and not (s.exists() and a.exists()):
            return None
        try:
            summary = json.loads(s.read_text())
            with np.load(a, allow_pickle=False) as f:
                arrays = {k: f[k] for k in f.files}
        except FileNotFoundError as e:
            raise VaediagError(f"no diagnosis in {folder}: {Path(e.filename).name} is missing; run 'vaediag diagnose' "
                               "or save one with Diagnosis.save") from None
        except (OSError, ValueError, zipfile.BadZipFile) as e:
            bad = s if isinstance(e, json.JSONDecodeError) else a
            raise VaediagError(f"{bad} is not a readable diagnosis ({type(e).__name__}); run 'vaediag diagnose' "
                               "again to rewrite it") from None
        check_summary(summary, s)
        return cls.from_dict(summary, arrays)

    def __repr__(self) -> str:
        g, ge, u = self.gamma.value, self.gamma.effective, self.usage
        bits = [f"r_hat={u.r_hat} of {self.model.latent_dim}", f"gamma={'none' if g is None else f'{g:.4g}'}"]
        if ge is not None:
            bits.append(f"gamma_effective={ge:.4g}")
        if self.fisher is not None and self.fisher.c is not None:
            bits.append(f"fisher_c={self.fisher.c:.3g}")
        return f"Diagnosis({', '.join(bits)}, n={self.provenance.n}; .verdict, .gamma, .usage, ..., .save(dir))"


def check_summary(summary, path) -> None:
    """One sentence, naming the file, unless ``summary`` is a diagnosis this version reads."""
    if not isinstance(summary, dict) or not ({"lambda_mean", "latent_dim"} <= set(summary)):
        raise VaediagError(f"{path} is not a vaediag diagnosis (no lambda_mean / latent_dim); point to the folder "
                           "'vaediag diagnose' wrote, or run it again")
    v = summary.get("schema_version", 1)
    if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= SCHEMA_VERSION:
        raise VaediagError(f"{path} has schema_version {v!r}, which this vaediag (reading up to {SCHEMA_VERSION}) does "
                           "not know; upgrade vaediag or run 'vaediag diagnose' again with this version")
