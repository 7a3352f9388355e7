"""The verdict: plain-language answers to the three questions of a run's diagnostics — has gamma
converged (Theorem 3), how many latent directions are used (r_hat, eq. 9), does stage 2 repair the
aggregated posterior (section 4)."""

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
    out.append(f"r_hat = {summary['active_dims']} of {summary['latent_dim']} latent dimensions are active "
               f"(mean lambda_j < {summary['threshold']:g}); {summary['near_one']} sit near 1 (unused), "
               f"{summary['in_between']} in between; {stable}.")
    gap = summary["spectrum_gap"]
    kl = summary.get("kl_gaussian_fit", {})
    if gap.get("stage2") is None:
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
