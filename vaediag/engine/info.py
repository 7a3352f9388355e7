"""What a run is and how far it got, read from its directory without loading a network:
:func:`run_info` -> :class:`RunInfo` (what ``vaediag info RUN`` prints); and :func:`faster_preset`, the
preset that does the same work per step in fewer steps (named by the estimate a long job prints first).

Everything comes from :class:`vaediag.engine.runs.Run`'s public methods and the run's files:
config.json (what the run is), env.json (device, when), each stage's progress.json (steps checkpointed,
finished) and metrics.csv (last logged step, gamma, seconds), the posteriors' array header (the
training-set size, which turns epochs into steps), and ``diagnostics/summary.json`` (the last diagnosis,
read by the loader the caller passes: the engine sits below the diagnostics). :func:`diagnosis_current` is
the one rule for whether a saved diagnosis still describes the run (``vaediag info`` and the figures'
reuse of saved diagnostics both apply it).
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vaediag.engine.config import PRESETS, RunConfig, make_config
from vaediag.engine.runs import CHECKPOINT, ENV, POSTERIORS, Run
from vaediag.engine.schedule import plan
from vaediag.errors import VaediagError
from vaediag.progress import estimate_sentence

# The file `vaediag diagnose` writes into RUN/diagnostics (vaediag.diagnostics.result.SUMMARY; the engine
# sits below the diagnostics and cannot import it: tests/test_engine_info.py checks the two agree).
SUMMARY = "summary.json"


@dataclass(frozen=True)
class StageInfo:
    """How far one stage got.

    Attributes:
        stage: 1 or 2.
        steps_done: optimiser steps in the latest checkpoint (0 without one): where a resume starts.
        steps_target: the stage's schedule in steps; None when it is set in epochs and the training-set
            size is not known yet (stage 1 unfinished; pass ``n_train`` to :func:`run_info`).
        schedule: the schedule as configured, e.g. "1,000 steps" or "400 epochs (18,000 steps)".
        done: the stage finished (its final checkpoint is written).
        logged_step: the last step in metrics.csv (beyond ``steps_done`` while training, or after a crash).
        gamma: the decoder variance at ``logged_step`` (None before the first metrics row).
        seconds: training time up to ``logged_step`` (None before the first metrics row).
    """

    stage: int
    steps_done: int
    steps_target: int | None
    schedule: str
    done: bool
    logged_step: int | None = None
    gamma: float | None = None
    seconds: float | None = None


@dataclass(frozen=True)
class LastDiagnosis:
    """A digest of the last ``vaediag diagnose`` of the run (``RUN/diagnostics/summary.json``), for ``vaediag info``;
    the full result is :class:`vaediag.Diagnosis` (``vaediag.Diagnosis.load(run.diagnostics_dir)``).

    Attributes:
        path: the summary file.
        r_hat: latent directions in use (lambda_j < 1/2, eq. 73); None when the summary was not read.
        latent_dim: kappa.
        gamma: the stage-1 gamma the diagnosis saw (model units); ``gamma_stage2`` the same for stage 2 (None without).
        regime: "learned-small", "learned-large", "fixed", "unknown" or "no-gamma", judged in [0, 1] units.
        converged: whether log gamma stopped moving over the last quarter of training (None: unknown).
        stale: not :func:`diagnosis_current`: a checkpoint is newer than the summary, stage 2 finished after
            it, or the summary could not be read: diagnose again.
        verdict: the plain-language verdict lines (filled when :func:`run_info` is given ``load``).
        notes: the summary's notes (or why it could not be read).
    """

    path: Path
    r_hat: int | None
    latent_dim: int | None
    gamma: float | None
    gamma_stage2: float | None
    regime: str | None
    converged: bool | None
    stale: bool
    verdict: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunInfo:
    """What a run is, how far each stage got, its gamma, its last diagnosis and what to run next.

    Attributes:
        path: the run directory.
        dataset, preset, arch: as configured (``preset`` None when none was named).
        latent_dim: kappa, the latent dimension of stage 1.
        gamma_mode: "learned" or "fixed"; ``gamma_init`` its start (or its value when fixed).
        likelihood: "gaussian" (eq. 2) or "bernoulli" (cross-entropy).
        trains: the stages the run was asked to train: "1", "2" or "12".
        stage2_only: a run of ``vaediag stage2`` on codes of a model vaediag did not train.
        device, created: the device and start time of the last training session (env.json; None when absent).
        stages: one :class:`StageInfo` per stage the run trains or holds.
        diagnosis: the last diagnosis, or None.
        next_command: the command to run next (None when there is nothing vaediag can add);
        next_reason: why, in one sentence.
        config: the run's config.json as a dict (not printed).
    """

    path: Path
    dataset: str
    preset: str | None
    arch: str
    latent_dim: int
    gamma_mode: str
    gamma_init: float
    likelihood: str
    trains: str
    stage2_only: bool
    device: str | None
    created: str | None
    stages: tuple[StageInfo, ...]
    diagnosis: LastDiagnosis | None
    next_command: str | None
    next_reason: str
    config: dict[str, Any] = field(default_factory=dict, repr=False)

    def stage(self, stage: int) -> StageInfo | None:
        return next((s for s in self.stages if s.stage == stage), None)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (``vaediag info --json``): the fields above, paths as strings."""
        d = dataclasses.asdict(self)
        d["path"] = str(self.path)
        if self.diagnosis is not None:
            d["diagnosis"]["path"] = str(self.diagnosis.path)
            d["diagnosis"]["verdict"] = list(self.diagnosis.verdict)
            d["diagnosis"]["notes"] = list(self.diagnosis.notes)
        d["stages"] = [dict(s) for s in d["stages"]]
        return d

    def lines(self) -> list[str]:
        """The text of ``vaediag info RUN``: one line per fact."""
        gamma = "learned" if self.gamma_mode == "learned" else f"fixed at {self.gamma_init:g}"
        what = f"{self.dataset}, {self.arch}, kappa {self.latent_dim}, gamma {gamma}"
        if self.likelihood != "gaussian":
            what += f", {self.likelihood} decoder"
        if self.preset:
            what += f", preset {self.preset}"
        if self.stage2_only:
            what = f"a second stage alone on another model's codes (kappa {self.latent_dim})"
        out = [f"{self.path}: {what}"]
        if self.device or self.created:
            out.append("last training: " + ", started ".join(x for x in (self.device, self.created) if x))
        for s in self.stages:
            target = f"{s.steps_target:,}" if s.steps_target is not None else "?"
            state = "done" if s.done else ("not started" if s.steps_done == 0 and s.logged_step is None
                                           else "unfinished")
            text = f"stage {s.stage}: {state}, {s.steps_done:,} / {target} steps checkpointed ({s.schedule})"
            if s.logged_step is not None and s.logged_step != s.steps_done:
                text += f", logged to step {s.logged_step:,}"
            if s.gamma is not None:
                text += f", gamma {s.gamma:.4g}"
            if s.seconds is not None:
                text += f", {s.seconds:.0f} s of training"
            out.append(text)
        d = self.diagnosis
        if d is None:
            out.append("diagnosis: none yet")
        else:
            r = "?" if d.r_hat is None else str(d.r_hat)
            text = f"diagnosis: r_hat {r} of {d.latent_dim}"
            if d.gamma is not None:
                text += f", gamma {d.gamma:.4g}"
            if d.regime:
                text += f" ({d.regime})"
            out.append(text + (" [older than the checkpoints: diagnose again]" if d.stale else ""))
            out += [f"  {line}" for line in d.verdict]
        out.append(f"next: {self.next_command}  # {self.next_reason}" if self.next_command
                   else f"next: nothing to run; {self.next_reason}")
        return out


def run_info(run: Run, n_train: int | None = None, load: Callable[[Path], Any] | None = None) -> RunInfo:
    """What ``run`` is and how far it got (:class:`RunInfo`), from its files alone.

    ``n_train``: the training-set size, only needed to turn a stage-1 schedule given in epochs into steps
    before stage 1 has finished (afterwards the saved posteriors give it). ``load``: the reader of a saved
    diagnosis folder (:meth:`vaediag.Diagnosis.load`; the engine cannot import it), which fills
    :class:`LastDiagnosis`; without it only the summary's presence and age are reported."""
    cfg, t = run.config, run.config.train
    n = _posterior_rows(run) or n_train
    stages = []
    for s in (1, 2):
        if s == 1 and run.stage2_only:
            continue
        if str(s) not in t.stages and not run.has_checkpoint(s):
            continue
        stages.append(_stage_info(run, s, n))
    env = _read_json(run.path / ENV) or {}
    diagnosis = _diagnosis(run, load)
    command, reason = next_step(run, tuple(stages), diagnosis)
    return RunInfo(
        path=run.path, dataset=t.dataset, preset=t.preset, arch=cfg.model.arch, latent_dim=cfg.model.latent_dim,
        gamma_mode=cfg.model.gamma_mode, gamma_init=cfg.model.gamma_init, likelihood=cfg.model.likelihood,
        trains=t.stages, stage2_only=run.stage2_only, device=_str_or_none(env.get("device")),
        created=_str_or_none(env.get("time")), stages=tuple(stages), diagnosis=diagnosis,
        next_command=command, next_reason=reason, config=cfg.to_dict())


def stage_schedule(config: RunConfig, stage: int, n: int | None) -> tuple[int | None, str]:
    """(total steps or None when epochs cannot be turned into steps without ``n``, the schedule in words)
    of one stage; the same resolution as the training loop (:func:`vaediag.engine.schedule.plan`)."""
    sched = config.train.schedule(stage)
    steps, epochs, batch = sched.steps, sched.epochs, sched.batch_size
    if steps:
        return int(steps), f"{int(steps):,} steps"
    if n is None:
        return None, f"{epochs:g} epochs"
    total = plan(sched, n)[1]
    return total, f"{epochs:g} epochs of {n:,} examples in batches of {min(batch, n)} = {total:,} steps"


def faster_preset(config: RunConfig, stage: int, n: int | None) -> tuple[str, int] | None:
    """(name, steps) of the preset whose step does the same work as this run's stage ``stage`` (same data
    set, architecture, latent dimension, batch size and, for stage 2, width) in the fewest steps, when
    that is fewer than this run's; None otherwise. Equal work per step makes the time per step measured
    on this run valid for the preset (``estimate_sentence(..., alternative=...)``, relative cost 1)."""
    mine, _ = stage_schedule(config, stage, n)
    if mine is None:
        return None
    best: tuple[str, int] | None = None
    for name in sorted(PRESETS):
        other = make_config(preset=name)
        if not _same_step(config, other, stage):
            continue
        steps, _ = stage_schedule(other, stage, n)
        if steps is not None and steps < mine and (best is None or steps < best[1]):
            best = (name, steps)
    return best


def cost_sentence(config: RunConfig, stage: int, n: int, steps: int, measured_seconds: float,
                  measured_steps: int, after: int = 0) -> str:
    """What the training loop prints once its steps are timed after warm-up (:class:`vaediag.progress.StepTimer`,
    ``after``: the steps before the timed ones):
    ``steps`` (those left to run) at the measured time per step, and the faster preset of
    :func:`faster_preset` at the same time per step, e.g. "stage 1: 18,000 steps, about 3 h 00 min on
    this device (measured over the first 20 steps); preset quick would take about 10 min". A resumed
    stage with fewer steps left than the preset's schedule names no preset."""
    alt = faster_preset(config, stage, n)
    if alt is not None and alt[1] >= steps:
        alt = None
    return f"stage {stage}: " + estimate_sentence(steps, measured_seconds, measured_steps, alternative=alt,
                                                  after=after)


def next_step(run: Run, stages: tuple[StageInfo, ...], diagnosis: LastDiagnosis | None) -> tuple[str | None, str]:
    """(the command to run next, why) for a run whose stages and diagnosis are as given."""
    p = _quote(run.path)
    for s in stages:
        if not s.done:
            if run.stage2_only:
                return (f"vaediag stage2 --resume {p}",
                        f"stage 2 stopped at step {s.steps_done:,}; this continues it")
            where = "has not started" if s.steps_done == 0 else f"stopped at step {s.steps_done:,}"
            return f"vaediag train --resume {p}", f"stage {s.stage} {where}; this continues the run"
    if run.stage2_only:
        return None, ("a second stage alone has no stage-1 networks to diagnose; in Python, "
                      f"vaediag.load_two_stage('{run.path}', model) pairs it with your model")
    if diagnosis is None or diagnosis.stale:
        why = "no diagnosis yet" if diagnosis is None else "the diagnosis is older than the checkpoints"
        return f"vaediag diagnose --run {p}", f"{why}: gamma's convergence, r_hat and the aggregated posterior"
    if not any(s.stage == 2 and s.done for s in stages):
        return (f"vaediag train --stages 2 --out {p}",
                "stage 1 is trained and diagnosed; the second stage repairs the aggregated posterior (section 4)")
    return (f"vaediag report --run {p} --out {_quote(run.path / 'report.html')}",
            "both stages are trained and diagnosed: one page with the verdict, every number and the figures")


# ---------------------------------------------------------------------------- helpers
def _stage_info(run: Run, stage: int, n: int | None) -> StageInfo:
    prog = run.progress(stage)
    target, schedule = stage_schedule(run.config, stage, n)
    m = run.read_metrics(stage)
    last = len(m["step"]) > 0
    return StageInfo(stage=stage, steps_done=int(prog.get("step", 0)), steps_target=target, schedule=schedule,
                     done=bool(prog.get("done", False)),
                     logged_step=int(m["step"][-1]) if last else None,
                     gamma=float(m["gamma"][-1]) if last else None,
                     seconds=float(m["seconds"][-1]) if last else None)


def diagnosis_current(run: Run, summary: Path, has_stage2: bool) -> bool:
    """The one rule for "is the saved diagnosis current": no checkpoint of the run is newer than the saved
    ``summary`` file, and the diagnosis covers stage 2 exactly when the run's stage 2 has finished."""
    t = summary.stat().st_mtime
    newer = any((run.stage_dir(k) / CHECKPOINT).stat().st_mtime > t for k in (1, 2) if run.has_checkpoint(k))
    return not newer and bool(has_stage2) == run.stage_done(2)


def _diagnosis(run: Run, load: Callable[[Path], Any] | None) -> LastDiagnosis | None:
    path = run.diagnostics_dir / SUMMARY
    if not path.exists():
        return None
    if load is None:
        newer = not diagnosis_current(run, path, run.stage_done(2))
        return LastDiagnosis(path=path, r_hat=None, latent_dim=None, gamma=None, gamma_stage2=None, regime=None,
                             converged=None, stale=newer)
    try:
        d = load(run.diagnostics_dir)
    except VaediagError as e:  # not a diagnosis, or of a newer schema: the loader's one sentence
        return LastDiagnosis(path=path, r_hat=None, latent_dim=None, gamma=None, gamma_stage2=None, regime=None,
                             converged=None, stale=True, notes=(f"{e}",))
    traj = d.gamma.trajectory
    return LastDiagnosis(path=path, r_hat=d.usage.r_hat, latent_dim=d.model.latent_dim, gamma=d.gamma.value,
                         gamma_stage2=d.stage2.gamma, regime=d.gamma.regime,
                         converged=None if traj is None else traj.converged,
                         stale=not diagnosis_current(run, path, d.stage2.gamma is not None),
                         verdict=tuple(d.verdict), notes=tuple(d.provenance.notes))


def _same_step(a: RunConfig, b: RunConfig, stage: int) -> bool:
    """Whether one optimiser step of stage ``stage`` does the same work under configs a and b, on the same
    data set (a schedule in epochs means a number of steps only for a given training-set size)."""
    if a.train.dataset != b.train.dataset:
        return False
    if stage == 2:
        return (a.stage2.width, a.stage2.depth, a.model.latent_dim, a.train.stage2.batch_size) == \
            (b.stage2.width, b.stage2.depth, b.model.latent_dim, b.train.stage2.batch_size)
    keys = ("arch", "latent_dim", "likelihood", "mlp_hidden", "resnet_channels", "resnet_fc")
    return a.train.stage1.batch_size == b.train.stage1.batch_size and all(getattr(a.model, k) == getattr(b.model, k) for k in keys)


def _posterior_rows(run: Run) -> int | None:
    """Rows of the saved posteriors (= the training-set size) from the array header alone, or None."""
    if not run.has_posteriors():
        return None
    try:
        with zipfile.ZipFile(run.stage_dir(1) / POSTERIORS) as z, z.open("mu.npy") as f:
            version = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, _ = read(f)
        return int(shape[0])
    except (OSError, KeyError, ValueError, IndexError, zipfile.BadZipFile):
        return None


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return d if isinstance(d, dict) else None


def _quote(path: Path | str) -> str:
    import shlex

    return shlex.quote(str(path))


def _str_or_none(v: object) -> str | None:
    return None if v is None else str(v)
