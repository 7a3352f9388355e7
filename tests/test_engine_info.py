"""run_info: what a run is, how far each stage got, its last diagnosis, the next command; on small runs
whose step counts, gammas and summaries are read back from the files the training loop and the
diagnosis wrote (independent of info.py)."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

import vaediag
from vaediag.diagnostics import result as summary_module
from vaediag.diagnostics.summary import diagnose_run
from vaediag.diagnostics.result import Diagnosis
from vaediag.diagnostics.verdict import verdict
from vaediag.engine import info as info_module
from vaediag.engine.config import RunConfig, make_config
from vaediag.engine.info import cost_sentence, faster_preset, run_info, stage_schedule
from vaediag.engine.runs import Run
from vaediag.engine.enhance import train_stage2_on_posteriors

N_TRAIN = 4500  # mnist5k: 5,000 digits, a tenth held out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("info")
    # 0.2 epochs of 4,500 digits in batches of 100 = 0.2 * 45 = 9 steps, in each stage
    both = vaediag.train(base / "both", preset="quick", arch="mlp", epochs=0.2, stage2_epochs=0.2, progress=False,
                         device="cpu")  # mlp: the cheapest network
    one = vaediag.train(base / "one", preset="quick", arch="mlp", steps=4, stages="1", progress=False, device="cpu")
    rng = np.random.default_rng(0)
    cfg = RunConfig()
    cfg.train.stage2.steps, cfg.train.stage2.epochs, cfg.stage2.width = 3, None, 16
    alone = train_stage2_on_posteriors(base / "alone", rng.normal(size=(50, 4)), rng.normal(size=(50, 4)) - 1,
                                       config=cfg, device="cpu", progress=False)
    diagnosed = _copy(both, base / "diagnosed")
    diagnose_run(diagnosed, n=100, device="cpu")
    return {"both": both, "one": one, "alone": alone, "diagnosed": diagnosed}


def _copy(run: Run, dest) -> Run:
    shutil.copytree(run.path, dest)
    return Run.open(dest)


def test_what_the_run_is_and_how_far_it_got(runs):
    run = runs["both"]
    i = run_info(run)
    assert (i.dataset, i.preset, i.arch, i.latent_dim, i.gamma_mode, i.trains) == ("mnist5k", "quick", "mlp",
                                                                                   64, "learned", "12")
    assert i.device == json.loads((run.path / "env.json").read_text())["device"] == "cpu"
    s1, s2 = i.stage(1), i.stage(2)
    # epochs became steps through the saved posteriors' row count: 0.2 epochs * 45 = 9 steps
    assert (s1.steps_target, s1.steps_done, s1.done) == (9, 9, True)
    assert (s2.steps_target, s2.steps_done, s2.done) == (9, 9, True)
    assert s1.schedule == "0.2 epochs of 4,500 examples in batches of 100 = 9 steps"
    # gamma: the last row of each stage's metrics.csv
    for s in (s1, s2):
        last = (run.path / f"stage{s.stage}" / "metrics.csv").read_text().strip().splitlines()[-1].split(",")
        assert s.logged_step == int(last[0]) == 9 and s.gamma == pytest.approx(float(last[5]))
    assert i.diagnosis is None
    assert i.next_command == f"vaediag diagnose --run {run.path}"
    json.dumps(i.to_dict())  # plain JSON values for --json
    text = "\n".join(i.lines())
    assert "stage 1: done, 9 / 9 steps" in text and "diagnosis: none yet" in text


def test_after_a_diagnosis_it_reports_r_hat_and_the_report_is_next(runs, tmp_path):
    run = _copy(runs["diagnosed"], tmp_path / "r")  # copies keep the files' times
    saved = json.loads((run.diagnostics_dir / "summary.json").read_text())
    i = run_info(run, load=Diagnosis.load)
    d = i.diagnosis
    assert d is not None and not d.stale
    assert d.r_hat == saved["r_hat"] and d.latent_dim == 64 and d.gamma == pytest.approx(saved["gamma"])
    assert d.regime == saved["gamma_regime"]["regime"] and d.converged == saved["gamma_trajectory"]["converged"]
    assert list(d.verdict) == verdict(saved) == saved["verdict"] and d.verdict  # the saved diagnosis's verdict
    bare = run_info(run).diagnosis  # no loader: the engine cannot read a diagnosis, only its file's age
    assert bare.verdict == () and bare.r_hat is None and not bare.stale
    assert i.next_command == f"vaediag report --run {run.path} --out {run.path / 'report.html'}"
    # a checkpoint written after the diagnosis makes it stale: diagnose again
    ckpt = run.stage_dir(1) / "checkpoint.pt"
    later = (run.diagnostics_dir / "summary.json").stat().st_mtime + 10
    os.utime(ckpt, (later, later))
    i = run_info(run)
    assert i.diagnosis.stale and i.next_command.startswith("vaediag diagnose --run")
    assert "older than the checkpoints" in "\n".join(i.lines())


def test_a_summary_of_another_version_gives_a_note_not_a_crash(runs, tmp_path):
    run = _copy(runs["one"], tmp_path / "r")
    (run.diagnostics_dir).mkdir()
    shutil.copy(runs["diagnosed"].diagnostics_dir / "arrays.npz", run.diagnostics_dir / "arrays.npz")
    (run.diagnostics_dir / "summary.json").write_text(json.dumps({"gamma": 0.5, "active_dims": 3}))
    d = run_info(run, load=Diagnosis.load).diagnosis
    assert d.r_hat is None and d.verdict == () and d.stale and "is not a vaediag diagnosis" in d.notes[-1]
    future = json.loads((runs["diagnosed"].diagnostics_dir / "summary.json").read_text()) | {"schema_version": 99}
    (run.diagnostics_dir / "summary.json").write_text(json.dumps(future))
    d = run_info(run, load=Diagnosis.load).diagnosis
    assert d.stale and "schema_version 99" in d.notes[-1] and "upgrade vaediag" in d.notes[-1]
    assert run_info(run, load=Diagnosis.load).next_command.startswith("vaediag diagnose")


def test_stage_one_only_run_suggests_stage_two_once_diagnosed(runs, tmp_path):
    run = _copy(runs["one"], tmp_path / "r")
    i = run_info(run)
    assert [s.stage for s in i.stages] == [1] and i.stage(1).steps_done == 4 and i.stage(1).done
    assert i.next_command.startswith("vaediag diagnose")
    run.diagnostics_dir.mkdir()
    shutil.copy(runs["diagnosed"].diagnostics_dir / "summary.json", run.diagnostics_dir / "summary.json")
    assert run_info(run).next_command == f"vaediag train --stages 2 --out {run.path}"


def test_an_unfinished_stage_is_resumed_next(runs, tmp_path):
    run = _copy(runs["both"], tmp_path / "r")
    (run.stage_dir(2) / "progress.json").write_text(json.dumps({"step": 3, "done": False}))
    i = run_info(run)
    assert (i.stage(2).steps_done, i.stage(2).done, i.stage(2).logged_step) == (3, False, 9)
    assert i.next_command == f"vaediag train --resume {run.path}" and "stopped at step 3" in i.next_reason
    assert "logged to step 9" in "\n".join(i.lines())


def test_a_new_run_on_the_default_schedule(tmp_path):
    # the default: 400 epochs of stage 1, 800 of stage 2, on 4,500 digits in batches of 100 (45 steps an
    # epoch): 18,000 and 36,000 steps; before stage 1 has run, epochs are steps only given the size
    run = Run.create(tmp_path / "r", make_config())
    i = run_info(run)
    assert [(s.steps_done, s.steps_target, s.schedule) for s in i.stages] == [(0, None, "400 epochs"),
                                                                             (0, None, "800 epochs")]
    i = run_info(run, n_train=N_TRAIN)
    assert [s.steps_target for s in i.stages] == [18000, 36000]
    assert i.next_command == f"vaediag train --resume {run.path}" and "has not started" in i.next_reason
    assert "stage 1: not started, 0 / 18,000 steps" in "\n".join(i.lines())


def test_a_stage_two_only_run(runs, tmp_path):
    run = runs["alone"]
    i = run_info(run)
    assert [s.stage for s in i.stages] == [2] and i.stage2_only
    assert (i.stage(2).steps_done, i.stage(2).steps_target, i.stage(2).done) == (3, 3, True)
    assert i.next_command is None and "load_two_stage" in i.next_reason
    run2 = _copy(run, tmp_path / "r")
    (run2.stage_dir(2) / "progress.json").write_text(json.dumps({"step": 1, "done": False}))
    assert run_info(run2).next_command == f"vaediag stage2 --resume {run2.path}"


def test_paths_with_spaces_are_quoted(runs, tmp_path):
    run = _copy(runs["one"], tmp_path / "my run")
    assert run_info(run).next_command == f"vaediag diagnose --run '{run.path}'"


def test_summary_name_is_the_diagnostics_one():
    assert info_module.SUMMARY == summary_module.SUMMARY  # the file Diagnosis.save writes


def test_stage_schedule_resolution():
    cfg = make_config(preset="quick")
    assert stage_schedule(cfg, 1, None) == (1000, "1,000 steps")
    assert stage_schedule(cfg, 2, None) == (8000, "8,000 steps")
    # a batch larger than the data set is cut to it: 10 examples, batch 10, 3 epochs = 3 steps
    cfg = make_config(epochs=3, batch_size=100)
    assert stage_schedule(cfg, 1, 10) == (3, "3 epochs of 10 examples in batches of 10 = 3 steps")


def test_faster_preset_does_the_same_work_per_step():
    default = make_config()
    # the default stage 1 (InfoGAN, kappa 64, batch 100 on mnist5k, 18,000 steps): quick runs the same
    # step 1,000 times
    assert faster_preset(default, 1, N_TRAIN) == ("quick", 1000)
    # the default stage 2 (width 1024) has no preset of that width on mnist5k
    assert faster_preset(default, 2, N_TRAIN) is None
    # nothing is faster than quick's own stage 1, and nothing is known without the size for epochs
    assert faster_preset(make_config(preset="quick"), 1, N_TRAIN) is None
    assert faster_preset(default, 1, None) is None
    # a width-256 stage 2 of 20,000 steps: cpu-mnist5k and quick both do it in 8,000 (first by name)
    long2 = make_config(stage2_steps=20000, stage2_width=256)
    assert faster_preset(long2, 2, N_TRAIN) == ("cpu-mnist5k", 8000)
    # another architecture does other work per step: no comparison
    assert faster_preset(make_config(arch="resnet"), 1, N_TRAIN) is None


def test_cost_sentence_names_the_faster_preset_at_the_measured_speed():
    # 20 steps in 12 s: 18,000 steps = 3 h; quick's 1,000 steps of the same network and batch = 10 min
    assert cost_sentence(make_config(), 1, N_TRAIN, 18000, 12.0, 20) == (
        "stage 1: 18,000 steps, about 3 h 00 min on this device (measured over the first 20 steps); "
        "preset quick would take about 10 min")
    # stage 2 at 0.05 s a step: 36,000 steps = 30 min, and no preset does its width-1024 step
    assert cost_sentence(make_config(), 2, N_TRAIN, 36000, 1.0, 20) == (
        "stage 2: 36,000 steps, about 30 min on this device (measured over the first 20 steps)")
    # resumed with 800 steps left: quick's whole schedule (1,000) is no faster
    assert cost_sentence(make_config(), 1, N_TRAIN, 800, 12.0, 20) == (
        "stage 1: 800 steps, about 8 min on this device (measured over the first 20 steps)")
