"""Held-out validation of the realisable teacher manifolds: r_hat = r on teachers never seen while their
construction was chosen.

The teacher's construction (``vaediag.data.manifolds.teacher_layers``: gain 4/r, whitening, scale) was
chosen on embed_seed 1234 with r = 1, 2, 3, 5 and d = 10, and the lab's other teacher rows check those same
cases. Here the teachers come from a seed range used nowhere before (HELDOUT_EMBED_SEEDS), for r = 1..6
(4 and 6 never seen) and two ambient dimensions (10 and 16, 16 never seen), one learned-gamma VAE per
teacher (kappa = HELDOUT_KAPPA > r, so that r_hat = r + 1 is possible for every r). One row per r: r_hat
over all its teachers (mean and standard error) against r -/+ 1, the pass rate (teachers with r_hat = r)
per ambient dimension, and every teacher's r_hat, gamma and encoder variances, failures included. A row with
a teacher not yet in eq. (9)'s regime (``checks_common.regime_reason``) is inconclusive, with that reason.
"""

from __future__ import annotations

import numpy as np

from vaediag.data import manifolds
from vaediag.theory.checks_common import VAR_THRESHOLD, Settings, regime_reason
from vaediag.theory.separation import check_point, mean_se
from vaediag.theory.sweep import evaluate, r_hat_per_model, train_sweep

HELDOUT_RS = (1, 2, 3, 4, 5, 6)
HELDOUT_DS = (10, 16)
HELDOUT_KAPPA = 8
HELDOUT_EMBED_SEEDS = tuple(range(7001, 7006))  # new: never drawn before this validation (the lab used 1234)
TEACHERS_QUICK, TEACHERS_FULL = 3, 5


def heldout_seeds(s: Settings) -> tuple[int, ...]:
    return HELDOUT_EMBED_SEEDS[:TEACHERS_QUICK if s.quick else TEACHERS_FULL]


def train_heldout(s: Settings, d: int) -> list[dict]:
    """Train one learned-gamma VAE per held-out teacher of ambient dimension d (one batched run) and return one
    record per teacher: r, d, embed_seed, r_hat, gamma, held-out loss, encoder variances."""
    cases = [(r, e) for r in HELDOUT_RS for e in heldout_seeds(s)]
    s.progress(f"held-out teachers: {len(cases)} VAEs batched (d={d}, r=1..6, embed seeds {heldout_seeds(s)}), "
               f"kappa={HELDOUT_KAPPA}, {s.steps} steps")
    train = np.stack([manifolds.make("teacher", n=s.n_train, seed=s.seed, r=r, d=d, embed_seed=e)[0] for r, e in cases])
    test = np.stack([manifolds.make("teacher", n=s.n_test, seed=s.seed + 10_000, r=r, d=d, embed_seed=e)[0]
                     for r, e in cases])
    seeds = [s.seed * 100 + 30_000 + 1_000 * d + i for i in range(len(cases))]
    res = train_sweep(train, HELDOUT_KAPPA, [float("nan")] * len(cases), seeds, steps=s.steps, batch=s.batch,
                      hidden=s.hidden, device=s.device)
    ev = evaluate(res.model, test, seed=s.seed)
    rh = r_hat_per_model(ev["enc_var"], VAR_THRESHOLD)
    return [{"r": r, "d": d, "embed_seed": e, "r_hat": int(rh[i]), "gamma": float(ev["gamma"][i]),
             "held_out_loss": float(ev["loss"][i]), "enc_var": [float(v) for v in ev["enc_var"][i]], "steps": s.steps}
            for i, (r, e) in enumerate(cases)]


def judge_heldout(records: list[dict]) -> list[dict]:
    """One check per r over every held-out teacher of that r (both ambient dimensions)."""
    out = []
    for r in sorted({c["r"] for c in records}):
        cs = [c for c in records if c["r"] == r]
        mean, se = mean_se([c["r_hat"] for c in cs])
        rates = {f"d={d}": float(np.mean([c["r_hat"] == r for c in cs if c["d"] == d]))
                 for d in sorted({c["d"] for c in cs})}
        failures = [{k: c[k] for k in ("d", "embed_seed", "r_hat", "gamma", "enc_var")} for c in cs if c["r_hat"] != r]
        out.append(check_point(f"eq. (9): r_hat = r on held-out teachers (r={r}; {len(cs)} teachers, embed seeds never "
                               f"used to choose the construction; pass rate {_fmt_rates(rates)}), mean r_hat",
                               mean, r, [r - 1, r + 1], se, unresolved=regime_reason(
                                   [c["enc_var"] for c in cs], cs[0].get("steps", 0), "teachers", r),
                               pass_rate=float(np.mean([c["r_hat"] == r for c in cs])),
                               pass_rate_by_d=rates, r_hat=[c["r_hat"] for c in cs], failures=failures))
    return out


def _fmt_rates(rates: dict) -> str:
    return ", ".join(f"{k}: {v:.0%}" for k, v in rates.items())


def check_heldout(s: Settings, records: list[dict] | None = None) -> tuple[list[dict], dict]:
    """The held-out rows and the records behind them (trained here when not given)."""
    if records is None:
        records = [c for d in HELDOUT_DS for c in train_heldout(s, d)]
    return judge_heldout(records), {"teachers": records}
