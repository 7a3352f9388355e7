"""Command-line conventions: exit status 0/1/2, usage on stderr, no abbreviated options, --json for the
verbs that compute numbers, diagnose --out, and saved diagnostics reused only with the same settings."""

import argparse
import json

import matplotlib
import pytest

from _facts import says
from vaediag.cli import build_parser, main
from vaediag.diagnostics.result import SUMMARY


@pytest.fixture(scope="module")
def run_dir(_fast_run_source, tmp_path_factory):
    import shutil

    # vaediag train FAST_TRAIN --quiet --out RUN (tests/conftest.py), trained once per worker
    return shutil.copytree(_fast_run_source, tmp_path_factory.mktemp("conv") / "run")


def _parsers(parser):
    """Every parser under the top one (each subparser once)."""
    seen, todo = {}, [parser]
    while todo:
        p = todo.pop()
        if id(p) in seen:
            continue
        seen[id(p)] = p
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                todo.extend(action.choices.values())
    return list(seen.values())


def test_every_parser_refuses_abbreviations_and_a_prefix_is_a_usage_error(capsys):
    parsers = list(_parsers(build_parser()))
    assert len(parsers) > 8 and all(p.allow_abbrev is False for p in parsers)
    assert main(["diagnose", "--run", "x", "--max-mem", "0.1"]) == 2  # a prefix of --max-memory-gb
    assert says(capsys.readouterr().err, "--max-mem")


def test_no_command_prints_the_usage_on_stderr_and_exits_2(capsys):
    assert main([]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("usage: vaediag") and says(err, "--help")


def test_runtime_failures_exit_1_and_usage_errors_exit_2(tmp_path, capsys):
    assert main(["diagnose", "--run", str(tmp_path / "none")]) == 1  # a run that cannot be opened
    assert main(["fid", "--run", str(tmp_path / "none"), "--proxy", "--seeds", "0"]) in (1, 2)
    assert main(["diagnose", "--run", str(tmp_path), "--n", "1"]) == 1  # no run: opening fails first
    assert main(["fid", "--run", str(tmp_path), "--fid-method", "svd"]) == 2  # argparse: a bad choice
    capsys.readouterr()


# The kind of a mistake decides the status, not its wording (docs/cli.md): the command line wrong in
# itself is 2, something outside it missing or wrong is 1. Each case is one sentence and writes nothing.
@pytest.mark.parametrize("status, argv", [
    (2, ["train", "--latent-dim", "0", "--out", "{tmp}/r"]),  # a value out of range
    (2, ["train", "--resume", "{tmp}/r", "--lr", "1e-3"]),  # options that exclude each other
    (2, ["sample", "--run", "{tmp}", "--out", "{tmp}/s.jpg"]),  # a path of the wrong kind
    (2, ["stage2", "--posteriors", "{tmp}/codes.txt", "--out", "{tmp}/r"]),
    (2, ["theory", "--quick", "--threads", "0"]),
    (2, ["fid", "--images", "{tmp}/a", "--run", "{tmp}"]),
    (1, ["stage2", "--posteriors", "{tmp}/missing.npz", "--out", "{tmp}/r"]),  # a file that is not there
    (1, ["train", "--config", "{tmp}/missing.json", "--out", "{tmp}/r"]),
    (1, ["fid", "--images", "{tmp}/missing", "--reference", "{tmp}/missing2", "--proxy"]),
    (1, ["train", "--device", "cuda", "--steps", "1", "--out", "{tmp}/r"]),  # a device that is not there
    (1, ["diagnose", "--run", "{tmp}/none"]),  # a run that cannot be opened
])
def test_exit_status_follows_the_kind_of_mistake(tmp_path, capsys, status, argv):
    import torch

    if argv[:3] == ["train", "--device", "cuda"] and torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == status
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert not (tmp_path / "r").exists()


def test_diagnose_out_and_json_leave_the_run_untouched(run_dir, tmp_path, capsys):
    out, js = tmp_path / "diag", tmp_path / "s.json"
    assert main(["diagnose", "--run", str(run_dir), "--n", "40", "--device", "cpu", "--out", str(out),
                 "--json", str(js)]) == 0
    capsys.readouterr()
    assert not (run_dir / "diagnostics").exists()
    summary = json.loads((out / SUMMARY).read_text())
    assert (out / "arrays.npz").is_file() and json.loads(js.read_text()) == summary
    assert summary["settings"] == {"n": 40, "all_inputs": False, "tau": 0.1, "seed": 0}
    assert main(["diagnose", "--run", str(run_dir), "--out", str(js)]) == 2  # a file is not a folder: usage


def test_saved_diagnostics_are_reused_only_with_the_same_settings_and_the_figure_says_which(run_dir, tmp_path,
                                                                                            capsys):
    matplotlib.rcParams["svg.fonttype"] = "none"  # keep the figure's text as text, to read it back
    try:
        assert main(["diagnose", "--run", str(run_dir), "--n", "40", "--device", "cpu"]) == 0
        capsys.readouterr()
        fig = tmp_path / "f.svg"
        assert main(["figure9", "--run", str(run_dir), "--n", "40", "--device", "cpu", "--out", str(fig)]) == 0
        err = capsys.readouterr().err
        assert "saved diagnostics reused (n=40, tau=0.1, seed=0)" in err
        assert "saved diagnostics reused (n=40, tau=0.1, seed=0)" in fig.read_text()
        # another --n: recomputed (and saved), and the figure says so
        assert main(["figure9", "--run", str(run_dir), "--n", "60", "--device", "cpu", "--out", str(fig)]) == 0
        err = capsys.readouterr().err
        assert "diagnostics computed now (n=60, tau=0.1, seed=0)" in err and "computed now (n=60" in fig.read_text()
        assert json.loads((run_dir / "diagnostics" / SUMMARY).read_text())["settings"]["n"] == 60
        # another threshold in the saved file: not reused by a figure at the default threshold
        assert main(["diagnose", "--run", str(run_dir), "--n", "60", "--tau", "0.2", "--device", "cpu"]) == 0
        capsys.readouterr()
        assert main(["figure9", "--run", str(run_dir), "--n", "60", "--device", "cpu", "--out", str(fig)]) == 0
        assert "computed now (n=60, tau=0.1" in capsys.readouterr().err
    finally:
        matplotlib.rcParams["svg.fonttype"] = "path"


def test_table_json_holds_the_markdown_and_the_results(run_dir, tmp_path, capsys):
    from vaediag.engine.runs import Run
    from vaediag.io import write_json
    from vaediag.quality.evaluate import result_path

    stored = {"protocol": {"dataset": "mnist5k", "n": 20}, "proxy": True, "metric": "proxy-fd",
              "model": {"gamma_mode": "learned", "gamma_init": 1.0, "decoder": "gaussian"},
              "stage1": {"mean": 12.5, "std": 1.0, "values": [11.5, 13.5], "n": 20}}
    write_json(result_path(Run.open(run_dir), True), stored)
    js = tmp_path / "t.json"
    assert main(["table", "--run", str(run_dir), "--json", str(js)]) == 0
    out = capsys.readouterr().out
    doc = json.loads(js.read_text())
    assert doc["markdown"] == out and len(doc["results"]) == 1
    assert doc["results"] == [stored] and "12.5" in doc["markdown"]
