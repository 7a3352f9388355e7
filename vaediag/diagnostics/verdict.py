"""The verdict: plain-language answers to the three questions of a run's diagnostics — has gamma
converged (Theorem 3), how many latent directions are used (r_hat, eq. 9), does stage 2 repair the
aggregated posterior (section 4); and the collapse statistics held against eq. (9)."""

from __future__ import annotations

from vaediag.diagnostics.eigen import CLEAR_GAP

GAP_CLOSE = 0.05  # a spectrum gap below this counts as "close to N(0, I)"


def verdict(summary: dict) -> list[str]:
    """Plain-language answers: has gamma converged, what is r_hat, does stage 2 repair q(z)."""
    out = gamma_lines(summary)
    out.append(count_line(summary))
    if summary.get("kl_total") is not None:
        out.append(collapse_line(summary))
    out.append(stage2_line(summary))
    return out


def gamma_lines(summary: dict) -> list[str]:
    """Has gamma converged (Theorem 3); the gamma the encoder behaves as (eq. 73); its units."""
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
    fit = summary.get("gamma_effective_fit") or {}
    if fit and summary.get("gamma_effective") is None:
        out.append(f"No single gamma explains the encoder's covariances through eq. (73) (R^2 of log lambda "
                   f"{_f(fit.get('r2'))} over {fit.get('n')} inputs{', no direction used' if summary.get('r_hat') == 0 else ''}): "
                   "there is no effective gamma.")
    elif fit.get("gamma") is not None and g is not None:
        out.append(f"Its encoder behaves as gamma_effective = {fit['gamma']:.3g} (eq. 73 fitted with the decoder's "
                   f"Jacobian on {fit['n']} inputs, R^2 of log lambda {_f(fit['r2'])}) against gamma = {g:.3g}.")
    elif fit.get("gamma") is not None:
        out.append(f"The eq. (73) fit: R^2 of log lambda {_f(fit['r2'])} over {fit['n']} inputs (rms residual "
                   f"{fit['rms_log_residual']:.2f} in log lambda).")
    scale = summary.get("unit_scale")
    if scale not in (None, 1.0) and g is not None and summary.get("gamma_01") is not None:
        lo, hi = summary["data_range"]
        out.append(f"Units: the model's data range is [{lo:g}, {hi:g}]; gamma = {g:.3g} there is {summary['gamma_01']:.3g} "
                   "with the data mapped to [0, 1].")
    return out


def stage2_line(summary: dict) -> str:
    """Does stage 2 repair the aggregated posterior: spectrum gaps (and Gaussian-fit KLs) of q(z) and q(u)."""
    gap = summary["spectrum_gap"]
    kl = summary.get("kl_gaussian_fit", {})
    if gap.get("stage2") is None:
        if gap["stage1"] < GAP_CLOSE:
            return (f"No stage 2: stage 1's aggregated posterior q(z) is already close to N(0, I) (spectrum "
                    f"gap {gap['stage1']:.3f} < {GAP_CLOSE:g}); a second stage is not needed.")
        else:
            return (f"No stage 2: stage 1's aggregated posterior q(z) has spectrum gap {gap['stage1']:.3f} "
                    "against N(0, I); train stage 2 to repair it.")
    else:
        better = gap["stage2"] < gap["stage1"]
        close = gap["stage2"] < GAP_CLOSE
        klt = ""
        if kl.get("stage1") is not None and kl.get("stage2") is not None:
            klt = f"; Gaussian-fit KL to N(0, I) {kl['stage1']:.3g} -> {kl['stage2']:.3g} (i.i.d. N(0, I) reference: {kl.get('gaussian', float('nan')):.3g})"
        if gap["stage1"] < GAP_CLOSE and close:
            return (f"Stage 1's aggregated posterior is already close to N(0, I) (spectrum gap {gap['stage1']:.3f}); "
                    f"stage 2 keeps it close ({gap['stage2']:.3f}){klt}.")
        elif better and close:
            return (f"Stage 2 repairs the aggregated posterior: spectrum gap {gap['stage1']:.3f} (q(z)) -> "
                    f"{gap['stage2']:.3f} (q(u)), close to N(0, I){klt}.")
        elif better:
            return (f"Stage 2 improves the aggregated posterior but q(u) is not yet close to N(0, I): gap "
                    f"{gap['stage1']:.3f} -> {gap['stage2']:.3f}{klt}.")
        else:
            return (f"Stage 2 does not repair the aggregated posterior: gap {gap['stage1']:.3f} -> {gap['stage2']:.3f}{klt}.")


def _f(v) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def count_line(summary: dict) -> str:
    """How many latent directions are used: r_hat (lambda_j < 1/2) when the split is clear, else the range
    over cuts; the tau-count beside it under its own name. Reads old summaries (``active_dims``) too."""
    tau_by = summary.get("tau_count_by_tau", summary.get("r_hat_by_threshold", {}))
    tc = summary.get("tau_count", summary.get("active_dims"))
    tau = summary.get("tau", summary.get("threshold"))
    vals = sorted(set(tau_by.values()))
    stable = ("the same for every tau from " + f"{min(map(float, tau_by)):g} to {max(map(float, tau_by)):g}"
              if len(vals) == 1 else f"{vals[0]}..{vals[-1]} across tau = {', '.join(tau_by)}") if tau_by else ""
    k = summary["latent_dim"]
    if "r_hat" not in summary:  # a summary written before the eq. (73) count
        return (f"r_hat = {tc} of {k} latent dimensions are active (mean lambda_j < {tau:g}: a summary saved before "
                f"the lambda_j < 1/2 count); {summary['near_one']} sit near 1 (unused), {summary['in_between']} in "
                f"between; {stable}.")
    sep = summary.get("r_hat_separation")
    by_cut = summary.get("count_by_cut", summary.get("r_hat_by_cut", {}))
    cuts = sorted(set(by_cut.values()))
    clear = summary.get("r_hat_clear", len(cuts) <= 1 or (sep is not None and sep >= CLEAR_GAP))
    gap = f"the gap in log lambda across 1/2 is {sep:.2f}" if sep is not None else "no direction on one side of 1/2"
    tau_t = (f" The tau-count (mean lambda_j < {tau:g}, which assumes gamma -> 0) is {tc}"
             + (f"; {stable}." if stable else "."))
    if not clear:
        lo, hi = (cuts[0], cuts[-1]) if cuts else (summary["r_hat"], summary["r_hat"])
        return (f"There is no clear count of used latent directions: the mean lambda_j do not split at 1/2 ({gap}); "
                f"cuts 0.3..0.7 give {lo}..{hi} of {k} (r_hat = {summary['r_hat']} at exactly 1/2 is not a gap)."
                + tau_t)
    spread = "" if len(cuts) <= 1 else f" (cuts 0.3..0.7 give {cuts[0]}..{cuts[-1]})"
    return (f"r_hat = {summary['r_hat']} of {k} latent directions are used (mean lambda_j < 1/2, i.e. s_j^2 > gamma "
            f"by eq. 73){spread}; {gap}; {summary['near_one']} sit near 1 (unused)." + tau_t)


def collapse_line(summary: dict) -> str:
    """Collapse statistics held against eq. (9): measured KL vs -(r_hat/2) log gamma, active units, I(x; z)."""
    eq9 = summary.get("kl_eq9")
    which = "gamma_effective" if summary.get("kl_eq9_gamma") == "gamma_effective" else "gamma"
    pred = f"eq. (9) predicts -(r_hat/2) log {which} = {eq9 + 0.0:.3g} up to an O(1) term" if eq9 is not None else \
        "eq. (9) needs gamma"
    mi = summary.get("mutual_information")
    mi_t = f"; I(x; z) ~ {mi:.3g} nats (biased low, at most log N = {summary['mutual_information_max']:.3g})" \
        if mi is not None else ""
    iw = summary.get("iw_log_likelihood")
    iw_t = ""
    if iw:
        what = "Bernoulli" if iw.get("likelihood") == "bernoulli" else "Gaussian"
        unit = f" ({iw['mean_01']:.4g} with the data mapped to [0, 1])" if iw.get("mean_01") is not None else ""
        implied = ", the implied Gaussian model" if "implied" in iw.get("model", "") else ""
        iw_t = (f"; importance-weighted log-likelihood ({what} decoder{implied}, K = {iw['k']}, {iw['n']} inputs) "
                f"{iw['mean']:.4g} ± {iw['stderr'] or 0:.2g} nats per input{unit}")
    return (f"Collapse: KL(q(z|x) || p(z)) = {summary['kl_total']:.3g} nats per input ({pred}); active units "
            f"{summary['active_units']} of {summary['latent_dim']} (Var_x mu_j > {summary['active_units_threshold']:g})"
            f"{mi_t}{iw_t}.")
