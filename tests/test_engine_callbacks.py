"""train --config (a run's config.json or a hand-written part of one, overridden by the command line),
training callbacks (each metrics row, after the CSV), and --tensorboard."""

import json

import numpy as np
import pytest

from _facts import says
from vaediag.cli import main
from vaediag.engine import callbacks
from vaediag.engine.runs import METRIC_COLUMNS, Run

FAST = ["--dataset", "manifold:sphere?r=2&d=8&n=400", "--arch", "mlp", "--quiet", "--stages", "1"]


def test_config_from_another_run_with_command_line_overrides(tmp_path, capsys):
    a = tmp_path / "a"
    assert main(["train", *FAST, "--steps", "6", "--latent-dim", "5", "--lr", "0.002", "--out", str(a)]) == 0
    b = tmp_path / "b"
    # --stages 1 as for a: without it the command trains both stages, and stage 2's default schedule (800
    # epochs) was most of this file's time
    assert main(["train", "--config", str(a / "config.json"), "--steps", "4", "--stages", "1", "--quiet", "--out",
                 str(b)]) == 0
    ca, cb = Run.open(a).config, Run.open(b).config
    assert cb.model == ca.model and cb.model.latent_dim == 5  # from the file
    assert cb.train.stage1.lr == 0.002 and cb.train.dataset == ca.train.dataset
    assert cb.train.stage1.steps == 4 and ca.train.stage1.steps == 6  # the command line wins
    # a hand-written part of a config: the rest keeps the defaults, then the options override it
    hand = tmp_path / "hand.json"
    hand.write_text(json.dumps({"model": {"latent_dim": 3}, "train": {"lr": 0.003}}))
    c = tmp_path / "c"
    assert main(["train", *FAST, "--config", str(hand), "--steps", "3", "--lr", "0.001", "--out", str(c)]) == 0
    cc = Run.open(c).config
    assert cc.model.latent_dim == 3 and cc.train.stage1.lr == 0.001 and cc.train.stage1.steps == 3


@pytest.mark.parametrize("content, needle, status", [  # the facts: the file, and the key, type or value at fault
    ("not json", ("--config", "cfg.json", "JSON"), 1),
    ('{"optimizer": {}}', ("--config", "cfg.json", "model", "stage2", "train"), 2),
    ('{"model": {"latent_dims": 3}}', ("cfg.json", "model.latent_dims"), 2),
    ('{"train": {"steps": "100"}}', ("cfg.json", "train.stage1.steps", "integer", "'100'"), 2),
    ('{"train": {"stage2": {"lr": "fast"}}}', ("cfg.json", "train.stage2.lr", "number", "'fast'"), 2),
])
def test_a_bad_config_file_is_one_sentence_and_nothing_is_written(tmp_path, capsys, content, needle, status):
    f = tmp_path / "cfg.json"
    f.write_text(content)
    rc = main(["train", *FAST, "--config", str(f), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    # a file that cannot be read is a runtime failure (1); a wrong key or type a usage error (2)
    assert rc == status and len(err.splitlines()) == 1 and says(err, *needle) and "Traceback" not in err
    assert not (tmp_path / "r").exists()
    rc = main(["train", "--config", str(tmp_path / "missing.json"), "--out", str(tmp_path / "r")])
    assert rc == 1 and says(capsys.readouterr().err, "--config", "missing.json")


def test_callbacks_get_every_csv_row_after_it_is_written(tmp_path):
    import vaediag

    rows, seen_in_csv = [], []

    def cb(row):
        rows.append(row)
        # the row is in the CSV's buffer or file already; it is the same numbers the CSV will hold
        seen_in_csv.append(row["step"])

    class Closing:
        closed = False

        def __call__(self, row):
            pass

        def close(self):
            Closing.closed = True

    run = vaediag.train(tmp_path / "r", stages="1", dataset="manifold:sphere?r=2&d=8&n=400", arch="mlp",
                        steps=7, log_every=2, progress=False, callbacks=[cb, Closing()])
    m = run.read_metrics(1)
    assert [r["step"] for r in rows] == m["step"].astype(int).tolist() == [2, 4, 6, 7]
    assert all(r["stage"] == 1 and set(r) == {"stage", *METRIC_COLUMNS} for r in rows)
    for c in ("loss", "recon", "kl", "mse", "gamma", "log_gamma", "lr"):
        np.testing.assert_allclose([r[c] for r in rows], m[c], rtol=1e-12)  # the CSV holds repr(): exact
    assert Closing.closed
    with pytest.raises(vaediag.VaediagError, match="callable"):
        vaediag.train(tmp_path / "bad", stages="1", dataset="manifold:sphere?r=2&d=8&n=400", arch="mlp", steps=2,
                      progress=False, callbacks=["not a function"])


def test_tensorboard_missing_is_one_sentence_before_anything_is_written(tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    rc = main(["train", *FAST, "--steps", "2", "--tensorboard", str(tmp_path / "tb"), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "pip install tensorboard" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r").exists() and not (tmp_path / "tb").exists()


def test_tensorboard_logger_writes_each_metric_as_a_scalar(tmp_path, monkeypatch):
    # without the tensorboard package here, a stand-in SummaryWriter records the calls
    import importlib.util
    import sys
    import types

    calls = []

    class Writer:
        def __init__(self, log_dir):
            calls.append(("init", log_dir))

        def add_scalar(self, tag, value, step):
            calls.append((tag, value, step))

        def close(self):
            calls.append(("close",))

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: object() if name == "tensorboard" else real(name, *a))
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", types.SimpleNamespace(SummaryWriter=Writer))
    log = callbacks.TensorBoardLogger(tmp_path / "tb")
    log({"stage": 2, "step": 5, "loss": 1.5, "gamma": 0.25})
    log.close()
    assert calls == [("init", str(tmp_path / "tb")), ("stage2/loss", 1.5, 5), ("stage2/gamma", 0.25, 5), ("close",)]
