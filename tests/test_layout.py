"""The layout is the architecture: imports point one way (README "Layout"), and the library never
selects a matplotlib backend (figures must show inline in JupyterLab)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "vaediag"

# Lower layers never import from higher ones (a module may import its own layer).
LAYERS = [
    {"errors", "io", "progress", "objective"},
    {"data"},
    {"engine"},
    {"diagnostics", "quality"},
    {"theory"},
    {"plots"},
    {"api"},
    {"cli", "__main__"},
]


def _part(module: str) -> str:
    """'vaediag.engine.train' -> 'engine'; 'vaediag' -> '' (the package's lazy __init__)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _layer(part: str) -> int:
    for i, names in enumerate(LAYERS):
        if part in names:
            return i
    raise AssertionError(f"vaediag.{part} is in no layer of tests/test_layout.py: add it")


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported vaediag module, line, inside a function) for every import of a file."""
    tree = ast.parse(path.read_text())
    local = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
             for n in ast.walk(f)}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("vaediag"):
            names = [node.module] if node.module != "vaediag" else [f"vaediag.{a.name}" for a in node.names]
            out += [(m, node.lineno, id(node) in local) for m in names]
        elif isinstance(node, ast.Import):
            out += [(a.name, node.lineno, id(node) in local) for a in node.names if a.name.startswith("vaediag")]
    return out


def _modules():
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        yield name, path


def test_imports_point_one_way():
    wrong = []
    for name, path in _modules():
        here = _part(name)
        if here == "":
            continue  # vaediag/__init__.py: lazy re-exports only
        for target, line, _ in _imports(path):
            if target.startswith("vaediag.__"):
                continue  # the version
            there = _part(target)
            if _layer(there) > _layer(here):
                wrong.append(f"{path.relative_to(PKG.parent)}:{line} imports {target}")
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def test_no_matplotlib_backend_chosen_by_the_library():
    offenders = [str(p.relative_to(PKG.parent)) for p in PKG.rglob("*.py")
                 if "matplotlib.use(" in p.read_text() and p.parts[-2] != "cli"]
    assert not offenders
    pyplot = [str(p.relative_to(PKG.parent)) for p in PKG.rglob("*.py")
              if "import matplotlib.pyplot" in p.read_text() or "from matplotlib import pyplot" in p.read_text()]
    assert not pyplot, "figures are made without pyplot state"


def test_help_does_not_import_torch_or_matplotlib():
    code = ("import sys; from vaediag.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]", f"'vaediag --help' imports {out}"


def test_the_cli_calls_only_the_api():
    """cli/ parses, calls a vaediag.api function and prints: it imports vaediag.api (and vaediag.errors,
    the version) only, so that every verb is a function of the Python API."""
    allowed = ("vaediag.api", "vaediag.errors", "vaediag.__version__")
    wrong = [f"{path.relative_to(PKG.parent)}:{line} imports {target}"
             for name, path in _modules() if _part(name) == "cli"
             for target, line, _ in _imports(path)
             if not any(target == a or target.startswith(a + ".") for a in allowed)]
    assert not wrong, "cli/ imports more than vaediag.api:\n" + "\n".join(wrong)


def test_no_module_over_450_lines_in_the_engine():
    long = [f"{p.relative_to(PKG.parent)}: {n}" for p in (PKG / "engine").glob("*.py")
            if (n := len(p.read_text().splitlines())) > 450]
    assert not long


def test_no_api_module_hides_a_function_of_the_same_name():
    """Importing vaediag.api.X sets the attribute X of the package to the module: no module of
    vaediag/api/ may be named like a function the API exports (vaediag.api.demo must stay a function)."""
    from vaediag import api

    modules = {p.stem for p in (PKG / "api").glob("*.py")}
    assert not modules & set(api.__all__)
