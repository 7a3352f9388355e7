"""vaediag's errors are the built-in exceptions they are (ordinary ``except`` clauses catch them) and
still reach a CLI user as one line with exit status 2 (usage) or 1 (runtime)."""

from __future__ import annotations

import ast
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest

from _facts import facts, says
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
    with pytest.raises(ValueError, match=facts("'imagenet'")):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match=facts("n=1", 2)):
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
    (["train", "--dataset", "imagenet", "--out", "{tmp}/r"], 2, ("'imagenet'",)),  # usage: exit 2
    (["train", "--dataset", "{tmp}/missing.npy", "--out", "{tmp}/r"], 1, ("{tmp}/missing.npy",)),  # missing: exit 1
])
def test_cli_says_one_line_with_the_right_status(tmp_path, capsys, argv, code, words):
    got = main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    line = _one_line(got, capsys.readouterr().err)
    facts_ = [w.replace("{tmp}", str(tmp_path)) for w in words]
    assert got == code and says(line, *facts_) and line.startswith("vaediag train: error: ")
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


def test_the_shared_checks_name_the_argument_and_the_value():
    from vaediag.errors import check_fraction, check_positive_int

    assert check_positive_int("seeds", 3) == 3 and check_positive_int("n", 2.0) == 2
    for bad in (0, -1, 1.5, True, "3", None, float("nan"), float("inf")):
        with pytest.raises(UsageError, match=r"seeds=.*" + re.escape(repr(bad))):
            check_positive_int("seeds", bad)
    assert check_fraction("test_fraction", 0.1) == 0.1
    for bad in (0, 1, -0.5, 1.5, float("nan"), "0.1"):
        with pytest.raises(UsageError, match=r"test_fraction=.*" + re.escape(repr(bad))):
            check_fraction("test_fraction", bad)


# Library strings that name `vaediag` flags on purpose: commands shown as commands, not errors.
_COMMANDS_ON_PURPOSE = {
    "engine/info.py": "the next steps of a run, as the commands to type",
    "theory/checks_rhat.py": "the benchmark command that reproduces a chart",
    "quality/table.py": "the table's legend names the verb that made a column",
    "api/demos.py": "the demo is the command's own job: its progress lines name the command's --overwrite",
}
_FLAG = re.compile(r"(?<![\w-])--[a-z][\w-]*")


def _strings_with_flags(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return [f"{path.relative_to(REPO / 'vaediag')}:{n.lineno}: {n.value!r}" for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings
            and _FLAG.search(re.sub(r"pip install[^;:)]*", "", n.value))]  # pip's own flags are pip's


def test_library_code_names_arguments_not_flags():
    # A Python caller passed latent_dim=, not --latent-dim: only vaediag/cli/ (cli/words.py) speaks in flags.
    found = []
    for path in sorted((REPO / "vaediag").rglob("*.py")):
        rel = path.relative_to(REPO / "vaediag").as_posix()
        if rel.startswith("cli/") or rel in _COMMANDS_ON_PURPOSE:
            continue
        found += _strings_with_flags(path)
    assert not found, "library strings that name a command-line flag:\n" + "\n".join(found)
    assert _strings_with_flags(REPO / "vaediag" / "engine" / "info.py")  # the scan sees flags where they are
