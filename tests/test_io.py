"""vaediag.io: atomic writes (a failed write leaves the old file and no temporary file; the new file has the
permissions an ordinary open() gives), JSON of numpy/torch/path values, an exception's first line."""

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch

from vaediag.io import (atomic_save_npy, atomic_save_npz, atomic_write_text, first_line, json_text, jsonable, umask,
                        write_json)


def test_atomic_writes_round_trip_and_create_parents(tmp_path):
    atomic_write_text(tmp_path / "a" / "b" / "t.txt", "héllo\n")
    assert (tmp_path / "a" / "b" / "t.txt").read_bytes() == "héllo\n".encode()
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    atomic_save_npy(tmp_path / "x.npy", x)
    np.testing.assert_array_equal(np.load(tmp_path / "x.npy"), x)
    atomic_save_npz(tmp_path / "xy.npz", x=x, y=x[0])
    with np.load(tmp_path / "xy.npz") as f:
        assert sorted(f.files) == ["x", "y"] and (f["y"] == x[0]).all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "x.npy", "xy.npz"]  # no temporary file left


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "j.json"
    write_json(target, {"old": 1})

    class Unserialisable:
        pass

    with pytest.raises(TypeError):
        write_json(target, {"new": Unserialisable()})
    assert json.loads(target.read_text()) == {"old": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["j.json"]


def test_new_files_get_the_permissions_of_an_ordinary_open(tmp_path):
    atomic_write_text(tmp_path / "p.txt", "x")
    with open(tmp_path / "q.txt", "w") as f:
        f.write("x")
    mode = lambda p: stat.S_IMODE(os.stat(p).st_mode)  # noqa: E731
    assert mode(tmp_path / "p.txt") == mode(tmp_path / "q.txt") == 0o666 & ~umask()


def test_jsonable_turns_numpy_torch_and_paths_into_plain_values():
    obj = {1: np.float32(0.5), "a": (np.int64(3), np.bool_(True)), "arr": np.eye(2), "t": torch.tensor([1.5, 2.0]),
           "p": Path("/tmp/x")}
    assert jsonable(obj) == {"1": 0.5, "a": [3, True], "arr": [[1.0, 0.0], [0.0, 1.0]], "t": [1.5, 2.0], "p": "/tmp/x"}
    assert json_text({"b": 1, "a": [np.float64(2.0)]}) == '{\n  "a": [\n    2.0\n  ],\n  "b": 1\n}\n'


def test_first_line_of_an_exception():
    assert first_line(ValueError("one\ntwo")) == "one"
    assert first_line(KeyError()) == "KeyError"
    assert first_line(RuntimeError("x" * 500), limit=10) == "x" * 10
