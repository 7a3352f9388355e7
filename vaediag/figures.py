"""The paper's diagnostic figures and the report page: Figure 1 (three panels), supplement Figs. 9
and 10, and a self-contained HTML report. Figure functions take arrays and return matplotlib Figures
(saving is the caller's); the ``*_for_run`` helpers gather those arrays from a run's saved metrics and
diagnostics (``vaediag diagnose``; computed on the fly when missing or older than the checkpoints).
"""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402

from vaediag.diagnostics.perturb import figure_rows  # noqa: E402

GAP_CLOSE = 0.05  # a spectrum gap below this counts as "close to N(0, I)" in the report's verdict


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


def figure1(trajectories: dict, perturb_rows: list, spectra: dict):
    """Figure 1: (left) log gamma and squared pixel error over iterations, one line pair per run
    (``trajectories``: label -> {step, log_gamma, mse}); (centre) ``perturb_rows``: [(lambda, image
    variance, decodes (S, C, H, W) or None)]; (right) normalised singular values {stage1, stage2, gaussian}."""
    with _styled():
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), gridspec_kw={"width_ratios": [1.1, 1.2, 1]})
        _plot_trajectories(axes[0], trajectories)
        _plot_perturb_rows(axes[1], perturb_rows)
        _plot_spectra(axes[2], spectra)
        fig.tight_layout()
    return fig


def figure9(rows: list[tuple[int, float, float, np.ndarray | None]], title: str = ""):
    """Supplement Fig. 9: one row per latent direction (ordered by lambda), 15 decodes each, lambda and
    image variance on each row. ``rows``: [(direction, lambda, variance, decodes (S, C, H, W) or None)];
    without images (vector data) a bar chart of the variance per direction."""
    with _styled():
        if rows and rows[0][3] is not None:
            s = rows[0][3].shape[0]
            fig, axes = plt.subplots(len(rows), 1, figsize=(0.62 * s + 0.5, 0.95 * len(rows) + 0.6), squeeze=False)
            for ax, (j, lam, var, img) in zip(axes[:, 0], rows):
                ax.imshow(_strip(img), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
                ax.set_title(f"dim {j}: " + _row_label(lam, var), fontsize=9, pad=2)
                ax.set_xticks([])
                ax.set_yticks([])
                ax.grid(False)
        else:
            fig, ax = plt.subplots(figsize=(max(5, 0.25 * len(rows) + 2), 3.6))
            axes = np.array([[ax]])
            ax.bar(range(len(rows)), [r[2] for r in rows])
            ax.set_xticks(range(len(rows)), [f"{r[1]:.2f}" for r in rows], rotation=90, fontsize=7)
            ax.set_xlabel("$\\lambda_j$ (directions ordered by $\\lambda_j$)")
            ax.set_ylabel("output variance")
        fig.suptitle(title or "decodes along single eigendirections of $\\Sigma_z(x)$, ordered by $\\lambda_j$", fontsize=10)
        fig.tight_layout()
    return fig


def figure10(hists: dict):
    """Supplement Fig. 10: histograms of all lambda_j over a data set, one panel per run.
    ``hists``: label -> (counts, edges)."""
    with _styled():
        fig, axes = plt.subplots(1, len(hists), figsize=(4.2 * len(hists), 3.4), squeeze=False)
        for ax, (label, (counts, edges)) in zip(axes[0], hists.items()):
            edges = np.asarray(edges)
            ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", edgecolor="none")
            ax.set_xlabel("$\\lambda_j$")
            ax.set_ylabel("frequency")
            ax.set_title(f"histogram of $\\lambda_j$: {label}", fontsize=10)
        fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------- from runs
def ensure_diagnostics(run, device: str = "auto", n: int | None = 10000):
    """The run's saved diagnostics, recomputed (and saved) when missing or older than a checkpoint."""
    from vaediag.diagnostics.summary import SUMMARY, diagnose_run, load_diagnostics
    from vaediag.runs import CHECKPOINT

    got = load_diagnostics(run)
    if got is not None:
        t = (run.diagnostics_dir / SUMMARY).stat().st_mtime
        ckpts = [run.stage_dir(s) / CHECKPOINT for s in (1, 2) if run.has_checkpoint(s)]
        if all(p.stat().st_mtime <= t for p in ckpts) and (got[0].get("gamma_stage2") is not None) == run.stage_done(2):
            return got
    return diagnose_run(run, n=n, device=device)


def _traj(run):
    from vaediag.diagnostics.gamma import gamma_trajectory

    return gamma_trajectory(run.read_metrics(1))


def _label(run) -> str:
    m = run.config.model
    return "learned $\\gamma$" if m.gamma_mode == "learned" else f"fixed $\\gamma$ = {m.gamma_init:g}"


def perturb_rows_for(arrays: dict, rows: list[int] | None = None, all_rows: bool = False, smallest: int = 5):
    """[(direction, lambda, variance, decodes or None)] of the first perturbed input."""
    lam, var = arrays["perturb_lambda"][0], arrays["perturb_variance"][0]
    imgs = arrays.get("perturb_images")
    rows = rows if rows is not None else figure_rows(len(lam), lam, smallest=smallest, all_rows=all_rows)
    return [(j, float(lam[j]), float(var[j]), None if imgs is None else imgs[j].astype(np.float32)) for j in rows]


def figure1_for_run(run, compare=None, device: str = "auto", n: int | None = 10000):
    summary, arrays = ensure_diagnostics(run, device, n)
    trajs = {_label(run): _traj(run)}
    if compare is not None:
        lab = _label(compare)
        trajs[lab if lab not in trajs else f"{lab} ({compare.path.name})"] = _traj(compare)
    lam = arrays["perturb_lambda"][0]
    order = list(np.argsort(lam, kind="stable"))
    centre = [order[-1], *order[:2][::-1]] if len(order) >= 3 else order[::-1]  # as the paper: lambda ≈ 1, then the two smallest
    rows = [r[1:] for r in perturb_rows_for(arrays, rows=[int(j) for j in centre])]
    return figure1(trajs, rows, summary["spectrum"])


def figure9_for_run(run, device: str = "auto", n: int | None = 10000, all_rows: bool = False):
    summary, arrays = ensure_diagnostics(run, device, n)
    # without images (vector data) every direction fits in the bar chart
    return figure9(perturb_rows_for(arrays, all_rows=all_rows or "perturb_images" not in arrays))


def figure10_for_runs(runs: list, device: str = "auto", n: int | None = 10000, labels: list[str] | None = None):
    hists = {}
    for i, run in enumerate(runs):
        _, arrays = ensure_diagnostics(run, device, n)
        label = labels[i] if labels else f"{run.path.name} ({_label(run)})"
        hists[label] = (arrays["lambda_hist_counts"], arrays["lambda_hist_edges"])
    return figure10(hists)


# ---------------------------------------------------------------------------- report
def figure_png(fig, dpi: int = 100) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def verdict(summary: dict) -> list[str]:
    """Plain-language answers: has gamma converged, what is r_hat, does stage 2 repair q(z)."""
    out = []
    gt = summary.get("gamma_trajectory") or {}
    g = summary.get("gamma")
    if gt.get("fixed"):
        out.append(f"gamma is fixed at {g:.3g} in this run, so it cannot go to 0 (Theorem 3 does not apply).")
    elif gt.get("converged") is None:
        reg = summary.get("gamma_regime")
        if reg:  # a model vaediag did not train: the regime from its gamma and how it was declared
            out.append(reg["text"][0].upper() + reg["text"][1:])
        else:
            out.append(f"gamma = {g:.3g}; no training metrics were found to judge convergence." if g is not None
                       else "The model has no gamma.")
    else:
        moved = f"log gamma moved by {gt['tail_change']:+.3f} over the last quarter of training"
        if gt["converged"]:
            small = " and is small, as Theorem 3 predicts" if g < 0.05 else \
                ", but it is still large: train longer or check the learning rate of log gamma"
            out.append(f"gamma has converged: final gamma = {g:.3g} ({moved}){small}.")
        else:
            out.append(f"gamma has not converged: final gamma = {g:.3g} and still falling ({moved}); train longer.")
    byt = summary.get("r_hat_by_threshold", {})
    vals = sorted(set(byt.values()))
    stable = "the count is the same for every threshold from " + f"{min(map(float, byt)):g} to {max(map(float, byt)):g}" \
        if len(vals) == 1 else f"it ranges over {vals[0]}..{vals[-1]} across thresholds {', '.join(byt)}"
    if "r_hat" in summary:  # the count whatever gamma is (eq. 73), the tau-count beside it
        sep = summary.get("r_hat_separation")
        cuts = sorted(set(summary.get("r_hat_by_cut", {}).values()))
        margin = f"; the split's gap in log lambda is {sep:.2f}" if sep is not None else ""
        spread = "" if len(cuts) <= 1 else f" (cuts 0.3..0.7 give {cuts[0]}..{cuts[-1]})"
        out.append(f"r_hat = {summary['r_hat']} of {summary['latent_dim']} latent directions are used (mean "
                   f"lambda_j < 1/2, i.e. s_j^2 > gamma by eq. 73){spread}{margin}; {summary['near_one']} sit near 1 "
                   f"(unused). The tau-count (lambda_j < {summary['threshold']:g}, which assumes gamma -> 0) gives "
                   f"{summary['active_dims']}; {stable}.")
    else:
        out.append(f"r_hat = {summary['active_dims']} of {summary['latent_dim']} latent dimensions are active "
                   f"(mean lambda_j < {summary['threshold']:g}); {summary['near_one']} sit near 1 (unused), "
                   f"{summary['in_between']} in between; {stable}.")
    if summary.get("kl_total") is not None:
        out.append(collapse_line(summary))
    gap = summary["spectrum_gap"]
    kl = summary.get("kl_gaussian_fit", {})
    if gap.get("stage2") is None:
        if gap["stage1"] < GAP_CLOSE:
            out.append(f"No stage 2: stage 1's aggregated posterior q(z) is already close to N(0, I) (spectrum "
                       f"gap {gap['stage1']:.3f} < {GAP_CLOSE:g}); a second stage is not needed.")
        else:
            out.append(f"No stage 2: stage 1's aggregated posterior q(z) has spectrum gap {gap['stage1']:.3f} "
                       "against N(0, I); train stage 2 to repair it.")
    else:
        better = gap["stage2"] < gap["stage1"]
        close = gap["stage2"] < GAP_CLOSE
        klt = ""
        if kl.get("stage1") is not None and kl.get("stage2") is not None:
            klt = f"; Gaussian-fit KL to N(0, I) {kl['stage1']:.3g} -> {kl['stage2']:.3g} (i.i.d. N(0, I) reference: {kl.get('gaussian', float('nan')):.3g})"
        if gap["stage1"] < GAP_CLOSE and close:
            out.append(f"Stage 1's aggregated posterior is already close to N(0, I) (spectrum gap {gap['stage1']:.3f}); "
                       f"stage 2 keeps it close ({gap['stage2']:.3f}){klt}.")
        elif better and close:
            out.append(f"Stage 2 repairs the aggregated posterior: spectrum gap {gap['stage1']:.3f} (q(z)) -> "
                       f"{gap['stage2']:.3f} (q(u)), close to N(0, I){klt}.")
        elif better:
            out.append(f"Stage 2 improves the aggregated posterior but q(u) is not yet close to N(0, I): gap "
                       f"{gap['stage1']:.3f} -> {gap['stage2']:.3f}{klt}.")
        else:
            out.append(f"Stage 2 does not repair the aggregated posterior: gap {gap['stage1']:.3f} -> {gap['stage2']:.3f}{klt}.")
    return out


def collapse_line(summary: dict) -> str:
    """Collapse statistics held against eq. (9): measured KL vs -(r_hat/2) log gamma, active units, I(x; z)."""
    eq9 = summary.get("kl_eq9")
    pred = f"eq. (9) predicts -(r_hat/2) log gamma = {eq9 + 0.0:.3g} up to an O(1) term" if eq9 is not None else \
        "eq. (9) needs gamma"
    mi = summary.get("mutual_information")
    mi_t = f"; I(x; z) ~ {mi:.3g} nats (biased low, at most log N = {summary['mutual_information_max']:.3g})" \
        if mi is not None else ""
    iw = summary.get("iw_log_likelihood")
    iw_t = f"; importance-weighted log-likelihood (K = {iw['k']}, {iw['n']} inputs) {iw['mean']:.4g} ± " \
        f"{iw['stderr'] or 0:.2g} nats per input" if iw else ""
    return (f"Collapse: KL(q(z|x) || p(z)) = {summary['kl_total']:.3g} nats per input ({pred}); active units "
            f"{summary['active_units']} of {summary['latent_dim']} (Var_x mu_j > {summary['active_units_threshold']:g})"
            f"{mi_t}{iw_t}.")


def _table(rows) -> str:
    body = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_num(v))}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _num(v) -> str:
    if isinstance(v, float):
        return "null" if not math.isfinite(v) else f"{v:.6g}"
    if isinstance(v, list):
        return ", ".join(_num(x) for x in v)
    if isinstance(v, dict):
        return "; ".join(f"{k}: {_num(x)}" for k, x in v.items())
    return "null" if v is None else str(v)


def report_html(summary: dict, figures: dict[str, bytes], title: str = "vaediag report") -> str:
    """One self-contained HTML page: the verdict, every number of ``summary``, the PNG figures inline."""
    verdicts = "".join(f"<li>{html.escape(v)}</li>" for v in verdict(summary))
    scalars = [(k, v) for k, v in summary.items()
               if k not in ("perturbation", "spectrum", "lambda_mean", "kl_per_dim", "posterior_mean_variance")]
    pert = "".join(f"<tr><td>{p['direction']}</td><td>{p['lambda']:.4g}</td><td>{p['image_variance']:.4g}</td></tr>"
                   for p in summary["perturbation"])
    sp = summary["spectrum"]
    spec = "".join(f"<tr><td>{i + 1}</td>" + "".join(
        f"<td>{'' if sp.get(k) is None else f'{sp[k][i]:.4f}'}</td>" for k in ("stage1", "stage2", "gaussian")) + "</tr>"
        for i in range(len(sp["gaussian"])))
    kl_j, var_j = summary.get("kl_per_dim"), summary.get("posterior_mean_variance")
    lam = "".join(f"<tr><td>{j}</td><td>{v:.4g}</td>" + ("" if kl_j is None else
                  f"<td>{kl_j[j]:.4g}</td><td>{var_j[j]:.4g}</td>") + "</tr>" for j, v in enumerate(summary["lambda_mean"]))
    lam_head = "<th>j</th><th>lambda</th>" + ("" if kl_j is None else "<th>KL_j (nats)</th><th>Var_x mu_j</th>")
    imgs = "".join(f"<figure><img alt='{html.escape(name)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
                   f"<figcaption>{html.escape(name)}</figcaption></figure>" for name, png in figures.items())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:2px 8px;text-align:left;font-size:90%}}
img{{max-width:100%}}figure{{margin:1em 0}}details{{margin:1em 0}}</style></head><body>
<h1>{html.escape(title)}</h1>
<h2>Verdict</h2><ul>{verdicts}</ul>
<h2>Figures</h2>{imgs}
<h2>Numbers</h2>{_table(scalars)}
<details open><summary>Perturbation along eigendirections (ordered by lambda)</summary>
<table><tr><th>direction</th><th>lambda</th><th>image variance</th></tr>{pert}</table></details>
<details><summary>Per latent dimension: mean lambda_j, KL_j, variance of the posterior mean</summary><table><tr>{lam_head}</tr>{lam}</table></details>
<details><summary>Normalised singular values</summary>
<table><tr><th>index</th><th>stage 1 q(z)</th><th>stage 2 q(u)</th><th>N(0, I)</th></tr>{spec}</table></details>
<p>Definitions: gamma is the decoder variance; r_hat counts latent dimensions whose mean encoder variance
lambda_j is below 1/2 (s_j^2 > gamma, eq. 73; the tau-count beside it assumes gamma -> 0); active units have
Var_x mu_j above their threshold (Burda et al., 2016); I(x; z) is estimated with the aggregated posterior over the
inputs used (biased low, at most log N); image variance is the per-pixel variance over 15 decodes along one
eigendirection, summed over pixels; singular values are divided by the largest; the gap is their mean absolute
difference to an i.i.d. N(0, I) matrix of the same shape.</p>
</body></html>
"""


def report_for_run(run, compare=None, device: str = "auto", n: int | None = 10000) -> str:
    summary, _ = ensure_diagnostics(run, device, n)
    figs = {}
    if summary["spectrum"]["stage2"] is not None:
        figs["Figure 1: gamma over training, perturbations, aggregated-posterior spectra"] = figure_png(figure1_for_run(run, compare, device, n))
    figs["Supplement Fig. 9: decodes along eigendirections"] = figure_png(figure9_for_run(run, device, n), dpi=80)
    figs["Supplement Fig. 10: histogram of lambda_j"] = figure_png(figure10_for_runs([run], device, n))
    return report_html(summary, figs, title=f"vaediag report: {Path(run.path).name}")
