"""vaediag's errors are the built-in exceptions they are (ordinary ``except`` clauses catch them) and
still reach a CLI user as one line with exit status 2 (usage) or 1 (runtime)."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from vaediag.cli import main
from vaediag.data.datasets import load_dataset
from vaediag.errors import NotFoundError, UsageError, VaediagError
from vaediag.quality.sets import load_images

REPO = Path(__file__).resolve().parents[1]


def test_usage_error_is_a_value_error():
    with pytest.raises(ValueError):
        raise UsageError("--lr must be positive")
    assert issubclass(UsageError, VaediagError)


def test_not_found_is_a_file_not_found_error_with_the_path():
    with pytest.raises(FileNotFoundError) as got:
        raise NotFoundError("no run at x: the directory does not exist", path=Path("x"))
    e = got.value
    assert isinstance(e, OSError) and isinstance(e, VaediagError)
    assert str(e) == "no run at x: the directory does not exist"  # not "[Errno ...]"
    assert e.filename == "x"
    assert not isinstance(e, ValueError) and not isinstance(VaediagError("x"), (ValueError, OSError))


@pytest.mark.parametrize("err", [UsageError("bad value"), NotFoundError("gone", path="/a/b"), NotFoundError("gone"),
                                 VaediagError("failed")])
def test_errors_survive_pickling(err):
    # errors cross process boundaries (torchrun ranks, worker pools) as they were made
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is type(err) and str(back) == str(err)
    assert getattr(back, "filename", None) == getattr(err, "filename", None)


def test_library_raises_them(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'"):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match="n >= 2"):
        load_dataset("manifold:sphere?n=1")
    with pytest.raises(FileNotFoundError) as got:
        load_dataset(str(tmp_path / "missing.npy"))
    assert got.value.filename == str(tmp_path / "missing.npy")
    with pytest.raises(FileNotFoundError):
        load_dataset("mnist", data_dir=tmp_path)  # the IDX files are absent
    with pytest.raises(FileNotFoundError):
        load_images(tmp_path / "nothing.npy")


def _one_line(code: int, err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("argv, code, words", [
    (["train", "--dataset", "imagenet", "--out", "{tmp}/r"], 2, "unknown dataset"),  # usage: exit 2
    (["train", "--dataset", "{tmp}/missing.npy", "--out", "{tmp}/r"], 1, "no such file"),  # missing: exit 1
])
def test_cli_says_one_line_with_the_right_status(tmp_path, capsys, argv, code, words):
    got = main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    line = _one_line(got, capsys.readouterr().err)
    assert got == code and words in line and line.startswith("vaediag train: error: ")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("exc, code", [(UsageError("a usage mistake"), 2), (NotFoundError("a missing file"), 1),
                                       (VaediagError("a runtime failure"), 1)])
def test_cli_catch_keeps_its_statuses(monkeypatch, capsys, exc, code):
    # whatever built-in an error also is, the CLI's one catch gives one line and the class's status
    import vaediag.cli as cli

    def parser():
        p = cli.ArgumentParser(prog="vaediag")
        sub = p.add_subparsers(dest="command", parser_class=cli.ArgumentParser)
        sub.add_parser("boom").set_defaults(func=lambda args: (_ for _ in ()).throw(exc))
        return p

    monkeypatch.setattr(cli, "build_parser", parser)
    got = main(["boom"])
    assert got == code
    assert _one_line(got, capsys.readouterr().err) == f"vaediag boom: error: {exc}"


def test_python_m_vaediag_exit_status_2_for_a_usage_mistake(tmp_path):
    env = {"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "vaediag", "train", "--dataset", "imagenet", "--out",
                           str(tmp_path / "r")], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 2, done.stderr
    assert _one_line(done.returncode, done.stderr).startswith("vaediag train: error: unknown dataset")
