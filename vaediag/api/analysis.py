"""Diagnosing runs and models, the paper's figures, the report and the theory lab, as functions."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from vaediag.api.runs import RunLike, open_run
from vaediag.diagnostics.budget import Budgets
from vaediag.diagnostics.eigen import DEFAULT_TAU
from vaediag.engine.runs import Run
from vaediag.errors import UsageError, VaediagError
from vaediag.plots import save_figure as save_figure  # the command's figure verbs write with it


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
                           f"stage 2; train it with vaediag.train('{run.path}', stages='2')")
    return run


@dataclass(frozen=True)
class DiagnoseOptions:
    """How :func:`diagnose` computes and writes, beyond its defaults (frozen; checked when made).

    Args:
        seed: seed of every random draw of the diagnosis.
        tau: the threshold of eq. (9)'s tau-count (lambda_j < tau); it changes the tau-count only, never r_hat.
        iw: False skips the importance-weighted log-likelihood (its cost: 50 decodes of each of 200 inputs).
        budgets: a :class:`~vaediag.diagnostics.budget.Budgets` (the per-direction and quadratic parts of a
            latent above 64 numbers; None: its defaults).
        progress: bars with estimates on stderr, as training shows.
        overwrite: replace a model's summary.json and arrays.npz already in ``out`` (else refused).
        json_path: a file to write the summary to once more (its folder must exist).

    Raises:
        UsageError: ``tau`` is not positive.
    """

    seed: int = 0
    tau: float = DEFAULT_TAU
    iw: bool = True
    budgets: Budgets | None = None
    progress: bool = False
    overwrite: bool = False
    json_path: str | os.PathLike | None = None

    def __post_init__(self):
        if not 0 < self.tau:
            raise UsageError(f"tau={self.tau} is not a threshold: give a positive tau=")


def diagnose(run_or_model, data=None, stage2=None, *, n: int | None = 10000, device: str | torch.device = "auto",
             out: str | os.PathLike | None = None, write: bool = False, options: DiagnoseOptions | None = None):
    """Every diagnostic of a run or of any VAE: gamma, r_hat and lambda_j, perturbations, spectra,
    collapse statistics and the verdict.

    Args:
        run_or_model: a run (a directory or a :class:`~vaediag.engine.runs.Run`; its training inputs are
            used), or any model meeting the protocol of :mod:`vaediag.diagnostics.protocol` or read by
            :func:`vaediag.adapt`.
        data: for a model, its inputs: a tensor, numpy array or DataLoader (ignored for a run).
        stage2: for a model, optionally its second stage, a VAE over its latents (e.g. what
            :func:`vaediag.enhance` returns, ``.stage2``), whose q(u) spectrum is then measured too.
        n: at most this many inputs (at least 2; None: all).
        device: "auto" (CUDA, then MPS, then the CPU), "cpu", "cuda", ... or a torch.device.
        out: a folder to save summary.json and arrays.npz in.
        write: save a run's diagnosis into RUN/diagnostics/ (or ``out``), as ``vaediag diagnose`` does, where
            the figures and ``vaediag info`` find it; a model's needs ``out``.
        options: a :class:`DiagnoseOptions` (seed, tau, iw, budgets, progress, overwrite, json_path).

    Returns:
        A :class:`~vaediag.diagnostics.result.Diagnosis`: typed sections (``.gamma``, ``.usage``, ...),
        ``.verdict``, ``.save(dir)``; still unpackable as the ``summary, arrays`` pair of its files.

    Raises:
        UsageError: n below 2, a model without data, ``write`` for a model without ``out``, ``out`` or
            ``json_path`` of the wrong kind, files already in ``out`` without ``overwrite``.
        VaediagError: a run that cannot be opened or has no trained stage 1, a folder that does not exist,
            a diagnosis the budgets refuse.
    """
    from vaediag.diagnostics.summary import diagnose_run

    o = options or DiagnoseOptions()
    json_file = None if o.json_path is None else _json_path(o.json_path)
    if isinstance(run_or_model, (Run, str, os.PathLike)):
        run = open_trained(run_or_model)  # a run that cannot be opened first
        _check_n(n)
        folder = None if out is None else _out_dir(out)
        got = diagnose_run(run, n=n, device=str(device), tau=o.tau, seed=o.seed, write=write or folder is not None,
                           out_dir=folder, iw=o.iw, budgets=o.budgets, progress=o.progress)
    else:
        got = _diagnose_model(run_or_model, data, stage2, n=n, device=device, out=out, write=write, o=o)
    if json_file is not None:
        from vaediag.io import write_json

        write_json(json_file, got.to_dict())
    return got


def _diagnose_model(model, data, stage2, *, n, device, out, write: bool, o: DiagnoseOptions):
    """:func:`diagnose` of a model (not a run): its arguments checked, the data read, summary and arrays
    saved into ``out`` when given."""
    from vaediag.diagnostics.adapt import as_tensor_data
    from vaediag.diagnostics.summary import diagnose as _diagnose

    _check_n(n)
    if data is None:
        raise UsageError("diagnose(model, data): give the inputs to diagnose the model on")
    if write and out is None:
        raise UsageError("write=True for a model needs out= (the folder for summary.json and arrays.npz); "
                         "a run's diagnostics go into the run")
    folder = None if out is None else _out_dir(out)
    if folder is not None and not o.overwrite:
        _refuse_existing(folder)
    x = as_tensor_data(data, limit=n)  # tensors, numpy arrays, DataLoaders
    dev = None if device == "auto" else torch.device(device)
    got = _diagnose(model, x, stage2, tau=o.tau, seed=o.seed, device=dev, iw_k=50 if o.iw else 0, budgets=o.budgets,
                    progress=o.progress)
    if folder is not None:
        got.save(folder, overwrite=True)
    return got


def _refuse_existing(folder: Path) -> None:
    from vaediag.diagnostics.result import ARRAYS, SUMMARY

    there = [p.name for p in (folder / SUMMARY, folder / ARRAYS) if p.exists()]
    if there:
        raise UsageError(f"{folder} already holds {' and '.join(there)}; choose another folder or pass overwrite=True")


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
    """A run's diagnosis for the figures and the report: the saved one when it is current
    (:func:`vaediag.engine.info.diagnosis_current`) and was made with these settings (inputs, tau, seed),
    else computed now and saved into the run.

    Args:
        run: the run (a directory or a :class:`~vaediag.engine.runs.Run`) with a trained stage 1.
        n: at most this many inputs (at least 2; None: all).
        device: "auto", "cpu", "cuda", ...
        tau: the threshold of the tau-count.
        seed: seed of every random draw of the diagnosis.

    Returns:
        The :class:`~vaediag.diagnostics.result.Diagnosis`; its ``provenance.source`` says whether it was
        reused or computed now.

    Raises:
        UsageError: n below 2.
        VaediagError: a run that cannot be opened or has no trained stage 1.
    """
    from vaediag.diagnostics.summary import diagnose_run, load_diagnostics
    from vaediag.engine.info import diagnosis_current

    run = open_trained(run)
    _check_n(n)
    got = load_diagnostics(run)
    if got is not None:
        saved = got.provenance.settings
        if diagnosis_current(run, run.diagnostics_dir / "summary.json", got.stage2.gamma is not None) and \
                saved is not None and saved.matches(n, tau, seed):
            return got.with_provenance(source=f"saved diagnostics reused ({saved.text()})")
    got = diagnose_run(run, n=n, device=device, tau=tau, seed=seed)
    return got.with_provenance(source=f"diagnostics computed now ({got.provenance.settings.text()})")


def diagnostics_sources(runs: list[RunLike], n: int | None = 10000, device: str = "auto") -> list[tuple[Path, str]]:
    """Make sure each run's saved diagnostics fit these settings (recomputed when they do not) and say
    for each run whether they were reused or computed: [(run path, source)]."""
    opened = [open_trained(r) for r in runs]  # every run checked before any is diagnosed
    return [(run.path, run_diagnosis(run, n, device).provenance.source) for run in opened]


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
    """The paper's Figure 1 (gamma over training, decodes along eigendirections, latent spectra).

    Args:
        run: a two-stage run (a directory or a :class:`~vaediag.engine.runs.Run`), or the
            :class:`~vaediag.diagnostics.result.Diagnosis` of any model.
        compare: another run whose gamma trajectory is drawn beside it (e.g. a fixed-gamma run).
        n: at most this many inputs for a run's diagnosis (at least 2; None: all).
        device: "auto", "cpu", "cuda", ...
        note: a line printed at the bottom, e.g. where the diagnostics came from.
        history: the gamma panel's data for a Diagnosis: a dict with ``step`` and ``gamma`` or
            ``log_gamma``, optionally ``mse`` (or {label: such a dict}); without one the model's gamma and
            effective gamma are drawn as levels, with a note saying no history was given.

    Returns:
        A matplotlib Figure.

    Raises:
        UsageError: n below 2.
        VaediagError: a run without a finished stage 2 (or that cannot be opened).
    """
    from vaediag.plots.paper import figure1 as draw

    if _diagnosis_or_none(run) is None:
        run = require_stage2(run)
    d, hist = _resolve(run, n, device, compare)
    return _stamp(draw(d, history if history is not None else hist), note)


def figure9(run, n: int | None = 10000, all_rows: bool = False, device: str = "auto",
            note: str | None = None):
    """Supplement Fig. 9: decodes along eigendirections of Sigma_z, ordered by lambda_j (shown mapped from
    the model's data range to [0, 1]).

    Args:
        run: a run (a directory or a :class:`~vaediag.engine.runs.Run`) or the
            :class:`~vaediag.diagnostics.result.Diagnosis` of any model.
        n: at most this many inputs for a run's diagnosis (at least 2; None: all).
        all_rows: one row per latent direction (default: the 5 smallest lambda_j and the largest).
        device: "auto", "cpu", "cuda", ...
        note: a line printed at the bottom.

    Returns:
        A matplotlib Figure.

    Raises:
        UsageError: n below 2.
        VaediagError: a run that cannot be opened or has no trained stage 1.
    """
    from vaediag.plots.paper import figure9 as draw

    d, _ = _resolve(run, n, device)
    return _stamp(draw(d, all_rows=all_rows), note)


def figure10(runs, n: int | None = 10000, labels: list[str] | None = None,
             device: str = "auto", note: str | None = None):
    """Supplement Fig. 10: the histogram of all lambda_j, one panel per run or model.

    Args:
        runs: a run, a list of runs, the :class:`~vaediag.diagnostics.result.Diagnosis` of any model, or
            {label: Diagnosis} for panels side by side.
        n: at most this many inputs for a run's diagnosis (at least 2; None: all).
        labels: the panels' titles for a list of runs (default: each run's folder and gamma).
        device: "auto", "cpu", "cuda", ...
        note: a line printed at the bottom.

    Returns:
        A matplotlib Figure.

    Raises:
        UsageError: n below 2, a {label: ...} value that is not a Diagnosis.
        VaediagError: a run that cannot be opened or has no trained stage 1.
    """
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
    """The self-contained HTML report: the verdict, every number and the figures.

    Args:
        run: a run (a directory or a :class:`~vaediag.engine.runs.Run`) or the
            :class:`~vaediag.diagnostics.result.Diagnosis` of any model.
        compare: another run whose gamma trajectory Figure 1 draws beside it.
        n: at most this many inputs for a run's diagnosis (at least 2; None: all).
        device: "auto", "cpu", "cuda", ...
        out: an .html (or .htm) file to write the report to as well.
        history: Figure 1's gamma history for a Diagnosis, as for :func:`figure1`.
        title: the report's title (default: "vaediag report" and the run's folder).

    Returns:
        The HTML, as a string.

    Raises:
        UsageError: n below 2, ``out`` not an .html file or a folder.
        VaediagError: the folder of ``out`` does not exist; a run that cannot be opened or has no trained stage 1.
    """
    from vaediag.plots.report import report as draw

    path = None if out is None else output_file(out, exts=(".html", ".htm"))
    d, hist = _resolve(run, n, device, compare)
    name = title or ("vaediag report" if _diagnosis_or_none(run) is not None else f"vaediag report: {Path(open_run(run).path).name}")
    html = draw(d, history if history is not None else hist, title=name)
    if path is not None:
        from vaediag.io import atomic_write_text

        atomic_write_text(path, html)
    return html
