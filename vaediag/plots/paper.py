"""The paper's diagnostic figures: Figure 1 (three panels), supplement Figs. 9 and 10. Figure
functions take arrays and return matplotlib Figures (saving is the caller's); the ``*_for_run`` helpers
gather those arrays from a run's saved metrics and diagnostics (``vaediag diagnose``; computed on the
fly when missing or older than the checkpoints); the ``*_for_diagnosis`` helpers take the
:class:`~vaediag.diagnostics.result.Diagnosis` of any model. Decodes are shown mapped from the model's
``data_range`` to [0, 1] (display only: the numbers on the figures stay in the model's units).
"""

from __future__ import annotations

import numpy as np
import seaborn as sns

from vaediag.diagnostics.perturb import figure_rows
from vaediag.diagnostics.result import Diagnosis
from vaediag.diagnostics.summary import ensure_diagnostics
from vaediag.errors import UsageError
from vaediag.plots import new_figure


def _style():
    return sns.axes_style("whitegrid"), sns.plotting_context("paper", font_scale=1.25)


class _styled:
    def __enter__(self):
        self._ctx = _style()
        for c in self._ctx:
            c.__enter__()

    def __exit__(self, *exc):
        for c in reversed(self._ctx):
            c.__exit__(*exc)


def _strip(images: np.ndarray, pad: int = 1) -> np.ndarray:
    """(S, C, H, W) in [0, 1] -> one row image (H, S*(W+pad)-pad) or (..., 3)."""
    x = np.clip(np.asarray(images, dtype=np.float32), 0, 1)
    s, c, h, w = x.shape
    out = np.ones((h, s * (w + pad) - pad, c), dtype=np.float32)
    for i in range(s):
        out[:, i * (w + pad):i * (w + pad) + w] = x[i].transpose(1, 2, 0)
    return out[..., 0] if c == 1 else out


def _fmt_var(v: float) -> str:
    return "0" if abs(v) < 5e-4 else f"{v:.3g}"


def _row_label(lam: float, var: float) -> str:
    return f"$\\lambda$ = {lam:.3f}, image variance = {_fmt_var(var)}"


def _plot_trajectories(ax, trajectories: dict) -> None:
    """Log gamma (left axis, solid) and squared pixel error (right axis, dashed) against iterations."""
    ax2 = ax.twinx()
    ax2.grid(False)
    colors = sns.color_palette("deep", max(2, len(trajectories)))
    for (label, t), col in zip(trajectories.items(), colors):
        ax.plot(t["step"], t["log_gamma"], color=col, lw=1.6, label=f"log $\\gamma$, {label}")
        ax2.plot(t["step"], t["mse"], color=col, lw=1.2, ls="--", label=f"squared pixel error, {label}")
    ax.set_xlabel("training iterations")
    ax.set_ylabel("log $\\gamma$ (solid)")
    ax2.set_ylabel("squared pixel error (dashed)")
    ax2.set_ylim(bottom=0)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper right")
    ax.set_title("decoder variance (Theorem 3)")


def _plot_spectra(ax, spectra: dict) -> None:
    names = {"stage1": "first-stage VAE $q(z)$", "stage2": "second-stage VAE $q(u)$", "gaussian": "ideal Gaussian"}
    styles = {"stage1": dict(lw=1.8), "stage2": dict(lw=1.8), "gaussian": dict(lw=1.4, ls="--", color="k")}
    for key in ("stage1", "stage2", "gaussian"):
        s = spectra.get(key)
        if s is not None:
            ax.plot(np.arange(1, len(s) + 1), s, label=names[key], **styles[key])
    ax.set_xlabel("singular value index")
    ax.set_ylabel("singular value / largest")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    ax.set_title("aggregated posterior vs $N(0, I)$")


def _plot_perturb_rows(ax, rows: list[tuple[float, float, np.ndarray | None]], n_show: int = 8) -> None:
    """Rows of decodes along single eigendirections with lambda and image variance above each."""
    if rows and rows[0][2] is not None:
        strips = [_strip(r[2][:n_show]) for r in rows]
        gap = np.ones((max(4, strips[0].shape[0] // 3),) + strips[0].shape[1:], dtype=np.float32)
        img = np.concatenate([p for s in strips for p in (gap, s)])
        ax.imshow(img, cmap="gray", vmin=0, vmax=1, aspect="equal", interpolation="nearest")
        h = strips[0].shape[0] + gap.shape[0]
        for i, (lam, var, _) in enumerate(rows):
            ax.text(img.shape[1] / 2, i * h + gap.shape[0] - 1, _row_label(lam, var), ha="center", va="bottom", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(f"{n_show} decodes $\\mu_x(\\mu_z + \\epsilon v_j)$ per direction")
        ax.set_ylabel("eigendirection $v_j$")
        ax.grid(False)
    else:
        lam = np.array([r[0] for r in rows])
        var = np.array([r[1] for r in rows])
        ax.scatter(lam, var, s=18)
        ax.set_xlabel("$\\lambda_j$ of $\\Sigma_z(x)$")
        ax.set_ylabel("output variance along $v_j$")
    ax.set_title("perturbing single eigendirections (Theorem 4)")


def figure1(trajectories, perturb_rows: list | None = None, spectra: dict | None = None, history=None):
    """Figure 1: (left) log gamma and squared pixel error over iterations, one line pair per run
    (``trajectories``: label -> {step, log_gamma, mse}); (centre) ``perturb_rows``: [(lambda, image
    variance, decodes (S, C, H, W) or None)]; (right) normalised singular values {stage1, stage2, gaussian}.
    ``figure1(diagnosis, history=...)`` draws it for a :class:`Diagnosis` (:func:`figure1_for_diagnosis`)."""
    if isinstance(trajectories, Diagnosis):
        return figure1_for_diagnosis(trajectories, history)
    if perturb_rows is None or spectra is None:
        raise UsageError("figure1(trajectories, perturb_rows, spectra), or figure1(diagnosis, history=...)")
    with _styled():
        fig = new_figure((15, 4.2))
        axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.1, 1.2, 1]})
        _plot_trajectories(axes[0], trajectories)
        _plot_perturb_rows(axes[1], perturb_rows)
        _plot_spectra(axes[2], spectra)
        fig.tight_layout()
    return fig


def figure9(rows, title: str = "", all_rows: bool = False):
    """Supplement Fig. 9: one row per latent direction (ordered by lambda), 15 decodes each, lambda and
    image variance on each row. ``rows``: [(direction, lambda, variance, decodes (S, C, H, W) in [0, 1] or
    None)], or a :class:`Diagnosis` (:func:`figure9_for_diagnosis`); without images (vector data) a bar
    chart of the variance per direction."""
    if isinstance(rows, Diagnosis):
        return figure9_for_diagnosis(rows, all_rows)
    with _styled():
        if rows and rows[0][3] is not None:
            s = rows[0][3].shape[0]
            fig = new_figure((0.62 * s + 0.5, 0.95 * len(rows) + 0.6))
            axes = fig.subplots(len(rows), 1, squeeze=False)
            for ax, (j, lam, var, img) in zip(axes[:, 0], rows):
                ax.imshow(_strip(img), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
                ax.set_title(f"dim {j}: " + _row_label(lam, var), fontsize=9, pad=2)
                ax.set_xticks([])
                ax.set_yticks([])
                ax.grid(False)
        else:
            fig = new_figure((max(5, 0.25 * len(rows) + 2), 3.6))
            ax = fig.subplots()
            axes = np.array([[ax]])
            ax.bar(range(len(rows)), [r[2] for r in rows])
            ax.set_xticks(range(len(rows)), [f"{r[1]:.2f}" for r in rows], rotation=90, fontsize=7)
            ax.set_xlabel("$\\lambda_j$ (directions ordered by $\\lambda_j$)")
            ax.set_ylabel("output variance")
        fig.suptitle(title or "decodes along single eigendirections of $\\Sigma_z(x)$, ordered by $\\lambda_j$", fontsize=10)
        fig.tight_layout()
    return fig


def figure10(hists):
    """Supplement Fig. 10: histograms of all lambda_j over a data set, one panel per run.
    ``hists``: label -> (counts, edges), or a :class:`Diagnosis`, or label -> Diagnosis."""
    if isinstance(hists, Diagnosis) or (isinstance(hists, dict) and hists
                                        and all(isinstance(v, Diagnosis) for v in hists.values())):
        return figure10_for_diagnoses(hists)
    with _styled():
        fig = new_figure((4.2 * len(hists), 3.4))
        axes = fig.subplots(1, len(hists), squeeze=False)
        for ax, (label, (counts, edges)) in zip(axes[0], hists.items()):
            edges = np.asarray(edges)
            ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", edgecolor="none")
            ax.set_xlabel("$\\lambda_j$")
            ax.set_ylabel("frequency")
            ax.set_title(f"histogram of $\\lambda_j$: {label}", fontsize=10)
        fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------- from runs
def _traj(run):
    from vaediag.diagnostics.gamma import gamma_trajectory

    return gamma_trajectory(run.read_metrics(1))


def _label(run) -> str:
    m = run.config.model
    return "learned $\\gamma$" if m.gamma_mode == "learned" else f"fixed $\\gamma$ = {m.gamma_init:g}"


def display_images(images: np.ndarray, data_range=None) -> np.ndarray:
    """Decodes in the model's ``data_range`` (lo, hi) mapped to [0, 1] for display, as float32."""
    x = np.asarray(images, dtype=np.float32)
    if data_range is None:
        return x
    lo, hi = (float(v) for v in data_range)
    return x if (lo, hi) == (0.0, 1.0) else (x - lo) / (hi - lo)


def perturb_rows_for(arrays: dict, rows: list[int] | None = None, all_rows: bool = False, smallest: int = 5,
                     data_range=None):
    """[(direction, lambda, variance, decodes in [0, 1] or None)] of the first perturbed input."""
    lam, var = arrays["perturb_lambda"][0], arrays["perturb_variance"][0]
    imgs = arrays.get("perturb_images")
    rows = rows if rows is not None else figure_rows(len(lam), lam, smallest=smallest, all_rows=all_rows)
    return [(j, float(lam[j]), float(var[j]), None if imgs is None else display_images(imgs[j], data_range))
            for j in rows]


def figure1_for_run(run, compare=None, device: str = "auto", n: int | None = 10000):
    summary, arrays = ensure_diagnostics(run, device, n)
    trajs = {_label(run): _traj(run)}
    if compare is not None:
        lab = _label(compare)
        trajs[lab if lab not in trajs else f"{lab} ({compare.path.name})"] = _traj(compare)
    return figure1(trajs, _centre_rows(arrays), summary["spectrum"])


def _centre_rows(arrays: dict, data_range=None) -> list:
    lam = arrays["perturb_lambda"][0]
    order = list(np.argsort(lam, kind="stable"))
    centre = [order[-1], *order[:2][::-1]] if len(order) >= 3 else order[::-1]  # as the paper: lambda ≈ 1, then the two smallest
    return [r[1:] for r in perturb_rows_for(arrays, rows=[int(j) for j in centre], data_range=data_range)]


def figure9_for_arrays(arrays: dict, all_rows: bool = False, data_range=None):
    """Supplement Fig. 9 from the arrays of a diagnosis (``diagnose(...)[1]``): the 5 smallest-lambda
    directions and the largest, or every direction (always, without images: they fit a bar chart)."""
    return figure9(perturb_rows_for(arrays, all_rows=all_rows or "perturb_images" not in arrays, data_range=data_range))


def figure9_for_run(run, device: str = "auto", n: int | None = 10000, all_rows: bool = False):
    _, arrays = ensure_diagnostics(run, device, n)
    return figure9_for_arrays(arrays, all_rows)


def figure10_for_runs(runs: list, device: str = "auto", n: int | None = 10000, labels: list[str] | None = None):
    hists = {}
    for i, run in enumerate(runs):
        _, arrays = ensure_diagnostics(run, device, n)
        label = labels[i] if labels else f"{run.path.name} ({_label(run)})"
        hists[label] = (arrays["lambda_hist_counts"], arrays["lambda_hist_edges"])
    return figure10(hists)


# ---------------------------------------------------------------------------- from a Diagnosis (any model)
def as_diagnosis(d) -> Diagnosis:
    """``d`` as a :class:`Diagnosis` (a Diagnosis, or the (summary, arrays) pair of one)."""
    if isinstance(d, Diagnosis):
        return d
    if isinstance(d, tuple) and len(d) == 2 and isinstance(d[0], dict) and isinstance(d[1], dict):
        return Diagnosis(*d)
    raise UsageError(f"expected the Diagnosis that diagnose() returned (or its (summary, arrays)), got a {type(d).__name__}")


def _history(history) -> dict | None:
    """{label: {step, log_gamma, mse}} from one trajectory dict (``step`` and ``gamma`` or ``log_gamma``;
    ``mse`` optional), a {label: trajectory} dict, or None."""
    if history is None:
        return None
    if not isinstance(history, dict) or not history:
        raise UsageError("history= must be a dict with 'step' and 'gamma' (or 'log_gamma') columns, or {label: such a dict}")
    if "step" not in history:
        return {str(k): _history(v)["gamma"] for k, v in history.items()}
    step = np.asarray(history["step"], dtype=float)
    if "log_gamma" in history:
        lg = np.asarray(history["log_gamma"], dtype=float)
    elif "gamma" in history:
        lg = np.log(np.asarray(history["gamma"], dtype=float))
    else:
        raise UsageError("history= needs a 'gamma' or 'log_gamma' column beside 'step'")
    if len(lg) != len(step):
        raise UsageError(f"history= has {len(step)} steps but {len(lg)} gamma values; give one per step")
    mse = np.asarray(history.get("mse", np.full(len(step), np.nan)), dtype=float)
    return {"gamma": {"step": step, "log_gamma": lg, "mse": mse}}


def _plot_no_history(ax, summary: dict) -> None:
    """Figure 1's left panel without a training history: the model's gamma (and effective gamma) as levels."""
    g, ge = summary.get("gamma"), summary.get("gamma_effective")
    if g is not None:
        ax.axhline(np.log(g), color="C0", lw=1.6, label=f"log $\\gamma$ = {np.log(g):.3g}")
    if ge is not None:
        ax.axhline(np.log(ge), color="C1", lw=1.4, ls=":", label=f"log $\\gamma_{{eff}}$ = {np.log(ge):.3g} (eq. 73)")
    ax.text(0.5, 0.5, "no training history given:\npass history={'step': ..., 'gamma': ...}\nto draw gamma over training",
            transform=ax.transAxes, ha="center", va="center", fontsize=8, color="0.3")
    if g is not None or ge is not None:
        ax.legend(fontsize=7, loc="upper right")
    ax.set_xticks([])
    ax.set_ylabel("log $\\gamma$")
    ax.set_title("decoder variance (Theorem 3): no history")


def figure1_for_diagnosis(d, history=None):
    """Figure 1 of any model's :class:`Diagnosis`: the gamma panel from ``history`` (a dict with ``step``
    and ``gamma`` or ``log_gamma``, optionally ``mse``; or {label: such a dict}) or, without it, the
    model's gamma and effective gamma as levels with a note saying no history was given."""
    d = as_diagnosis(d)
    rows = _centre_rows(d.arrays, d.summary.get("data_range"))
    trajs = _history(history)
    with _styled():
        fig = new_figure((15, 4.2))
        axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.1, 1.2, 1]})
        if trajs is None:
            _plot_no_history(axes[0], d.summary)
        else:
            _plot_trajectories(axes[0], trajs)
        _plot_perturb_rows(axes[1], rows)
        _plot_spectra(axes[2], d.summary["spectrum"])
        fig.tight_layout()
    return fig


def figure9_for_diagnosis(d, all_rows: bool = False):
    """Supplement Fig. 9 of any model's :class:`Diagnosis` (decodes as pictures when it has an image shape)."""
    d = as_diagnosis(d)
    return figure9_for_arrays(d.arrays, all_rows, d.summary.get("data_range"))


def figure10_for_diagnoses(diagnoses) -> object:
    """Supplement Fig. 10 of one :class:`Diagnosis` or {label: Diagnosis}."""
    if not isinstance(diagnoses, dict):
        diagnoses = {"model": diagnoses}
    return figure10({k: (as_diagnosis(v).arrays["lambda_hist_counts"], as_diagnosis(v).arrays["lambda_hist_edges"])
                     for k, v in diagnoses.items()})
