"""A dependency-free progress bar with ETA and live values (stderr by default), and the sentence that
says before a long job how long it will take.

Where the bar goes decides how it is drawn (``mode="auto"``):

- a terminal (``isatty()``): one bar rewritten in place (``\\r`` and erase-to-end-of-line), at most 5 times
  a second;
- a Jupyter notebook (an ipykernel output stream): one line rewritten in place with ``\\r`` alone (the
  notebook's output area honours it; it has no terminal escapes), at most twice a second;
- anything else (a file, a pipe, a CI log): whole lines, one at each tenth of the work and at least one
  every ``every`` seconds (30 by default), so a log never sits on ``1/36000`` for minutes.

The clock is injectable (``clock=``) so tests can step time by hand.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import TextIO

MODES = ("auto", "tty", "notebook", "file")
TTY_REFRESH, NOTEBOOK_REFRESH = 0.2, 0.5  # seconds between redraws of an in-place bar
FILE_EVERY = 30.0  # seconds: the longest a file or pipe waits for a line


def stream_mode(stream: object) -> str:
    """'tty', 'notebook' or 'file': how a bar on ``stream`` is drawn (see the module docstring)."""
    isatty = getattr(stream, "isatty", None)
    try:
        if callable(isatty) and isatty():
            return "tty"
    except (ValueError, OSError):  # a closed or detached stream
        return "file"
    if type(stream).__module__.split(".")[0] == "ipykernel":  # ipykernel.iostream.OutStream
        return "notebook"
    return "file"


class Progress:
    """``bar = Progress(total, "stage 1"); bar.update(n, loss=..., gamma=...); bar.close()``.

    ``mode``: one of :data:`MODES` ("auto" picks from the stream); ``every``: the longest gap, in
    seconds, between two lines written to a file or pipe; ``clock``: a function returning seconds
    (default ``time.perf_counter``)."""

    def __init__(self, total: int, desc: str = "", enabled: bool = True, initial: int = 0,
                 stream: TextIO | None = None, mode: str = "auto", every: float = FILE_EVERY,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if not every > 0:
            raise ValueError(f"every must be positive, got {every}")
        self.total, self.desc, self.enabled = max(1, int(total)), desc, enabled
        self.stream: TextIO = stream if stream is not None else sys.stderr
        self.mode = stream_mode(self.stream) if mode == "auto" else mode
        self.tty = self.mode == "tty"  # kept for callers that asked before modes existed
        self.every, self.clock = float(every), clock
        self.start = clock()
        self.start_n = self.n = initial
        self.last_print: float | None = None  # when the last line or redraw was written
        self.last_decile = -1
        self._open = True

    def update(self, n: int, **values: float) -> None:
        """Move the bar to ``n`` of ``total``; ``values`` are shown beside it (``loss=0.12``)."""
        self.n = n
        if not self.enabled:
            return
        now = self.clock()
        if not self._due(n, now):
            return
        self.last_print, self.last_decile = now, 10 * n // self.total
        line = self.line(n, now, values)
        if self.mode == "tty":
            self.stream.write("\r" + line + "\x1b[K")
        elif self.mode == "notebook":
            self.stream.write("\r" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def _due(self, n: int, now: float) -> bool:
        """Whether ``update(n)`` at time ``now`` writes: always at the end and at the first update;
        in place at most every :data:`TTY_REFRESH` / :data:`NOTEBOOK_REFRESH` seconds; to a file at
        each new tenth of the work or when ``every`` seconds have passed since the last line."""
        if n >= self.total or self.last_print is None:
            return True
        since = now - self.last_print
        if self.mode == "tty":
            return since >= TTY_REFRESH
        if self.mode == "notebook":
            return since >= NOTEBOOK_REFRESH
        return 10 * n // self.total != self.last_decile or since >= self.every

    def line(self, n: int, now: float, values: dict[str, float] | None = None) -> str:
        """The text of the bar at ``n`` and time ``now`` (no line ending)."""
        elapsed = now - self.start
        rate = (n - self.start_n) / max(elapsed, 1e-9)
        eta = (self.total - n) / rate if rate > 0 else math.inf
        frac = min(1.0, n / self.total)
        bar = "#" * int(24 * frac) + "-" * (24 - int(24 * frac))
        vals = " ".join(f"{k}={v:.4g}" for k, v in (values or {}).items())
        return (f"{self.desc} [{bar}] {n}/{self.total} {rate:.1f} it/s elapsed {_fmt(elapsed)} "
                f"ETA {_fmt(eta)} {vals}").rstrip()

    def note(self, text: str) -> None:
        """Write ``text`` as a line of its own (e.g. the cost estimate) without breaking the bar: an
        in-place bar is cleared first and redrawn at the next :meth:`update`. Silent when disabled."""
        if not self.enabled:
            return
        if self.mode == "tty":
            self.stream.write("\r\x1b[K" + text + "\n")
        elif self.mode == "notebook":  # the output area drops what precedes a \r on its line
            self.stream.write("\r" + text + "\n")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        if self.mode != "file":
            self.last_print = None  # the bar is gone from the screen: draw it at the next update

    def close(self) -> None:
        """End an in-place bar with a newline (a file's lines already end with one)."""
        if self._open and self.enabled and self.mode in ("tty", "notebook") and self.last_print is not None:
            self.stream.write("\n")
            self.stream.flush()
        self._open = False


def _fmt(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


# ---------------------------------------------------------------------------- what a job will cost
def duration(seconds: float) -> str:
    """A rounded length of time for a sentence: '40 s', '12 min', '3 h 05 min', '2 days 4 h'.

    Under 90 s: whole seconds; under 90 min: whole minutes; under 48 h: hours and minutes (minutes
    rounded); beyond: days and hours."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"a duration must be a finite number of seconds >= 0, got {seconds}")
    if seconds < 90:
        return f"{round(seconds)} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    if seconds < 48 * 3600:
        h, m = divmod(minutes, 60)
        return f"{h} h {m:02d} min"
    hours = round(seconds / 3600)
    d, h = divmod(hours, 24)
    return f"{d} days {h} h"


def estimate_sentence(steps: int, measured_seconds: float, measured_steps: int,
                      alternative: tuple[str, int] | None = None, relative_cost: float = 1.0,
                      what: str = "steps") -> str:
    """The sentence a long job prints once its first steps are timed:

    ``"18,000 steps, about 3 h 00 min on this device (measured over the first 20 steps); preset quick
    would take about 10 min"``.

    ``steps``: the whole schedule; ``measured_seconds`` over ``measured_steps`` steps gives the time per
    step, assumed constant (a step's work does not change along a schedule). ``alternative``: (preset
    name, its steps) of a faster preset; ``relative_cost``: the time of one of its steps over one of
    these (1 when it runs the same network on the same batch). Pure: the caller measures."""
    if steps < 0 or measured_steps < 1:
        raise ValueError(f"need steps >= 0 and measured_steps >= 1, got {steps} and {measured_steps}")
    if not (math.isfinite(measured_seconds) and measured_seconds >= 0):
        raise ValueError(f"measured_seconds must be a finite number >= 0, got {measured_seconds}")
    per_step = measured_seconds / measured_steps
    unit = what if steps != 1 else what.rstrip("s")
    text = (f"{steps:,} {unit}, about {duration(steps * per_step)} on this device "
            f"(measured over the first {measured_steps:,} {what if measured_steps != 1 else unit})")
    if alternative is not None:
        if not (math.isfinite(relative_cost) and relative_cost > 0):
            raise ValueError(f"relative_cost must be positive, got {relative_cost}")
        name, alt_steps = alternative
        text += f"; preset {name} would take about {duration(alt_steps * per_step * relative_cost)}"
    return text


class StepTimer:
    """Times the first steps of a loop for :func:`estimate_sentence`: call :meth:`tick` after every step;
    it returns None until ``skip + k`` steps are done, then once the seconds of the ``k`` steps after
    the first ``skip`` (the first step allocates memory and is slower than the rest), then None again.

    ``timer = StepTimer(k=20); ...; t = timer.tick(); if t is not None: print(estimate_sentence(steps, t, 20))``
    """

    def __init__(self, k: int = 20, skip: int = 1, clock: Callable[[], float] = time.perf_counter) -> None:
        if k < 1 or skip < 0:
            raise ValueError(f"need k >= 1 and skip >= 0, got k={k}, skip={skip}")
        self.k, self.skip, self.clock = k, skip, clock
        self.done = 0
        self.t0: float | None = clock() if skip == 0 else None

    def tick(self) -> float | None:
        self.done += 1
        if self.done == self.skip:
            self.t0 = self.clock()
        elif self.done == self.skip + self.k and self.t0 is not None:
            return self.clock() - self.t0
        return None
