"""A new user's first hour (issue: honest defaults, one convention, typed API): exit status 1 vs 2 and
no traceback, the cost sentence of long jobs, the demo's own directory, one option name per thing, help
everywhere and without torch, ``vaediag info``."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

import vaediag
from vaediag.cli import build_parser, main
from vaediag.errors import NotFoundError, UsageError, VaediagError

REPO = Path(__file__).resolve().parents[1]
FAST = ["--dataset", "manifold:sphere?r=2&d=8&n=400", "--arch", "mlp", "--stages", "1", "--steps", "30"]


def _one_line(err: str) -> None:
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


# ---------------------------------------------------------------------------- 1. errors: 1 vs 2
def test_a_missing_run_is_a_file_not_found_error_and_exits_1(tmp_path, capsys):
    with pytest.raises(FileNotFoundError) as e:
        vaediag.open_run(tmp_path / "none")
    assert isinstance(e.value, NotFoundError) and isinstance(e.value, VaediagError)
    assert e.value.filename == str(tmp_path / "none")
    with pytest.raises(FileNotFoundError):  # a folder that is not a run
        vaediag.open_run(tmp_path)
    assert vaediag.NotFoundError is NotFoundError and "NotFoundError" in vaediag.__all__
    assert main(["sample", "--run", str(tmp_path / "none")]) == 1
    _one_line(capsys.readouterr().err)


@pytest.mark.parametrize("argv", [
    ["train", "--steps", "100", "--epochs", "3"],  # conflicting options
    ["train", "--dataset", "no-such-set"],  # an unknown name
    ["stage2", "--posteriors", "x.npz", "--stage2-steps", "5", "--stage2-epochs", "3"],  # a conflict
    ["stage2", "--resume", "--stage2-steps", "5"],  # resume takes no schedule
])
def test_usage_mistakes_exit_2_in_one_line(tmp_path, capsys, argv):
    out = tmp_path / "run"
    assert main([*argv, "--out", str(out), "--quiet"]) == 2
    _one_line(capsys.readouterr().err)
    assert not out.exists()  # nothing written


@pytest.mark.parametrize("value", ['"100"', "1.5", "[1]", "true"])
def test_a_wrong_type_in_config_exits_2_without_a_traceback(tmp_path, capsys, value):
    cfg = tmp_path / "c.json"
    cfg.write_text('{"train": {"steps": %s}}' % value)
    assert main(["train", "--config", str(cfg), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err
    _one_line(err)
    assert "steps" in err and not (tmp_path / "run").exists()


def test_a_config_that_does_not_exist_is_a_runtime_failure(tmp_path, capsys):
    assert main(["train", "--config", str(tmp_path / "none.json"), "--out", str(tmp_path / "run"), "--quiet"]) == 1
    _one_line(capsys.readouterr().err)


def test_cache_check_exits_2_as_its_help_says_and_a_build_failure_exits_1(tmp_path, capsys):
    help_text = build_parser()._subparsers._group_actions[0].choices["cache"].format_help()
    assert "2 when it is absent (--check)" in " ".join(help_text.split())
    assert main(["cache", "--check", "--data-dir", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    _one_line(err)
    assert "check failed" in err
    assert main(["cache", "--data-dir", str(tmp_path), "--quiet"]) == 1  # building: nothing to build from
    _one_line(capsys.readouterr().err)
    assert main(["cache", "--check", "--dataset", "mnist", "--data-dir", str(tmp_path)]) == 2  # usage stays 2


# ---------------------------------------------------------------------------- 2. defaults that say what they cost
def test_a_long_job_prints_its_schedule_then_its_time_and_nothing_when_quiet(tmp_path, capsys):
    steps = ["--steps", "60"]
    assert main(["train", *FAST[:-2], *steps, "--out", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err.splitlines()
    first = [i for i, line in enumerate(err) if line == "stage 1: 60 steps"]
    cost = [i for i, line in enumerate(err) if line.startswith("stage 1: 60 steps, about ")]
    assert first and cost and first[0] < cost[0], err
    assert "on this device (measured over the first 20 steps)" in err[cost[0]]
    bars = [i for i, line in enumerate(err) if line.startswith("stage 1 [")]
    assert bars and first[0] < bars[0]  # said before the first step's line
    assert main(["train", *FAST, "--out", str(tmp_path / "b"), "--quiet"]) == 0
    assert capsys.readouterr().err.strip() == f"run complete: {tmp_path / 'b'}"


def test_the_cost_sentence_names_the_faster_preset_for_the_papers_schedule():
    from vaediag.engine.config import make_config
    from vaediag.engine.info import cost_sentence

    cfg = make_config()  # no preset: the supplement's MNIST schedule, 400 epochs of mnist5k's 4,500
    text = cost_sentence(cfg, 1, 4500, 18000, 2.0, 20)  # 0.1 s a step
    assert text.startswith("stage 1: 18,000 steps, about 30 min on this device")
    assert "; preset " in text


def test_the_demo_writes_into_its_own_folder_by_default_and_figures_only_when_named(tmp_path, monkeypatch):
    from vaediag.api.demos import demo_paths

    monkeypatch.chdir(tmp_path)
    assert demo_paths() == (Path("vaediag-demo/runs"), Path("vaediag-demo/figures"))
    assert demo_paths(figures="figures") == (Path("vaediag-demo/runs"), Path("figures"))
    text = " ".join(build_parser()._subparsers._group_actions[0].choices["demo"].format_help().split())
    assert "--figures figures" in text and "vaediag-demo" in text


def test_a_resumed_run_told_another_length_says_why_not(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *FAST, "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--steps", "100"]) == 2
    err = capsys.readouterr().err
    _one_line(err)
    assert "schedule it started with" in err and "--steps is not taken" in err and "--config" in err
    assert main(["train", "--resume", str(run), "--lr", "1"]) == 2  # any other setting: the general sentence
    assert "--resume continues a run with its own settings" in capsys.readouterr().err
    # the command the sentence gives works: a new run of the same config, to the new length
    assert main(["train", "--config", str(run / "config.json"), "--steps", "40", "--stages", "1", "--out", str(tmp_path / "new"),
                 "--quiet"]) == 0
    assert vaediag.open_run(tmp_path / "new").config.train.schedule(1).steps == 40


def test_enhance_resume_with_another_target_says_why_not(tmp_path):
    import torch

    class Linear(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.enc, self.dec = torch.nn.Linear(4, 2), torch.nn.Linear(2, 4)

        def encode(self, x):
            return self.enc(x), torch.zeros(len(x), 2)

        def decode(self, z):
            return self.dec(z)

    with pytest.raises(UsageError, match="epochs= is not taken"):
        vaediag.enhance(Linear(), torch.rand(20, 4), out=tmp_path / "s2", resume=True, epochs=200)
