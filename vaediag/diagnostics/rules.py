"""What the verdict's rules derive from the measured numbers, in one place for a fresh diagnosis and for a
summary saved by an earlier release (:meth:`vaediag.diagnostics.result.Diagnosis.from_dict`):

- gamma, gamma_effective and the effective fit in [0, 1] units (the model-units value / s^2, s the width
  of the model's data range): every threshold on gamma is stated in [0, 1] units;
- the count's clarity by the band around 1/2 (:func:`vaediag.diagnostics.usage.count_clarity`) and the
  partly used directions (:func:`vaediag.diagnostics.usage.partly_used`);
- whether one gamma explains the encoder (R^2 of log lambda at least ``MIN_R2``,
  :data:`vaediag.diagnostics.gamma.MIN_R2`); Bernoulli decoders get no gamma_effective (the Fisher
  calibration instead);
- gamma's regime (:func:`vaediag.diagnostics.gamma.gamma_regime`, in [0, 1] units) and eq. (9)'s KL,
  -(r_hat / 2) log gamma with gamma in [0, 1] units.

Summaries written before 0.3 name the tau-count ``active_dims`` / ``threshold`` / ``r_hat_by_threshold``
and the counts by cut ``r_hat_by_cut`` (``LEGACY_KEYS``); they are renamed here.
"""

from __future__ import annotations

import numpy as np

from vaediag.diagnostics.collapse import kl_eq9
from vaediag.diagnostics.eigen import DEFAULT_TAU, LEGACY_KEYS, eigen_summary
from vaediag.diagnostics.gamma import MIN_R2, gamma_regime
from vaediag.diagnostics.usage import count_clarity, partly_used


def derive(summary: dict, arrays: dict) -> tuple[dict, dict]:
    """(summary, arrays) with every derived key recomputed by this version's rules (new dicts)."""
    s = {k: v for k, v in summary.items() if k != "verdict"}
    for old, new in LEGACY_KEYS.items():
        if old in s:
            s.setdefault(new, s.pop(old))
    lm = arrays.get("lambda_mean", s.get("lambda_mean"))
    if lm is not None:
        lm = np.asarray(lm, dtype=np.float64)
        for key, value in eigen_summary(lm, float(s.get("tau", DEFAULT_TAU))).items():
            s.setdefault(key, value)
        _clarity(s, lm)
    fraction = arrays.get("used_fraction", s.get("used_fraction"))
    if fraction is not None and np.all(np.isfinite(np.asarray(fraction, dtype=np.float64))):
        s["partly_used"] = list(partly_used(fraction))
    _units(s)
    _effective(s)
    traj = s.get("gamma_trajectory") if isinstance(s.get("gamma_trajectory"), dict) else None
    s["gamma_regime"] = gamma_regime(s.get("gamma_01"), _mode(s), traj, s.get("gamma_effective_01"))
    use = s.get("gamma_01") if s.get("gamma") is not None else s.get("gamma_effective_01")
    if s.get("r_hat") is not None and "kl_total" in s:  # eq. (9) in [0, 1] units
        eq9 = kl_eq9(int(s["r_hat"]), use)
        s["kl_eq9"] = None if eq9 is None else eq9 + 0.0  # no -0.0 when r_hat = 0
        s["kl_eq9_gamma"] = None if s["kl_eq9"] is None else ("gamma" if s.get("gamma") is not None else "gamma_effective")
    return s, arrays


def _mode(s: dict) -> str:
    return "none" if s.get("likelihood") == "bernoulli" else str(s.get("gamma_mode") or "unknown")


def _clarity(s: dict, lm: np.ndarray) -> None:
    c = count_clarity(lm, tuple(s.get("r_hat_band") or (1 / 3, 2 / 3)))
    s.update({"r_hat": c.r_hat, "r_hat_clear": c.clear, "r_hat_band": list(c.band), "r_hat_in_band": list(c.in_band),
              "r_hat_range": list(c.r_hat_range)})


def _units(s: dict) -> None:
    lo, hi = s.get("data_range") or (0.0, 1.0)
    scale = float(s.get("unit_scale") or (hi - lo) or 1.0)
    s["data_range"], s["unit_scale"] = [float(lo), float(hi)], scale
    for key in ("gamma", "gamma_effective", "recon_mse"):
        v = s.get(key)
        s[f"{key}_01"] = None if v is None else v / scale ** 2
    fit = s.get("gamma_effective_fit")
    if isinstance(fit, dict):
        fit = s["gamma_effective_fit"] = dict(fit)
        fit["gamma_01"] = None if fit.get("gamma") is None else fit["gamma"] / scale ** 2


def _effective(s: dict) -> None:
    """One gamma explains the encoder only with R^2 >= MIN_R2; a Bernoulli decoder has no gamma_effective."""
    fit = s.get("gamma_effective_fit")
    if s.get("likelihood") == "bernoulli":
        s["gamma_effective_fit"] = None
        s["gamma_effective"] = s["gamma_effective_01"] = None
        return
    if isinstance(fit, dict):
        r2 = fit.get("r2")
        fit["explains"] = bool(fit.get("explains")) and (r2 is None or r2 >= MIN_R2)
        fit.setdefault("min_r2", MIN_R2)
        ok = fit["explains"] and fit.get("gamma") is not None
        s["gamma_effective"] = fit["gamma"] if ok else None
        s["gamma_effective_01"] = fit["gamma_01"] if ok else None
