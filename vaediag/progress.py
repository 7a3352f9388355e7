"""A dependency-free progress bar with ETA and live values, on stderr."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int, desc: str = "", enabled: bool = True, initial: int = 0, stream=None):
        self.total, self.desc, self.enabled = max(1, int(total)), desc, enabled
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start, self.start_n, self.n = time.perf_counter(), initial, initial
        self.last_print, self.last_decile = 0.0, -1
        self._open = True

    def update(self, n: int, **values: float) -> None:
        self.n = n
        if not self.enabled:
            return
        now = time.perf_counter()
        decile = 10 * n // self.total
        if self.tty and now - self.last_print < 0.2 and n < self.total:
            return
        if not self.tty and decile == self.last_decile and n < self.total:
            return
        self.last_print, self.last_decile = now, decile
        rate = (n - self.start_n) / max(now - self.start, 1e-9)
        eta = (self.total - n) / rate if rate > 0 else float("inf")
        frac = n / self.total
        bar = "#" * int(24 * frac) + "-" * (24 - int(24 * frac))
        vals = " ".join(f"{k}={v:.4g}" for k, v in values.items())
        line = f"{self.desc} [{bar}] {n}/{self.total} {rate:.1f} it/s ETA {_fmt(eta)} {vals}"
        self.stream.write(("\r" + line + "\x1b[K") if self.tty else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._open and self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()
        self._open = False


def _fmt(seconds: float) -> str:
    if seconds == float("inf"):
        return "?"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"
