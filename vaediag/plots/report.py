"""The report page: one self-contained HTML file with the verdict, every number of a
:class:`~vaediag.diagnostics.result.Diagnosis` (by section, with units) and the paper's figures embedded as
PNG. It reads the diagnosis and draws; it computes nothing."""

from __future__ import annotations

import base64
import dataclasses
import html
import math

import numpy as np

from vaediag.plots import figure_png
from vaediag.plots.paper import as_diagnosis, figure1, figure9, figure10


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


def _scalars(obj, path: str = "") -> list[tuple[str, object]]:
    """(attribute path with its unit, value) of every scalar field of a section, sections expanded; arrays and
    long sequences are left to the tables below."""
    rows = []
    for f in dataclasses.fields(obj):
        v, name = getattr(obj, f.name), f"{path}.{f.name}" if path else f.name
        if dataclasses.is_dataclass(v):
            rows += _scalars(v, name)
        elif not isinstance(v, np.ndarray) and not (isinstance(v, tuple) and len(v) > 8) and f.name != "rows":
            unit = f.metadata.get("unit")
            rows.append((f"{name} ({unit})" if unit else name, list(v) if isinstance(v, tuple) else v))
    return rows


def _tables(d) -> tuple[str, str, str, str]:
    """The perturbation, per-direction and spectrum tables' rows, and the per-direction header."""
    pert = "".join(f"<tr><td>{r.direction}</td><td>{r.lam:.4g}</td><td>{r.image_variance:.4g}</td>"
                   f"<td>{_num(r.image_variance_stderr)}</td></tr>" for r in d.perturbations.rows)
    sp = d.spectra
    cols = [sp.stage1, sp.stage2, sp.gaussian]
    n = max((len(c) for c in cols if c is not None), default=0)
    spec = "".join(f"<tr><td>{i + 1}</td>" + "".join(
        f"<td>{'' if c is None or i >= len(c) else f'{c[i]:.4f}'}</td>" for c in cols) + "</tr>" for i in range(n))
    u, c = d.usage, d.collapse
    kl_j, var_j, frac = c.kl_per_dim, c.posterior_mean_variance, u.used_fraction
    lam = "".join(f"<tr><td>{j}</td><td>{v:.4g}</td>" + ("" if frac is None else f"<td>{frac[j]:.3g}</td>")
                  + ("" if kl_j is None else f"<td>{kl_j[j]:.4g}</td><td>{var_j[j]:.4g}</td>") + "</tr>"
                  for j, v in enumerate(u.lambda_mean))
    head = ("<th>j</th><th>mean lambda_j</th>" + ("" if frac is None else "<th>fraction of inputs with lambda_j(x) &lt; 1/2</th>")
            + ("" if kl_j is None else "<th>KL_j (nats)</th><th>Var_x mu_j</th>"))
    return pert, lam, spec, head


def report(d, history=None, title: str = "vaediag report") -> str:
    """The report page of a :class:`~vaediag.diagnostics.result.Diagnosis` (``history``: Figure 1's training
    history, as for :func:`~vaediag.plots.paper.figure1`)."""
    d = as_diagnosis(d)
    figs = {"Figure 1: gamma, perturbations, aggregated-posterior spectra": figure_png(figure1(d, history)),
            "Supplement Fig. 9: decodes along eigendirections": figure_png(figure9(d), dpi=80),
            "Supplement Fig. 10: histogram of lambda_j": figure_png(figure10(d))}
    return report_html(d, figs, title=title)


def report_html(d, figures: dict[str, bytes], title: str = "vaediag report") -> str:
    """One self-contained HTML page: the verdict, every number of the diagnosis ``d``, the PNG figures inline."""
    d = as_diagnosis(d)
    verdicts = "".join(f"<li>{html.escape(v)}</li>" for v in d.verdict)
    pert, lam, spec, lam_head = _tables(d)
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
<h2>Numbers</h2>{_table(_scalars(d))}
<details open><summary>Perturbation along eigendirections (ordered by lambda)</summary>
<table><tr><th>direction</th><th>lambda</th><th>image variance</th><th>standard error</th></tr>{pert}</table></details>
<details><summary>Per latent dimension: mean lambda_j, KL_j, variance of the posterior mean</summary><table><tr>{lam_head}</tr>{lam}</table></details>
<details><summary>Normalised singular values</summary>
<table><tr><th>index</th><th>stage 1 q(z)</th><th>stage 2 q(u)</th><th>N(0, I)</th></tr>{spec}</table></details>
<p>Definitions: gamma is the decoder variance (model units, and in [0, 1] units with the data range mapped to
[0, 1]: the verdict's thresholds are stated there); r_hat counts latent dimensions whose mean encoder variance
lambda_j is below 1/2 (s_j^2 > gamma, eq. 73; the tau-count beside it assumes gamma -> 0); active units have
Var_x mu_j above their threshold (Burda et al., 2016); I(x; z) is estimated with the aggregated posterior over the
inputs used (biased low, at most log N); image variance is the per-pixel variance over 15 decodes along one
eigendirection, summed over pixels; singular values are divided by the largest; the gap is their mean absolute
difference to an i.i.d. N(0, I) matrix of the same shape.</p>
</body></html>
"""
