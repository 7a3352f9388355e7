"""Every bad input gets one sentence and a non-zero exit; nothing existing is touched."""

import numpy as np
import pytest

from _facts import says
from vaediag.cli import main


def run_cli(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err
    return code, err


def assert_one_sentence(code, err):
    assert code != 0
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and "error:" in lines[0]


@pytest.fixture(scope="module")
def tiny_run(_fast_run_source, tmp_path_factory):
    import shutil

    # vaediag train FAST_TRAIN --quiet --out RUN (tests/conftest.py), trained once per worker: a stage-1 run
    # whose checkpoint is 14 MB (the quick preset's InfoGAN, trained here before, wrote 156 MB, which four
    # tests below copy)
    return shutil.copytree(_fast_run_source, tmp_path_factory.mktemp("runs") / "tiny")


def _npy(tmp_path, arr, name="a.npy"):
    np.save(tmp_path / name, arr)
    return str(tmp_path / name)


@pytest.mark.parametrize("argv", [
    ["train", "--dataset", "imagenet", "--out", "{tmp}/r"],
    ["train", "--dataset", "mnist", "--data-dir", "{tmp}/nothing", "--out", "{tmp}/r"],
    ["train", "--dataset", "cifar10", "--data-dir", "{tmp}", "--out", "{tmp}/r"],
    ["train", "--dataset", "celeba", "--data-dir", "{tmp}", "--out", "{tmp}/r"],
    ["train", "--dataset", "{tmp}/missing.npy", "--out", "{tmp}/r"],
    ["train", "--latent-dim", "0", "--out", "{tmp}/r"],
    ["train", "--lr", "0", "--out", "{tmp}/r"],
    ["train", "--lr", "-1e-3", "--out", "{tmp}/r"],
    ["train", "--batch-size", "0", "--out", "{tmp}/r"],
    ["train", "--gamma", "banana", "--out", "{tmp}/r"],
    ["train", "--gamma", "-1", "--out", "{tmp}/r"],
    ["train", "--steps", "5", "--epochs", "2", "--out", "{tmp}/r"],
    ["train", "--arch", "infogan", "--dataset", "manifold:sphere?r=2&d=5&n=100", "--out", "{tmp}/r"],
    ["train", "--dataset", "manifold:cube?n=100", "--out", "{tmp}/r"],
    ["train", "--resume", "{tmp}"],
    ["train", "--resume", "{tmp}/nonexistent"],
    ["train"],
    ["train", "--preset", "nope", "--out", "{tmp}/r"],
    ["train", "--device", "tpu", "--steps", "1", "--out", "{tmp}/r"],
    ["sample", "--run", "{tmp}"],
    ["sample", "--run", "{tmp}/nonexistent"],
])
def test_bad_train_and_sample_input(tmp_path, capsys, argv):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code, err = run_cli(capsys, argv)
    assert_one_sentence(code, err)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("arr", [np.array([[1.0, np.inf], [0, 1]]), np.zeros((4,)), np.zeros((0, 3)),
                                 np.array([["x"], ["y"]])])
def test_bad_arrays_on_the_cli(tmp_path, capsys, arr):
    code, err = run_cli(capsys, ["train", "--dataset", _npy(tmp_path, arr), "--out", str(tmp_path / "r")])
    assert_one_sentence(code, err)


def test_unreadable_file(tmp_path, capsys):
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04garbage")
    code, err = run_cli(capsys, ["train", "--dataset", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "r")])
    assert_one_sentence(code, err)


def test_existing_run_is_refused_and_untouched(tiny_run, capsys):
    before = {p: p.stat().st_mtime_ns for p in tiny_run.rglob("*")}
    code, err = run_cli(capsys, ["train", "--preset", "quick", "--steps", "2", "--out", str(tiny_run)])
    assert_one_sentence(code, err)
    assert "--overwrite" in err
    assert {p: p.stat().st_mtime_ns for p in tiny_run.rglob("*")} == before


def test_non_run_directory_is_never_overwritten(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("precious")
    code, err = run_cli(capsys, ["train", "--steps", "1", "--overwrite", "--out", str(tmp_path)])
    assert_one_sentence(code, err)
    assert (tmp_path / "keep.txt").read_text() == "precious"


def test_sample_without_stage2_and_bad_out(tiny_run, tmp_path, capsys):
    assert_one_sentence(*run_cli(capsys, ["sample", "--run", str(tiny_run), "--stage", "2"]))
    assert_one_sentence(*run_cli(capsys, ["sample", "--run", str(tiny_run), "--stage", "1", "--out",
                                          str(tmp_path / "no" / "dir.png")]))
    assert_one_sentence(*run_cli(capsys, ["sample", "--run", str(tiny_run), "--stage", "1", "--n", "0"]))


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_checkpoint(tiny_run, tmp_path, capsys, damage):
    import shutil

    run_dir = tmp_path / "copy"
    shutil.copytree(tiny_run, run_dir)
    ck = run_dir / "stage1" / "checkpoint.pt"
    data = ck.read_bytes()
    ck.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"\x00" * 100, "empty": b""}[damage])
    code, err = run_cli(capsys, ["sample", "--run", str(run_dir), "--stage", "1"])
    assert_one_sentence(code, err)
    assert says(err, ck, "corrupt")
    code, err = run_cli(capsys, ["train", "--resume", str(run_dir), "--quiet"])
    assert_one_sentence(code, err)


def test_checkpoint_with_code_is_refused(tiny_run, tmp_path, capsys):
    import pickle
    import shutil

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    run_dir = tmp_path / "copy"
    shutil.copytree(tiny_run, run_dir)
    import torch

    torch.save({"model": Evil(), "step": 0}, run_dir / "stage1" / "checkpoint.pt", pickle_module=pickle)
    code, err = run_cli(capsys, ["sample", "--run", str(run_dir), "--stage", "1"])
    assert_one_sentence(code, err)
    assert "pwned" not in err


def test_resume_rejects_other_options(tiny_run, capsys):
    assert_one_sentence(*run_cli(capsys, ["train", "--resume", str(tiny_run), "--lr", "1"]))


def test_help_explains(capsys):
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--gamma" in out and "--resume" in out and "examples" in out
