"""Diagnosing runs and models, the paper's figures, the report and the theory lab, as functions."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from vaediag.api.runs import RunLike, open_run
from vaediag.diagnostics.eigen import DEFAULT_TAU
from vaediag.engine.runs import Run
from vaediag.errors import UsageError, VaediagError


def _check_n(n: int | None) -> int | None:
    if n is not None and n < 2:
        raise UsageError(f"--n must be at least 2, got {n}")
    return n


def open_trained(path: RunLike) -> Run:
    """A run whose stage 1 is trained (else one sentence saying what to do)."""
    run = open_run(path)
    run.require_stage1()
    return run


def require_stage2(path: RunLike) -> Run:
    """A run whose stage 2 is trained, as Figure 1 needs (else one sentence saying what to do)."""
    run = open_trained(path)
    if not run.stage_done(2):
        raise VaediagError(f"Figure 1's right panel compares stage 1 with stage 2, and {run.path} has no finished "
                           f"stage 2; train it with 'vaediag train --stages 2 --out {run.path}'")
    return run


def diagnose(run_or_model, data=None, stage2=None, *, n: int | None = 10000, tau: float = DEFAULT_TAU,
             seed: int = 0, device: str | torch.device = "auto", write: bool = False,
             out_dir: str | os.PathLike | None = None, json_path: str | os.PathLike | None = None) -> tuple[dict, dict]:
    """Every diagnostic (gamma, r_hat, lambda_j, perturbations, spectra): (summary dict, arrays dict).

    ``run_or_model``: a run (directory or :class:`Run`; its training inputs are used and ``write``
    saves RUN/diagnostics/, or ``out_dir``, as ``vaediag diagnose`` does; ``json_path``: the summary
    once more), or any model meeting the protocol of :mod:`vaediag.diagnostics.protocol` (or that
    :func:`vaediag.adapt` reads) together with ``data`` (a tensor, numpy array or DataLoader of inputs)
    and optionally its second stage ``stage2``.
    """
    from vaediag.diagnostics.summary import diagnose as _diagnose, diagnose_run

    if not 0 < tau:
        raise UsageError(f"--threshold must be positive, got {tau}")
    if isinstance(run_or_model, (Run, str, os.PathLike)):
        run = open_trained(run_or_model)  # a run that cannot be opened first
        _check_n(n)
        out = None if out_dir is None else _out_dir(out_dir)
        json_file = None if json_path is None else _json_path(json_path)
        got = diagnose_run(run, n=n, device=str(device), tau=tau, seed=seed, write=write or out is not None,
                           out_dir=out)
        if json_file is not None:
            from vaediag.io import write_json

            write_json(json_file, got[0])
        return got
    _check_n(n)
    if data is None:
        raise UsageError("diagnose(model, data): give the inputs to diagnose the model on")
    from vaediag.diagnostics.adapt import as_tensor_data

    x = as_tensor_data(data, limit=n)  # tensors, numpy arrays, DataLoaders
    dev = None if device == "auto" else torch.device(device)
    return _diagnose(run_or_model, x, stage2, tau=tau, seed=seed, device=dev)


def _out_dir(path) -> Path:
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a folder for summary.json and arrays.npz")
    if not out.parent.is_dir():
        raise VaediagError(f"--out {out}: the folder {out.parent} does not exist; create it first")
    return out


def _json_path(path) -> Path:
    out = Path(path)
    if out.is_dir():
        raise UsageError(f"--json {out} is a folder; give a file path such as {out / 'summary.json'}")
    if not out.parent.is_dir():
        raise VaediagError(f"--json {out}: the folder {out.parent} does not exist; create it first")
    return out


def output_file(path: str | os.PathLike, exts: tuple[str, ...] = (".png", ".pdf", ".svg")) -> Path:
    """A figure's or report's output path, checked: its suffix, an existing folder, not a folder itself."""
    out = Path(path)
    if out.suffix.lower() not in exts:
        raise UsageError(f"--out {out} must end in {', '.join(exts)}")
    if not out.parent.is_dir():
        raise VaediagError(f"--out {out}: the directory {out.parent} does not exist; create it first")
    if out.is_dir():
        raise UsageError(f"--out {out} is a directory; give a file name")
    return out


def diagnostics_sources(runs: list[RunLike], n: int | None = 10000, device: str = "auto") -> list[tuple[Path, str]]:
    """Make sure each run's saved diagnostics fit these settings (recomputed when they do not) and say
    for each run whether they were reused or computed: [(run path, source)]."""
    from vaediag.diagnostics.summary import ensure_diagnostics

    out = []
    for r in runs:
        run = open_trained(r)
        out.append((run.path, ensure_diagnostics(run, device, _check_n(n))[0]["source"]))
    return out


def _stamp(fig, note: str | None):
    """The figure says where its diagnostics came from (a small grey line at its bottom)."""
    if note:
        fig.text(0.005, 0.0, note, fontsize=6, color="0.45", ha="left", va="top")
    return fig


def figure1(run: RunLike, compare: RunLike | None = None, n: int | None = 10000, device: str = "auto",
            note: str | None = None):
    """The paper's Figure 1 for a two-stage run (``compare``: e.g. a fixed-gamma run for the left panel;
    ``note``: a line printed at the bottom, e.g. where the diagnostics came from)."""
    from vaediag.plots.paper import figure1_for_run

    run = require_stage2(run)
    compare = None if compare is None else open_trained(compare)
    return _stamp(figure1_for_run(run, compare, device, _check_n(n)), note)


def figure9(run: RunLike | dict, n: int | None = 10000, all_rows: bool = False, device: str = "auto",
            note: str | None = None):
    """Supplement Fig. 9: decodes along eigendirections of Sigma_z, ordered by lambda_j.

    ``run``: a run, or the ``arrays`` dict that :func:`diagnose` returned for any model."""
    from vaediag.plots.paper import figure9_for_arrays, figure9_for_run

    if isinstance(run, dict):
        return _stamp(figure9_for_arrays(run, all_rows=all_rows), note)
    return _stamp(figure9_for_run(open_trained(run), device, _check_n(n), all_rows=all_rows), note)


def figure10(runs: RunLike | list[RunLike] | dict, n: int | None = 10000, labels: list[str] | None = None,
             device: str = "auto", note: str | None = None):
    """Supplement Fig. 10: histogram of all lambda_j, one panel per run.

    ``runs``: a run, a list of runs, or {label: arrays dict of :func:`diagnose`} for any models."""
    from vaediag.plots.paper import figure10 as _figure10, figure10_for_runs

    if isinstance(runs, dict):
        return _stamp(_figure10({k: (a["lambda_hist_counts"], a["lambda_hist_edges"]) for k, a in runs.items()}),
                      note)
    runs = runs if isinstance(runs, (list, tuple)) else [runs]
    return _stamp(figure10_for_runs([open_trained(r) for r in runs], device, _check_n(n), labels=labels), note)


def report(run: RunLike, compare: RunLike | None = None, n: int | None = 10000, device: str = "auto",
           out: str | os.PathLike | None = None) -> str:
    """The self-contained HTML report of a run (verdict, every number, figures); written to ``out`` too
    when given."""
    from vaediag.plots.report import report_for_run

    path = None if out is None else output_file(out, exts=(".html", ".htm"))
    html = report_for_run(open_trained(run), None if compare is None else open_trained(compare), device, _check_n(n))
    if path is not None:
        from vaediag.io import atomic_write_text

        atomic_write_text(path, html)
    return html


def theory(quick: bool = True, seed: int = 0, device: str = "auto", progress=None, jobs: int = 1,
           threads: int | None = None) -> tuple[list[dict], dict]:
    """Run the theory lab's checks of Theorems 1-4, eqs. (8), (9), (73) and the two-stage argument.

    Returns (checks: [{claim, measured, predicted, tolerance, verdict}], artifacts for the figures of
    :mod:`vaediag.plots.theory`). ``jobs`` 2 runs part of the lab in a second process (same numbers);
    ``threads``: torch's CPU threads for the run (default: unchanged)."""
    from vaediag.theory.checks import Settings, run_all

    if seed < 0:
        raise UsageError(f"--seed must be a non-negative integer, got {seed}")
    if threads is not None:
        if threads < 1:
            raise UsageError(f"--threads must be at least 1, got {threads}")
        torch.set_num_threads(threads)
    if device == "auto":  # --device auto, as on every verb: CUDA, then MPS, then the CPU
        from vaediag.engine.devices import resolve_device

        device = str(resolve_device(device))
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise UsageError(f"--device {device!r} is not a torch device; use cpu or cuda") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise VaediagError("--device cuda was asked for but no CUDA device is available; use --device cpu")
    torch.manual_seed(seed)
    return run_all(Settings.make(quick, seed=seed, device=device, progress=progress, jobs=jobs))


def save_theory(checks: list[dict], artifacts: dict, json_path: str | os.PathLike | None = None,
                figures: str | os.PathLike | None = None, config: dict[str, Any] | None = None,
                elapsed: float | None = None) -> list[Path]:
    """Write the theory lab's checks, r_hat table and reported rows as JSON and one PNG per theorem; the paths written."""
    from vaediag.io import jsonable, write_json

    written = []
    if json_path is not None:
        doc = {"checks": jsonable(checks), "rhat_table": jsonable(artifacts["estimators"]["rows"]),
               "reported": jsonable(artifacts["estimators"].get("reported", [])),
               "config": config or {}, "elapsed_seconds": elapsed}
        write_json(Path(json_path), doc)
        written.append(Path(json_path))
    if figures is not None:
        from vaediag.plots import save_figure
        from vaediag.plots.theory import all_figures

        out = Path(figures)
        out.mkdir(parents=True, exist_ok=True)
        for name, fig in all_figures(artifacts).items():
            save_figure(fig, out / f"{name}.png", dpi=110)
            written.append(out / f"{name}.png")
    return written


def check_theory_outputs(json_path: str | None, figures: str | None) -> None:
    """Refuse, before the lab runs, a --json or --figures it could not write."""
    if json_path:
        parent = Path(json_path).expanduser().resolve().parent
        if not parent.is_dir():
            raise VaediagError(f"--json {json_path}: the folder {parent} does not exist; create it or choose another path")
        if Path(json_path).is_dir():
            raise UsageError(f"--json {json_path} is a folder; give a file path such as {Path(json_path) / 'theory.json'}")
    if figures and Path(figures).exists() and not Path(figures).is_dir():
        raise UsageError(f"--figures {figures} is a file; give a folder")
