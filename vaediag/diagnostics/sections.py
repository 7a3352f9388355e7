"""The sections of a :class:`~vaediag.diagnostics.result.Diagnosis`, one frozen dataclass each: the model's
units and likelihood, gamma (Theorem 3, eq. 73), the Fisher calibration of a Bernoulli decoder, latent
usage (eq. 9, eq. 73), perturbations (Theorem 4), spectra (section 4), collapse statistics, the
importance-weighted likelihood, stage 2 and provenance.

Units. "model units" are those of the data the model was trained on (its ``data_range`` [lo, hi]);
"[0, 1] units" map that range to [0, 1] (x01 = (x - lo) / s, s = hi - lo), so a variance in [0, 1] units is
the model-units variance / s^2. Every threshold of the verdict on gamma is stated in [0, 1] units.
"""

from __future__ import annotations

import numpy as np

from vaediag.diagnostics.schema import entry, section

MODEL_VAR = "model units^2"
UNIT_VAR = "[0, 1] units^2"


@section
class Trajectory:
    """How log gamma moved over a run's logged training steps (:func:`~vaediag.diagnostics.gamma.gamma_verdict`)."""

    final_gamma: float | None = entry("gamma at the last logged step", MODEL_VAR, "Theorem 3", "final_gamma", kind="float")
    tail_change: float | None = entry("log gamma at the end minus at the start of the last quarter of the steps",
                                      "nats", "", "tail_change", kind="float")
    converged: bool | None = entry("|tail_change| < 0.1 (CONVERGED_TOL) at under half the run's mean rate "
                                   "(STILL_MOVING)", "", "", "converged", kind="bool")
    fixed: bool | None = entry("gamma never changed: a fixed-gamma run", "", "", "fixed", kind="bool")


@section
class ModelInfo:
    """What was diagnosed: likelihood, encoder, latent dimension, units."""

    likelihood: str = entry("the decoder's likelihood: 'gaussian' (eq. 2) or 'bernoulli'", "", "eq. (2)", "likelihood",
                            kind="str", default="gaussian")
    encoder: str = entry("'diagonal' or 'full covariance'", "", "", "encoder", kind="str", default="diagonal")
    latent_dim: int | None = entry("kappa, the number of latent directions", "", "", "latent_dim", kind="int")
    kl_weight: float = entry("the weight of the KL term the model was trained with", "", "", "kl_weight",
                             kind="float", default=1.0)
    data_range: tuple = entry("(lo, hi): the model's data range", "model units", "", "data_range", kind="tuple",
                              default=(0.0, 1.0))
    unit_scale: float = entry("s = hi - lo: a variance in [0, 1] units is the model-units one / s^2", "model units",
                              "", "unit_scale", kind="float", default=1.0)
    image_shape: tuple | None = entry("(C, H, W) a decode is shown as; None for vectors", "", "", "image_shape",
                                      kind="tuple")
    latent_scaling_factor: float | None = entry("the scaling_factor a diffusion model multiplies the latents by "
                                                "(diffusers' config); the diagnosis reads the unscaled latents", "",
                                                "", "latent_scaling_factor", kind="float")


@section
class GammaResult:
    """The decoder variance gamma (a variance, the paper's convention), its regime and reconstruction error."""

    value: float | None = entry("the stage-1 decoder variance gamma (None when the model has none)", MODEL_VAR,
                                "eq. (2), Theorem 3", "gamma", kind="float")
    value_01: float | None = entry("gamma / s^2", UNIT_VAR, "Theorem 3", "gamma_01", kind="float")
    mode: str = entry("'learned', 'fixed', 'unknown' or 'none' (a Bernoulli decoder)", "", "", "gamma_mode",
                      kind="str", default="unknown")
    note: str | None = entry("where gamma comes from, in one sentence", "", "", "gamma_note", kind="str")
    effective: float | None = entry("gamma_effective: the gamma the encoder behaves as (eq. 73 fitted), None unless "
                                    "the fit explains the encoder", MODEL_VAR, "eq. (73)", "gamma_effective", kind="float")
    effective_01: float | None = entry("gamma_effective / s^2", UNIT_VAR, "eq. (73)", "gamma_effective_01", kind="float")
    regime: str | None = entry("'learned-small', 'learned-large', 'fixed', 'unknown' or 'no-gamma', judged in [0, 1] "
                               "units", "", "Theorem 3", "gamma_regime.regime", kind="str")
    regime_text: str | None = entry("what the regime means for Theorems 3-4 and eq. (9)", "", "eq. (73)",
                                    "gamma_regime.text", kind="str")
    trajectory: Trajectory | None = entry("a run's gamma over training (None for a model without history)", kind="section",
                                          key="gamma_trajectory", cls=Trajectory)
    recon_mse: float | None = entry("mean squared error per number of mu_x(mu_z(x))", MODEL_VAR, "Theorem 4",
                                    "recon_mse", kind="float")
    recon_mse_01: float | None = entry("recon_mse / s^2", UNIT_VAR, "Theorem 4", "recon_mse_01", kind="float")


@section
class EffectiveFit:
    """The fit of eq. (73), lambda_j = 1 / (1 + gain_j / gamma), over the first inputs (Gaussian decoders)."""

    value: float | None = entry("the fitted gamma (None when no direction carries decoder gain)", MODEL_VAR,
                                "eq. (73)", "gamma", kind="float")
    value_01: float | None = entry("the fitted gamma / s^2", UNIT_VAR, "eq. (73)", "gamma_01", kind="float")
    r2: float | None = entry("R^2 of log lambda", "", "", "r2", kind="float")
    rms_log_residual: float | None = entry("rms residual in log lambda", "nats", "", "rms_log_residual", kind="float")
    pairs: int = entry("(lambda, gain) pairs fitted", "", "", "pairs", kind="int", default=0)
    n: int | None = entry("inputs fitted (the first GAMMA_FIT_N)", "", "", "n", kind="int")
    directions: int | None = entry("latent coordinates fitted per input (all, or the gain_directions budget)", "", "",
                                   "directions", kind="int")
    explains: bool = entry("R^2 >= min_r2 and the fit inside its range: one gamma explains the encoder", "", "",
                           "explains", kind="bool", default=False)
    min_r2: float | None = entry("the R^2 of log lambda below which no gamma_effective is stated (MIN_R2)", "", "",
                                 "min_r2", kind="float")
    rule: str | None = entry("the form of eq. (73) compared (diagonal or full-covariance encoder)", "", "eq. (73)",
                             "rule", kind="str")


@section
class FisherCalibration:
    """Bernoulli decoders: c in Sigma_z^-1 = I + c J_p^T diag(1 / (p (1 - p))) J_p (the Fisher / Gauss-Newton
    optimum at c = 1), fitted over the first inputs."""

    c: float | None = entry("the fitted scale c: 1 at the optimum, < 1 under-confident, > 1 over-confident", "",
                            "Fisher form of eq. (73)", "c", kind="float")
    r2: float | None = entry("R^2 of log lambda", "", "", "r2", kind="float")
    rms_log_residual: float | None = entry("rms residual in log lambda", "nats", "", "rms_log_residual", kind="float")
    pairs: int = entry("(lambda, gain) pairs fitted", "", "", "pairs", kind="int", default=0)
    n: int | None = entry("inputs fitted", "", "", "n", kind="int")
    directions: int | None = entry("latent coordinates fitted per input (all, or the gain_directions budget)", "", "",
                                   "directions", kind="int")
    explains: bool = entry("one c explains the encoder (R^2 >= MIN_R2, or log lambda within MAX_RMS nats rms; "
                           "diagnostics/fisher.py)", "", "", "explains", kind="bool", default=False)
    reading: str | None = entry("'calibrated' (c in CALIBRATED), 'under-confident', 'over-confident', or None when "
                                "the fit does not explain the encoder", "", "", "reading", kind="str")


@section
class LatentUsage:
    """How many latent directions the decoder uses: eigenvalues lambda_j of Sigma_z(x) (eq. 73:
    lambda_j = gamma / (gamma + s_j^2) for a used direction, 1 for an unused one) and r_hat (eq. 9)."""

    r_hat: int | None = entry("#{j : mean lambda_j < 1/2} (s_j^2 > gamma)", "directions", "eq. (9), eq. (73)", "r_hat",
                              kind="int")
    lambda_mean: np.ndarray | None = entry("mean over inputs of lambda_j, per direction (k,)", "", "eq. (73)",
                                           "lambda_mean", "lambda_mean", kind="array")
    clear: bool | None = entry("no mean lambda_j in the band: the count does not hang on the cut", "", "",
                               "r_hat_clear", kind="bool")
    band: tuple = entry("the closed band around 1/2 that makes a count unclear", "", "", "r_hat_band", kind="tuple",
                        default=(1 / 3, 2 / 3))
    in_band: tuple = entry("directions whose mean lambda_j lies in the band", "", "", "r_hat_in_band", kind="tuple",
                           default=())
    r_hat_range: tuple | None = entry("(#{lambda < band[0]}, #{lambda <= band[1]}): the counts any cut in the band "
                                      "gives", "directions", "", "r_hat_range", kind="tuple")
    count_by_cut: dict | None = entry("{cut: #{mean lambda_j < cut}} for cuts 0.3 .. 0.7", "directions", "",
                                      "count_by_cut", kind="dict")
    separation: float | None = entry("log(min mean lambda >= 1/2 / max mean lambda < 1/2) (None with an empty side)",
                                     "nats", "", "r_hat_separation", kind="float")
    used_fraction: np.ndarray | None = entry("per direction, the fraction of inputs with lambda_j(x) < 1/2 (None in "
                                             "summaries saved before 0.5)", "", "eq. (9) per input", "used_fraction",
                                             "used_fraction", kind="array")
    partly_used: tuple = entry("directions used on a fraction of the inputs strictly inside PARTLY", "", "",
                               "partly_used", kind="tuple", default=())
    tau: float = entry("the tau of the tau-count", "", "eq. (9)", "tau", kind="float", default=0.1)
    tau_count: int | None = entry("#{j : mean lambda_j < tau}: the count that assumes gamma -> 0", "directions",
                                  "eq. (9)", "tau_count", kind="int")
    tau_count_by_tau: dict | None = entry("{tau: tau-count} over TAU_GRID", "directions", "", "tau_count_by_tau",
                                          kind="dict")
    near_one: int | None = entry("#{j : mean lambda_j > near_one_threshold} (unused)", "directions", "eq. (74)",
                                 "near_one", kind="int")
    near_one_threshold: float = entry("the threshold of near_one", "", "", "near_one_threshold", kind="float",
                                      default=0.9)
    in_between: int | None = entry("directions neither below tau nor near 1", "directions", "", "in_between", kind="int")
    hist_counts: np.ndarray | None = entry("histogram counts of every lambda_j(x) (supplement Fig. 10)", "", "",
                                           npz="lambda_hist_counts", kind="array")
    hist_edges: np.ndarray | None = entry("the histogram's bin edges over [0, 1.5]", "", "", npz="lambda_hist_edges",
                                          kind="array")


@section
class PerturbationRow:
    """One direction of the perturbation table, means over the perturbed inputs."""

    direction: int = entry("latent direction j", "", "", "direction", kind="int")
    lam: float = entry("mean lambda_j over the perturbed inputs", "", "", "lambda", kind="float")
    image_variance: float = entry("per-number variance over 15 decodes along v_j, summed", MODEL_VAR, "Theorem 4",
                                  "image_variance", kind="float")
    image_variance_stderr: float | None = entry("its standard error over inputs", MODEL_VAR, "",
                                                "image_variance_stderr", kind="float")
    image_variance_01: float | None = entry("image_variance / s^2", UNIT_VAR, "", "image_variance_01", kind="float")


@section
class Perturbations:
    """Decodes along single eigendirections of Sigma_z(x) (Theorem 4; Fig. 1 centre, supplement Fig. 9)."""

    rows: tuple = entry("PerturbationRow per direction, by lambda ascending", "", "Theorem 4", "perturbation",
                        kind="rows", cls=PerturbationRow, default=())
    inputs: int | None = entry("inputs perturbed", "", "", "perturbation_inputs", kind="int")
    scale: object = entry("step along v_j: a number, or 'posterior' (sqrt(lambda_j))", "", "", "perturbation_scale")
    lam: np.ndarray | None = entry("lambda_j per perturbed input (m, k)", "", "", npz="perturb_lambda", kind="array")
    variance: np.ndarray | None = entry("image variance per perturbed input and direction (m, p)", MODEL_VAR, "",
                                        npz="perturb_variance", kind="array")
    directions: np.ndarray | None = entry("the latent directions perturbed, the columns of lam and variance (p,): all k "
                                          "for a flat latent, the perturb_directions budget's most and least used above",
                                          "", "", npz="perturb_directions", kind="array")
    images: np.ndarray | None = entry("decodes of the first input along each direction (k, 15, C, H, W)",
                                      "model units", "", npz="perturb_images", kind="array")


@section
class Spectra:
    """Singular values of aggregated-posterior samples against an i.i.d. N(0, I) matrix (section 4, Fig. 1 right)."""

    stage1: np.ndarray | None = entry("normalised singular values of z ~ q(z|x)", "", "eq. (10)", "spectrum.stage1",
                                      kind="array")
    stage2: np.ndarray | None = entry("the same of stage 2's u ~ q(u|z) (None without stage 2)", "", "section 4",
                                      "spectrum.stage2", kind="array")
    gaussian: np.ndarray | None = entry("the same of an i.i.d. N(0, I) matrix of that shape", "", "",
                                        "spectrum.gaussian", kind="array")
    gap_stage1: float | None = entry("mean |stage1 - gaussian| over indices (0 .. 1)", "", "", "spectrum_gap.stage1",
                                     kind="float")
    gap_stage2: float | None = entry("mean |stage2 - gaussian|", "", "", "spectrum_gap.stage2", kind="float")
    kl_fit_stage1: float | None = entry("KL(N(m, S) || N(0, I)) of a Gaussian fit to the z samples", "nats", "",
                                        "kl_gaussian_fit.stage1", kind="float")
    kl_fit_stage2: float | None = entry("the same of the u samples", "nats", "", "kl_gaussian_fit.stage2", kind="float")
    kl_fit_gaussian: float | None = entry("the same of the N(0, I) reference (its sampling floor)", "nats", "",
                                          "kl_gaussian_fit.gaussian", kind="float")
    coordinates: tuple | None = entry("the latent coordinates the spectra use (None: all; the spectrum_dims budget)",
                                      "", "", "spectrum_coordinates", kind="tuple")
    sv_stage1: np.ndarray | None = entry("raw singular values of the z samples", "", "", npz="singular_values_stage1",
                                         kind="array")
    sv_stage2: np.ndarray | None = entry("raw singular values of the u samples", "", "", npz="singular_values_stage2",
                                         kind="array")
    sv_gaussian: np.ndarray | None = entry("raw singular values of the reference", "", "",
                                           npz="singular_values_gaussian", kind="array")


@section
class SpatialLatent:
    """A latent with a (C, H, W) shape (e.g. diffusers' AutoencoderKL), answered by channel and position
    (:mod:`vaediag.diagnostics.spatial`); latent direction j is the flat index of (c, h, w)."""

    shape: tuple = entry("(C, H, W) of the latent", "", "", "latent_shape", kind="tuple", default=())
    r_hat_per_channel: tuple = entry("#{positions with mean lambda_j < 1/2} per channel", "positions",
                                     "eq. (9), eq. (73)", "r_hat_per_channel", kind="tuple", default=())
    positions_per_channel: int | None = entry("H * W", "positions", "", "positions_per_channel", kind="int")
    channel_verdict: tuple = entry("one sentence per channel: where it is used", "", "", "channel_verdict",
                                   kind="tuple", default=())
    lambda_map: np.ndarray | None = entry("mean lambda_j laid out as (C, H, W)", "", "eq. (73)", npz="lambda_map",
                                          kind="array")
    r_hat_per_position: np.ndarray | None = entry("#{channels with mean lambda_j < 1/2} per position (H, W)",
                                                  "channels", "eq. (9)", npz="r_hat_per_position", kind="array")
