"""Faults a cluster produces: a run trained by two processes at once, and a full disk while writing."""

import errno
import os
import signal
import subprocess
import sys

import pytest

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
    assert "it needs 3.0 MB free there" in msg
    assert f"{free / 1024 ** 3:.1f} GB is free" in msg or "MB is free" in msg or "KB is free" in msg
    assert msg.endswith("continue with: vaediag train --resume R")
