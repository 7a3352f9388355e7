"""The type checker runs on the typed modules ([tool.mypy] in pyproject.toml lists them; strict)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(importlib.util.find_spec("mypy") is None,
                                reason="mypy is not installed (pip install -e '.[test]')")


def _mypy(request, *args: str) -> subprocess.CompletedProcess:
    # mypy's cache under .pytest_cache (a second run takes a second), or a fresh folder without pytest's cache
    store = getattr(request.config, "cache", None)
    cache = store.mkdir("mypy") if store is not None else request.getfixturevalue("tmp_path_factory").mktemp("mypy")
    return subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(cache), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=600)


def test_typed_modules_pass_mypy(request):
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    files = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mypy"]["files"]
    for required in ("vaediag/errors.py", "vaediag/progress.py", "vaediag/io.py", "vaediag/engine/info.py",
                     "vaediag/api/runs.py", "vaediag/api/two_stage.py", "vaediag/api/demos.py"):
        assert required in files
    done = _mypy(request)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"no issues found in {len(files)} source files" in done.stdout


def test_the_check_is_not_vacuous(request, tmp_path):
    # the same settings reject an untyped function and a wrong type
    bad = tmp_path / "bad.py"
    bad.write_text("def f(x):\n    return x\n\n\ny: int = 'a'\n")
    done = _mypy(request, str(bad))
    assert done.returncode == 1
    assert "[no-untyped-def]" in done.stdout and "[assignment]" in done.stdout
