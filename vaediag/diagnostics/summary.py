"""All diagnostics in one batched pass: :func:`diagnose` for any model meeting :mod:`vaediag.diagnostics.protocol`,
:func:`diagnose_run` for a run directory (writes ``RUN/diagnostics/summary.json`` and arrays beside it).

summary.json keys: ``gamma`` (final stage-1 gamma, a variance), ``gamma_stage2``, ``recon_mse`` (mean
squared error per pixel of mu_x(mu_z(x)), data units), ``active_dims`` (r_hat at ``threshold``),
``near_one``, ``in_between``, ``r_hat_by_threshold``, ``lambda_mean`` (per latent dimension),
``perturbation`` ([{direction, lambda, image_variance}], by lambda ascending), ``spectrum``
({stage1, stage2, gaussian}: normalised singular values), ``spectrum_gap`` ({stage1, stage2}),
``kl_gaussian_fit`` ({stage1, stage2}), ``gamma_trajectory`` (verdict), ``notes``, ``n``, ``seconds``,
``config``. Stage-2 entries are null (with a note) when the run has no finished stage 2.
Whatever gamma is: ``r_hat`` (lambda_j < 1/2, eq. 73), ``r_hat_by_cut``, ``r_hat_separation``,
``gamma_mode``, ``gamma_note``, ``gamma_regime`` ({regime, text}). Collapse statistics
(:mod:`.collapse`): ``kl_per_dim``, ``kl_total``, ``kl_eq9`` (-(r_hat/2) log gamma), ``active_units``,
``active_units_threshold``, ``posterior_mean_variance``, ``mutual_information`` (+ ``_n``, ``_max``),
``iw_log_likelihood`` ({mean, stderr, k, n, elbo_mean} or null without gamma).
"""

from __future__ import annotations

import json
from pathlib import Path
import time
import zipfile

import numpy as np
import torch

from vaediag.data import Dataset
from vaediag.diagnostics.adapt import adapt, as_tensor_data, check_range as _check_range
from vaediag.diagnostics.collapse import AU_THRESHOLD, CollapseAccumulator, collapse_notes, iw_log_likelihood, kl_eq9, mutual_information
from vaediag.diagnostics.eigen import DEFAULT_TAU, EigenAccumulator, eigen_summary
from vaediag.diagnostics.gamma import gamma_regime, gamma_trajectory, gamma_verdict
from vaediag.diagnostics.perturb import perturb_directions, perturbation_table
from vaediag.diagnostics.spectrum import MomentAccumulator, finite_or_none, gaussian_fit_kl, normalised, spectrum_gap
from vaediag.engine.devices import resolve_device
from vaediag.engine.runs import CHECKPOINT
from vaediag.errors import UsageError, VaediagError
from vaediag.io import atomic_save_npz, write_json
from vaediag.diagnostics.protocol import decoder_variance, encode_posterior, model_device, posterior_eigen, sample_posterior

SUMMARY, ARRAYS = "summary.json", "arrays.npz"


@torch.no_grad()
def diagnose(model, x: torch.Tensor, stage2=None, tau: float = DEFAULT_TAU, seed: int = 0, batch: int = 500,
             perturb_inputs: int = 4, perturb_scale: float | str = 1.0, to_float=Dataset.to_float,
             device: torch.device | None = None, check_range: bool = True, au_threshold: float = AU_THRESHOLD,
             mi_n: int = 2000, iw_k: int = 50, iw_n: int = 200) -> tuple[dict, dict]:
    """Every diagnostic of ``model`` (and of ``stage2``, a VAE on its latents) over the rows of ``x``.

    ``model``: anything :func:`vaediag.diagnostics.adapt.adapt` reads (protocol models as they are).
    ``x``: a tensor, numpy array or DataLoader of inputs; images must lie in [0, 1] after ``to_float``
    (``check_range=False`` to skip). ``x`` stays where it is (e.g. uint8 on the CPU) and is moved and
    converted batch by batch, so memory is flat in n. Collapse statistics: I(x; z) on the first
    ``mi_n`` inputs, the importance-weighted log-likelihood with ``iw_k`` samples on the first ``iw_n``
    (0 to skip). Returns (summary dict, arrays dict of numpy arrays).
    """
    model = adapt(model)
    if stage2 is not None:
        stage2 = adapt(stage2)
    x = as_tensor_data(x)
    if check_range:
        _check_range(x, to_float)
    device = device or model_device(model)
    gen = torch.Generator().manual_seed(seed)
    n = len(x)
    if n < 2:
        raise VaediagError("diagnostics need at least 2 inputs")
    eig = acc1 = acc2 = ref = col = None
    sq_err, n_pix = 0.0, 0
    mi_parts: list[tuple[torch.Tensor, torch.Tensor]] = []
    for i in range(0, n, batch):
        xb = to_float(x[i:i + batch].to(device))
        mu, second, full = encode_posterior(model, xb)  # (B, k), (B, k) or (B, k, k)
        k = mu.shape[1]
        if eig is None:
            eig, acc1, ref = EigenAccumulator(k), MomentAccumulator(k), MomentAccumulator(k)
            acc2 = MomentAccumulator(k) if stage2 is not None else None
            col = CollapseAccumulator(k)
        col.add(mu, second, full)
        if i < mi_n:
            mi_parts.append((mu[:mi_n - i].double().cpu(), second[:mi_n - i].double().cpu()))
        lam, _ = posterior_eigen(mu, second, full)
        eig.add(lam, full)
        rec = model.decode(mu)
        sq_err += float((rec.reshape(len(xb), -1).double() - xb.reshape(len(xb), -1).double()).pow(2).sum())
        n_pix += xb[0].numel() * len(xb)
        eps = torch.randn(mu.shape, generator=gen).to(device, mu.dtype)
        z = sample_posterior(mu, second, full, eps)  # z ~ q(z|x)
        acc1.add(z)
        ref.add(torch.randn(mu.shape, generator=gen, dtype=torch.float64))  # i.i.d. N(0, I), same shape
        if stage2 is not None:
            mu_u, second_u, full_u = encode_posterior(stage2, z)
            acc2.add(sample_posterior(mu_u, second_u, full_u, torch.randn(mu_u.shape, generator=gen).to(device, mu_u.dtype)))
    pert = perturb_directions(model, to_float(x[:perturb_inputs].to(device)), scale=perturb_scale, generator=gen)
    sv_ref, sv1 = ref.singular_values(), acc1.singular_values()
    sv2 = acc2.singular_values() if acc2 is not None else None
    es = eigen_summary(eig.mean, tau)
    summary = {
        "gamma": decoder_variance(model), "gamma_stage2": decoder_variance(stage2) if stage2 is not None else None,
        "recon_mse": sq_err / n_pix, "n": n, "encoder": "full covariance" if full else "diagonal",
        **es,
        "perturbation": perturbation_table(pert["lam"], pert["variance"]),
        "perturbation_inputs": int(min(perturb_inputs, n)), "perturbation_scale": perturb_scale,
        "spectrum": {"stage1": normalised(sv1).tolist(), "stage2": None if sv2 is None else normalised(sv2).tolist(),
                     "gaussian": normalised(sv_ref).tolist()},
        "spectrum_gap": {"stage1": spectrum_gap(sv1, sv_ref),
                         "stage2": None if sv2 is None else spectrum_gap(sv2, sv_ref)},
        "kl_gaussian_fit": {"stage1": finite_or_none(gaussian_fit_kl(*acc1.mean_cov())),
                            "stage2": None if acc2 is None else finite_or_none(gaussian_fit_kl(*acc2.mean_cov())),
                            "gaussian": finite_or_none(gaussian_fit_kl(*ref.mean_cov()))},
        "notes": [] if stage2 is not None else ["no stage-2 model: stage-2 entries are null"],
    }
    gamma = summary["gamma"]
    summary["gamma_mode"], summary["gamma_note"] = model.gamma_mode, model.gamma_note
    summary["gamma_regime"] = gamma_regime(gamma, model.gamma_mode)
    col_summary, col_arrays = col.summary(au_threshold)
    summary.update(col_summary)
    summary["kl_eq9"] = kl_eq9(summary["r_hat"], gamma)
    mi_mu, mi_second = torch.cat([a for a, _ in mi_parts]), torch.cat([b for _, b in mi_parts])
    summary["mutual_information"] = mutual_information(mi_mu, mi_second, full, gen)
    summary["mutual_information_n"] = len(mi_mu)
    summary["mutual_information_max"] = float(np.log(len(mi_mu)))
    summary["iw_log_likelihood"] = None
    if gamma is not None and iw_k > 0 and iw_n > 0:
        iw = iw_log_likelihood(model, to_float(x[:iw_n].to(device)), gamma, k=iw_k, generator=gen)
        col_arrays["iw_log_likelihood_per_input"] = iw.pop("per_input")
        summary["iw_log_likelihood"] = iw
    elif gamma is None:
        summary["notes"].append("no importance-weighted log-likelihood: " + model.gamma_note)
    if model.gamma_mode == "unknown" and gamma is None:
        summary["notes"].append(model.gamma_note)
    summary["notes"] += collapse_notes(summary)
    arrays = {"lambda_mean": eig.mean, "lambda_hist_counts": eig.counts, "lambda_hist_edges": eig.edges,
              "singular_values_stage1": sv1, "singular_values_gaussian": sv_ref,
              "perturb_lambda": pert["lam"], "perturb_variance": pert["variance"], **col_arrays}
    if sv2 is not None:
        arrays["singular_values_stage2"] = sv2
    if pert["images"] is not None and x.dim() > 2:
        arrays["perturb_images"] = pert["images"]
    return summary, arrays


def diagnose_run(run, n: int | None = 10000, device: str = "auto", tau: float = DEFAULT_TAU, seed: int = 0,
                 write: bool = True, out_dir=None) -> tuple[dict, dict]:
    """Diagnose a run's stage 1 (and stage 2 when finished) on its first ``n`` training inputs.

    Writes summary.json and arrays.npz into ``out_dir`` (default RUN/diagnostics; another folder lets a
    read-only run be diagnosed). ``summary["settings"]`` records what determines the numbers (the inputs
    used, tau, seed): saved diagnostics are reused by the figures only when these match."""
    t0 = time.perf_counter()
    dev = resolve_device(device)
    run.require_stage1()
    if n is not None and n < 2:
        raise UsageError(f"--n must be at least 2, got {n}")
    model = run.load_model(1, dev)
    stage2 = run.load_model(2, dev) if run.stage_done(2) else None
    data = run.dataset()
    x = data.train[:n] if n else data.train
    summary, arrays = diagnose(model, x, stage2, tau=tau, seed=seed, device=dev)
    if stage2 is None:
        summary["notes"] = [f"{run.path} has no finished stage 2: stage-2 entries are null"] + summary["notes"][1:]
    traj = gamma_trajectory(run.read_metrics(1))
    summary["gamma_trajectory"] = gamma_verdict(traj["step"], traj["log_gamma"])
    summary["gamma_regime"] = gamma_regime(summary["gamma"], run.config.model.gamma_mode, summary["gamma_trajectory"])
    summary["gamma_trajectory_stage2"] = gamma_verdict(*_steps_loggamma(run, 2))
    summary["config"] = {"dataset": run.config.train.dataset, "arch": run.config.model.arch,
                         "latent_dim": run.config.model.latent_dim, "gamma_mode": run.config.model.gamma_mode,
                         "kind": data.kind, "input_shape": list(run.config.model.input_shape)}
    summary["run"] = str(run.path)
    summary["settings"] = settings(len(x), len(x) == len(data.train), tau, seed)
    summary["seconds"] = time.perf_counter() - t0
    if write:
        out = run.diagnostics_dir if out_dir is None else Path(out_dir)
        write_json(out / SUMMARY, summary)
        atomic_save_npz(out / ARRAYS, **{k: np.asarray(v) for k, v in arrays.items()})
    return summary, arrays


def settings(n_inputs: int, all_inputs: bool, tau: float, seed: int) -> dict:
    """What determines a run's diagnostics besides its checkpoints: the inputs used (the first ``n`` training
    inputs; ``all_inputs`` when that is the whole training set), the threshold tau and the seed of the
    posterior samples and perturbations."""
    return {"n": int(n_inputs), "all_inputs": bool(all_inputs), "tau": float(tau), "seed": int(seed)}


def _steps_loggamma(run, stage: int):
    m = run.read_metrics(stage)
    return m["step"], m["log_gamma"]


def load_diagnostics(run) -> tuple[dict, dict] | None:
    """The saved (summary, arrays) of a run, or None when ``vaediag diagnose`` has not been run."""
    s, a = run.diagnostics_dir / SUMMARY, run.diagnostics_dir / ARRAYS
    if not (s.is_file() and a.is_file()):
        return None
    try:
        summary = json.loads(s.read_text())
        with np.load(a, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, zipfile.BadZipFile):
        return None
    return summary, arrays


def ensure_diagnostics(run, device: str = "auto", n: int | None = 10000, tau: float = DEFAULT_TAU,
                       seed: int = 0):
    """The run's saved diagnostics when they were computed from the current checkpoints with the same
    settings (inputs, tau, seed), else recomputed (and saved). ``summary["source"]`` says which."""
    got = load_diagnostics(run)
    if got is not None:
        t = (run.diagnostics_dir / SUMMARY).stat().st_mtime
        ckpts = [run.stage_dir(s) / CHECKPOINT for s in (1, 2) if run.has_checkpoint(s)]
        fresh = all(p.stat().st_mtime <= t for p in ckpts)
        same_stages = (got[0].get("gamma_stage2") is not None) == run.stage_done(2)
        saved = got[0].get("settings")
        if fresh and same_stages and saved is not None and _same_settings(saved, n, tau, seed):
            got[0]["source"] = f"saved diagnostics reused (n={saved['n']}, tau={saved['tau']:g}, seed={saved['seed']})"
            return got
    summary, arrays = diagnose_run(run, n=n, device=device, tau=tau, seed=seed)
    st = summary["settings"]
    summary["source"] = f"diagnostics computed now (n={st['n']}, tau={st['tau']:g}, seed={st['seed']})"
    return summary, arrays


def _same_settings(saved: dict, n: int | None, tau: float, seed: int) -> bool:
    """Whether saved settings are those asked for: ``n`` asks for the first n inputs (None: all of them),
    which a saved diagnosis of the whole training set also answers when n is at least its size."""
    try:
        same_n = (n is not None and int(saved["n"]) == n) or (
            bool(saved["all_inputs"]) and (n is None or n >= int(saved["n"])))
        return same_n and float(saved["tau"]) == float(tau) and int(saved["seed"]) == int(seed)
    except (KeyError, TypeError, ValueError):
        return False
