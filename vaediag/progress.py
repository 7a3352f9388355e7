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
from dataclasses import dataclass
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
        self.origin: tuple[int, float] | None = None  # (n, clock) the rate counts from (rate_from)
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
        n0, t0 = self.origin if self.origin is not None else (self.start_n, self.start)
        rate = (n - n0) / max(now - t0, 1e-9)
        eta = (self.total - n) / rate if rate > 0 else math.inf
        frac = min(1.0, n / self.total)
        bar = "#" * int(24 * frac) + "-" * (24 - int(24 * frac))
        vals = " ".join(f"{k}={v:.4g}" for k, v in (values or {}).items())
        return (f"{self.desc} [{bar}] {n}/{self.total} {rate:.1f} it/s elapsed {_fmt(elapsed)} "
                f"ETA {_fmt(eta)} {vals}").rstrip()

    def rate_from(self, n: int, t: float) -> None:
        """The rate and ETA shown from now on count the steps after ``n``, done since clock time ``t``
        (when warm-up is over: its slow first steps would inflate the ETA for a long while)."""
        self.origin = (n, t)

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
                      what: str = "steps", after: int = 0) -> str:
    """The sentence a long job prints once its steps are timed after warm-up:

    ``"18,000 steps, about 3 h 00 min on this device (measured over 40 steps after the first 21); preset
    quick would take about 10 min"``.

    ``steps``: the whole schedule; ``measured_seconds`` over ``measured_steps`` steps gives the time per
    step, assumed constant once warm-up is over (a step's work does not change along a schedule);
    ``after``: the steps run before the timed ones (warm-up; 0 says "the first"). ``alternative``: (preset
    name, its steps) of a faster preset; ``relative_cost``: the time of one of its steps over one of
    these (1 when it runs the same network on the same batch). Pure: the caller measures."""
    if steps < 0 or measured_steps < 1 or after < 0:
        raise ValueError(f"need steps >= 0, measured_steps >= 1 and after >= 0, got {steps}, {measured_steps} "
                         f"and {after}")
    if not (math.isfinite(measured_seconds) and measured_seconds >= 0):
        raise ValueError(f"measured_seconds must be a finite number >= 0, got {measured_seconds}")
    per_step = measured_seconds / measured_steps
    unit = what if steps != 1 else what.rstrip("s")
    over = f"{measured_steps:,} {what if measured_steps != 1 else what.rstrip('s')}"
    where = f"over {over} after the first {after:,}" if after else f"over the first {over}"
    text = f"{steps:,} {unit}, about {duration(steps * per_step)} on this device (measured {where})"
    if alternative is not None:
        if not (math.isfinite(relative_cost) and relative_cost > 0):
            raise ValueError(f"relative_cost must be positive, got {relative_cost}")
        name, alt_steps = alternative
        text += f"; preset {name} would take about {duration(alt_steps * per_step * relative_cost)}"
    return text


def update_sentence(left: int, measure: Measure, what: str = "steps") -> str:
    """The sentence a long job prints when its time per step has moved since the estimate it stated:
    ``"now about 5 min for the 4,800 steps left (measured over 1,140 steps after the first 61)"``."""
    per_step = measure.seconds / measure.steps
    return (f"now about {duration(left * per_step)} for the {left:,} {what} left (measured over "
            f"{measure.steps:,} {what} after the first {measure.after:,})")


MAX_WINDOWS = 256  # timing windows a StepTimer keeps (the longest steady stretch it can see)


@dataclass(frozen=True)
class Measure:
    """What :meth:`StepTimer.tick` reports: ``seconds`` over ``steps`` steps, timed after the first
    ``after`` steps (the untimed first step and warm-up); ``update``: False for the first estimate, True
    for a later one whose time per step moved from the one stated before."""

    seconds: float
    steps: int
    after: int
    update: bool = False


class StepTimer:
    """Times a loop's steps for :func:`estimate_sentence` once warm-up is over, and says when the time
    per step has moved: call :meth:`tick` after every step; it returns a :class:`Measure` when there is
    something to say, None otherwise.

    The first ``skip`` steps are not timed (the first allocates memory); then steps are timed in windows
    of ``k``. Warm-up (caches, threads, a loader filling up, a busy machine settling) can make the first
    steps ten times slower than the rest, so an estimate is the mean time per step over the *steady
    stretch*: the last windows that agree with the latest one within a factor ``1 + tolerance`` (at least
    two). The first estimate waits for ``min_seconds`` of timed steps (or a tenth of ``total`` steps, for
    a short job; after ``max_seconds`` or half of ``total``, whatever agrees). Later, once a steady stretch has lasted
    ``min_seconds`` (or a tenth of ``total``) and its time per step differs from the one stated last by
    more than a factor ``moved``, :meth:`tick` reports it again (``update=True``): a warm-up longer than
    ``min_seconds``, or a machine that got busier, is corrected.

    ``timer = StepTimer(k=20); ...; m = timer.tick(); if m is not None: print(estimate_sentence(steps,
    m.seconds, m.steps, after=m.after))``
    """

    def __init__(self, k: int = 20, skip: int = 1, total: int | None = None, min_seconds: float = 20.0,
                 max_seconds: float = 60.0, tolerance: float = 0.25, moved: float = 1.25,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        if k < 1 or skip < 0 or not 0 <= min_seconds <= max_seconds or not tolerance > 0 or not moved > 1:
            raise ValueError(f"need k >= 1, skip >= 0, 0 <= min_seconds <= max_seconds, tolerance > 0 and "
                             f"moved > 1, got k={k}, skip={skip}, min_seconds={min_seconds}, "
                             f"max_seconds={max_seconds}, tolerance={tolerance}, moved={moved}")
        self.k, self.skip, self.total, self.tolerance, self.moved = k, skip, total, tolerance, moved
        self.min_seconds, self.max_seconds, self.clock = min_seconds, max_seconds, clock
        self.done = 0
        self.marks: list[tuple[int, float]] = [] if skip else [(0, clock())]  # (steps done, clock) at window ends
        self.first = True  # the first estimate is still to come
        self.stated = 0.0  # seconds per step of the last report

    def tick(self) -> Measure | None:
        self.done += 1
        if self.done == self.skip:
            self.marks.append((self.done, self.clock()))
        if self.done <= self.skip or (self.done - self.skip) % self.k:
            return None
        now = self.clock()
        self.marks = [*self.marks[-MAX_WINDOWS:], (self.done, now)]
        timed = now - self.marks[0][1]
        since, t_since, windows = self._steady_stretch()
        long_enough = (now - t_since >= self.min_seconds
                       or (self.total is not None and 10 * (self.done - since) >= self.total))
        if self.first:
            late = timed >= self.max_seconds or (self.total is not None and 2 * (self.done - self.skip) >= self.total)
            if not ((windows >= 2 and (timed >= self.min_seconds or long_enough)) or late):
                return None
        elif not (windows >= 2 and long_enough):
            return None
        mean = (now - t_since) / (self.done - since)
        if not self.first and max(mean, self.stated) <= self.moved * min(mean, self.stated):
            return None
        update, self.first, self.stated = not self.first, False, mean
        return Measure(now - t_since, self.done - since, since, update=update)

    def _steady_stretch(self) -> tuple[int, float, int]:
        """(steps done, clock) where the last windows that agree with the latest one began, and their number."""
        per = [(b[1] - a[1]) / self.k for a, b in zip(self.marks, self.marks[1:])]
        first = len(per) - 1
        while first > 0 and max(per[first - 1], per[-1]) <= (1 + self.tolerance) * min(per[first - 1], per[-1]):
            first -= 1
        since, t_since = self.marks[first]
        return since, t_since, len(per) - first
