"""The paper's diagnostic figures, each drawn from a :class:`~vaediag.diagnostics.result.Diagnosis`:
:func:`figure1` (three panels), :func:`figure9` and :func:`figure10` (supplement). They read the
diagnosis's attributes and compute nothing; finding a run's diagnosis (or making it) and its training
history is :mod:`vaediag.api`'s job. Decodes are shown mapped from the model's ``data_range`` to [0, 1]
(display only: the numbers on the figures stay in the model's units, gamma in [0, 1] units).
"""

from __future__ import annotations

import numpy as np
import seaborn as sns

from vaediag.diagnostics.result import Diagnosis
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


def _figure9_rows(rows) -> object:
    """Supplement Fig. 9 from [(direction, lambda, variance, decodes (S, C, H, W) in [0, 1] or None)]; without
    images (vector data) a bar chart of the variance per direction."""
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
            ax.bar(range(len(rows)), [r[2] for r in rows])
            ax.set_xticks(range(len(rows)), [f"{r[1]:.2f}" for r in rows], rotation=90, fontsize=7)
            ax.set_xlabel("$\\lambda_j$ (directions ordered by $\\lambda_j$)")
            ax.set_ylabel("output variance")
        fig.suptitle("decodes along single eigendirections of $\\Sigma_z(x)$, ordered by $\\lambda_j$", fontsize=10)
        fig.tight_layout()
    return fig


def display_images(images: np.ndarray, data_range=None) -> np.ndarray:
    """Decodes in the model's ``data_range`` (lo, hi) mapped to [0, 1] for display, as float32."""
    x = np.asarray(images, dtype=np.float32)
    if data_range is None:
        return x
    lo, hi = (float(v) for v in data_range)
    return x if (lo, hi) == (0.0, 1.0) else (x - lo) / (hi - lo)


def _shown(lam: np.ndarray, smallest: int = 5, all_rows: bool = False) -> list[int]:
    """Directions to show: all ordered by lambda, or the ``smallest`` smallest-lambda ones plus the largest."""
    order = [int(j) for j in np.argsort(np.asarray(lam), kind="stable")]
    return order if all_rows or len(order) <= smallest + 1 else order[:smallest] + [order[-1]]


def _perturb_rows(d: Diagnosis, rows: list[int] | None = None, all_rows: bool = False) -> list:
    """[(direction, lambda, variance, decodes in [0, 1] or None)] of the first perturbed input."""
    p = d.perturbations
    if p.lam is None or p.variance is None:
        raise UsageError("this diagnosis holds no perturbations along eigendirections (its arrays.npz lacks them); "
                         "run 'vaediag diagnose' again")
    lam, var, imgs = p.lam[0], p.variance[0], p.images
    rows = rows if rows is not None else _shown(lam, all_rows=all_rows)  # positions among the perturbed directions
    dirs = np.arange(len(lam)) if p.directions is None else np.asarray(p.directions)  # a budget perturbs a subset
    return [(int(dirs[j]), float(lam[j]), float(var[j]),
             None if imgs is None else display_images(imgs[j], d.model.data_range)) for j in rows]


def _centre_rows(d: Diagnosis) -> list:
    lam = d.perturbations.lam[0] if d.perturbations.lam is not None else []
    order = list(np.argsort(lam, kind="stable"))
    centre = [order[-1], *order[:2][::-1]] if len(order) >= 3 else order[::-1]  # as the paper: lambda ≈ 1, then the two smallest
    return [r[1:] for r in _perturb_rows(d, rows=[int(j) for j in centre])]


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


def _plot_no_history(ax, d: Diagnosis) -> None:
    """Figure 1's left panel without a training history: the model's gamma (and effective gamma) as levels."""
    g, ge = d.gamma.value, d.gamma.effective
    if g is not None:
        ax.axhline(np.log(g), color="C0", lw=1.6, label=f"log $\\gamma$ = {np.log(g):.3g}")
    if ge is not None:
        ax.axhline(np.log(ge), color="C1", lw=1.4, ls=":", label=f"log $\\gamma_{{eff}}$ = {np.log(ge):.3g} (eq. 73)")
    ax.text(0.5, 0.5, "no training history given:\npass history={'step': ..., 'gamma': ...}\nto draw gamma over training",
            transform=ax.transAxes, ha="center", va="center", fontsize=8, color="0.3")
    if g is not None or ge is not None:
        ax.legend(fontsize=7, loc="upper right")
    ax.set_xticks([])
    ax.set_ylabel("log $\\gamma$ (model units)")
    ax.set_title("decoder variance (Theorem 3): no history")


def as_diagnosis(d) -> Diagnosis:
    """``d`` if it is a :class:`Diagnosis`, else one sentence saying what to give."""
    if isinstance(d, Diagnosis):
        return d
    raise UsageError(f"expected the Diagnosis that vaediag.diagnose() returned (or Diagnosis.load(folder)), got a "
                     f"{type(d).__name__}")


def figure1(d: Diagnosis, history=None):
    """Figure 1 of a :class:`Diagnosis`: (left) log gamma and squared pixel error over training from ``history``
    (a dict with ``step`` and ``gamma`` or ``log_gamma``, optionally ``mse``; or {label: such a dict}, one
    line pair each) or, without it, the model's gamma and effective gamma as levels with a note; (centre)
    decodes along the direction with lambda near 1 and the two smallest; (right) normalised singular values
    of q(z), q(u) and N(0, I)."""
    d = as_diagnosis(d)
    rows = _centre_rows(d)
    trajs = _history(history)
    sp = d.spectra
    with _styled():
        fig = new_figure((15, 4.2))
        axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.1, 1.2, 1]})
        if trajs is None:
            _plot_no_history(axes[0], d)
        else:
            _plot_trajectories(axes[0], trajs)
        _plot_perturb_rows(axes[1], rows)
        _plot_spectra(axes[2], {"stage1": sp.stage1, "stage2": sp.stage2, "gaussian": sp.gaussian})
        fig.tight_layout()
    return fig


def figure9(d: Diagnosis, all_rows: bool = False):
    """Supplement Fig. 9 of a :class:`Diagnosis`: one row per latent direction (the 5 smallest-lambda ones and the
    largest, or every one with ``all_rows``; always every one without images), 15 decodes each mapped to [0, 1],
    lambda and image variance on each row; a bar chart of the variance per direction for vector data."""
    d = as_diagnosis(d)
    return _figure9_rows(_perturb_rows(d, all_rows=all_rows or d.perturbations.images is None))


def figure10(d):
    """Supplement Fig. 10: the histogram of all lambda_j(x) of a :class:`Diagnosis`, or one panel per
    diagnosis of {label: Diagnosis} (runs side by side)."""
    diagnoses = d if isinstance(d, dict) else {"model": d}
    if not diagnoses:
        raise UsageError("figure10({label: Diagnosis}) needs at least one diagnosis")
    hists = {}
    for label, one in diagnoses.items():
        u = as_diagnosis(one).usage
        if u.hist_counts is None or u.hist_edges is None:
            raise UsageError(f"figure10: the diagnosis {label!r} holds no lambda histogram; run 'vaediag diagnose' again")
        hists[label] = (u.hist_counts, u.hist_edges)
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
