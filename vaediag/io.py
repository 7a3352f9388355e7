"""Atomic writes and JSON. Imports nothing else from vaediag, so every layer may use it.

An atomic write goes to a temporary file in the target's folder (created with the permissions an
ordinary ``open()`` would give, not mkstemp's 0600), is flushed to disk, then renamed over the target:
a reader sees the old file or the new one, never half of one, and a failed write leaves no temporary
file behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from collections.abc import Iterator
from typing import Any, BinaryIO

import numpy as np


def umask() -> int:
    """The process's file-creation mask (read without changing it for long)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """``with atomic_open(path) as f: f.write(...)``: the bytes go to a temporary file in the same
    folder (parent folders are created), which is flushed to disk and renamed over ``path`` only when
    the block ends without an exception; otherwise it is removed and ``path`` is untouched. Streaming
    into the file (``torch.save(state, f)``) keeps no second copy of a large checkpoint in memory."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name + ".", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~umask())  # mkstemp makes 0600 files; give the usual permissions
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes | memoryview) -> None:
    """Write ``data`` to ``path`` atomically (parent folders are created)."""
    with atomic_open(path) as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_save_npz(path: str | os.PathLike[str], **arrays: np.ndarray) -> None:
    with atomic_open(path) as f:
        np.savez(f, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as its allow_pickle flag


def atomic_save_npy(path: str | os.PathLike[str], array: np.ndarray) -> None:
    with atomic_open(path) as f:
        np.save(f, array)


def jsonable(o: Any) -> Any:
    """``o`` with numpy scalars/arrays, tensors and paths turned into plain JSON values."""
    if isinstance(o, dict):
        return {str(k): jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [jsonable(v) for v in o]
    if isinstance(o, (np.floating, np.integer, np.bool_)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "detach") and hasattr(o, "tolist"):  # a torch tensor, without importing torch here
        return o.detach().cpu().tolist()
    return o


def json_text(obj: Any) -> str:
    return json.dumps(jsonable(obj), indent=2, sort_keys=True) + "\n"


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """``obj`` as indented, key-sorted JSON, written atomically."""
    atomic_write_text(path, json_text(obj))


def first_line(e: BaseException, limit: int = 160) -> str:
    """The first line of an exception's message (its type name when it has none), at most ``limit`` chars."""
    text = str(e).strip()
    return text.splitlines()[0][:limit] if text else type(e).__name__
