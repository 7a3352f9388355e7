"""The report page: one self-contained HTML file with the verdict, every number of a run's
diagnostics and the paper's figures embedded as PNG."""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

from vaediag.diagnostics.summary import ensure_diagnostics
from vaediag.diagnostics.verdict import verdict
from vaediag.plots import figure_png
from vaediag.plots.paper import (as_diagnosis, figure1_for_diagnosis, figure1_for_run, figure9_for_diagnosis, figure9_for_run,
                                 figure10_for_diagnoses, figure10_for_runs)


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
               if k not in ("perturbation", "spectrum", "lambda_mean", "kl_per_dim", "posterior_mean_variance", "verdict")]
    pert = "".join(f"<tr><td>{p['direction']}</td><td>{p['lambda']:.4g}</td><td>{p['image_variance']:.4g}</td>"
                   f"<td>{_num(p.get('image_variance_stderr'))}</td></tr>" for p in summary["perturbation"])
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
<table><tr><th>direction</th><th>lambda</th><th>image variance</th><th>standard error</th></tr>{pert}</table></details>
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


def report_for_diagnosis(d, history=None, title: str = "vaediag report") -> str:
    """The report page of any model's :class:`~vaediag.diagnostics.result.Diagnosis` (``history``: as for
    :func:`~vaediag.plots.paper.figure1_for_diagnosis`)."""
    d = as_diagnosis(d)
    figs = {"Figure 1: gamma, perturbations, aggregated-posterior spectra": figure_png(figure1_for_diagnosis(d, history)),
            "Supplement Fig. 9: decodes along eigendirections": figure_png(figure9_for_diagnosis(d), dpi=80),
            "Supplement Fig. 10: histogram of lambda_j": figure_png(figure10_for_diagnoses(d))}
    return report_html(d.summary, figs, title=title)
