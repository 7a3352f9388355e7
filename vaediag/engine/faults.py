"""Faults a cluster produces, answered with a sentence: a run directory trained by two processes at once
(a requeued job while the first still runs), and a full disk (or any ``OSError``) while training writes.

The lock is advisory: ``fcntl.flock`` on ``RUN/.lock``, held by the training process for as long as it
trains. The kernel drops it when the process ends in any way (``kill -9`` included), so no stale lock
is ever left behind and nothing has to be cleaned up; the file itself stays and only carries the
holder's PID and host for the refusal's sentence. Read-only verbs (diagnose, figures, fid, sample) never
take it. Where ``fcntl`` is missing (Windows) training runs unlocked. On NFS, Linux maps ``flock`` onto
the server's byte-range locks, so two hosts sharing a run directory see each other's lock too.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
from pathlib import Path

from vaediag.errors import VaediagError

try:
    import fcntl
except ImportError:  # not POSIX: no locking
    fcntl = None

LOCK_NAME = ".lock"

# locks this process holds, by resolved run directory, so that the CLI can take the lock before it
# creates or clears a run and the Python API's train() then finds it held and does not take it twice
_HELD: dict[str, "RunLock"] = {}


def _key(path: Path) -> str:
    return str(Path(path).resolve())


class RunLock:
    """The exclusive training lock of one run directory: ``with RunLock(run_dir): ...``.

    ``acquire`` refuses with one sentence naming the holder's PID when another process holds it. Taking
    a lock this process already holds is a no-op (the outer holder releases it).
    """

    def __init__(self, run_dir: str | os.PathLike):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self._fd: int | None = None
        self._outer = True

    @property
    def held(self) -> bool:
        return self._fd is not None or not self._outer

    def acquire(self) -> "RunLock":
        if fcntl is None or self._fd is not None:
            return self
        key = _key(self.run_dir)
        if key in _HELD:
            self._outer = False
            return self
        self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        except OSError as e:
            raise VaediagError(f"cannot create the lock file {self.path} ({e.strerror}); training needs a "
                               f"writable run directory") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = _read_holder(fd)
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise VaediagError(f"{self.run_dir} is being trained by another process ({holder}); "
                                   f"wait for it to end, or stop it, before training this run again") from None
            raise VaediagError(f"cannot lock {self.path} ({e.strerror})") from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on host {socket.gethostname()}\n".encode(), 0)
        except OSError:
            pass  # the PID is only for the other process's sentence; the lock itself is held
        self._fd = fd
        _HELD[key] = self
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        _HELD.pop(_key(self.run_dir), None)
        fd, self._fd = self._fd, None
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)  # the file stays: unlinking it could let a third process lock a fresh inode

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text if text.startswith("pid ") else "PID not yet written"


def held_by_this_process(run_dir: str | os.PathLike) -> bool:
    return _key(Path(run_dir)) in _HELD


# ---------------------------------------------------------------------------- write failures
def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def write_failure(path: str | os.PathLike, needed: int, err: OSError, then: str = "") -> VaediagError:
    """One sentence for an ``OSError`` while writing ``needed`` bytes to ``path``: what failed, how much
    space the write needs and how much is free on that filesystem now, and what to do next (``then``)."""
    path = Path(path)
    reason = err.strerror or type(err).__name__
    try:
        free = shutil.disk_usage(next(p for p in (path.parent, *path.parents) if p.exists())).free
        room = f"it needs {_size(needed)} free there and {_size(free)} is free"
    except (OSError, StopIteration):
        room = f"it needs {_size(needed)} free there"
    return VaediagError(f"could not write {path} ({reason}): {room}" + (f"; {then}" if then else ""))
