"""The verdict: plain-language answers to the three questions of a run's diagnostics — has gamma
converged (Theorem 3), how many latent directions are used (r_hat, eq. 9), does stage 2 repair the
aggregated posterior (section 4); and the collapse statistics held against eq. (9)."""

from __future__ import annotations

GAP_CLOSE = 0.05  # a spectrum gap below this counts as "close to N(0, I)"


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
