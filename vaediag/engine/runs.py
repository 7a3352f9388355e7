"""The run directory. Only this module knows its file names.

    RUN/
      config.json            resolved RunConfig (enough to rebuild every model)
      env.json               versions, device, git commit, command line
      stage1/checkpoint.pt   weights + optimiser + RNG state + position (tensors only; weights_only load)
      stage1/metrics.csv     step, loss, recon, kl, mse, gamma, log_gamma, lr, seconds
      stage1/progress.json   step, done, threads, world size of the latest checkpoint (cheap to read)
      stage1/posteriors.npz  mu, logvar of q(z|x) over the training set (what stage 2 trains on)
      stage2/...             the same for the second stage
      diagnostics/, samples/ outputs of the other verbs

Every write is atomic (temporary file in the same folder, then ``os.replace``).
"""

from __future__ import annotations

import csv
import io
import json
import os
import pickle
import platform
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaediag.engine.config import RunConfig
from vaediag.engine.faults import LOCK_NAME, RunLock, write_failure
from vaediag.errors import NotFoundError, UsageError, VaediagError
from vaediag.io import atomic_save_npz, atomic_write_bytes, atomic_write_text, first_line, write_json

CONFIG, ENV = "config.json", "env.json"
CHECKPOINT, METRICS, POSTERIORS = "checkpoint.pt", "metrics.csv", "posteriors.npz"
PROGRESS = "progress.json"  # step, done, threads, world size of the latest checkpoint, readable without loading it
METRIC_COLUMNS = ("step", "loss", "recon", "kl", "mse", "gamma", "log_gamma", "lr", "seconds")


def environment(device: str) -> dict[str, Any]:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                                text=True, timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "python": sys.version.split()[0], "torch": torch.__version__, "numpy": np.__version__,
        "platform": platform.platform(), "device": device, "vaediag_git_commit": commit,
        "command": sys.argv, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cuda": torch.version.cuda, "threads": torch.get_num_threads(),
    }


class Run:
    """A run directory: create it, or open an existing one and read what it holds."""

    def __init__(self, path: Path, config: RunConfig):
        self.path, self.config = Path(path), config

    # ------------------------------------------------------------------ create / open
    @staticmethod
    def check_new(path: str | os.PathLike, overwrite: bool = False) -> None:
        """Refuse, before any work, a path that cannot become a new run (``overwrite`` replaces a run)."""
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise VaediagError(f"{path} exists and is not a directory; choose another out=")
        if path.is_dir() and any(p.name != LOCK_NAME for p in path.iterdir()):
            if not overwrite:
                what = "a vaediag run" if (path / CONFIG).exists() else "a non-empty directory"
                raise VaediagError(f"{path} is already {what}; pass overwrite=True to replace it, "
                                   f"or continue it with vaediag.resume({str(path)!r})")
            if not (path / CONFIG).exists():
                raise VaediagError(f"{path} is a non-empty directory that is not a vaediag run; "
                                   "refusing to overwrite it: choose another out=")

    @classmethod
    def create(cls, path: str | os.PathLike, config: RunConfig, overwrite: bool = False) -> "Run":
        path = Path(path)
        cls.check_new(path, overwrite)
        if path.is_dir() and any(p.name != LOCK_NAME for p in path.iterdir()):
            with RunLock(path):  # never clear a run another process is training
                _clear_run(path)
        path.mkdir(parents=True, exist_ok=True)
        run = cls(path, config)
        run.save_config()
        return run

    @classmethod
    def open(cls, path: str | os.PathLike) -> "Run":
        path = Path(path)
        if not path.exists():
            raise NotFoundError(f"no run at {path}: the directory does not exist", path=path)
        if not (path / CONFIG).is_file():
            raise NotFoundError(f"{path} is not a vaediag run (no {CONFIG}); train one with "
                                f"vaediag.train({str(path)!r})", path=path / CONFIG)
        try:
            d = json.loads((path / CONFIG).read_text())
        except (OSError, ValueError) as e:
            raise VaediagError(f"{path / CONFIG} is unreadable or not JSON ({e})") from None
        if not isinstance(d, dict):
            raise VaediagError(f"{path / CONFIG} is not a vaediag config")
        return cls(path, RunConfig.from_dict(d))

    def save_config(self) -> None:
        atomic_write_text(self.path / CONFIG, self.config.to_json() + "\n")

    def save_env(self, device: str, **extra: Any) -> None:
        """Versions, device, git commit and command line (plus e.g. world size and precision)."""
        write_json(self.path / ENV, {**environment(device), **extra})

    # ------------------------------------------------------------------ paths
    def stage_dir(self, stage: int) -> Path:
        if stage not in (1, 2):
            raise UsageError(f"stage= must be 1 or 2, got {stage}")
        return self.path / f"stage{stage}"

    @property
    def diagnostics_dir(self) -> Path:
        return self.path / "diagnostics"

    @property
    def samples_dir(self) -> Path:
        return self.path / "samples"

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self, stage: int, state: dict[str, Any]) -> None:
        """Write the stage's checkpoint atomically; a full disk (any OSError) is one sentence, and the
        previous checkpoint stays as it was (the new one goes to a temporary file first)."""
        # Serialised in memory first: torch.save streaming into a file on a full disk fails with
        # torch's RuntimeError ("unexpected pos"), not an OSError; the buffer is written without a copy.
        buf = io.BytesIO()
        torch.save(state, buf)
        path = self.stage_dir(stage) / CHECKPOINT
        try:
            atomic_write_bytes(path, buf.getbuffer())
        except OSError as e:
            raise write_failure(path, buf.tell(), e, then=self.resume_hint(stage)) from None
        self.write_progress(stage, state)

    def resume_hint(self, stage: int) -> str:
        return (f"the last good checkpoint in {self.stage_dir(stage)} is intact: make room, then continue with "
                f"vaediag.resume({str(self.path)!r})")

    def write_progress(self, stage: int, state: dict[str, Any]) -> None:
        path = self.stage_dir(stage) / PROGRESS
        try:
            write_json(path, {"step": int(state["step"]), "done": bool(state.get("done")),
                              "threads": state.get("threads"), "world_size": state.get("world_size", 1)})
        except OSError as e:
            raise write_failure(path, 4096, e, then=self.resume_hint(stage)) from None

    def progress(self, stage: int) -> dict[str, Any]:
        """{step, done, threads, world_size} of the stage's latest checkpoint ({} when there is none)."""
        path = self.stage_dir(stage) / PROGRESS
        if not self.has_checkpoint(stage) or not path.is_file():
            return {}
        try:
            d = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        return d if isinstance(d, dict) else {}

    def has_checkpoint(self, stage: int) -> bool:
        return (self.stage_dir(stage) / CHECKPOINT).is_file()

    def load_checkpoint(self, stage: int, map_location: str | torch.device = "cpu") -> dict[str, Any]:
        """Load a stage's checkpoint without unpickling arbitrary objects (``weights_only=True``)."""
        path = self.stage_dir(stage) / CHECKPOINT
        if not path.is_file():
            raise VaediagError(f"{self.path} has no stage-{stage} checkpoint; train it with "
                               f"vaediag.train({str(self.path)!r}, stages='{stage}')")
        try:
            state = torch.load(path, map_location=map_location, weights_only=True)
        except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile) as e:
            raise VaediagError(f"{path} is corrupt or truncated and cannot be loaded ({first_line(e)}); "
                               "retrain that stage with overwrite=True") from None
        if not isinstance(state, dict) or "model" not in state or "step" not in state:
            raise VaediagError(f"{path} is not a vaediag checkpoint")
        return state

    def stage_done(self, stage: int) -> bool:
        """Whether the stage finished (read from progress.json, without loading the checkpoint)."""
        return bool(self.progress(stage).get("done", False))

    def load_model(self, stage: int = 1, device: str | torch.device = "cpu"):
        """Rebuild a stage's model from config.json and its checkpoint, in eval mode."""
        from vaediag.engine.models import VAE, Stage2VAE

        state = self.load_checkpoint(stage, map_location="cpu")
        model = VAE(self.config.model) if stage == 1 else Stage2VAE(self.config.stage2)
        try:
            model.load_state_dict(state["model"])
        except (RuntimeError, KeyError) as e:
            raise VaediagError(f"the stage-{stage} checkpoint of {self.path} does not fit its config.json "
                               f"({first_line(e)})") from None
        return model.to(device).eval()

    # ------------------------------------------------------------------ metrics
    def metrics_path(self, stage: int) -> Path:
        return self.stage_dir(stage) / METRICS

    def read_metrics(self, stage: int = 1) -> dict[str, np.ndarray]:
        """The stage's metrics CSV as columns of float arrays (empty arrays when there is none)."""
        path = self.metrics_path(stage)
        if not path.is_file():
            return {c: np.zeros(0) for c in METRIC_COLUMNS}
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        try:
            return {c: np.array([float(r[c]) for r in rows]) for c in METRIC_COLUMNS}
        except (KeyError, ValueError, TypeError) as e:
            raise VaediagError(f"{path} is not a vaediag metrics file ({e})") from None

    def truncate_metrics(self, stage: int, last_step: int) -> None:
        """Keep only rows up to ``last_step`` (used on resume, so the CSV matches the checkpoint)."""
        path = self.metrics_path(stage)
        if not path.is_file():
            return
        lines = path.read_text().splitlines(keepends=True)
        keep = lines[:1] + [ln for ln in lines[1:] if ln.strip() and _row_step(ln) <= last_step and ln.endswith("\n")]
        atomic_write_text(path, "".join(keep))

    def open_metrics(self, stage: int, fresh: bool):
        path = self.metrics_path(stage)
        path.parent.mkdir(parents=True, exist_ok=True)
        if fresh or not path.is_file():
            atomic_write_text(path, ",".join(METRIC_COLUMNS) + "\n")
        return open(path, "a", newline="")

    # ------------------------------------------------------------------ posteriors
    def save_posteriors(self, mu: np.ndarray, logvar: np.ndarray, cov: np.ndarray | None = None) -> None:
        """q(z|x) per training example; ``cov`` (n, k, k) for a full-covariance encoder (then ``logvar``
        holds the log of its diagonal)."""
        extra = {} if cov is None else {"cov": cov.astype(np.float32)}
        atomic_save_npz(self.stage_dir(1) / POSTERIORS, mu=mu.astype(np.float32), logvar=logvar.astype(np.float32),
                        **extra)

    def has_posteriors(self) -> bool:
        """Whether stage 2's data exist: stage 1 finished, or codes of another model were given (``vaediag stage2``)."""
        return (self.stage_dir(1) / POSTERIORS).is_file()

    @property
    def stage2_only(self) -> bool:
        """A run holding only a second stage, trained on codes of a model vaediag did not train."""
        return self.config.train.stages == "2" and not self.has_checkpoint(1)

    def require_stage1(self) -> None:
        """Raise one sentence unless the run has a stage-1 checkpoint (what the diagnostics, figures,
        report and FID read): a run not trained yet, or a stage-2-only run of ``vaediag stage2``."""
        if self.has_checkpoint(1):
            return
        if self.stage2_only:
            raise VaediagError(
                f"{self.path} holds only a second stage, trained on another model's codes ('vaediag stage2'): "
                "vaediag has none of that model's networks here; in Python, "
                f"vaediag.diagnose(model, data, stage2=vaediag.load_two_stage('{self.path}', model).stage2) "
                "diagnoses both stages with your model")
        raise VaediagError(f"{self.path} has no stage-1 checkpoint yet; train it with "
                           f"vaediag.resume({str(self.path)!r})")

    def load_posterior_cov(self) -> np.ndarray | None:
        """The full covariances (n, k, k) saved with the posteriors, or None for a diagonal encoder."""
        try:
            with np.load(self.stage_dir(1) / POSTERIORS, allow_pickle=False) as f:
                return f["cov"] if "cov" in f.files else None
        except (OSError, ValueError, zipfile.BadZipFile) as e:
            raise VaediagError(f"{self.stage_dir(1) / POSTERIORS} is corrupt ({e})") from None

    def load_posteriors(self) -> tuple[np.ndarray, np.ndarray]:
        path = self.stage_dir(1) / POSTERIORS
        if not path.is_file():
            raise VaediagError(f"{self.path} has no stage-1 posteriors: stage 1 has not finished; "
                               f"run vaediag.resume({str(self.path)!r})")
        try:
            with np.load(path, allow_pickle=False) as f:
                return f["mu"], f["logvar"]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
            raise VaediagError(f"{path} is corrupt ({e}); rerun stage 1") from None

    # ------------------------------------------------------------------ data
    def dataset(self):
        """Reload the run's data set with its seed: the same train/test split as in training."""
        from vaediag.data import load_dataset

        t = self.config.train
        return load_dataset(t.dataset, t.data_dir, seed=t.seed, test_fraction=t.test_fraction, cache_dir=t.data_cache)


def _row_step(line: str) -> int:
    try:
        return int(float(line.split(",", 1)[0]))
    except ValueError:
        return sys.maxsize


def _clear_run(path: Path) -> None:
    import shutil

    for child in path.iterdir():
        if child.name == LOCK_NAME:
            continue  # the training lock stays: it may be held by this process (see engine/faults.py)
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
