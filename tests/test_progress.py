"""The progress bar in its three places (terminal, notebook, file) with a hand-stepped clock, and the
sentence that says what a job will cost."""

from __future__ import annotations

import io

import pytest

from vaediag.progress import Progress, StepTimer, duration, estimate_sentence, stream_mode


class Clock:
    def __init__(self, t: float = 0.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


class TTY(io.StringIO):
    def isatty(self):
        return True


# What ipykernel's output stream looks like to the bar: its class lives in ipykernel.iostream.
NotebookStream = type("OutStream", (io.StringIO,), {"__module__": "ipykernel.iostream"})


def run_steps(bar: Progress, clock: Clock, steps: int, seconds_per_step: float) -> None:
    for n in range(1, steps + 1):
        clock.t += seconds_per_step
        bar.update(n, loss=0.5)


def test_a_file_gets_a_line_at_least_every_30_seconds():
    # 1 s per step on a 36,000-step schedule: the first tenth is an hour away, so only the clock
    # writes lines: at step 1 (the first update), then 30 s later each time (steps 31, 61, 91)
    clock, out = Clock(), io.StringIO()
    bar = Progress(36000, "stage 1", stream=out, clock=clock)
    assert bar.mode == "file"
    run_steps(bar, clock, 100, 1.0)
    lines = out.getvalue().splitlines()
    assert [ln.split()[3] for ln in lines] == ["1/36000", "31/36000", "61/36000", "91/36000"]
    assert "\r" not in out.getvalue()


def test_a_fast_job_in_a_file_gets_a_line_per_tenth():
    # 1 ms per step: 36 s in all; a line at the first step and at each tenth (3,600 steps, 3.6 s apart)
    clock, out = Clock(), io.StringIO()
    run_steps(Progress(36000, "s", stream=out, clock=clock), clock, 36000, 0.001)
    steps = [int(ln.split()[2].split("/")[0]) for ln in out.getvalue().splitlines()]
    assert steps == [1] + [3600 * k for k in range(1, 11)]


def test_the_interval_is_a_setting():
    clock, out = Clock(), io.StringIO()
    run_steps(Progress(10**6, "s", stream=out, clock=clock, every=10.0), clock, 25, 1.0)
    assert len(out.getvalue().splitlines()) == 3  # steps 1, 11, 21


def test_line_shows_rate_elapsed_and_eta():
    clock = Clock(100.0)
    bar = Progress(1000, "stage 2", stream=io.StringIO(), clock=clock)
    # 100 steps in 10 s: 10 it/s, 900 steps left: 90 s
    assert bar.line(100, 110.0, {"gamma": 0.0123}) == (
        "stage 2 [##----------------------] 100/1000 10.0 it/s elapsed 00:10 ETA 01:30 gamma=0.0123")
    assert "ETA ?" in bar.line(0, 110.0)


def test_resumed_rate_counts_only_the_new_steps():
    clock = Clock(0.0)
    bar = Progress(1000, "s", initial=500, stream=io.StringIO(), clock=clock)
    assert " 5.0 it/s " in bar.line(550, 10.0)  # 50 new steps in 10 s, not 550


def test_a_terminal_gets_one_bar_redrawn_in_place():
    clock, out = Clock(), TTY()
    bar = Progress(100, "s", stream=out, clock=clock)
    assert bar.mode == "tty" and bar.tty
    run_steps(bar, clock, 100, 1 / 16)  # 6.25 s; at most every 0.2 s: steps 1, 5, ..., 97 (25), and 100
    text = out.getvalue()
    assert "\n" not in text and text.count("\r") == text.count("\x1b[K") == 26
    bar.close()
    assert out.getvalue().endswith("100/100 16.0 it/s elapsed 00:06 ETA 00:00 loss=0.5\x1b[K\n")


def test_a_notebook_gets_one_line_rewritten_without_terminal_escapes():
    clock, out = Clock(), NotebookStream()
    bar = Progress(100, "s", stream=out, clock=clock)
    assert bar.mode == "notebook" and stream_mode(out) == "notebook"
    run_steps(bar, clock, 100, 1 / 16)  # at most every 0.5 s: steps 1, 9, ..., 97 (13), and 100
    bar.close()
    text = out.getvalue()
    assert "\x1b" not in text and text.count("\n") == 1 and text.endswith("\n")
    assert text.count("\r") == 14


@pytest.mark.parametrize("stream, before, after", [
    (TTY(), "\r\x1b[K", "\n"), (NotebookStream(), "\r", "\n"), (io.StringIO(), "", "\n")])
def test_a_note_is_a_line_of_its_own_and_the_bar_comes_back(stream, before, after):
    clock = Clock()
    bar = Progress(1000, "s", stream=stream, clock=clock)
    bar.update(1)
    start = len(stream.getvalue())
    bar.note("1,000 steps, about 10 min")
    assert stream.getvalue()[start:] == before + "1,000 steps, about 10 min" + after
    clock.t += 0.01  # sooner than any redraw interval
    bar.update(2)
    redrawn = stream.getvalue()[start:].split(after, 1)[1]
    assert (" 2/1000 " in redrawn) == (bar.mode != "file")  # a file's next line waits for its time as before


def test_disabled_or_closed_twice_writes_nothing_more():
    out = io.StringIO()
    bar = Progress(10, "s", enabled=False, stream=out, mode="tty")
    bar.update(5)
    bar.close()
    bar.close()
    assert out.getvalue() == "" and bar.n == 5


def test_stream_mode_of_a_closed_stream_is_file():
    s = io.StringIO()
    s.close()  # its isatty() raises ValueError
    assert stream_mode(s) == "file"


@pytest.mark.parametrize("kw", [{"mode": "widget"}, {"every": 0}])
def test_bad_settings_are_value_errors(kw):
    with pytest.raises(ValueError):
        Progress(10, stream=io.StringIO(), **kw)


@pytest.mark.parametrize("seconds, text", [
    (0, "0 s"), (40.4, "40 s"), (89.4, "89 s"), (90, "2 min"), (12 * 60 + 20, "12 min"),
    (89 * 60 + 29, "89 min"), (3 * 3600 + 5 * 60, "3 h 05 min"), (47 * 3600, "47 h 00 min"),
    (3 * 86400 + 4 * 3600, "3 days 4 h"),
])
def test_duration(seconds, text):
    assert duration(seconds) == text


def test_estimate_sentence_the_default_schedule_and_the_quick_preset():
    # 20 steps in 12 s = 0.6 s a step: 18,000 steps = 10,800 s; quick's 1,000 steps of the same
    # network and batch = 600 s
    assert estimate_sentence(18000, 12.0, 20, alternative=("quick", 1000)) == (
        "18,000 steps, about 3 h 00 min on this device (measured over the first 20 steps); "
        "preset quick would take about 10 min")


def test_estimate_sentence_with_a_cheaper_network():
    # a preset whose step costs a ninth: 6,000 steps * 0.6 s / 9 = 400 s
    s = estimate_sentence(36000, 6.0, 10, alternative=("cpu-mnist5k", 6000), relative_cost=1 / 9)
    assert s == ("36,000 steps, about 6 h 00 min on this device (measured over the first 10 steps); "
                 "preset cpu-mnist5k would take about 7 min")
    assert estimate_sentence(1, 2.0, 1) == "1 step, about 2 s on this device (measured over the first 1 step)"


@pytest.mark.parametrize("args", [(-1, 1.0, 1), (10, 1.0, 0), (10, float("nan"), 2), (10, -1.0, 2)])
def test_estimate_sentence_refuses_nonsense(args):
    with pytest.raises(ValueError):
        estimate_sentence(*args)


def test_step_timer_skips_the_first_step_and_reports_once():
    clock = Clock()
    timer = StepTimer(k=3, skip=1, clock=clock)
    got = []
    for cost in (5.0, 1.0, 1.5, 0.5, 2.0, 2.0):  # the first step allocates: slow, and skipped
        clock.t += cost
        got.append(timer.tick())
    assert got == [None, None, None, 3.0, None, None]


def test_step_timer_without_skip_starts_at_construction():
    clock = Clock(10.0)
    timer = StepTimer(k=2, skip=0, clock=clock)
    clock.t = 11.0
    assert timer.tick() is None
    clock.t = 14.0
    assert timer.tick() == 4.0
