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

from _facts import facts, says
import vaediag
from vaediag.cli import build_parser, main
from vaediag.errors import NotFoundError, UsageError, VaediagError

REPO = Path(__file__).resolve().parents[1]
FAST = ["--dataset", "manifold:sphere?r=2&d=8&n=400", "--arch", "mlp", "--stages", "1", "--steps", "30"]  # FAST_TRAIN


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
    assert says(err, "celeba", tmp_path)
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
    assert "on this device (measured over " in err[cost[0]]
    bars = [i for i, line in enumerate(err) if line.startswith("stage 1 [")]
    assert bars and first[0] < bars[0]  # said before the first step's line
    # the same 60 steps, quiet: neither the schedule nor the cost sentence nor a bar
    assert main(["train", *FAST[:-2], *steps, "--out", str(tmp_path / "b"), "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_the_cost_sentence_is_taken_after_warm_up_with_a_clock_whose_first_steps_are_slow(tmp_path, capsys,
                                                                                         monkeypatch):
    # The demo's shape: the first 10 steps at 0.5 s, then 0.05 s a step. The estimate must be the steady
    # 120 * 0.05 = 6 s, not the first 20 steps' 30 s; the bar's rate counts from the end of warm-up.
    from vaediag.engine import loop as L

    fake = {"t": 0.0, "steps": 0}
    real_step = L.adam_step

    def step(*a, **k):
        fake["steps"] += 1
        fake["t"] += 0.5 if fake["steps"] <= 10 else 0.05
        return real_step(*a, **k)

    monkeypatch.setattr(L, "adam_step", step)
    monkeypatch.setattr(L.StageLoop, "clock", staticmethod(lambda: fake["t"]))
    assert main(["train", *FAST[:-2], "--steps", "120", "--out", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err.splitlines()
    cost = [line for line in err if line.startswith("stage 1: 120 steps, about ")]
    assert cost == ["stage 1: 120 steps, about 6 s on this device (measured over 40 steps after the first 21)"]
    assert not any(line.startswith("stage 1: now about") for line in err), err
    assert " 20.0 it/s " in [line for line in err if line.startswith("stage 1 [")][-1]


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


def test_a_resumed_run_told_another_length_says_why_not(tmp_path, capsys, fast_run):
    run = fast_run  # vaediag train FAST --out RUN
    assert main(["train", "--resume", str(run), "--steps", "100"]) == 2
    err = capsys.readouterr().err
    _one_line(err)
    assert says(err, "--steps", "--config")
    assert main(["train", "--resume", str(run), "--lr", "1"]) == 2  # any other setting: the general sentence
    assert says(capsys.readouterr().err, "--resume RUN", "--device", "--precision")  # what may be given
    # the command the sentence gives works: a new run of the same config, to the new length
    assert main(["train", "--config", str(run / "config.json"), "--steps", "40", "--stages", "1", "--out", str(tmp_path / "new"),
                 "--quiet"]) == 0
    assert vaediag.open_run(tmp_path / "new").config.train.schedule(1).steps == 40


def test_stage2_resume_with_another_target_says_why_not(tmp_path):
    with pytest.raises(UsageError, match=facts("stage2_epochs=")):
        vaediag.stage2(tmp_path / "s2", resume=True, stage2_epochs=200)


# ---------------------------------------------------------------------------- 3. one convention
def _parsers():
    seen, todo = {}, [("vaediag", build_parser())]
    while todo:
        name, p = todo.pop()
        if id(p) in seen:
            continue
        seen[id(p)] = (name, p)
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                todo.extend((n, sp) for n, sp in action.choices.items())
    return list(seen.values())


def test_every_option_has_help_and_no_help_text_carries_a_timing_or_an_issue_number():
    import re

    missing, bad = [], []
    for name, p in _parsers():
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                continue
            if not (a.help and a.help.strip()) or a.help == argparse.SUPPRESS:
                missing.append(f"{name} {'/'.join(a.option_strings)}")
        text = p.format_help()
        if re.search(r"\bissue \d+|#\d+\b|\b\d+(\.\d+)? ?(s|min|minutes|seconds)\b", text):
            bad.append(name)
    assert not missing, missing
    assert not bad, bad


def test_the_same_thing_has_the_same_option_everywhere():
    devices, quiet = {}, {}
    for name, p in _parsers():
        opts = {o: a for a in p._actions for o in a.option_strings}
        if "--device" in opts:
            devices[name] = opts["--device"].default
        if name != "vaediag":
            quiet[name] = "--quiet" in opts
    assert set(devices.values()) == {"auto"}, devices
    assert "theory" in devices and all(quiet.values()), quiet
    import inspect

    from vaediag.api import runs, theory_checks, two_stage

    for f in (runs.sample, runs.reconstruct, runs.save_samples, runs.train, two_stage.enhance,
              two_stage.load_two_stage, theory_checks.check_theory):
        assert inspect.signature(f).parameters["device"].default == "auto", f.__name__
    sub = dict(_parsers_by_name())
    assert sub["stage2"]._option_string_actions["--resume"].metavar == "RUN"
    assert "--stats-cache" in sub["fid"]._option_string_actions  # *-cache DIR, like --data-cache


def _parsers_by_name():
    return [(n, p) for n, p in _parsers()]


@pytest.mark.parametrize("verb", ["", "train", "sample", "demo", "stage2", "diagnose", "figure1", "report",
                                  "theory", "fid", "table", "cache", "info"])
def test_help_answers_without_importing_torch(verb):
    code = ("import sys\nfrom vaediag.cli import main\ntry:\n    main(%r)\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'matplotlib', 'numpy.linalg') if m in sys.modules))"
            % ([verb, "--help"] if verb else ["--help"]))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "usage: vaediag" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout[-300:]
    # the other side: running a verb does import torch (the check can see it)
    if verb == "":
        code = code.replace("['--help']", "['sample', '--run', '/nonexistent/run']")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
        assert "'torch'" in done.stdout.strip().splitlines()[-1]


def test_train_help_keeps_the_torchrun_example_on_two_lines(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    out = capsys.readouterr().out
    assert "--data-dir ~/data \\\n      --precision bf16 --out runs/celeba" in out


def test_stage2_resume_takes_the_run_like_train_and_the_old_form_is_refused(tmp_path, capsys):
    import numpy as np

    codes = tmp_path / "codes.npz"
    rng = np.random.default_rng(0)
    np.savez(codes, mu=rng.standard_normal((50, 2)).astype("f4"), logvar=np.zeros((50, 2), "f4"))
    out = tmp_path / "s2"
    assert main(["stage2", "--posteriors", str(codes), "--out", str(out), "--stage2-steps", "5", "--quiet"]) == 0
    assert main(["stage2", "--resume", str(out)]) == 0
    assert "deprecated" not in capsys.readouterr().err
    assert main(["stage2", "--resume", "--out", str(out)]) == 2  # the 0.2-development form: no alias
    assert "--resume: expected one argument" in capsys.readouterr().err
    assert main(["stage2", "--resume", str(out), "--out", str(out)]) == 2
    assert main(["stage2", "--resume"]) == 2
    assert main(["stage2", "--resume", str(tmp_path / "none")]) == 1  # a missing run: a runtime failure
    capsys.readouterr()


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".pdf", b"%PDF"), (".svg", b"<?xml")])
def test_sample_out_takes_the_figure_formats(tmp_path, capsys, suffix, magic, fast_run):
    run = fast_run  # vaediag train FAST --out RUN
    assert main(["sample", "--run", str(run), "--stage", "1", "--n", "8", "--out", str(tmp_path / f"s{suffix}")]) == 0
    assert (tmp_path / f"s{suffix}").read_bytes().startswith(magic)
    assert main(["sample", "--run", str(run), "--stage", "1", "--out", str(tmp_path / "s.jpg")]) == 2
    assert not (tmp_path / "s.jpg").exists()


def test_quiet_leaves_only_errors_on_stderr(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *FAST, "--out", str(run), "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    assert main(["sample", "--run", str(run), "--stage", "1", "--n", "4", "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    assert main(["sample", "--run", str(run), "--stage", "1", "--n", "0", "--quiet"]) == 2
    _one_line(capsys.readouterr().err)  # the error still shows


# ---------------------------------------------------------------------------- 5. a typed public API
def test_the_public_functions_of_the_typed_api_modules_are_annotated_and_results_are_documented():
    import inspect

    from vaediag.api import demos, runs, two_stage

    unannotated = []
    for mod in (runs, two_stage, demos):
        for name, f in vars(mod).items():
            if name.startswith("_") or not inspect.isfunction(f) or f.__module__ != mod.__name__:
                continue
            sig = inspect.signature(f)
            missing = [p for p, v in sig.parameters.items() if v.annotation is inspect.Parameter.empty]
            if missing or sig.return_annotation is inspect.Signature.empty:
                unannotated.append(f"{mod.__name__}.{name} {missing}")
    assert not unannotated, unannotated
    for cls in (vaediag.RunInfo, vaediag.StageInfo):
        doc = inspect.getdoc(cls)
        fields = [f.name for f in __import__("dataclasses").fields(cls) if f.name != "config"]
        assert all(name in doc for name in fields), (cls, [n for n in fields if n not in doc])
