"""The paper's second stage (section 4) for a model vaediag did not train, or again for a run's finished
stage 1: the run directory that holds the codes, the stage-2 options, and the two-stage sampler.

Training is the engine's (:func:`vaediag.engine.train.train`: the same loop, schedule, checkpoints and
resume as ``vaediag train --stages 2``), on fresh z = mu + Sigma^(1/2) eps draws every epoch. Encoding
another model's data into codes is :func:`vaediag.diagnostics.enhance.encode_codes`; ``vaediag.enhance``
(:mod:`vaediag.api`) strings the two together.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path
from collections.abc import Mapping
from typing import Any, Callable

import numpy as np
import torch

from vaediag.engine.config import (RESUME_FIELDS, STAGE2_FIELDS, RunConfig, apply_options, override,
                                   steps_or_epochs)
from vaediag.engine.runs import Run
from vaediag.engine.train import train
from vaediag.errors import UsageError, VaediagError, check_positive_int


# What enhance() called its options before they took the names of vaediag.train and vaediag.stage2.
RENAMED = {"steps": "stage2_steps", "epochs": "stage2_epochs", "batch_size": "stage2_batch_size", "lr": "stage2_lr",
           "lr_halve_every": "stage2_lr_halve_every", "width": "stage2_width", "depth": "stage2_depth"}


def stage2_config(options: dict[str, Any]) -> RunConfig:
    """The config of a stage 2 alone: the defaults, then stage-2 options by their names, the names of
    ``vaediag.train`` (:data:`~vaediag.engine.config.STAGE2_FIELDS`: ``stage2_steps``, ``stage2_epochs``,
    ``stage2_batch_size``, ``stage2_lr``, ``stage2_lr_halve_every``, ``stage2_width``, ``stage2_depth``,
    ``seed``, ...; steps replace epochs)."""
    cfg = RunConfig()
    given = {k: v for k, v in options.items() if v is not None}
    old = sorted(set(given) & set(RENAMED))
    if old:
        raise UsageError(f"the stage-2 options have the names vaediag.train gives them: write "
                         f"{', '.join(f'{RENAMED[k]}= for {k}=' for k in old)}")
    wrong = sorted(set(given) - set(STAGE2_FIELDS))
    if wrong:
        raise UsageError(f"only stage-2 options may be given here, not {', '.join(wrong)}")
    apply_options(cfg, steps_or_epochs(given))
    for name in ("width", "depth"):
        check_positive_int(f"stage2_{name}", getattr(cfg.stage2, name))
    cfg.train.validate()
    return cfg


def prepare_stage2_retrain(path, options: dict[str, Any], overwrite: bool = False) -> Run:
    """``vaediag train --stages 2 --out RUN``: check that stage 1 is finished, apply the stage-2 options
    (:data:`~vaediag.engine.config.STAGE2_FIELDS` and the resume fields) and clear the old stage 2."""
    given = {k: v for k, v in options.items() if v is not None}
    if set(given) - set(STAGE2_FIELDS) - set(RESUME_FIELDS):
        allowed = ", ".join(f"{k}=" for k in STAGE2_FIELDS)
        raise UsageError(f"with stages='2' only stage-2 options ({allowed}) may be given; stage 1 is already trained")
    run = Run.open(path)
    if not run.stage_done(1):
        raise VaediagError(f"{run.path} has no finished stage 1; train it first (vaediag.resume({str(run.path)!r}))")
    if run.has_checkpoint(2):
        if not overwrite:
            raise VaediagError(f"{run.path} already has a stage 2; pass overwrite=True to retrain it")
        shutil.rmtree(run.stage_dir(2))
    apply_options(run.config, steps_or_epochs(given))
    run.config.train.validate()
    run.config.train.stages = "12"
    run.save_config()
    return run


def train_stage2_on_posteriors(out, mu: np.ndarray, second: np.ndarray, full: bool = False,
                               config: RunConfig | None = None, device: str | torch.device = "auto",
                               resume: bool = False, overwrite: bool = False, progress: bool = True) -> Run:
    """Stage 2 alone, on codes of a model vaediag did not train: q(z|x) = N(mu, diag(exp(second))) or
    N(mu, second) when ``full``. Makes a run directory ``out`` that holds the codes (as stage 1's
    posteriors) and trains the engine's Stage2VAE there with the same loop, schedule, checkpoints and
    resume as ``vaediag train --stages 2`` (fresh z = mu + sigma * eps every epoch)."""
    if resume:
        run = Run.open(out)
        if not run.stage2_only:
            raise VaediagError(f"{run.path} is not a stage-2-only run; resume it with vaediag.resume({str(run.path)!r})")
    else:
        mu, second = np.asarray(mu, np.float32), np.asarray(second, np.float32)
        check_codes(mu, second, full)
        cfg = config or stage2_config({})
        k = mu.shape[1]
        cfg.model.latent_dim = cfg.stage2.latent_dim = k
        cfg.model.arch, cfg.model.input_shape = "mlp", (k,)  # no stage-1 network: a placeholder that validates
        cfg.train.dataset, cfg.train.stages = "posteriors", "2"
        cfg.train.validate()
        run = Run.create(out, cfg, overwrite=overwrite)
        if full:
            diag = np.diagonal(second, axis1=1, axis2=2)
            run.save_posteriors(mu, np.log(diag), cov=second)
        else:
            run.save_posteriors(mu, second)
    train(run, stages=(2,), device=device, resume=resume, progress=progress)
    return run


def check_codes(mu: np.ndarray, second: np.ndarray, full: bool) -> None:
    if mu.ndim != 2 or len(mu) < 2:
        raise VaediagError(f"mu must have shape (n, kappa) with n >= 2, got {mu.shape}")
    want = (len(mu), mu.shape[1], mu.shape[1]) if full else mu.shape
    if second.shape != want:
        raise VaediagError(f"the {'covariances' if full else 'log-variances'} have shape {second.shape}; "
                           f"expected {want} to go with mu {mu.shape}")
    if not (np.isfinite(mu).all() and np.isfinite(second).all()):
        raise VaediagError("the codes contain NaN or infinite values")
    if full:
        try:
            np.linalg.cholesky(second.astype(np.float64))
        except np.linalg.LinAlgError:
            raise VaediagError("a covariance is not positive definite; give symmetric positive-definite (n, k, k) "
                               "matrices, or mu and logvar for a diagonal encoder") from None


def load_codes(path: Path) -> tuple[np.ndarray, np.ndarray, bool]:
    """(mu, second, full) from a .npz with mu and logvar, or mu and cov (:func:`codes_from`)."""
    if path.suffix.lower() != ".npz":
        raise UsageError(f"codes= must be a .npz file with arrays mu and logvar (or cov), got {path}")
    if not path.is_file():
        raise VaediagError(f"codes={path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise VaediagError(f"{path} is not a readable .npz of numeric arrays ({str(e).splitlines()[0][:120]})") from None
    return codes_from(arrays, str(path))


def codes_from(arrays: Mapping[str, Any], where: str = "the codes") -> tuple[np.ndarray, np.ndarray, bool]:
    """(mu, second, full) from arrays named ``mu`` and ``logvar`` (n, kappa) for a diagonal encoder, or
    ``mu`` and ``cov`` (n, kappa, kappa) for a full one; ``where`` names them in a refusal."""
    if "mu" not in arrays:
        raise VaediagError(f"{where} has arrays {sorted(arrays)} but no 'mu'; save mu with logvar or cov")
    if "logvar" in arrays and "cov" in arrays:
        raise VaediagError(f"{where} has both 'logvar' and 'cov'; keep one (logvar: diagonal encoder, cov: full)")
    if "logvar" in arrays:
        return np.asarray(arrays["mu"]), np.asarray(arrays["logvar"]), False
    if "cov" in arrays:
        return np.asarray(arrays["mu"]), np.asarray(arrays["cov"]), True
    raise VaediagError(f"{where} has 'mu' but neither 'logvar' (n, kappa) nor 'cov' (n, kappa, kappa)")


class TwoStage:
    """The two-stage sampler u -> z -> x of section 4: ``stage2`` (the engine's Stage2VAE) and the user's
    ``decode`` (None: latents only)."""

    def __init__(self, stage2, decode: Callable | None = None, run=None):
        self.stage2, self.decode, self.run = stage2.eval(), decode, run

    @torch.no_grad()
    def latents(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z = mu_z(u) + sqrt(gamma_z) e, u, e ~ N(0, I): n two-stage latents (n, kappa)."""
        from vaediag.engine.sampling import two_stage_latents

        check_positive_int("n", n)
        return two_stage_latents(self.stage2, (n, self.stage2.cfg.latent_dim), generator)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, batch: int = 500) -> torch.Tensor:
        """x = decode(z) for n two-stage latents z, decoded in batches with the user's decoder."""
        if self.decode is None:
            raise VaediagError("this two-stage sampler has no decoder; give the model: load_two_stage(run, model)")
        z = self.latents(n, generator)
        return torch.cat([self.decode(z[i:i + batch].to(self._device())) for i in range(0, n, batch)])

    __call__ = sample

    def _device(self):
        return next(self.stage2.parameters()).device
