"""The theory lab's results as plain text: the checks table, the r_hat table and the rows reported apart
(``vaediag theory`` prints them; ``benchmarks/theory_table.py`` writes docs/results/theory.md's from the same cells)."""

from __future__ import annotations

import math


def fmt(v) -> str:
    """A number to 3 significant digits, dicts and lists element by element, anything else as str."""
    if isinstance(v, float):
        return f"{v:.3g}" if math.isfinite(v) else str(v)
    if isinstance(v, dict):
        return ", ".join(f"{k}={fmt(x)}" for k, x in v.items())
    if isinstance(v, list):
        return "[" + ", ".join(fmt(x) for x in v) + "]"
    return str(v)


COLUMNS = ("claim", "measured", "predicted", "alternative", "margin", "se", "verdict")


def format_table(checks: list[dict]) -> str:
    """Plain-text table: claim | measured | predicted | alternative | margin | se | verdict (a row passes when its
    margin is at least 2 se: vaediag.theory.separation; an inconclusive row of unresolved models gives the reason
    after its verdict; rows of an older JSON without a column show "-")."""
    cols = COLUMNS
    rows = [[fmt(c.get(k, "-")) for k in cols] for c in checks]
    for r, c in zip(rows, checks):  # an unresolved row says why it cannot test its claim
        if c.get("unresolved"):
            r[-1] = f"{r[-1]}: {c['unresolved']}"
    w = [max(len(k), *(len(r[i]) for r in rows)) for i, k in enumerate(cols)]
    line = lambda r: " | ".join(x.ljust(w[i]) for i, x in enumerate(r))
    return "\n".join([line(cols), "-+-".join("-" * x for x in w), *map(line, rows)])


def rhat_cells(r: dict, gamma_label: str = "") -> list[str]:
    """One row of the r_hat table as cells: data, r, r_hat (gamma), every restart's r_hat (held-out loss),
    MLE, TwoNN, affine dimension, checked or why not (also docs/results/theory.md's table: benchmarks/theory_table.py)."""
    rs = r.get("restarts") or []
    rest = ", ".join(f"{x['r_hat']} ({x['held_out_loss']:.2f})" for x in rs) if rs else "-"
    checked = "yes" if r.get("checked") else f"no: {r.get('note', '')}"
    return [r["data"], "?" if r["r"] is None else str(r["r"]), f"{r['r_hat_vae']} ({gamma_label}{r['gamma']:.2g})",
            rest, f"{r['mle']:.2f}", f"{r['twonn']:.2f}", str(r.get("affine", "-")), checked]


def format_rhat(rows: list[dict]) -> str:
    """The r_hat table: truth, r_hat of the selected restart (and every restart's), MLE, TwoNN, checked or why not."""
    head = ("data | r (truth) | r_hat VAE (learned gamma) | restarts' r_hat (held-out loss) | MLE (k=20) | TwoNN | "
            "affine dim. | checked")
    out = [head, "-" * len(head)]
    out += [" | ".join(rhat_cells(r, gamma_label="gamma=")) for r in rows]
    out.append("r_hat: encoder variances below the lab's cut (see checks.VAR_THRESHOLD); the restart with the lowest "
               "held-out loss is the one reported and checked. affine dim.: the smallest affine subspace holding the "
               "data (checks.AFFINE_REL_TOL); a decoder linear in that many latent directions reproduces it exactly.")
    return "\n".join(out)


def format_reported(reported: list[dict]) -> str:
    """The reported rows, apart from the checks: what was measured and why it is not a check."""
    out = ["Reported, not checked (the theorem's assumption does not hold, or the truth is unknown):"]
    for r in reported:
        out.append(f"- {r['data']}: {fmt(r['measured'])}")
        out.append(f"  reason: {r['reason']}")
    return "\n".join(out)
