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
    """cli/ parses, calls a vaediag.api function and prints: it imports vaediag.api and its submodules (and
    vaediag.errors, the version, its own modules such as cli.words) only, so that every verb is a function of
    the Python API. What it imports from the submodules does not become public (tests/test_api_public.py)."""
    allowed = ("vaediag.api", "vaediag.errors", "vaediag.__version__", "vaediag.cli")
    wrong = [f"{path.relative_to(PKG.parent)}:{line} imports {target}"
             for name, path in _modules() if _part(name) == "cli"
             for target, line, _ in _imports(path)
             if not any(target == a or target.startswith(a + ".") for a in allowed)]
    assert not wrong, "cli/ imports more than vaediag.api and its submodules:\n" + "\n".join(wrong)


MAX_MODULE_LINES, MAX_FUNCTION_LINES = 450, 60
# Functions still over the limit, to be split (the list may only shrink).
LONG_FUNCTIONS_LEFT = {"vaediag/quality/evaluate.py:evaluate_run"}


def test_no_module_over_450_lines_and_no_function_over_60():
    long = []
    for _, path in _modules():
        rel = str(path.relative_to(PKG.parent))
        text = path.read_text()
        if (n := len(text.splitlines())) > MAX_MODULE_LINES:
            long.append(f"{rel}: {n} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES and f"{rel}:{node.name}" not in LONG_FUNCTIONS_LEFT:
                    long.append(f"{rel}:{node.lineno} {node.name}: {n} lines")
    assert not long, f"over {MAX_MODULE_LINES} lines a module or {MAX_FUNCTION_LINES} a function:\n" + "\n".join(long)


# Modules with logic whose test file tests/test_<package>_<module>.py does not exist yet (the list may
# only shrink: a new module comes with its test file).
UNTESTED_LEFT = {
    "api/analysis", "api/demos", "api/process", "api/quality", "api/runs", "api/two_stage",  # tests/test_api.py
    "cli/cache", "cli/enhance",  # tests/test_cli.py
    "diagnostics/summary",  # tests/test_diagnostics.py
    "engine/batches", "engine/enhance", "engine/loop", "engine/runs",  # tests/test_engine_train.py
    "plots/report", "quality/evaluate", "quality/table",
    "theory/checks_two_stage",  # its verdicts: tests/test_theory_checks_common.py
}


def _has_logic(path: Path) -> bool:
    return any(isinstance(n, (ast.FunctionDef, ast.ClassDef)) for n in ast.parse(path.read_text()).body)


def test_every_module_with_logic_has_its_test_file():
    tests = PKG.parent / "tests"
    missing = []
    for name, path in _modules():
        rel = str(path.relative_to(PKG).with_suffix(""))
        if path.name.startswith("__") or not _has_logic(path):
            continue
        test = tests / f"test_{rel.replace('/', '_')}.py"
        if not test.exists() and rel not in UNTESTED_LEFT:
            missing.append(f"{rel}: no {test.relative_to(PKG.parent)}")
        if test.exists() and rel in UNTESTED_LEFT:
            missing.append(f"{rel} has {test.relative_to(PKG.parent)} now: take it off UNTESTED_LEFT")
    assert not missing, "\n".join(missing)


def test_no_api_module_hides_a_function_of_the_same_name():
    """Importing vaediag.api.X sets the attribute X of the package to the module: no module of
    vaediag/api/ may be named like a public name (vaediag.api.diagnose must stay the function)."""
    from vaediag import api

    modules = {p.stem for p in (PKG / "api").glob("*.py")}
    assert not modules & set(api.__all__)
