"""The rule every check of the theory lab is judged by: a claim against its nearest alternative.

A check names the claim's prediction c and the alternatives a_k (what would be measured if the claim
were false: r_hat - 1 or r_hat + 1 for a slope, a gamma that stays where it started, q(z) without the
second stage). With m the measured value and se its standard error (over restarts or seeds, a
regression's standard error for a fitted slope, a bootstrap or Monte Carlo error where there are few),

    margin = min_k |m - a_k| - |m - c|          (how much closer m is to the claim)
    pass   iff margin >= SE_MULTIPLE * se and margin > 0.

So no tolerance is chosen: the line between pass and fail is where m is closer to the claim than to the
nearest alternative by two standard errors. A claim that is one-sided ("stage 1 is measurably off") has
the margin side * (m - a) instead. Deterministic numbers (quadrature, a float64 optimiser) carry se = 0:
they pass when closer to the claim at all.

A check whose power the budget may not give (the slope of eq. (8): ``power=True``) is "inconclusive"
instead of "fail" while |margin| < SE_MULTIPLE * se: it says it cannot separate the claim from its
alternative at this budget and is a reported row, not a pass. Measured closer to the alternative by two
standard errors, it fails like any other.

A check whose trained models have not reached the regime its claim describes (``unresolved``: a sentence
saying which and why, e.g. :func:`vaediag.theory.checks_common.regime_reason` for eq. (9)'s count) is
"inconclusive" whatever its margin: its numbers cannot test the claim either way, so it is never a pass
and never a fail; the margin it would have had is still shown.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

SE_MULTIPLE = 2.0  # "closer to the claim than to the alternative by at least twice its standard error"
VERDICTS = ("pass", "fail", "inconclusive")


def margin(measured: float, claim: float, alternatives: Sequence[float]) -> tuple[float, float]:
    """(distance to the nearest alternative minus distance to the claim, that nearest alternative)."""
    alts = [float(a) for a in alternatives]
    if not alts:
        raise ValueError("a check needs at least one alternative")
    m = float(measured)
    near = min(alts, key=lambda a: abs(m - a))
    return abs(m - near) - abs(m - float(claim)), near


def verdict(margin_: float, se: float, power: bool = False) -> str:
    """pass iff margin >= SE_MULTIPLE se and margin > 0; else fail, or inconclusive for a ``power`` check
    whose margin is within SE_MULTIPLE se of zero."""
    margin_, se = float(margin_), float(se)
    if not (math.isfinite(margin_) and math.isfinite(se)) or se < 0:
        return "fail"
    if margin_ > 0 and margin_ >= SE_MULTIPLE * se:
        return "pass"
    if power and margin_ > -SE_MULTIPLE * se:
        return "inconclusive"
    return "fail"


def row(claim: str, measured, predicted, alternative, margin_: float, se: float, power: bool = False,
        unresolved: str | None = None, **extra) -> dict:
    """One row of the lab's table: the claim, what was measured and predicted, the nearest alternative,
    the margin, the standard error and the verdict; ``tolerance`` states the line the rule draws.
    ``unresolved``: why the models cannot test the claim yet (then "inconclusive", the reason in the row)."""
    v = "inconclusive" if unresolved else verdict(margin_, se, power)
    why = {"unresolved": unresolved} if unresolved else {}
    return {"claim": claim, "measured": measured, "predicted": predicted, "alternative": alternative,
            "margin": float(margin_), "se": float(se),
            "tolerance": f"margin >= {SE_MULTIPLE:g} se = {SE_MULTIPLE * float(se):.3g}" if se > 0 else "margin > 0 (se 0)",
            "verdict": v, **why, **extra}


def check_point(claim: str, measured: float, predicted: float, alternatives: Sequence[float], se: float,
                power: bool = False, unresolved: str | None = None, **extra) -> dict:
    """A check of a point prediction against point alternatives (see :func:`margin`)."""
    mg, near = margin(measured, predicted, alternatives)
    return row(claim, float(measured), float(predicted), near, mg, se, power, unresolved,
               alternatives=[float(a) for a in alternatives], **extra)


def check_side(claim: str, measured: float, predicted: str, alternative: float, side: int, se: float,
               **extra) -> dict:
    """A one-sided claim (``side`` +1: above the alternative, -1: below it): margin = side (m - alternative)."""
    return row(claim, float(measured), predicted, float(alternative), side * (float(measured) - float(alternative)), se,
               **extra)


def check_distances(claim: str, measured, predicted, alternative, d_claim: float, d_alt: float, se: float,
                    **extra) -> dict:
    """A claim whose distances are not on a line (matrices): margin = d_alt - d_claim."""
    return row(claim, measured, predicted, alternative, float(d_alt) - float(d_claim), se, d_claim=float(d_claim),
               d_alternative=float(d_alt), **extra)


def mean_se(values) -> tuple[float, float]:
    """Mean of restarts' or seeds' values and its standard error std / sqrt(n) (ddof 1; 0 for one value)."""
    v = np.asarray(values, dtype=float).ravel()
    if len(v) == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else 0.0


def slope_se(x, y) -> tuple[float, float]:
    """Least-squares slope of y on x and its standard error (residual variance / (n - 2) / S_xx);
    nan for the error with fewer than 3 points, nan for both with fewer than 2."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(x)
    if n < 2:
        return float("nan"), float("nan")
    xc = x - x.mean()
    sxx = float((xc ** 2).sum())
    b = float((xc * (y - y.mean())).sum() / sxx)
    if n < 3:
        return b, float("nan")
    resid = y - y.mean() - b * xc
    return b, float(math.sqrt((resid ** 2).sum() / (n - 2) / sxx))
