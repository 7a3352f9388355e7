"""Training both stages, and resuming after Ctrl-C or kill -9 ending bit-identical."""

import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from _facts import facts
from vaediag.cli import main
from vaediag.engine.runs import Run
from vaediag.errors import VaediagError

QUICK = ["--preset", "quick", "--quiet", "--log-every", "1"]


def _state(run: Run, stage: int) -> dict:
    return run.load_checkpoint(stage)["model"]


def _metrics_wo_time(run: Run, stage: int) -> dict:
    m = run.read_metrics(stage)
    m.pop("seconds")
    return m


def assert_runs_identical(a: Run, b: Run, stages=(1, 2)):
    for s in stages:
        sa, sb = _state(a, s), _state(b, s)
        assert sa.keys() == sb.keys()
        for k in sa:
            assert torch.equal(sa[k], sb[k]), f"stage {s} {k} differs"
        ma, mb = _metrics_wo_time(a, s), _metrics_wo_time(b, s)
        for k in ma:
            np.testing.assert_array_equal(ma[k], mb[k], err_msg=f"stage {s} metric {k}")
    pa, pb = a.load_posteriors(), b.load_posteriors()
    np.testing.assert_array_equal(pa[0], pb[0])


def test_learning_rate_schedule_halves_from_the_given_step():
    from vaediag.engine.config import make_config
    from vaediag.engine.config import StageSchedule
    from vaediag.engine.schedule import lr_at as _lr_at, plan

    # the paper's schedule: halved every period, the first halving after one period
    assert [_lr_at(s, 1.0, 100) for s in (0, 99, 100, 199, 200, 350)] == [1, 1, 0.5, 0.5, 0.25, 0.125]
    assert _lr_at(10**6, 2e-3, None) == 2e-3
    # constant for 300 steps, then halved at 300, 400, 500, ...
    assert [_lr_at(s, 1.0, (300, 100)) for s in (0, 299, 300, 399, 400, 520)] == [1, 1, 0.5, 0.5, 0.25, 0.125]
    # epochs -> steps: 4,500 examples in batches of 100 are 45 steps an epoch
    assert plan(StageSchedule(100, 1.0, None, 6000, 10.0), 4500) == (100, 6000, (450, 450))
    assert plan(StageSchedule(100, 1.0, None, 6000, 10.0, 100.0), 4500) == (100, 6000, (4500, 450))
    assert plan(StageSchedule(100, 1.0, None, 6000, None, 100.0), 4500) == (100, 6000, None)
    cfg = make_config(lr_halve_from=100.0, lr_halve_every=10.0)
    assert (cfg.train.stage1.lr_halve_from, cfg.train.stage1.lr_halve_every) == (100.0, 10.0)
    with pytest.raises(VaediagError, match=facts("lr_halve_from=", "-1.0")):
        make_config(lr_halve_from=-1.0)


def test_stage2_trains_on_stage1_posteriors_and_samples_decode(tmp_path, uninterrupted):
    # an existing stage-1 run: a copy of the shared run without its stage 2 (training one would cost
    # its steps and the encoding of all 4,500 digits again)
    out = tmp_path / "r"
    shutil.copytree(uninterrupted.path, out, ignore=lambda d, names: [n for n in names if n in ("stage2", ".lock")])
    assert Run.open(out).stage_done(1) and not (out / "stage2").exists()
    # stage 2 alone on the existing stage-1 run
    assert main(["train", "--stages", "2", "--out", str(out), "--stage2-steps", "150", "--quiet", "--log-every", "1"]) == 0
    run = Run.open(out)
    m2 = run.read_metrics(2)
    assert m2["loss"][-10:].mean() < m2["loss"][:10].mean()
    assert main(["sample", "--run", str(out), "--stage", "2", "--n", "9", "--out", str(tmp_path / "s.png")]) == 0
    x = np.load(tmp_path / "s.npy")
    assert x.shape == (9, 1, 28, 28) and np.isfinite(x).all() and 0 <= x.min() and x.max() <= 1
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the stage-1 model is untouched by stage 2
    assert main(["train", "--stages", "2", "--out", str(out), "--quiet"]) == 1  # exists: needs --overwrite


def _train_argv(out, extra=()):
    # a checkpoint (156 MB for InfoGAN with its Adam moments, half a CPU second to write) only at the end of
    # a stage: the stops below (stage 1 after step 7, stage 2 after step 11) come before it, so a resume
    # starts from the stop's own checkpoint. Batches of 50 instead of the preset's 100 (a step costs about
    # half; measured with the assertions below at 100 and 50: loss down 206 and 205 nats, gamma at 0.671
    # and 0.672 of its start after 40 steps).
    return ["train", *QUICK, "--steps", "40", "--stage2-steps", "30", "--checkpoint-every", "40", "--batch-size", "50",
            "--stage2-batch-size", "50", "--out", str(out), *extra]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """A short quick-preset run, both stages, never interrupted."""
    out = tmp_path_factory.mktemp("train") / "a"
    assert main(_train_argv(out)) == 0
    return Run.open(out)


def test_short_training_lowers_loss_and_gamma(uninterrupted):
    run = uninterrupted
    m = run.read_metrics(1)
    assert len(m["step"]) == 40 and m["step"][-1] == 40
    assert m["loss"][-5:].mean() < m["loss"][:5].mean() - 100  # nats
    assert m["gamma"][-1] < 0.7 * m["gamma"][0]
    assert m["mse"][-5:].mean() < m["mse"][:5].mean()
    np.testing.assert_allclose(m["gamma"], np.exp(m["log_gamma"]), rtol=1e-6)
    np.testing.assert_allclose(m["loss"], m["recon"] + m["kl"], rtol=1e-5)
    # what stage 2 trained on: q(z|x) of every training image
    mu, logvar = run.load_posteriors()
    assert mu.shape == logvar.shape == (4500, 64) and np.isfinite(logvar).all()


def test_stop_request_then_resume_is_bit_identical(tmp_path, monkeypatch, uninterrupted):
    from vaediag.engine import loop as T

    # interrupt stage 1 after step 7 (a Ctrl-C sets this flag) and stage 2 after step 11
    real = T.Progress.update

    def update(self, n, **kw):
        real(self, n, **kw)
        if (self.desc == "stage 1" and n == 7) or (self.desc == "stage 2" and n == 11):
            T.StopFlag.requested = True

    monkeypatch.setattr(T.Progress, "update", update)
    assert main(_train_argv(tmp_path / "b")) == 1  # stopped with a message
    assert Run.open(tmp_path / "b").load_checkpoint(1)["step"] == 7
    assert main(["train", "--resume", str(tmp_path / "b"), "--quiet"]) == 1  # stops again in stage 2
    assert Run.open(tmp_path / "b").load_checkpoint(2)["step"] == 11
    monkeypatch.setattr(T.Progress, "update", real)
    assert main(["train", "--resume", str(tmp_path / "b"), "--quiet"]) == 0
    assert_runs_identical(uninterrupted, Run.open(tmp_path / "b"))


@pytest.mark.slow  # 70 s; the resume path it ends in is the default suite's (test_stop_request_then_resume...)
def test_kill_9_then_resume_is_bit_identical(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")]))
    argv = [sys.executable, "-m", "vaediag", *_train_argv(tmp_path / "b", ["--steps", "60"])]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = tmp_path / "b" / "stage1" / "checkpoint.pt"
    deadline = time.time() + 900  # a loaded machine may take minutes to reach the first checkpoint
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)  # land somewhere between checkpoints
    assert ckpt.exists(), "the training process wrote no checkpoint"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run_b = Run.open(tmp_path / "b")
    killed_at = run_b.load_checkpoint(1)["step"]
    assert 5 <= killed_at < 60 and not run_b.load_checkpoint(1)["done"]
    # resume in a fresh process like the killed one (the floating-point flags of torch's worker
    # threads are fixed when they start, so both sides of the comparison start their own)
    resume = [sys.executable, "-m", "vaediag", "train", "--resume", str(tmp_path / "b"), "--quiet"]
    assert subprocess.run(resume, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    # the uninterrupted reference, in a process of its own like the killed one
    ref = [sys.executable, "-m", "vaediag", *_train_argv(tmp_path / "a", ["--steps", "60"])]
    assert subprocess.run(ref, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    assert_runs_identical(Run.open(tmp_path / "a"), Run.open(tmp_path / "b"))


def test_vector_run_mlp(tmp_path):
    out = tmp_path / "v"
    assert main(["train", "--dataset", "manifold:sphere?r=1&d=4&n=400", "--steps", "300", "--stage2-steps", "50",
                 "--lr", "1e-3", "--gamma-lr-scale", "10", "--latent-dim", "3", "--batch-size", "64", "--quiet",
                 "--out", str(out)]) == 0
    run = Run.open(out)
    assert run.config.model.arch == "mlp" and run.config.model.output == "linear"
    m = run.read_metrics(1)
    assert m["gamma"][-1] < 0.3 and m["mse"][-20:].mean() < 0.8 * m["mse"][:20].mean()
    assert main(["sample", "--run", str(out), "--stage", "2", "--n", "50"]) == 0
    assert np.load(out / "samples" / "stage2.npy").shape == (50, 4)


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    from vaediag.engine import models

    real = models.VAE.loss
    calls = {"n": 0}

    def poisoned(self, x, eps):
        out = real(self, x, eps)
        calls["n"] += 1
        if calls["n"] >= 8:
            out = dict(out, loss=out["loss"] * float("nan"))
        return out

    monkeypatch.setattr(models.VAE, "loss", poisoned)
    out = tmp_path / "r"
    code = main(["train", "--dataset", "manifold:sphere?r=1&d=4&n=300", "--steps", "20", "--checkpoint-every", "5",
                 "--log-every", "1", "--stages", "1", "--quiet", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and "non-finite" in err and "Traceback" not in err
    state = Run.open(out).load_checkpoint(1)
    assert state["step"] == 5 and not state["done"]
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


@pytest.mark.slow
def test_long_learned_gamma_run_stays_finite(tmp_path):
    out = tmp_path / "long"
    assert main(["train", "--preset", "quick", "--steps", "4000", "--stages", "1", "--quiet", "--out", str(out)]) == 0
    m = Run.open(out).read_metrics(1)
    assert np.isfinite(m["loss"]).all() and m["gamma"][-1] < 1e-2
