"""All diagnostics in one batched pass: :func:`diagnose` for any model meeting :mod:`vaediag.diagnostics.protocol`,
:func:`diagnose_run` for a run directory (writes ``RUN/diagnostics/summary.json`` and arrays beside it).
Both return a typed :class:`~vaediag.diagnostics.result.Diagnosis`; its fields, units and equations are
listed in docs/diagnostics.md (the field reference) and shown by ``help(vaediag.Diagnosis)``. The
gatherers here collect the measured numbers under their file keys; :mod:`.rules` derives the rest.

Randomness: each component draws from its own stream (``STREAMS``, spawned from ``seed``), so adding a
stage 2 or changing one component's size leaves every other number unchanged.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
import time

import numpy as np
import torch

from vaediag.data import Dataset
from vaediag.diagnostics.adapt import adapt, as_tensor_data, check_data, check_decodes, model_floats
from vaediag.diagnostics.budget import (Budgets, batch_size, jvp_rows, part_bar, pick_directions, preflight,
                                        sample_coordinates, shares)
from vaediag.diagnostics.collapse import AU_THRESHOLD, CollapseAccumulator, collapse_notes, iw_log_likelihood, mutual_information
from vaediag.diagnostics.eigen import DEFAULT_TAU, EigenAccumulator, eigen_summary
from vaediag.diagnostics.gamma import decoder_gains, fit_effective_gamma, gamma_trajectory, gamma_verdict
from vaediag.diagnostics.perturb import perturb_directions, perturbation_table
from vaediag.diagnostics.protocol import decoder_variance, encode_posterior, frozen, model_device, posterior_eigen
from vaediag.diagnostics.result import Diagnosis
from vaediag.diagnostics.spatial import spatial_summary
from vaediag.diagnostics.spectrum import MomentAccumulator, finite_or_none, gaussian_fit_kl, normalised, spectrum_gap
from vaediag.diagnostics.usage import UsageAccumulator
from vaediag.engine.devices import release_freed_memory, resolve_device
from vaediag.engine.sampling import sample_posterior
from vaediag.errors import UsageError, VaediagError

# The effective gamma is fitted on the first 16 inputs: k Jacobian-vector products each (about 3 decodes
# apiece) make it the dearest part of a diagnosis of a conv VAE (benchmarks/bench_diagnose.py: 55% of the
# time at 64 inputs); one scalar fitted to 16 k (lambda, gain) pairs moves little from 16 to 64 inputs
# (tests/test_api_outside.py: test_gamma_effective_on_16_inputs_is_that_on_64).
GAMMA_FIT_N = 16

STREAMS = ("posterior", "reference", "stage2", "perturb", "mutual_information", "iw", "budget")


def streams(seed: int) -> dict[str, torch.Generator]:
    """One independent generator per component, spawned from ``seed`` (numpy's SeedSequence)."""
    kids = np.random.SeedSequence(int(seed)).spawn(len(STREAMS))
    return {name: torch.Generator().manual_seed(int(k.generate_state(1)[0])) for name, k in zip(STREAMS, kids)}


@torch.no_grad()
def diagnose(model, x: torch.Tensor, stage2=None, tau: float = DEFAULT_TAU, seed: int = 0, batch: int = 500,
             perturb_inputs: int = 8, perturb_scale: float | str = 1.0, to_float=Dataset.to_float,
             device: torch.device | None = None, check_range: bool = True, au_threshold: float = AU_THRESHOLD,
             mi_n: int = 2000, iw_k: int = 50, iw_n: int = 200, gamma_fit_n: int = GAMMA_FIT_N,
             budgets: Budgets | None = None, progress: bool = False) -> Diagnosis:
    """Every diagnostic of ``model`` (and of ``stage2``, a VAE on its latents) over the rows of ``x``.

    ``model``: anything :func:`vaediag.diagnostics.adapt.adapt` reads (protocol models as they are; adapt
    it first to declare its likelihood, gamma, loss, KL weight, data range or image shape). ``x``: a
    tensor, numpy array or DataLoader of inputs, in the model's range (uint8 images are mapped into it);
    ``check_range=False`` skips the range check. ``x`` stays where it is (e.g. uint8 on the CPU) and is
    moved and converted batch by batch, so memory is flat in n. The model is diagnosed in eval mode and
    given back in its own modes, unchanged (:func:`~vaediag.diagnostics.protocol.frozen`). Collapse
    statistics: I(x; z) on the first ``mi_n`` inputs (within ``budgets.mi_numbers``), the importance-weighted log-likelihood with ``iw_k``
    samples on the first ``iw_n`` (0 to skip); the effective gamma on the first ``gamma_fit_n`` (0 to
    skip). ``budgets``: the :class:`~vaediag.diagnostics.budget.Budgets` of the per-direction and
    quadratic parts (defaults: inactive for latents of up to 64 numbers), recorded in
    ``provenance.budgets``; a diagnosis over ``budgets.max_memory_gb`` or ``max_seconds`` is refused before
    the work starts. ``progress``: bars with estimates on stderr. A spatial latent (C, H, W) keeps its
    shape (``d.spatial``: lambda maps, r_hat per channel and per position; :mod:`vaediag.diagnostics.spatial`).
    Returns a :class:`Diagnosis` (``summary, arrays = diagnose(...)`` works).
    """
    t0 = time.perf_counter()
    model = adapt(model)
    stage2 = adapt(stage2) if stage2 is not None else None
    x = as_tensor_data(x)
    n = len(x)
    if n < 2:
        raise UsageError("diagnostics need at least 2 inputs")
    model.bind(x.shape[1:])
    rng = model.data_range
    lo, hi = rng if rng is not None else (0.0, 1.0)
    tf = model_floats(to_float, rng)
    if check_range:
        check_data(x, tf, rng, model.likelihood)
    device = device or model_device(model)
    gens = streams(seed)
    picture = model.picture_shape(x.shape[1:])
    budgets, batch = budgets if budgets is not None else Budgets(), batch_size(x[0].numel(), batch)
    with frozen(model, stage2):
        sizes = {"n": n, "perturb_inputs": perturb_inputs, "gamma_fit_n": gamma_fit_n, "mi_n": mi_n, "iw_n": iw_n, "iw_k": iw_k}
        k, full, est = preflight(model, x, tf, device, budgets, sizes, part_bar(progress, 1, "estimate"))
        used = (k, x[0].numel(), min(perturb_inputs, n), min(gamma_fit_n, n), full, min(mi_n, n))
        opts = {"budgets": budgets, "progress": progress, "rng": np.random.default_rng(gens["budget"].initial_seed()),
                "shares": shares(budgets, *used)}
        mi_n = opts["mi_n"] = opts["shares"]["mutual_information"][0]  # the mi_numbers budget's inputs
        summary, arrays, state = _gather(model, stage2, x, tf, device, gens, batch, tau, picture,
                                         perturb_scale, check_range, opts)
        _collapse(summary, arrays, state, model, x, tf, device, gens, au_threshold, mi_n, iw_k, iw_n, hi - lo, progress)
        _encoder_fit(summary, model, x, tf, device, opts)
    _spatial(summary, arrays, model, {**budgets.record(*used), **sizes, "batch": batch,
                                      "estimated_seconds": est["seconds"], "estimated_memory_bytes": est["memory_bytes"]})
    summary.update({"likelihood": model.likelihood, "kl_weight": model.kl_weight, "data_range": [lo, hi],
                    "unit_scale": hi - lo, "image_shape": None if picture is None else list(picture), "seed": int(seed)})
    if picture is None and x.dim() == 2 and x.shape[1] >= 64:
        summary["notes"].append(f"the decodes ({x.shape[1]} numbers) are not shown as pictures: give the model an "
                                "image_shape = (C, H, W) attribute if they are images")
    summary["notes"] += collapse_notes(summary)
    summary["seconds"] = time.perf_counter() - t0
    return Diagnosis.from_dict(summary, arrays)


@dataclass
class _Pass:
    """What the pass over the data hands to the collapse statistics (not part of the result)."""

    mi_parts: list
    col: CollapseAccumulator
    full: bool


def _gather(model, stage2, x, tf, device, gens, batch, tau, picture, perturb_scale, check,
            opts) -> tuple[dict, dict, _Pass]:
    """One pass over the data: eigenvalues (mean and per-input usage), reconstruction error, aggregated-posterior
    moments (on the ``spectrum_dims`` budget's coordinates), collapse sums; then the perturbations (along the
    ``perturb_directions`` budget's directions)."""
    n = len(x)
    bar = part_bar(opts["progress"], n, "one pass (encode, decode, moments)")
    eig = acc1 = acc2 = ref = col = use = None
    sq_err, n_pix = 0.0, 0
    mi_parts: list[tuple[torch.Tensor, torch.Tensor]] = []
    for i in range(0, n, batch):
        xb = tf(x[i:i + batch].to(device))
        mu, second, full = encode_posterior(model, xb)  # (B, k), (B, k) or (B, k, k)
        k = mu.shape[1]
        if eig is None:
            coords = sample_coordinates(k, opts["budgets"].limit("spectrum_dims", k), opts["rng"])
            sk = k if coords is None else len(coords)
            eig, acc1, ref, col = EigenAccumulator(k), MomentAccumulator(sk), MomentAccumulator(sk), CollapseAccumulator(k)
            use, acc2, coords2 = UsageAccumulator(k), None, None
        col.add(mu, second, full)
        mi_parts += [(mu[:opts["mi_n"] - i].cpu(), second[:opts["mi_n"] - i].cpu())] if i < max(1, opts["mi_n"]) else []
        lam, _ = posterior_eigen(mu, second, full)
        eig.add(lam, full)
        use.add(torch.sort(lam, dim=1).values if full else lam)  # per input, as EigenAccumulator orders them
        rec = model.decode(mu)
        if i == 0 and check:
            check_decodes(rec, model.likelihood, model.data_range)
        sq_err, n_pix = sq_err + _squared_error(rec, xb), n_pix + xb.numel()
        z = sample_posterior(mu, second, gens["posterior"], variance=True)  # z ~ q(z|x)
        acc1.add(z if coords is None else z[:, coords])
        ref.add(torch.randn((len(mu), sk), generator=gens["reference"], dtype=torch.float64))  # i.i.d. N(0, I), same shape
        if stage2 is not None:
            acc2, coords2 = _stage2_moments(stage2, z, gens["stage2"], acc2, coords2, opts)
        bar.update(min(i + batch, n))
        del xb, mu, second, lam, rec, z  # before the next batch's, and handed back: memory flat in n
        release_freed_memory()
    bar.close()
    pert = _perturb(model, x, tf, device, eig.mean, perturb_scale, gens["perturb"], picture, opts)
    scale = (model.data_range[1] - model.data_range[0]) if model.data_range is not None else 1.0
    spectra, (sv1, sv2, sv_ref) = _spectra(acc1, acc2, ref)
    summary = {
        "gamma": decoder_variance(model), "gamma_stage2": decoder_variance(stage2) if stage2 is not None else None,
        "recon_mse": sq_err / n_pix, "n": n, "encoder": "full covariance" if full else "diagonal",
        **eigen_summary(eig.mean, tau), "used_fraction": use.fraction.tolist(),
        "perturbation": perturbation_table(pert["lam"], pert["variance"], scale, directions=pert["directions"]),
        "perturbation_inputs": int(len(pert["lam"])), "perturbation_scale": perturb_scale,
        **spectra,
        "notes": [] if stage2 is not None else ["no stage-2 model: stage-2 entries are null"],
        "gamma_mode": model.gamma_mode, "gamma_note": model.gamma_note,
    }
    arrays = {"lambda_mean": eig.mean, "lambda_hist_counts": eig.counts, "lambda_hist_edges": eig.edges,
              "singular_values_stage1": sv1, "singular_values_gaussian": sv_ref,
              "perturb_lambda": pert["lam"], "perturb_variance": pert["variance"], "perturb_directions": pert["directions"],
              "used_fraction": use.fraction}
    if sv2 is not None:
        arrays["singular_values_stage2"] = sv2
    if pert["images"] is not None and picture is not None:
        arrays["perturb_images"] = pert["images"]
    summary["spectrum_coordinates"] = None if coords is None else coords.tolist()
    return summary, arrays, _Pass(mi_parts, col, full)


def _squared_error(rec: torch.Tensor, xb: torch.Tensor, numbers: int = 2 ** 20) -> float:
    """sum (rec - x)^2 in float64, at most ``numbers`` numbers at once (no batch-sized float64 copies)."""
    rec, xb = rec.reshape(-1), xb.reshape(-1)
    return sum(float((rec[j:j + numbers].double() - xb[j:j + numbers].double()).pow(2).sum())
               for j in range(0, len(xb), numbers))


def _stage2_moments(stage2, z, generator, acc, coords, opts):
    """Add u ~ q(u|z) of this batch to stage 2's moments (created at the first batch, on the
    ``spectrum_dims`` budget's coordinates); returns (accumulator, coordinates)."""
    mu_u, second_u, _ = encode_posterior(stage2, z)
    u = sample_posterior(mu_u, second_u, generator, variance=True)
    if acc is None:
        coords = sample_coordinates(u.shape[1], opts["budgets"].limit("spectrum_dims", u.shape[1]), opts["rng"])
        acc = MomentAccumulator(u.shape[1] if coords is None else len(coords))
    acc.add(u if coords is None else u[:, coords])
    return acc, coords


def _perturb(model, x, tf, device, lambda_mean, perturb_scale, generator, picture, opts) -> dict:
    """The perturbations of the first inputs along the most and least used directions, as many of each as
    the ``perturb_directions`` and ``perturb_numbers`` budgets allow (all for a flat latent)."""
    k = len(lambda_mean)
    inputs, p = opts["shares"]["perturbations"]
    xs = x[:inputs]
    dirs = pick_directions(lambda_mean, None if p >= k else p)
    bar = part_bar(opts["progress"], len(xs), f"perturbations ({len(dirs)} directions)")
    pert = perturb_directions(model, tf(xs.to(device)), scale=perturb_scale, generator=generator, picture=picture,
                              directions=None if len(dirs) == k else dirs, step=bar.update)
    bar.close()
    return pert


def _spectra(acc1, acc2, ref) -> tuple[dict, tuple]:
    """The aggregated posteriors' spectra against an i.i.d. N(0, I) sample of the same shape (stage 2's q(u)
    when there is one), their gaps and Gaussian-fit KLs; and the singular values (stage 1, 2, reference)."""
    sv_ref, sv1 = ref.singular_values(), acc1.singular_values()
    sv2 = acc2.singular_values() if acc2 is not None else None
    return {
        "spectrum": {"stage1": normalised(sv1).tolist(), "stage2": None if sv2 is None else normalised(sv2).tolist(),
                     "gaussian": normalised(sv_ref).tolist()},
        "spectrum_gap": {"stage1": spectrum_gap(sv1, sv_ref),
                         "stage2": None if sv2 is None else spectrum_gap(sv2, sv_ref)},
        "kl_gaussian_fit": {"stage1": finite_or_none(gaussian_fit_kl(*acc1.mean_cov())),
                            "stage2": None if acc2 is None else finite_or_none(gaussian_fit_kl(*acc2.mean_cov())),
                            "gaussian": finite_or_none(gaussian_fit_kl(*ref.mean_cov()))},
    }, (sv1, sv2, sv_ref)


def _collapse(summary, arrays, state: _Pass, model, x, tf, device, gens, au_threshold, mi_n, iw_k, iw_n, scale,
              progress=False) -> None:
    """KL per dimension, active units, I(x; z) and the importance-weighted log-likelihood (in model units,
    and in [0, 1] units beside it when they differ)."""
    col, full, parts = state.col, state.full, state.mi_parts
    col_summary, col_arrays = col.summary(au_threshold)
    summary.update(col_summary)
    arrays.update(col_arrays)
    mi_mu, mi_second = torch.cat([a for a, _ in parts])[:mi_n], torch.cat([b for _, b in parts])[:mi_n]
    summary["mutual_information"] = mutual_information(mi_mu, mi_second, full, gens["mutual_information"])
    summary["mutual_information_n"] = len(mi_mu)
    summary["mutual_information_max"] = float(np.log(len(mi_mu)))
    gamma, lik = summary["gamma"], model.likelihood
    summary["iw_log_likelihood"] = None
    if (gamma is not None or lik == "bernoulli") and iw_k > 0 and iw_n > 0:
        xs = tf(x[:iw_n].to(device))
        bar = part_bar(progress, len(xs), f"IW log-likelihood (K = {iw_k})")
        iw = iw_log_likelihood(model, xs, gamma, k=iw_k, generator=gens["iw"], likelihood=lik, step=bar.update)
        bar.close()
        arrays["iw_log_likelihood_per_input"] = iw.pop("per_input")
        iw["model"] = ("Bernoulli decoder p(x|z) = prod Bernoulli(x_i; mu_x(z)_i)" if lik == "bernoulli" else
                       f"Gaussian decoder N(mu_x(z), gamma I), gamma = {gamma:.4g} ({model.gamma_mode}"
                       + (", implied by the loss: the likelihood of the implied Gaussian model)" if model.loss else ")"))
        d = int(xs[0].numel())
        if lik == "gaussian" and scale != 1.0:  # x = lo + s x01: log p01(x01) = log p(x) + d log s
            iw["mean_01"] = iw["mean"] + d * float(np.log(scale))
            iw["elbo_mean_01"] = iw["elbo_mean"] + d * float(np.log(scale))
        summary["iw_log_likelihood"] = iw
    elif gamma is None and iw_k > 0 and iw_n > 0:  # the one note on the missing gamma
        summary["notes"].append("no importance-weighted log-likelihood: " + model.gamma_note)
    elif iw_k <= 0 or iw_n <= 0:
        summary["notes"].append("no importance-weighted log-likelihood: skipped on request (iw=False)")
        if model.gamma_mode == "unknown" and gamma is None:
            summary["notes"].append(model.gamma_note)


def _encoder_fit(summary, model, x, tf, device, opts) -> None:
    """The encoder held against eq. (73) on the first inputs (on coordinates sampled within the
    ``gain_directions`` and ``gain_numbers`` budgets): gamma_effective for a Gaussian decoder, the Fisher
    calibration c for a Bernoulli one (:mod:`.fisher`); units and eq. (9) follow in :mod:`.rules`."""
    summary["gamma_effective_fit"] = summary["fisher_fit"] = None
    inputs, g = opts["shares"]["gains"]
    xs = x[:inputs]
    if not len(xs):
        return
    mu, second, full = encode_posterior(model, tf(xs.to(device)))
    k = mu.shape[1]
    dirs = None if full else sample_coordinates(k, None if g >= k else g, opts["rng"])
    bar = part_bar(opts["progress"], len(xs), "the encoder against eq. 73")
    gains = {"rows": jvp_rows(xs[0].numel()), "directions": dirs, "step": bar.update}
    if model.likelihood == "bernoulli":
        from vaediag.diagnostics.fisher import fisher_gains, fit_fisher_calibration

        fit = fit_fisher_calibration(*fisher_gains(model, mu, second, full, **gains))
        bar.close()
        summary["fisher_fit"] = {**dataclasses.asdict(fit), "n": len(xs), "directions": k if dirs is None else len(dirs)}
        return
    fit = fit_effective_gamma(*decoder_gains(model, mu, second, full, **gains))
    bar.close()
    fit["n"] = len(xs)
    fit["directions"] = k if dirs is None else len(dirs)
    fit["rule"] = ("lambda_j = 1 / (1 + (J^T J)_jj / gamma) (diagonal encoder)" if not full else
                   "v_j^T Sigma_z v_j = 1 / (1 + m_j / gamma), (m_j, v_j) eigenpairs of J^T J")
    summary["gamma_effective_fit"] = fit


def _spatial(summary, arrays, model, budgets: dict) -> None:
    """The budgets used, the latent's shape and, for a spatial latent, its per-channel answers."""
    summary["budgets"] = budgets
    entries, maps = spatial_summary(arrays["lambda_mean"], getattr(model, "latent_shape", None))
    summary["spatial"] = None if entries["latent_shape"] is None else entries
    arrays.update(maps)
    used = {"perturb_numbers": "perturbations_used", "gain_numbers": "gains_used"}
    active = [f"{name} {budgets[name]:,}" + (f" ({budgets[used[name]]['inputs']} input(s) x {budgets[used[name]]['directions']} "
                                              "directions)" if name in used else f" (I(x; z) on {budgets['mutual_information_used']['inputs']:,} "
                                              "inputs)" if name == "mi_numbers" else "")
              for name, on in budgets["active"].items() if on]
    if active:
        summary["notes"].append(f"a latent of {len(arrays['lambda_mean']):,} numbers: budgets {', '.join(active)} "
                                "(the most and least used directions perturbed; eq. (73) and the spectrum on sampled "
                                "coordinates); pass budgets=vaediag.Budgets(...) to change them")
    sf = getattr(model, "scaling_factor", None)
    if sf is not None:
        summary["latent_scaling_factor"] = sf
        summary["notes"].append(f"the model scales its latents by scaling_factor = {sf:g} for a diffusion model; the "
                                "diagnosis reads the encoder's own (unscaled) latents, where its KL was trained")


def diagnose_run(run, n: int | None = 10000, device: str = "auto", tau: float = DEFAULT_TAU, seed: int = 0,
                 write: bool = True, out_dir=None, iw: bool = True, budgets: Budgets | None = None,
                 progress: bool = False) -> Diagnosis:
    """Diagnose a run's stage 1 (and stage 2 when finished) on its first ``n`` training inputs.

    Writes summary.json and arrays.npz into ``out_dir`` (default RUN/diagnostics; another folder lets a
    read-only run be diagnosed). ``summary["settings"]`` records what determines the numbers (the inputs
    used, tau, seed): saved diagnostics are reused by the figures only when these match. ``iw=False`` skips
    the importance-weighted log-likelihood."""
    t0 = time.perf_counter()
    dev = resolve_device(device)
    run.require_stage1()
    if n is not None and n < 2:
        raise UsageError(f"n={n} is too few inputs: give n= of at least 2")
    model = run.load_model(1, dev)
    if run.config.model.likelihood == "bernoulli":  # the cross-entropy baseline: decode() gives probabilities
        model = adapt(model, likelihood="bernoulli")
    stage2 = run.load_model(2, dev) if run.stage_done(2) else None
    data = run.dataset()
    x = data.train[:n] if n else data.train
    summary, arrays = diagnose(model, x, stage2, tau=tau, seed=seed, device=dev, iw_k=50 if iw else 0, budgets=budgets,
                               progress=progress)
    if stage2 is None:
        summary["notes"] = [f"{run.path} has no finished stage 2: stage-2 entries are null"] + summary["notes"][1:]
    traj = gamma_trajectory(run.read_metrics(1))
    summary["gamma_trajectory"] = gamma_verdict(traj["step"], traj["log_gamma"])
    if summary["likelihood"] == "gaussian":
        summary["gamma_mode"] = run.config.model.gamma_mode
    summary["gamma_trajectory_stage2"] = gamma_verdict(*_steps_loggamma(run, 2))
    summary["config"] = {"dataset": run.config.train.dataset, "arch": run.config.model.arch,
                         "latent_dim": run.config.model.latent_dim, "gamma_mode": run.config.model.gamma_mode,
                         "kind": data.kind, "input_shape": list(run.config.model.input_shape)}
    summary["run"] = str(run.path)
    summary["settings"] = settings(len(x), len(x) == len(data.train), tau, seed)
    summary["seconds"] = time.perf_counter() - t0
    result = Diagnosis.from_dict(summary, arrays)
    if write:  # a run's diagnostics are recomputed in place (the figures reuse them)
        result.save(run.diagnostics_dir if out_dir is None else Path(out_dir), overwrite=True)
    return result


def settings(n_inputs: int, all_inputs: bool, tau: float, seed: int) -> dict:
    """What determines a run's diagnostics besides its checkpoints: the inputs used (the first ``n`` training
    inputs; ``all_inputs`` when that is the whole training set), the threshold tau and the seed of the
    posterior samples and perturbations."""
    return {"n": int(n_inputs), "all_inputs": bool(all_inputs), "tau": float(tau), "seed": int(seed)}


def _steps_loggamma(run, stage: int):
    m = run.read_metrics(stage)
    return m["step"], m["log_gamma"]


def load_diagnostics(run) -> Diagnosis | None:
    """The saved diagnosis of a run, or None when ``vaediag diagnose`` has not been run."""
    return Diagnosis.load(run.diagnostics_dir, missing_ok=True)
