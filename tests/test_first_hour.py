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
