"""The public API is the size of its use: one list (``vaediag.__all__``), each name documented where a
user reads, each function's docstring naming every argument with what it returns and raises, no
function over 8 parameters, and none of the command line's plumbing among the names."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import re
from pathlib import Path

import pytest

import vaediag

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = [n for n in vaediag.__all__ if n != "__version__"]
MAX_PARAMETERS = 8


def _user_text() -> str:
    """What a user reads: README.md, docs/ and the notebooks' cells."""
    parts = [(ROOT / "README.md").read_text()]
    parts += [p.read_text() for p in sorted((ROOT / "docs").rglob("*.md"))]
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        parts += ["".join(c["source"]) for c in json.loads(nb.read_text())["cells"]]
    return "\n".join(parts)


def _functions():
    return [(n, getattr(vaediag, n)) for n in PUBLIC if inspect.isfunction(getattr(vaediag, n))]


def test_one_list_of_public_names():
    import vaediag.api as api

    assert len(vaediag.__all__) == len(set(vaediag.__all__))
    assert api.__all__ == PUBLIC  # derived, not kept by hand
    for name in PUBLIC:
        assert getattr(api, name) is getattr(vaediag, name)
    # vaediag/api/__init__.py names no public name itself (no second list to keep in step)
    tree = ast.parse((ROOT / "vaediag" / "api" / "__init__.py").read_text())
    literals = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert not literals & set(PUBLIC)
    with pytest.raises(AttributeError):
        vaediag.output_file  # noqa: B018  (command-line plumbing is not public)


def test_every_public_name_is_where_a_user_reads():
    text = _user_text()
    missing = [n for n in vaediag.__all__ if not re.search(rf"\bvaediag\.{re.escape(n)}\b", text)]
    assert not missing, f"public names in no README, docs/*.md or notebook (as vaediag.NAME): {missing}"


def _section(doc: str, title: str) -> str | None:
    m = re.search(rf"^{title}:\n(.*?)(?=^\S[^\n]*:\n|\Z)", doc, re.M | re.S)
    return None if m is None else m.group(1)


@pytest.mark.parametrize("name", [n for n, _ in _functions()])
def test_docstrings_name_every_argument_and_say_what_is_returned_and_raised(name):
    f = getattr(vaediag, name)
    doc = inspect.getdoc(f) or ""
    params = [p for p in inspect.signature(f).parameters]
    args = _section(doc, "Args")
    assert params == [] or args is not None, f"{name}: no Args section"
    missing = [p for p in params if not re.search(rf"^\s*(\w+, )*{p}(, \w+)*:", args or "", re.M)]
    assert not missing, f"{name}: the Args section does not name {missing}"
    assert _section(doc, "Returns") is not None, f"{name}: no Returns section"
    assert _section(doc, "Raises") is not None, f"{name}: no Raises section"


@pytest.mark.parametrize("name", [n for n in PUBLIC if inspect.isclass(getattr(vaediag, n))])
def test_public_classes_document_what_they_are_made_of(name):
    cls = getattr(vaediag, name)
    doc = inspect.getdoc(cls) or ""
    assert doc.strip(), f"{name} has no docstring"
    if dataclasses.is_dataclass(cls):
        fields = [f.name for f in dataclasses.fields(cls) if f.init]
        assert not [f for f in fields if not re.search(rf"\b{f}\b", doc)], name


def test_no_public_function_takes_more_than_8_parameters():
    wide = {n: len(inspect.signature(f).parameters) for n, f in _functions()}
    for n in PUBLIC:  # and no class made by hand (not a record of results) with a wide constructor
        obj = getattr(vaediag, n)
        if inspect.isclass(obj) and not dataclasses.is_dataclass(obj) and not issubclass(obj, Exception):
            wide[n] = len(inspect.signature(obj).parameters)
    assert not {n: k for n, k in wide.items() if k > MAX_PARAMETERS}


def _cli_imports() -> dict[str, set[str]]:
    """{vaediag.api submodule: names the command line imports from it}."""
    got: dict[str, set[str]] = {}
    for path in sorted((ROOT / "vaediag" / "cli").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("vaediag.api."):
                got.setdefault(node.module, set()).update(a.name for a in node.names)
    return got


def test_the_command_imports_api_submodules_and_its_plumbing_stays_private():
    got = _cli_imports()
    assert got, "cli/ imports what it needs from the vaediag.api submodules"
    for path in (ROOT / "vaediag" / "cli").glob("*.py"):
        assert "from vaediag import api" not in path.read_text(), path.name  # submodules, not the package
    text = _user_text()
    for module, names in got.items():
        for name in names:
            obj = getattr(__import__(module, fromlist=[name]), name)
            assert obj is not None
            if name in vaediag.__all__:  # the verbs themselves: public because users call them too
                assert re.search(rf"\bvaediag\.{name}\b", text), name
    plumbing = {"output_file", "env_world", "SharedError", "SharedUsageError", "prepare_process", "open_trained",
                "require_stage2", "diagnostics_sources", "save_theory", "check_theory_outputs", "format_table",
                "format_rhat", "format_reported", "DEFAULT_TAU", "StderrProgress", "TensorBoardLogger",
                "diagnose_outside", "save_samples", "demo", "ARCHS", "PRESETS", "TRAIN_FIELDS"}
    assert not plumbing & set(vaediag.__all__)


def test_the_options_dataclasses_are_frozen_and_check_once():
    from vaediag.errors import UsageError

    d, f = vaediag.DiagnoseOptions(), vaediag.FidOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.tau = 0.2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.seeds = 2  # type: ignore[misc]
    for bad in (dict(tau=0.0), dict(tau=-1.0)):
        with pytest.raises(UsageError, match="tau="):
            vaediag.DiagnoseOptions(**bad)
    for bad, word in ((dict(seeds=0), "seeds="), (dict(batch_size=0), "batch_size="), (dict(kid_subsets=0), "kid_subsets="),
                      (dict(kid_subset_size=1), "kid_subset_size="), (dict(fid_method="svd"), "fid_method=")):
        with pytest.raises(UsageError, match=word):
            vaediag.FidOptions(**bad)


def test_the_old_keywords_are_refused_with_the_new_spelling():
    from vaediag.errors import UsageError

    class Model:
        def encode(self, x):
            return x, x * 0

        def decode(self, z):
            return z

    with pytest.raises(UsageError, match=r"stage2\(out, resume=True\)"):
        vaediag.enhance(Model(), None, resume=True)
    with pytest.raises(TypeError):
        vaediag.diagnose("no-run", iw=False)  # an option of DiagnoseOptions, not of diagnose
    with pytest.raises(TypeError):
        vaediag.fid("no-run", seeds=2)  # an option of FidOptions
