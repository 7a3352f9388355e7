"""The verdict: plain-language answers to the questions of a diagnosis, read from a typed
:class:`~vaediag.diagnostics.result.Diagnosis` — has gamma converged and is it small (Theorem 3, judged in
[0, 1] units), what the encoder behaves as (eq. 73: gamma_effective, or a Bernoulli decoder's Fisher
calibration c), how many latent directions are used and how clearly (eq. 9, the band of
:mod:`vaediag.diagnostics.usage`), which directions are used on part of the inputs only, the collapse
statistics against eq. (9), and whether stage 2 repairs the aggregated posterior (section 4).

Every number is stated in [0, 1] units (the model's data range mapped to [0, 1]); when the model's units
differ, one last "Units:" sentence gives gamma (and gamma_effective, the log-likelihood) in the model's
units, so the same model on (0, 1), (-1, 1) or (0, 255) data gets the same sentences but that one.
"""

from __future__ import annotations

from vaediag.diagnostics.gamma import MIN_R2, SMALL_GAMMA
from vaediag.diagnostics.usage import PARTLY

GAP_CLOSE = 0.05  # a spectrum gap below this counts as "close to N(0, I)"


def verdict(d) -> list[str]:
    """The verdict's sentences for a Diagnosis (or a summary dict of any release, read through
    :meth:`Diagnosis.from_dict <vaediag.diagnostics.result.Diagnosis.from_dict>`)."""
    if isinstance(d, dict):
        from vaediag.diagnostics.result import Diagnosis

        d = Diagnosis.from_dict(d)
    out = gamma_lines(d)
    out.append(count_line(d))
    part = usage_line(d)
    if part:
        out.append(part)
    if d.spatial is not None and d.spatial.channel_verdict:
        out.append("By channel (r_hat counted per channel, mean lambda_j < 1/2): " + "; ".join(d.spatial.channel_verdict)
                   + ".")
    if d.collapse.kl_total is not None:
        out.append(collapse_line(d))
    out.append(stage2_line(d))
    units = units_line(d)
    if units:
        out.append(units)
    return out


def _cap(text: str) -> str:
    return text[0].upper() + text[1:]


def _f(v) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def gamma_lines(d) -> list[str]:
    """Has gamma converged and is it small (Theorem 3); what the encoder behaves as (eq. 73)."""
    g, tr = d.gamma, d.gamma.trajectory
    out = []
    if tr is not None and tr.converged is not None and not tr.fixed and g.value_01 is not None:
        moved = f"log gamma moved by {tr.tail_change:+.3f} over the last quarter of training"
        if tr.converged:
            small = (f" and is small (below {SMALL_GAMMA:g}), as Theorem 3 predicts" if g.regime == "learned-small" else
                     f", but it is still large (at least {SMALL_GAMMA:g}): train longer or check the learning rate of "
                     "log gamma")
            out.append(f"gamma has converged: final gamma = {g.value_01:.3g} in [0, 1] units ({moved}){small}.")
        else:
            out.append(f"gamma has not converged: final gamma = {g.value_01:.3g} in [0, 1] units and still falling "
                       f"({moved}); train longer.")
    elif g.regime_text:
        out.append(_cap(g.regime_text))
    else:
        out.append("The model has no gamma.")
    if d.model.likelihood == "bernoulli":
        out.append(fisher_line(d))
        return out
    fit = d.effective_fit
    if fit is not None and g.effective is None:
        why = "no direction used" if d.usage.r_hat == 0 else f"below the {fit.min_r2 or MIN_R2:g} needed"
        out.append(f"No single gamma explains the encoder's covariances through eq. (73) (R^2 of log lambda "
                   f"{_f(fit.r2)} over {fit.n} inputs, {why}): there is no effective gamma.")
    elif fit is not None and g.value_01 is not None:
        out.append(f"Its encoder behaves as gamma_effective = {g.effective_01:.3g} against gamma = {g.value_01:.3g} "
                   f"in [0, 1] units (eq. 73 fitted with the decoder's Jacobian on {fit.n} inputs, R^2 of log lambda "
                   f"{_f(fit.r2)}).")
    elif fit is not None:
        out.append(f"The eq. (73) fit: R^2 of log lambda {_f(fit.r2)} over {fit.n} inputs (rms residual "
                   f"{fit.rms_log_residual:.2f} in log lambda).")
    return out


def fisher_line(d) -> str:
    """A Bernoulli decoder's Fisher calibration c (eq. 73 with the Fisher metric; 1 at the optimum), in the words
    of :func:`vaediag.diagnostics.fisher.reading_text`."""
    from vaediag.diagnostics.fisher import FisherFit, reading_text

    f = d.fisher
    if f is None:
        return "The Fisher calibration of the encoder was not measured (no inputs fitted)."
    fit = FisherFit(c=f.c, r2=f.r2, rms_log_residual=f.rms_log_residual, pairs=f.pairs, explains=f.explains,
                    reading=f.reading)
    return reading_text(fit)[:-1] + f", fitted on {f.n} inputs."


def count_line(d) -> str:
    """How many latent directions are used: r_hat (mean lambda_j < 1/2) when no mean lambda_j lies in the band
    around 1/2, else the directions in the band and the range of counts; the tau-count under its own name."""
    u, k = d.usage, d.model.latent_dim
    if u.lambda_mean is None or u.r_hat is None:  # a summary with no mean lambda_j
        return (f"r_hat is unknown: this summary holds no mean lambda_j; the tau-count (mean lambda_j < {u.tau:g}) "
                f"is {u.tau_count} of {k}.")
    lo, hi = u.band
    band = f"[{lo:.3g}, {hi:.3g}]"
    tau_t = ""
    if u.tau_count is not None:
        by = u.tau_count_by_tau or {}
        vals = sorted(set(by.values()))
        stable = ("" if not by else f"; the same for every tau from {min(map(float, by)):g} to {max(map(float, by)):g}"
                  if len(vals) == 1 else f"; {vals[0]}..{vals[-1]} across tau = {', '.join(by)}")
        tau_t = f" The tau-count (mean lambda_j < {u.tau:g}, which assumes gamma -> 0) is {u.tau_count}{stable}."
    if not u.clear:
        lam = ", ".join(f"{j} ({u.lambda_mean[j]:.3g})" for j in u.in_band)
        return (f"There is no clear count of used latent directions: direction(s) {lam} have a mean lambda_j in the "
                f"band {band} around 1/2 (s_j^2 within a factor 2 of gamma, eq. 73), so the count is "
                f"{u.r_hat_range[0]}..{u.r_hat_range[1]} of {k} (r_hat = {u.r_hat} at exactly 1/2)." + tau_t)
    near = "" if u.near_one is None else f"; {u.near_one} sit near 1 (unused)"
    return (f"r_hat = {u.r_hat} of {k} latent directions are used (mean lambda_j < 1/2, i.e. s_j^2 > gamma by eq. 73); "
            f"the count is clear: no mean lambda_j lies in the band {band}{near}." + tau_t)


def usage_line(d) -> str:
    """Directions used on part of the inputs only (eq. 9 is per input; the mean lambda_j hides them)."""
    u = d.usage
    if u.used_fraction is None or not u.partly_used:
        return ""
    each = "; ".join(f"direction {j} on {100 * u.used_fraction[j]:.0f}% (mean lambda_j {u.lambda_mean[j]:.3g}, "
                     f"{'counted' if u.lambda_mean[j] < 0.5 else 'not counted'} in r_hat)" for j in u.partly_used)
    return (f"Used on part of the inputs only (lambda_j(x) < 1/2 on more than {100 * PARTLY[0]:.0f}% and less than "
            f"{100 * PARTLY[1]:.0f}% of them; eq. (9) holds per input): {each}.")


def collapse_line(d) -> str:
    """Collapse statistics held against eq. (9): measured KL vs -(r_hat/2) log gamma (gamma in [0, 1] units),
    active units, I(x; z), the importance-weighted log-likelihood (in [0, 1] units)."""
    c = d.collapse
    which = "gamma_effective" if c.kl_eq9_gamma == "gamma_effective" else "gamma"
    pred = (f"eq. (9) predicts -(r_hat/2) log {which} = {c.kl_eq9:.3g} with {which} in [0, 1] units, up to an "
            "O(1) term" if c.kl_eq9 is not None else
            "eq. (9) needs a gamma, which a Bernoulli decoder does not have" if d.model.likelihood == "bernoulli" else
            "eq. (9) needs gamma")
    mi = (f"; I(x; z) ~ {c.mutual_information:.3g} nats (biased low, at most log N = {c.mutual_information_max:.3g})"
          if c.mutual_information is not None else "")
    iw_t = ""
    iw = d.likelihood
    if iw is not None:
        what = "Bernoulli" if iw.likelihood == "bernoulli" else "Gaussian"
        implied = ", the implied Gaussian model" if "implied" in (iw.model or "") else ""
        mean = iw.mean_01 if iw.mean_01 is not None else iw.mean
        unit = "" if iw.likelihood == "bernoulli" else " in [0, 1] units"
        iw_t = (f"; importance-weighted log-likelihood ({what} decoder{implied}, K = {iw.k}, {iw.n} inputs) "
                f"{mean:.4g} ± {iw.stderr or 0:.2g} nats per input{unit}")
    au = "" if c.active_units is None else (f"; active units {c.active_units} of {d.model.latent_dim} "
                                            f"(Var_x mu_j > {c.active_units_threshold:g})")
    return f"Collapse: KL(q(z|x) || p(z)) = {c.kl_total:.3g} nats per input ({pred}){au}{mi}{iw_t}."


def stage2_line(d) -> str:
    """Does stage 2 repair the aggregated posterior: spectrum gaps (and Gaussian-fit KLs) of q(z) and q(u)."""
    s = d.spectra
    g1, g2 = s.gap_stage1, s.gap_stage2
    if g1 is None:
        return "No spectrum of the aggregated posterior was measured."
    if g2 is None:
        if g1 < GAP_CLOSE:
            return (f"No stage 2: stage 1's aggregated posterior q(z) is already close to N(0, I) (spectrum "
                    f"gap {g1:.3f} < {GAP_CLOSE:g}); a second stage is not needed.")
        return (f"No stage 2: stage 1's aggregated posterior q(z) has spectrum gap {g1:.3f} against N(0, I); train "
                "stage 2 to repair it.")
    klt = ""
    if s.kl_fit_stage1 is not None and s.kl_fit_stage2 is not None:
        ref = float("nan") if s.kl_fit_gaussian is None else s.kl_fit_gaussian
        klt = f"; Gaussian-fit KL to N(0, I) {s.kl_fit_stage1:.3g} -> {s.kl_fit_stage2:.3g} (i.i.d. N(0, I) reference: {ref:.3g})"
    if g1 < GAP_CLOSE and g2 < GAP_CLOSE:
        return (f"Stage 1's aggregated posterior is already close to N(0, I) (spectrum gap {g1:.3f}); stage 2 keeps it "
                f"close ({g2:.3f}){klt}.")
    if g2 < g1 and g2 < GAP_CLOSE:
        return (f"Stage 2 repairs the aggregated posterior: spectrum gap {g1:.3f} (q(z)) -> {g2:.3f} (q(u)), close to "
                f"N(0, I){klt}.")
    if g2 < g1:
        return f"Stage 2 improves the aggregated posterior but q(u) is not yet close to N(0, I): gap {g1:.3f} -> {g2:.3f}{klt}."
    return f"Stage 2 does not repair the aggregated posterior: gap {g1:.3f} -> {g2:.3f}{klt}."


def units_line(d) -> str:
    """Where the model's units are not [0, 1]: gamma (and gamma_effective, the log-likelihood) in both units."""
    m, g = d.model, d.gamma
    if m.unit_scale == 1.0:
        return ""
    lo, hi = m.data_range
    bits = [f"gamma = {g.value:.3g} there is {g.value_01:.3g} in [0, 1] units"] if g.value is not None else []
    if g.effective is not None:
        bits.append(f"gamma_effective = {g.effective:.3g} there is {g.effective_01:.3g}")
    iw = d.likelihood
    if iw is not None and iw.mean_01 is not None:
        bits.append(f"the log-likelihood is {iw.mean:.4g} nats per input there ({iw.mean_01:.4g} in [0, 1] units)")
    if not bits:
        return ""
    return f"Units: the model's data range is [{lo:g}, {hi:g}]; " + "; ".join(bits) + "."
