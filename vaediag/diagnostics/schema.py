"""How the typed result of a diagnosis is declared and serialised: one :func:`entry` per field carries its
meaning, unit, equation and where it lives on disk (a key of ``summary.json``, dotted for nested objects,
and/or an array of ``arrays.npz``); :func:`section` makes a frozen dataclass whose docstring (``help()``)
lists them; :func:`dump` and :func:`load` turn a section into the flat JSON/npz pair and back, so the
files keep the key set earlier releases wrote (``docs/diagnostics.md``, the field reference).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

MISSING = object()


def entry(doc: str, unit: str = "", eq: str = "", key: str | None = None, npz: str | None = None,
          kind: str = "value", default: Any = None, cls: type | None = None) -> Any:
    """A documented field. ``key``: its place in summary.json (relative to the section's prefix); ``npz``:
    its array in arrays.npz; ``kind``: value | float | int | bool | str | array | tuple | dict | rows |
    section (``cls`` the row or section class)."""
    meta = {"doc": doc, "unit": unit, "eq": eq, "key": key, "npz": npz, "kind": kind, "cls": cls}
    if isinstance(default, (list, dict, np.ndarray)):
        return dataclasses.field(default_factory=lambda: default, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def section(cls):
    """A frozen dataclass (no ``==``: its fields hold arrays) whose docstring lists every field with its unit
    and equation (what ``help()`` shows)."""
    cls = dataclasses.dataclass(frozen=True, eq=False)(cls)
    lines = [(cls.__doc__ or "").rstrip(), "", "Attributes:"]
    for f in dataclasses.fields(cls):
        m = f.metadata
        where = ", ".join(x for x in (m["unit"], m["eq"]) if x)
        lines.append(f"    {f.name}{f' ({where})' if where else ''}: {m['doc']}")
    cls.__doc__ = "\n".join(lines)
    return cls


def _path(prefix: str, key: str) -> list[str]:
    return [p for p in (prefix.split(".") if prefix else []) + key.split(".") if p]


def _get(d: dict, path: list[str]):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return MISSING
        d = d[p]
    return d


def _put(d: dict, path: list[str], value) -> None:
    for p in path[:-1]:
        d = d.setdefault(p, {})
    d[path[-1]] = value


def jsonable(v):
    """A JSON value: arrays as lists, tuples as lists, non-finite floats as null."""
    if isinstance(v, np.ndarray):
        return jsonable(v.tolist())
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (np.floating, float)):
        return float(v) if math.isfinite(float(v)) else None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def dump(obj, summary: dict, arrays: dict, prefix: str | None = None) -> None:
    """Write ``obj``'s fields into ``summary`` (JSON values) and ``arrays`` (numpy)."""
    prefix = prefix or ""
    for f in dataclasses.fields(obj):
        m, v = f.metadata, getattr(obj, f.name)
        if m["kind"] == "section":
            sub = _join(prefix, m["key"])
            if v is None:
                if sub:
                    _put(summary, _path("", sub), None)
            else:
                dump(v, summary, arrays, sub)
            continue
        if m["npz"] and v is not None:
            arrays[m["npz"]] = np.asarray(v)
        if m["key"]:
            if m["kind"] == "rows":
                v = [_row(r) for r in v]
            _put(summary, _path(prefix, m["key"]), jsonable(v))


def _join(prefix: str, key: str | None) -> str:
    return ".".join(p for p in (prefix, key) if p)


def _row(r) -> dict:
    return {f.metadata["key"]: jsonable(getattr(r, f.name)) for f in dataclasses.fields(r)}


def load(cls, summary: dict, arrays: dict, prefix: str | None = None, **given):
    """An instance of ``cls`` from the flat pair (missing keys take the field's default); ``given``
    overrides fields by name."""
    prefix = prefix or ""
    kw = {}
    for f in dataclasses.fields(cls):
        if f.name in given:
            kw[f.name] = given[f.name]
            continue
        m = f.metadata
        if m["kind"] == "section":
            sub = _join(prefix, m["key"])
            kw[f.name] = None if sub and _get(summary, _path("", sub)) in (None, MISSING) else load(m["cls"], summary, arrays, sub)
            continue
        v = MISSING
        if m["npz"] and m["npz"] in arrays:
            v = arrays[m["npz"]]
        elif m["key"]:
            v = _get(summary, _path(prefix, m["key"]))
        if v is not MISSING:
            kw[f.name] = convert(v, m["kind"], m["cls"])
    return cls(**kw)


def convert(v, kind: str, cls=None):
    """A JSON (or npz) value as the field's type."""
    if v is None:
        return None
    if kind == "float":
        return float(v)
    if kind == "int":
        return int(v)
    if kind == "bool":
        return bool(v)
    if kind == "str":
        return str(v)
    if kind == "array":
        return np.asarray(v, dtype=np.float64) if not isinstance(v, np.ndarray) else v
    if kind == "tuple":
        return tuple(convert(x, "tuple") if isinstance(x, list) else x for x in v)
    if kind == "dict":
        return dict(v)
    if kind == "rows":
        return tuple(cls(**{f.name: x[f.metadata["key"]] for f in dataclasses.fields(cls) if f.metadata["key"] in x})
                     for x in v)
    return v


def reference(cls, path: str = "") -> list[tuple[str, str, str, str]]:
    """(attribute path, meaning, unit, equation) of every field, sections expanded (the docs' field reference)."""
    out = []
    for f in dataclasses.fields(cls):
        m = f.metadata
        name = f"{path}.{f.name}" if path else f.name
        if m["kind"] == "section":
            out.append((name, m["doc"], "", ""))
            out += reference(m["cls"], name)
        else:
            out.append((name, m["doc"], m["unit"], m["eq"]))
    return out


def reference_table(cls) -> str:
    """The field reference as a markdown table (docs/diagnostics.md holds it; a test keeps the two equal)."""
    rows = ["| field | meaning | unit | equation |", "|---|---|---|---|"]
    for name, doc, unit, eq in reference(cls):
        rows.append(f"| `{name}` | {doc.replace('|', '/')} | {unit} | {eq} |")
    return "\n".join(rows)
