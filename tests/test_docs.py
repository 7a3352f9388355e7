"""Docs that cannot drift: every file, module, attribute and command-line option named in README.md,
docs/**/*.md, the ``--help`` texts, the public docstrings and the error messages must exist.

- a path (``vaediag/engine/batches.py``, ``docs/quality.md``, ``benchmarks/x.py``; the README's table of
  choices names files relative to ``vaediag/``, e.g. ``engine/batches.py: LatentBatches``, whose name after
  the colon must be defined in that module) resolves from the repository root, a markdown link from its file;
- a dotted name ``vaediag.x.y`` imports (a module) or resolves by getattr (an attribute);
- a constant named as ``module.CONSTANT`` or ``module: CONSTANT`` (``checks_rhat.AFFINE_REL_TOL``,
  ``eigen: DEFAULT_TAU``), where ``module`` is the name of a module of vaediag, is defined in that module
  (not merely imported there: a constant that moved leaves no stale home in the docs);
- ``vaediag VERB ... --opt`` names a verb of ``vaediag.cli.build_parser()`` and an option of that verb;
  an option named alone (``--gamma-floor``) is an option of some verb, or of a tool in ``OTHER_TOOLS``.

The failure lists every broken reference with the file (or help text, docstring, message) that names it.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "vaediag"
PACKAGES = ("api", "cli", "data", "diagnostics", "engine", "plots", "quality", "theory")

# Options of other programs the docs quote (pip, pytest, torchrun, time, the benchmarks' scripts).
OTHER_TOOLS = {"--no-deps", "--force-reinstall", "--runslow", "--strict-markers",  # pip, pytest
               "--nproc_per_node", "--nproc-per-node", "--nnodes", "--standalone", "--run-path",  # torchrun
               "--rdzv-backend", "--rdzv-endpoint", "--rdzv-id",
               "--max-mem"}  # docs/cli.md: the abbreviation that is refused
# ... and the options of the scripts in benchmarks/ (python benchmarks/x.py --opt).
BENCH_OPTIONS = {o for p in (ROOT / "benchmarks").glob("*.py") for o in re.findall(r"[\"'](--[a-z][\w-]*)[\"']", p.read_text())}

PATH_RE = re.compile(r"(?<![\w./~-])((?:\.ci|vaediag|docs|tests|benchmarks|notebooks|figures)/[\w./-]*[\w/]"
                     r"|(?:%s)/\w+\.py|README\.md|CHANGELOG\.md|LICENSE|pyproject\.toml)" % "|".join(PACKAGES))
DEFINES_RE = re.compile(r"((?:%s)/\w+\.py|vaediag/[\w/]+\.py): ?`?(\w+)" % "|".join(PACKAGES))
# module.CONSTANT (capitals, digits, underscores) or module: CONSTANT (with an underscore: "quality: FID" is prose)
CONST_RE = re.compile(r"(?<![\w./-])(\w+)(?:\.py)?(?:\.([A-Z][A-Z0-9_]+)|: ?`?([A-Z][A-Z0-9]*_[A-Z0-9_]+))\b(?![.(\w])")
DOTTED_RE = re.compile(r"(?<![\w./-])vaediag(?:\.\w+)+")
LINK_RE = re.compile(r"\]\(([^)\s]+)\)")
VERB_RE = re.compile(r"(?<![\w/.-])vaediag ([a-z][\w-]*)")
OPTION_RE = re.compile(r"(?<![\w-])--[a-z][\w-]*")


def _parsers() -> dict[str, argparse.ArgumentParser]:
    from vaediag.cli import build_parser

    main = build_parser()
    sub = next(a for a in main._actions if isinstance(a, argparse._SubParsersAction))
    return {"": main, **sub.choices}


PARSERS = _parsers()
VERBS = {v for v in PARSERS if v}
OPTIONS = {v: {s for a in p._actions for s in a.option_strings} for v, p in PARSERS.items()}
ANY_OPTION = set().union(*OPTIONS.values()) | OTHER_TOOLS | BENCH_OPTIONS


def _resolve(dotted: str) -> bool:
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def _defined(path: Path) -> set[str]:
    """Names a module defines at its top level (not those it imports)."""
    out = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            out.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            out |= {t.id for t in ast.walk(node) if isinstance(t, ast.Name)}
    return out


def _module_files() -> dict[str, list[Path]]:
    """vaediag's modules by their last name (``config`` -> [vaediag/engine/config.py]); a name may have several."""
    out: dict[str, list[Path]] = {}
    for path in PKG.rglob("*.py"):
        if path.stem != "__init__":
            out.setdefault(path.stem, []).append(path)
    return out


MODULE_FILES = _module_files()


def _constant_defined(module: str, name: str) -> bool:
    for path in MODULE_FILES[module]:
        if name in _defined(path):
            return True
        for node in ast.parse(path.read_text()).body:  # the explicit re-export ``from x import NAME as NAME``
            if isinstance(node, ast.ImportFrom) and any(a.name == name and a.asname == name for a in node.names):
                return True
    return False


def _path_exists(ref: str, base: Path) -> bool:
    ref = ref.split("#")[0].rstrip("/.")
    if not ref:
        return True
    return any((b / ref).exists() for b in (base, ROOT, PKG))


def _segments(text: str):
    """Code spans, code-block lines and other lines: where a `vaediag VERB --opt` may be written."""
    for line in text.splitlines():
        spans = re.findall(r"`([^`]+)`", line)
        yield from spans or [line]


def _problems(where: str, text: str, base: Path = ROOT, own_verb: str | None = None) -> list[str]:
    bad = []
    for m in PATH_RE.finditer(text):
        if text[m.end():m.end() + 1] in ("<", "*", "{"):
            continue  # a pattern such as tests/test_<package>_<module>.py
        if not _path_exists(m.group(1), base):
            bad.append(f"{where}: file {m.group(1)} does not exist")
    for m in DEFINES_RE.finditer(text):
        path, name = m.groups()
        path = path if path.startswith("vaediag/") else f"vaediag/{path}"
        if (ROOT / path).exists() and name[0].isupper() and name not in _defined(ROOT / path):
            bad.append(f"{where}: {path} defines no {name}")
    for m in CONST_RE.finditer(text):
        module, name = m.group(1), m.group(2) or m.group(3)
        if module in MODULE_FILES and not _constant_defined(module, name):
            bad.append(f"{where}: no module named {module} defines {name}")
    for m in LINK_RE.finditer(text):
        target = m.group(1)
        if not re.match(r"[a-z]+:", target) and not _path_exists(target, base):
            bad.append(f"{where}: link target {target} does not exist")
    for m in DOTTED_RE.finditer(text):
        name = m.group(0).rstrip(".")
        if name.endswith((".py", ".md")) or not _resolve(name):
            if not (ROOT / name.replace(".", "/", name.count(".") - 1)).exists():
                bad.append(f"{where}: {name} does not resolve")
    for seg in _segments(text):
        calls = list(VERB_RE.finditer(seg))
        for i, m in enumerate(calls):
            verb = m.group(1)
            stop = re.search(r"'|;|\||&&| or ", seg[m.end():])
            end = min(calls[i + 1].start() if i + 1 < len(calls) else len(seg),
                      m.end() + stop.start() if stop else len(seg))
            if verb not in VERBS:
                continue  # prose such as "vaediag trains ..."
            for opt in OPTION_RE.findall(seg[m.end():end]):
                if opt not in OPTIONS[verb] and opt not in OPTIONS[""]:
                    bad.append(f"{where}: 'vaediag {verb}' has no option {opt}")
        if not calls:
            for opt in OPTION_RE.findall(seg):
                if opt.endswith("-"):
                    continue  # the constant part of f"--stage2-{name}"
                known = OPTIONS[own_verb] if own_verb else ANY_OPTION
                if opt not in known and opt not in ANY_OPTION:
                    bad.append(f"{where}: option {opt} belongs to no verb")
    return bad


def _report(bad: list[str]) -> None:
    bad = sorted(set(bad))
    assert not bad, f"{len(bad)} broken reference(s):\n" + "\n".join(bad)


def test_markdown_names_only_what_exists():
    bad = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        bad += _problems(str(path.relative_to(ROOT)), path.read_text(), base=path.parent)
    _report(bad)


def test_help_texts_name_only_what_exists():
    bad = []
    for verb, parser in PARSERS.items():
        bad += _problems(f"'vaediag {verb} --help'".replace("  ", " "), parser.format_help(), own_verb=verb or None)
    _report(bad)


def test_help_texts_carry_no_timings_or_issue_numbers():
    bad = []
    for verb, parser in PARSERS.items():
        text = " ".join(parser.format_help().split())
        for m in re.finditer(r"issue \d+|#\d+|\d+(?:\.\d+)? ?(?:s|min|minutes|seconds|hours)\b(?! per)", text):
            bad.append(f"'vaediag {verb} --help': {m.group(0)!r}")
    _report(bad)


def _modules():
    for info in pkgutil.walk_packages([str(PKG)], prefix="vaediag."):
        if info.name.split(".")[-1] not in ("__main__",):
            yield info.name


def test_docstrings_name_only_what_exists():
    bad = []
    for name in _modules():
        module = importlib.import_module(name)
        objs = [("", module)]
        for attr, obj in vars(module).items():
            if attr.startswith("_") or getattr(obj, "__module__", None) != name:
                continue
            objs.append((attr, obj))
            if inspect.isclass(obj):
                objs += [(f"{attr}.{a}", o) for a, o in vars(obj).items()
                         if not a.startswith("_") and (inspect.isfunction(o) or isinstance(o, property))]
        for attr, obj in objs:
            doc = obj.__doc__ if isinstance(obj, property) or attr == "" else inspect.getdoc(obj)
            if doc:
                bad += _problems(f"docstring of {name}{'.' + attr if attr else ''}", doc)
    _report(bad)


def _message_strings(node: ast.AST) -> str:
    return " ".join(n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str))


def test_error_messages_name_only_what_exists():
    bad = []
    for path in sorted(PKG.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and node.exc is not None:
                text = _message_strings(node.exc)
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr in ("warn", "error", "exit")):
                text = _message_strings(node)
            else:
                continue
            bad += _problems(f"message at {path.relative_to(ROOT)}:{node.lineno}", text)
    _report(bad)


@pytest.mark.parametrize("ref,ok", [
    ("see docs/quality.md", True), ("see docs/json.md", False), ("`vaediag.api.train`", True),
    ("`vaediag.enhance.enhance`", False), ("`vaediag train --resume RUN`", True),
    ("`vaediag train --no-such-option`", False), ("`engine/batches.py: LatentBatches`", True),
    ("`engine/train.py: LatentBatches`", False), ("`checks_rhat.AFFINE_REL_TOL`", True),
    ("`checks.AFFINE_REL_TOL`", False), ("`eigen: DEFAULT_TAU`", True), ("`eigen: NO_SUCH_CONSTANT`", False),
    ("`config.PRESETS`", True), ("quality: FID and KID", True), ("'vaediag train --stages 2' or --stage 1", True), ("`vaediag nosuchverb --x`", True),
])
def test_the_checker_itself(ref, ok):
    assert (not _problems("t", ref)) == ok, _problems("t", ref)
