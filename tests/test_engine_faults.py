"""Faults a cluster produces: a run trained by two processes at once, and a full disk while writing."""

import errno
import os
import signal
import subprocess
import sys

import pytest

from _facts import says
from vaediag.engine import faults
from vaediag.engine.faults import RunLock, held_by_this_process, write_failure
from vaediag.errors import VaediagError

pytestmark = pytest.mark.skipif(faults.fcntl is None, reason="no fcntl: run directories are not locked here")

HOLD = """
import sys, time
from vaediag.engine.faults import RunLock
lock = RunLock(sys.argv[1]).acquire()
print("locked", flush=True)
time.sleep(120)
"""


def _holder(run_dir):
    """Another process that takes the run's lock and keeps it."""
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], stdout=subprocess.PIPE, text=True,
                         cwd=os.getcwd())
    assert p.stdout.readline().strip() == "locked"
    return p


def _kill(p):
    p.send_signal(signal.SIGKILL)  # as a scheduler's hard kill: no Python clean-up runs
    p.wait()
    p.stdout.close()


def test_a_second_process_is_refused_with_the_holders_pid_and_kill_9_leaves_no_stale_lock(tmp_path):
    run = tmp_path / "run"
    p = _holder(run)
    try:
        with pytest.raises(VaediagError) as e:
            RunLock(run).acquire()
        msg = str(e.value)
        assert f"pid {p.pid} " in msg and str(run) in msg and "\n" not in msg
        assert not held_by_this_process(run)
    finally:
        _kill(p)
    # the kernel dropped the lock with the process: no clean-up needed, the file may stay
    assert (run / faults.LOCK_NAME).exists()
    with RunLock(run) as lock:
        assert held_by_this_process(run)
        assert (run / faults.LOCK_NAME).read_text().startswith(f"pid {os.getpid()} ")
    assert not held_by_this_process(run) and not lock.held


def test_the_lock_is_reentrant_within_one_process_and_released_by_its_outer_holder(tmp_path):
    outer = RunLock(tmp_path).acquire()
    inner = RunLock(tmp_path).acquire()  # a second flock on a new descriptor would deadlock against ourselves
    inner.release()
    assert held_by_this_process(tmp_path)
    outer.release()
    assert not held_by_this_process(tmp_path)
    # and another process can now take it
    p = _holder(tmp_path)
    _kill(p)


def test_write_failure_is_one_sentence_with_the_space_needed_and_free(tmp_path):
    target = tmp_path / "stage1" / "checkpoint.pt"  # the folder need not exist: the nearest existing one counts
    err = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    msg = str(write_failure(target, 3 * 1024 * 1024, err, then="continue with: vaediag train --resume R"))
    free = __import__("shutil").disk_usage(tmp_path).free
    assert "\n" not in msg and str(target) in msg and "No space left on device" in msg
    assert says(msg, "3.0 MB")
    assert f"{free / 1024 ** 3:.1f} GB is free" in msg or "MB is free" in msg or "KB is free" in msg
    assert msg.endswith("continue with: vaediag train --resume R")


def test_atomic_open_leaves_the_old_file_when_the_write_fails(tmp_path):
    from vaediag.io import atomic_open, umask

    target = tmp_path / "checkpoint.pt"
    target.write_bytes(b"last good")
    with pytest.raises(OSError):
        with atomic_open(target) as f:
            f.write(b"half of a new one")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert target.read_bytes() == b"last good" and sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]
    with atomic_open(target) as f:
        f.write(b"new")
    assert target.read_bytes() == b"new" and target.stat().st_mode & 0o777 == 0o666 & ~umask()


# ---------------------------------------------------------------------------- wired into training
# a small vector data set and the MLP: the faults are the point, not the model
QUICK = ["--dataset", "manifold:sphere?r=2&d=8&n=400", "--arch", "mlp", "--quiet", "--log-every", "1",
         "--stages", "1"]


def _one_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_a_run_being_trained_refuses_a_second_trainer_and_read_only_verbs_still_work(tmp_path, capsys):
    from vaediag.cli import main
    from vaediag.engine.runs import Run

    out = tmp_path / "run"
    assert main(["train", *QUICK, "--steps", "4", "--out", str(out)]) == 0
    p = _holder(out)  # as a first job still training it
    try:
        capsys.readouterr()
        for argv in (["train", "--resume", str(out)], ["train", *QUICK, "--steps", "4", "--out", str(out),
                                                          "--overwrite"]):
            rc = main(argv)
            line = _one_line(capsys.readouterr().err)
            assert rc == 1 and says(line, f"pid {p.pid} ", out)
        assert Run.open(out).progress(1)["step"] == 4  # nothing was cleared or retrained
        assert main(["diagnose", "--run", str(out), "--n", "50", "--device", "cpu"]) == 0  # a read-only verb
    finally:
        _kill(p)
    assert main(["train", "--resume", str(out)]) == 0  # kill -9 left no stale lock


def test_a_full_disk_while_checkpointing_is_one_sentence_and_resume_continues(tmp_path, capsys, monkeypatch):
    from vaediag.cli import main
    from vaediag.engine import runs
    from vaediag.engine.runs import CHECKPOINT, Run

    real, calls, saved = runs.atomic_write_bytes, [], {}

    def full_on_second_checkpoint(path, data):
        if path.name == CHECKPOINT:
            calls.append(path)
            if len(calls) == 2:
                saved["before"] = path.read_bytes()
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(path, data)

    monkeypatch.setattr(runs, "atomic_write_bytes", full_on_second_checkpoint)
    out = tmp_path / "run"
    rc = main(["train", *QUICK, "--steps", "12", "--checkpoint-every", "5", "--out", str(out)])
    line = _one_line(capsys.readouterr().err)
    assert rc == 1
    ckpt = out / "stage1" / CHECKPOINT
    assert says(line, ckpt, "No space left on device", " free", f"vaediag train --resume {out}")
    assert ckpt.read_bytes() == saved["before"]  # the last good checkpoint, untouched
    assert Run.open(out).progress(1)["step"] == 5
    monkeypatch.setattr(runs, "atomic_write_bytes", real)  # room again
    assert main(["train", "--resume", str(out)]) == 0
    assert Run.open(out).progress(1) | {"threads": None} == {"step": 12, "done": True, "threads": None,
                                                            "world_size": 1}
    assert Run.open(out).read_metrics(1)["step"].tolist() == list(range(1, 13))


def _tmpfs(path, size):
    path.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")


def test_a_real_small_filesystem_fills_during_training_and_resume_continues_after_growing_it(tmp_path, capsys):
    from vaediag.cli import main
    from vaediag.engine.runs import CHECKPOINT, Run

    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs Linux and root")
    # learn the sizes from a run on the ordinary disk, then give the run one checkpoint's room and a half:
    # the first checkpoint fits, the second (written beside the first, then renamed over it) does not
    ref = tmp_path / "ref"
    assert main(["train", *QUICK, "--steps", "6", "--checkpoint-every", "5", "--out", str(ref)]) == 0
    ckpt_size = (ref / "stage1" / CHECKPOINT).stat().st_size
    small = tmp_path / "small"
    _tmpfs(small, f"{int(ckpt_size * 1.5) // 4096 * 4096}")
    try:
        out = small / "run"
        capsys.readouterr()
        rc = main(["train", *QUICK, "--steps", "12", "--checkpoint-every", "5", "--out", str(out)])
        line = _one_line(capsys.readouterr().err)
        assert rc == 1 and "No space left on device" in line and f"vaediag train --resume {out}" in line
        assert Run.open(out).progress(1)["step"] == 5
        assert not [p for p in (out / "stage1").iterdir() if p.name.endswith(".tmp")]  # no half-written file left
        subprocess.run(["mount", "-o", f"remount,size={ckpt_size * 4 + 2 ** 24}", str(small)], check=True)
        assert main(["train", "--resume", str(out)]) == 0
        assert Run.open(out).progress(1)["step"] == 12
    finally:
        subprocess.run(["umount", str(small)], capture_output=True)
