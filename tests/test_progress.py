"""The progress bar in its three places (terminal, notebook, file) with a hand-stepped clock, and the
sentence that says what a job will cost."""

from __future__ import annotations

import io

import pytest

from vaediag.progress import Measure, Progress, StepTimer, duration, estimate_sentence, stream_mode, update_sentence


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


def test_after_warm_up_the_rate_and_eta_count_from_its_end():
    bar = Progress(1000, "s", stream=io.StringIO(), clock=Clock(0.0))
    # 50 slow steps in 40 s, then 50 in 5 s: 10 it/s from step 50 on, 900 left = 90 s (not 405 s)
    bar.rate_from(50, 40.0)
    line = bar.line(100, 45.0)
    assert " 10.0 it/s elapsed 00:45 ETA 01:30" in line, line


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


def test_estimate_sentence_says_how_many_steps_came_before_the_timed_ones():
    # 40 steps in 1.6 s after 21 of warm-up: 0.04 s a step, 6,000 steps = 240 s
    assert estimate_sentence(6000, 1.6, 40, after=21) == (
        "6,000 steps, about 4 min on this device (measured over 40 steps after the first 21)")


def test_update_sentence_gives_the_time_left_at_the_new_rate():
    m = Measure(seconds=60.0, steps=1000, after=61, update=True)  # 0.06 s a step
    assert update_sentence(4800, m) == (
        "now about 5 min for the 4,800 steps left (measured over 1,000 steps after the first 61)")


def _timer_reports(timer: StepTimer, clock: Clock, costs) -> list[tuple[int, Measure]]:
    out = []
    for i, cost in enumerate(costs, 1):
        clock.t += cost
        m = timer.tick()
        if m is not None:
            out.append((i, m))
    return out


def test_step_timer_waits_for_two_windows_that_agree():
    clock = Clock()
    # skip 1; windows of 3: 2-4 (3.0 s), 5-7 (1.5 s, halved: still warming), 8-10 (1.5 s: agrees)
    costs = [5.0, 1.0, 1.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
    got = _timer_reports(StepTimer(k=3, skip=1, min_seconds=0, clock=clock), clock, costs)
    assert got == [(10, Measure(3.0, 6, 4))]  # steps 5-10: 6 steps in 3 s after the first 4


def test_step_timer_without_skip_starts_at_construction():
    clock = Clock(10.0)
    timer = StepTimer(k=2, skip=0, min_seconds=0, clock=clock)
    got = _timer_reports(timer, clock, [2.0, 2.0, 2.1, 1.9])
    assert got == [(4, Measure(pytest.approx(8.0), 4, 0))]


def test_step_timer_waits_min_seconds_or_a_tenth_of_a_short_job():
    clock = Clock()
    got = _timer_reports(StepTimer(k=2, min_seconds=5.0, clock=clock), clock, [1.0] + [0.5] * 20)
    assert got[0][0] == 11 and got[0][1].after == 1  # 10 timed steps = 5 s; all windows agree
    clock = Clock()
    got = _timer_reports(StepTimer(k=2, total=40, min_seconds=5.0, clock=clock), clock, [1.0] + [0.5] * 20)
    assert got[0][0] == 5  # two windows and a tenth of 40 steps, before 5 s


def test_step_timer_speaks_after_max_seconds_when_no_two_windows_agree():
    clock = Clock()
    costs = [1.0] + [2.0 ** -(i // 2) for i in range(12)]  # every window of 2 steps half the one before
    got = _timer_reports(StepTimer(k=2, skip=1, min_seconds=0, max_seconds=3.5, clock=clock), clock, costs)
    assert got[0] == (7, Measure(pytest.approx(2 * 0.25), 2, 5))  # the last window alone, after 3.5 s


def test_step_timer_reports_again_only_when_the_time_per_step_moved():
    clock = Clock()
    costs = [1.0] + [0.1] * 40 + [0.2] * 40  # steady at 0.1 s, then the machine gets twice as slow
    got = _timer_reports(StepTimer(k=10, skip=1, min_seconds=2.0, moved=1.25, clock=clock), clock, costs)
    assert got[0] == (21, Measure(pytest.approx(2.0), 20, 1))
    # the slower stretch (steps 42-81) is stated once it has lasted min_seconds (two windows, 4 s)
    assert got[1:] == [(61, Measure(pytest.approx(4.0), 20, 41, update=True))]
    # a steady clock never reports again
    clock = Clock()
    assert len(_timer_reports(StepTimer(k=10, min_seconds=2.0, clock=clock), clock, [1.0] + [0.1] * 500)) == 1


def demo_like_costs(steps: int = 6000, warm: int = 30, seed: int = 0) -> list[float]:
    """Seconds of each step of a demo-shaped stage: the first step 2 s, ``warm`` warm-up steps at 2.3 it/s,
    then 24 it/s with +-30 % noise (what the demo printed before: warm-up timed, ten times off)."""
    import random

    rng = random.Random(seed)
    return [2.0] + [1 / 2.3] * warm + [rng.uniform(0.7, 1.3) / 24 for _ in range(steps - warm - 1)]


@pytest.mark.parametrize("warm", [0, 10, 20, 30, 40])  # warm-up steps at 2.3 it/s: up to 17 s
def test_the_first_estimate_of_a_demo_shaped_stage_is_within_a_factor_1_5(warm):
    costs = demo_like_costs(warm=warm)
    clock = Clock()
    (at, m), *updates = _timer_reports(StepTimer(k=20, clock=clock), clock, costs)
    estimate, actual = len(costs) * m.seconds / m.steps, sum(costs)
    assert 1 / 1.5 < estimate / actual < 1.5, (estimate, actual)
    assert at <= 1 + 20 * 24 + 60  # taken 20 s into the stage, not late in it
    assert len(updates) <= 1  # +-30 % noise on each step does not make it chatter
    # the nearest wrong answer: the first 20 steps after the first, warm-up included
    naive = len(costs) * sum(costs[1:21]) / 20
    assert warm < 20 or naive / actual > 5


def test_a_warm_up_longer_than_min_seconds_is_corrected_by_an_update():
    costs = demo_like_costs(warm=100)  # 43 s of slow steps: the first estimate is taken inside them
    clock = Clock()
    (at, m), *updates = _timer_reports(StepTimer(k=20, clock=clock), clock, costs)
    assert updates, "the time per step fell fivefold and nothing was said"
    i, u = updates[-1]
    left_estimate, left_actual = (len(costs) - i) * u.seconds / u.steps, sum(costs[i:])
    assert i < len(costs) / 4 and 1 / 1.5 < left_estimate / left_actual < 1.5, (i, left_estimate, left_actual)
