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
        raise UsageError(f"n={n} is too few inputs: give n= of at least 2")
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
             out: str | os.PathLike | None = None, json_path: str | os.PathLike | None = None,
             iw: bool = True, overwrite: bool = False, budgets=None, progress: bool = False):
    """Every diagnostic (gamma, r_hat, lambda_j, perturbations, spectra, collapse statistics) as a typed
    :class:`~vaediag.diagnostics.result.Diagnosis` (``.gamma``, ``.usage``, ..., ``.verdict``, ``.save(dir)``;
    still unpackable as the ``summary, arrays`` pair of its files).

    ``run_or_model``: a run (directory or :class:`Run`; its training inputs are used and ``write``
    saves RUN/diagnostics/, or ``out``, as ``vaediag diagnose`` does), or any model meeting the protocol
    of :mod:`vaediag.diagnostics.protocol` (or that :func:`vaediag.adapt` reads) together with ``data``
    (a tensor, numpy array or DataLoader of inputs) and optionally its second stage ``stage2``; for a
    model, ``out`` (a folder) saves summary.json and arrays.npz there (``write=True`` alone needs ``out``;
    existing files are kept unless ``overwrite``). ``json_path``: the summary once more. ``tau`` changes
    the tau-count only, never r_hat. ``iw=False`` skips the importance-weighted log-likelihood (its
    cost: ``iw_k`` = 50 decodes of each of 200 inputs).
    ``budgets``: a :class:`vaediag.diagnostics.budget.Budgets` (the per-direction and quadratic parts of a
    latent above 64 numbers); ``progress``: bars with estimates on stderr, as training shows.
    """
    from vaediag.diagnostics.summary import diagnose as _diagnose, diagnose_run

    if not 0 < tau:
        raise UsageError(f"tau={tau} is not a threshold: give a positive tau=")
    json_file = None if json_path is None else _json_path(json_path)
    if isinstance(run_or_model, (Run, str, os.PathLike)):
        run = open_trained(run_or_model)  # a run that cannot be opened first
        _check_n(n)
        folder = None if out is None else _out_dir(out)
        got = diagnose_run(run, n=n, device=str(device), tau=tau, seed=seed, write=write or folder is not None,
                           out_dir=folder, iw=iw, budgets=budgets, progress=progress)
    else:
        _check_n(n)
        if data is None:
            raise UsageError("diagnose(model, data): give the inputs to diagnose the model on")
        if write and out is None:
            raise UsageError("write=True for a model needs out= (the folder for summary.json and arrays.npz); "
                             "a run's diagnostics go into the run")
        folder = None if out is None else _out_dir(out)
        if folder is not None and not overwrite:
            _refuse_existing(folder)
        from vaediag.diagnostics.adapt import as_tensor_data

        x = as_tensor_data(data, limit=n)  # tensors, numpy arrays, DataLoaders
        dev = None if device == "auto" else torch.device(device)
        got = _diagnose(run_or_model, x, stage2, tau=tau, seed=seed, device=dev, iw_k=50 if iw else 0, budgets=budgets,
                        progress=progress)
        if folder is not None:
            got.save(folder, overwrite=True)
    if json_file is not None:
        from vaediag.io import write_json

        write_json(json_file, got.to_dict())
    return got


def _refuse_existing(folder: Path) -> None:
    from vaediag.diagnostics.result import ARRAYS, SUMMARY

    there = [p.name for p in (folder / SUMMARY, folder / ARRAYS) if p.exists()]
    if there:
        raise UsageError(f"{folder} already holds {' and '.join(there)}; choose another folder or pass overwrite=True "
                         "(--overwrite)")


def _out_dir(path) -> Path:
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise UsageError(f"out={out} is a file; give a folder for summary.json and arrays.npz")
    if not out.parent.is_dir():
        raise VaediagError(f"out={out}: the folder {out.parent} does not exist; create it first")
    return out


def _json_path(path) -> Path:
    out = Path(path)
    if out.is_dir():
        raise UsageError(f"json_path={out} is a folder; give a file path such as {out / 'summary.json'}")
    if not out.parent.is_dir():
        raise VaediagError(f"json_path={out}: the folder {out.parent} does not exist; create it first")
    return out


def output_file(path: str | os.PathLike, exts: tuple[str, ...] = (".png", ".pdf", ".svg")) -> Path:
    """A figure's or report's output path, checked: its suffix, an existing folder, not a folder itself."""
    out = Path(path)
    if out.suffix.lower() not in exts:
        raise UsageError(f"out={out} must end in {', '.join(exts)}")
    if not out.parent.is_dir():
        raise VaediagError(f"out={out}: the directory {out.parent} does not exist; create it first")
    if out.is_dir():
        raise UsageError(f"out={out} is a directory; give a file name")
    return out


def run_diagnosis(run: RunLike, n: int | None = 10000, device: str = "auto", tau: float = DEFAULT_TAU,
                  seed: int = 0):
    """A run's :class:`~vaediag.diagnostics.result.Diagnosis` for the figures and the report: the saved one when it
    is current (:func:`vaediag.engine.info.diagnosis_current`) and was made with these settings (inputs, tau,
    seed), else computed now and saved. ``provenance.source`` says which."""
    from vaediag.diagnostics.summary import diagnose_run, load_diagnostics, same_settings
    from vaediag.engine.info import diagnosis_current

    run = open_trained(run)
    _check_n(n)
    got = load_diagnostics(run)
    if got is not None:
        saved = got.provenance.settings
        if diagnosis_current(run, run.diagnostics_dir / "summary.json", got.stage2.gamma is not None) and \
                same_settings(saved, n, tau, seed):
            return got.with_provenance(source=f"saved diagnostics reused (n={saved['n']}, tau={saved['tau']:g}, "
                                              f"seed={saved['seed']})")
    got = diagnose_run(run, n=n, device=device, tau=tau, seed=seed)
    st = got.provenance.settings
    return got.with_provenance(source=f"diagnostics computed now (n={st['n']}, tau={st['tau']:g}, seed={st['seed']})")


def diagnostics_sources(runs: list[RunLike], n: int | None = 10000, device: str = "auto") -> list[tuple[Path, str]]:
    """Make sure each run's saved diagnostics fit these settings (recomputed when they do not) and say
    for each run whether they were reused or computed: [(run path, source)]."""
    out = []
    for r in runs:
        d = run_diagnosis(r, n, device)
        out.append((open_run(r).path, d.provenance.source))
    return out


def _stamp(fig, note: str | None):
    """The figure says where its diagnostics came from (a small grey line at its bottom)."""
    if note:
        fig.text(0.005, 0.0, note, fontsize=6, color="0.45", ha="left", va="top")
    return fig


def _diagnosis_or_none(d):
    """A :class:`Diagnosis` from itself or from the (summary, arrays) pair of one (dicts, as its files hold);
    None for anything else (a run)."""
    from vaediag.diagnostics.result import Diagnosis

    if isinstance(d, Diagnosis):
        return d
    if isinstance(d, tuple) and len(d) == 2 and isinstance(d[0], dict) and isinstance(d[1], dict):
        return Diagnosis.from_dict(*d)
    return None


def _label(run: Run) -> str:
    m = run.config.model
    return "learned $\\gamma$" if m.gamma_mode == "learned" else f"fixed $\\gamma$ = {m.gamma_init:g}"


def run_history(run: Run, compare: Run | None = None) -> dict:
    """Figure 1's training history of a run (and of ``compare``): {label: {step, log_gamma, mse}}."""
    from vaediag.diagnostics.gamma import gamma_trajectory

    hist = {_label(run): gamma_trajectory(run.read_metrics(1))}
    if compare is not None:
        lab = _label(compare)
        hist[lab if lab not in hist else f"{lab} ({compare.path.name})"] = gamma_trajectory(compare.read_metrics(1))
    return hist


def _resolve(run_or_d, n, device, compare=None):
    """(Diagnosis, history or None) of a run or a Diagnosis: the one place a run's diagnosis is found or made."""
    d = _diagnosis_or_none(run_or_d)
    if d is not None:
        return d, None
    run = open_trained(run_or_d)
    cmp = None if compare is None else open_trained(compare)
    return run_diagnosis(run, _check_n(n), device), run_history(run, cmp)


def figure1(run, compare: RunLike | None = None, n: int | None = 10000, device: str = "auto",
            note: str | None = None, history=None):
    """The paper's Figure 1 for a two-stage run (``compare``: e.g. a fixed-gamma run for the left panel;
    ``note``: a line printed at the bottom, e.g. where the diagnostics came from), or for the
    :class:`Diagnosis` of any model: its gamma panel from ``history`` (a dict with ``step`` and ``gamma``
    or ``log_gamma``, optionally ``mse``; or {label: such a dict}) or, without one, the model's gamma and
    effective gamma drawn as levels with a note saying no history was given."""
    from vaediag.plots.paper import figure1 as draw

    if _diagnosis_or_none(run) is None:
        run = require_stage2(run)
    d, hist = _resolve(run, n, device, compare)
    return _stamp(draw(d, history if history is not None else hist), note)


def figure9(run, n: int | None = 10000, all_rows: bool = False, device: str = "auto",
            note: str | None = None):
    """Supplement Fig. 9: decodes along eigendirections of Sigma_z, ordered by lambda_j, of a run or of the
    :class:`Diagnosis` of any model (decodes shown mapped from its data range to [0, 1])."""
    from vaediag.plots.paper import figure9 as draw

    d, _ = _resolve(run, n, device)
    return _stamp(draw(d, all_rows=all_rows), note)


def figure10(runs, n: int | None = 10000, labels: list[str] | None = None,
             device: str = "auto", note: str | None = None):
    """Supplement Fig. 10: histogram of all lambda_j, one panel per run.

    ``runs``: a run, a list of runs, the :class:`Diagnosis` of any model, or {label: Diagnosis} for panels
    side by side."""
    from vaediag.plots.paper import figure10 as draw

    if isinstance(runs, dict):
        ds = {k: _diagnosis_or_none(v) for k, v in runs.items()}
        bad = [k for k, v in ds.items() if v is None]
        if bad:
            raise UsageError(f"figure10({{label: ...}}): {bad[0]!r} is not a Diagnosis; give what diagnose() returned")
        return _stamp(draw(ds), note)
    if _diagnosis_or_none(runs) is not None:
        return _stamp(draw({"model": _diagnosis_or_none(runs)}), note)
    runs = runs if isinstance(runs, (list, tuple)) else [runs]
    opened = [open_trained(r) for r in runs]
    ds = {(labels[i] if labels else f"{r.path.name} ({_label(r)})"): run_diagnosis(r, _check_n(n), device)
          for i, r in enumerate(opened)}
    return _stamp(draw(ds), note)


def report(run, compare: RunLike | None = None, n: int | None = 10000, device: str = "auto",
           out: str | os.PathLike | None = None, history=None, title: str | None = None) -> str:
    """The self-contained HTML report (verdict, every number, figures) of a run, or of the
    :class:`Diagnosis` of any model (``history``: as for :func:`figure1`); written to ``out`` too when given."""
    from vaediag.plots.report import report as draw

    path = None if out is None else output_file(out, exts=(".html", ".htm"))
    d, hist = _resolve(run, n, device, compare)
    name = title or ("vaediag report" if _diagnosis_or_none(run) is not None else f"vaediag report: {Path(open_run(run).path).name}")
    html = draw(d, history if history is not None else hist, title=name)
    if path is not None:
        from vaediag.io import atomic_write_text

        atomic_write_text(path, html)
    return html


def check_theory(quick: bool = True, seed: int = 0, device: str = "auto", progress=None, jobs: int = 1,
           threads: int | None = None) -> tuple[list[dict], dict]:
    """Run the theory lab's checks of Theorems 1-4, eqs. (8), (9), (73) and the two-stage argument.

    Returns (checks: [{claim, measured, predicted, tolerance, verdict}], artifacts for the figures of
    :mod:`vaediag.plots.theory`). ``jobs`` 2 runs part of the lab in a second process (same numbers);
    ``threads``: torch's CPU threads for the run (default: unchanged)."""
    from vaediag.theory.checks import Settings, run_all

    if seed < 0:
        raise UsageError(f"seed={seed} is not a seed: give a non-negative whole number")
    if threads is not None:
        if threads < 1:
            raise UsageError(f"threads={threads} is too few: give threads= of at least 1")
        torch.set_num_threads(threads)
    if device == "auto":  # --device auto, as on every verb: CUDA, then MPS, then the CPU
        from vaediag.engine.devices import resolve_device

        device = str(resolve_device(device))
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise UsageError(f"device={device!r} is not a torch device; use cpu or cuda") from None
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
            raise VaediagError(f"json_path={json_path}: the folder {parent} does not exist; create it or choose another path")
        if Path(json_path).is_dir():
            raise UsageError(f"json_path={json_path} is a folder; give a file path such as {Path(json_path) / 'theory.json'}")
    if figures and Path(figures).exists() and not Path(figures).is_dir():
        raise UsageError(f"--figures {figures} is a file; give a folder")
