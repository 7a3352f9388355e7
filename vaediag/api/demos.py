"""``vaediag demo``: the main job offline on a CPU, as one function."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable

from vaediag.api.runs import open_run, resume, train
from vaediag.engine.runs import Run
from vaediag.errors import UsageError, VaediagError

# The demo: the learned-gamma run of the preset `cpu-mnist5k` (docs/digits.md) with its stage 2, and a
# fixed-gamma (gamma = 1) run of the same networks, shorter: it only has to show the blur of Figure 1.
DEMO_PRESET = "cpu-mnist5k"
DEMO_FIXED_STEPS = 1000
DEMO_RUNS = {"learned": dict(gamma="learned", stages="12"), "fixed": dict(gamma="fixed", stages="1")}


def _say(msg: str) -> None:
    print(msg, file=sys.stderr)


DEMO_DIR = "vaediag-demo"  # the demo's own folder (in the working directory) when no path is given


def demo_paths(out: str | os.PathLike[str] | None = None, runs: str | os.PathLike[str] | None = None,
               figures: str | os.PathLike[str] | None = None) -> tuple[Path, Path]:
    """(runs, figures) from ``out`` or ``runs`` / ``figures``; refuses what the demo must not write into.
    Without any: ``vaediag-demo/runs`` and ``vaediag-demo/figures`` (a checkout's tracked ``figures/`` is
    written only when asked for by name, ``--figures figures``)."""
    if out is not None:
        if runs is not None or figures is not None:
            raise UsageError("give out=, or runs= and figures=, not both")
        out = Path(out)
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise VaediagError(f"the demo does not write into {out}: it exists and is not an empty directory; "
                               "choose a new out= (or reuse finished runs with runs= and figures=)")
        runs_dir, fig_dir = out / "runs", out / "figures"
    else:
        runs_dir = Path(runs) if runs is not None else Path(DEMO_DIR) / "runs"
        fig_dir = Path(figures) if figures is not None else Path(DEMO_DIR) / "figures"
    if fig_dir.exists() and not fig_dir.is_dir():
        raise UsageError(f"figures={fig_dir} exists and is not a directory")
    if runs_dir.exists() and not runs_dir.is_dir():
        raise UsageError(f"runs={runs_dir} exists and is not a directory")
    return runs_dir, fig_dir


def demo_runs(root: str | os.PathLike[str] = "runs/demo", steps: int | None = None, stage2_steps: int | None = None,
              overwrite: bool = False, device: str = "auto", progress: bool = True,
              say: Callable[[str], None] = _say) -> dict[str, Run]:
    """Train (or reuse) the demo's learned-gamma two-stage run and fixed-gamma run (preset DEMO_PRESET)."""
    out: dict[str, Run] = {}
    for name, spec in DEMO_RUNS.items():
        path = Path(root) / name
        if path.is_dir() and (path / "config.json").exists() and not overwrite:
            run = open_run(path)
            if all(run.stage_done(int(s)) for s in spec["stages"]):
                say(f"demo: reusing the finished run {path} (--overwrite retrains)")
            else:
                say(f"demo: continuing {path}")
                resume(run, device=device, progress=progress)
            out[name] = run
            continue
        n = steps if steps is not None or name == "learned" else DEMO_FIXED_STEPS
        say(f"demo: training the {name}-gamma run into {path}")
        out[name] = train(path, preset=DEMO_PRESET, log_every=5, steps=n, stage2_steps=stage2_steps,
                          overwrite=overwrite, device=device, progress=progress,
                          gamma=spec["gamma"], stages=spec["stages"])
    return out


def demo(out: str | os.PathLike[str] | None = None, runs: str | os.PathLike[str] | None = None,
         figures: str | os.PathLike[str] | None = None, steps: int | None = None, stage2_steps: int | None = None,
         overwrite: bool = False, device: str = "auto", progress: bool = True,
         say: Callable[[str], None] = _say) -> list[Path]:
    """Train the demo's runs (or reuse finished ones) and write its figures; the paths written.

    Where: ``out`` (a new or empty directory: ``out/runs``, ``out/figures``), or ``runs`` and ``figures``
    apart; each one not given defaults to ``vaediag-demo/runs`` / ``vaediag-demo/figures`` in the
    working directory."""
    for name, v in (("steps", steps), ("stage2_steps", stage2_steps)):
        if v is not None and v < 1:
            raise UsageError(f"{name}= must be a positive integer, got {v}")
    root, fig_dir = demo_paths(out, runs, figures)
    made = demo_runs(root, steps, stage2_steps, overwrite, device, progress, say)
    fig_dir.mkdir(parents=True, exist_ok=True)
    return demo_figures(made, fig_dir)


def demo_figures(runs: dict[str, Run], figures: Path) -> list[Path]:
    """The engine's figures: samples of the three models (supplement Fig. 2) and reconstructions."""
    from vaediag.engine.sampling import draw
    from vaediag.plots import save_figure
    from vaediag.plots.images import make_grid, reconstructions_figure, samples_figure

    panels = [
        ("VAE (fixed $\\gamma$ = 1)", make_grid(draw(runs["fixed"], 1, 64, 0), nrow=8)),
        ("VAE (learned $\\gamma$)", make_grid(draw(runs["learned"], 1, 64, 0), nrow=8)),
        ("2-Stage VAE", make_grid(draw(runs["learned"], 2, 64, 0), nrow=8)),
    ]
    out = [figures / "samples.png", figures / "reconstructions.png"]
    save_figure(samples_figure(panels), out[0], dpi=110)
    rec = {name: draw(runs[name], 1, 32, 0, recon=True) for name in ("fixed", "learned")}
    save_figure(reconstructions_figure(rec), out[1], dpi=110)
    out += diagnostic_figures(runs, figures)
    return out


def diagnostic_figures(runs: dict[str, Run], figures: Path, device: str = "cpu", n: int = 5000) -> list[Path]:
    """Figure 1 (learned vs fixed gamma), supplement Figs. 9 and 10 and the HTML report of the demo."""
    from vaediag.api.analysis import figure1, figure9, figure10, report
    from vaediag.diagnostics.summary import diagnose_run
    from vaediag.plots import save_figure

    for run in runs.values():
        diagnose_run(run, n=n, device=device)
    out = [figures / "figure1.png", figures / "figure9.png", figures / "figure10.png", figures / "report.html"]
    save_figure(figure1(runs["learned"], runs["fixed"], n, device), out[0], dpi=90)
    save_figure(figure9(runs["learned"], n, device=device), out[1], dpi=80)
    save_figure(figure10([runs["learned"], runs["fixed"]], n, labels=["learned $\\gamma$", "fixed $\\gamma$ = 1"],
                         device=device), out[2], dpi=90)
    report(runs["learned"], runs["fixed"], n, device, out=out[3])
    return out
