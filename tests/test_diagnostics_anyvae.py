"""The VAEs people have, as their authors wrote them (tests/_wild.py), and linear-Gaussian models whose every
number has a closed form: likelihoods, units, the effective gamma, an unchanged model, honest counts."""

import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp

from _facts import facts
from _lingauss import LinearGaussianDiagVAE
from _wild import ExamplesVAE, VanillaVAE, binary_shapes, colour_blobs, train_examples, train_vanilla
from vaediag.diagnostics import diagnose
from vaediag.diagnostics.adapt import adapt
from vaediag.diagnostics.result import Diagnosis
from vaediag.diagnostics.summary import streams
from vaediag.errors import UsageError


@pytest.fixture(scope="module")
def examples():
    x = binary_shapes(400)
    return train_examples(ExamplesVAE(), x, steps=400), x


@pytest.fixture(scope="module")
def vanilla():
    x = colour_blobs(256)
    return train_vanilla(VanillaVAE(), x, steps=40), x  # left in train mode, as after a training loop


# ---------------------------------------------------------------------------- item 3: the model is unchanged
def test_batchnorm_vae_in_train_mode_is_unchanged_and_gets_its_modes_back(vanilla):
    model, x = vanilla
    model.train()
    model.final_layer[1].eval()  # a submodule in its own mode: it must get that mode back
    before = {k: v.clone() for k, v in model.state_dict().items()}
    modes = {n: m.training for n, m in model.named_modules()}
    d = diagnose(adapt(model, loss="mean_sq", kl_weight=0.005, data_range=(-1, 1)), x[:64], iw_k=4, iw_n=16)
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)  # bit-identical, running statistics included
    assert {n: m.training for n, m in model.named_modules()} == modes
    # the check is not vacuous: a forward pass in train mode would have moved the running statistics
    model(x[:64])
    assert not torch.equal(before["encoder.0.1.running_mean"], model.state_dict()["encoder.0.1.running_mean"])
    model.load_state_dict(before)
    # diagnosed in eval mode: the encoder's variances are those of model.eval(), batch statistics unused
    model.eval()
    with torch.no_grad():
        mu, lv = model.encode(x[:64])
    np.testing.assert_allclose(d.arrays["lambda_mean"], lv.exp().double().mean(0).numpy(), rtol=1e-5)
    model.train()


def test_modes_are_restored_after_a_failure(vanilla):
    model, x = vanilla
    model.train()
    with pytest.raises(UsageError, match="likelihood='bernoulli'"):  # a Tanh decoder is not Bernoulli
        diagnose(adapt(model, likelihood="bernoulli"), (x[:32] + 1) / 2)
    assert all(m.training for m in model.modules())


# ---------------------------------------------------------------------------- item 1: likelihoods and units
def test_bernoulli_iw_log_likelihood_against_a_direct_logsumexp(examples):
    model, x = examples
    xs, k, n = x[:30], 7, 30
    d = diagnose(adapt(model, likelihood="bernoulli"), xs, iw_k=k, iw_n=n, seed=3)
    iw = d.summary["iw_log_likelihood"]
    # independent: the same draws (the "iw" stream), everything else in numpy
    eps = torch.randn(k, n, 20, generator=streams(3)["iw"], dtype=torch.float64).numpy()
    with torch.no_grad():
        mu, lv = model.encode(xs)
    mu, var = mu.double().numpy(), lv.exp().double().numpy()
    z = mu + np.sqrt(var) * eps
    with torch.no_grad():
        p = model.decode(torch.from_numpy(z.reshape(k * n, 20)).float()).double().numpy().reshape(k, n, 784)
    p = np.clip(p, 1e-7, 1 - 1e-7)
    xn = xs.double().numpy()
    log_px = (xn * np.log(p) + (1 - xn) * np.log(1 - p)).sum(-1)
    log_pz = -0.5 * (z ** 2 + np.log(2 * np.pi)).sum(-1)
    log_q = -0.5 * ((z - mu) ** 2 / var + np.log(var) + np.log(2 * np.pi)).sum(-1)
    per = logsumexp(log_px + log_pz - log_q, axis=0) - np.log(k)
    assert iw["likelihood"] == "bernoulli" and iw["mean"] == pytest.approx(per.mean(), rel=1e-6)
    assert iw["elbo_mean"] == pytest.approx((log_px + log_pz - log_q)[0].mean(), rel=1e-6)
    assert d.summary["gamma"] is None and d.summary["gamma_mode"] == "none"


def test_examples_vae_is_read_as_bernoulli_with_pictures_and_the_fisher_calibration(examples):
    model, x = examples
    d = diagnose(adapt(model, loss="bce"), x[:200], iw_k=4, iw_n=20)
    assert d.model.likelihood == "bernoulli" and d.model.image_shape == (1, 28, 28)  # 784 numbers: a 28 x 28 picture
    assert d.perturbations.images.shape[2:] == (1, 28, 28)
    # no gamma, and no gamma_effective either (a J^2-weighted mean of p(1-p), bounded by 1/4): the Fisher c instead
    assert d.gamma.effective is None and d.effective_fit is None and d.collapse.kl_eq9 is None
    assert d.fisher is not None and d.fisher.c is not None and d.fisher.n == 16
    assert d.gamma.regime == "no-gamma" and "Fisher" in d.gamma.regime_text
    text = " ".join(d.verdict)
    assert f"c = {d.fisher.c:.3g}" in text and "gamma_effective" not in text


def test_bernoulli_refuses_decodes_outside_0_1_and_data_outside(examples):
    model, x = examples
    logits = adapt(model, likelihood="bernoulli", decode=lambda z: torch.logit(model.decode(z), eps=1e-6))
    with pytest.raises(UsageError, match="decode=lambda z: torch.sigmoid"):
        diagnose(logits, x[:20])
    with pytest.raises(UsageError, match=facts("likelihood='bernoulli'", "[0, 1]", "[-1")):
        diagnose(adapt(model, likelihood="bernoulli"), x[:20] * 2 - 1)
    with pytest.raises(UsageError, match=facts("gamma=", "likelihood='gaussian'")):
        adapt(model, likelihood="bernoulli", gamma=1.0)


def test_weighted_kl_implies_gamma_beta_d_over_2_and_the_implied_gaussian_likelihood():
    # a linear-Gaussian model with gamma g, trained (in closed form) with MSE (mean over d) + beta KL:
    # beta = 2 g / d makes the implied gamma equal g, so the IW estimate with the exact posterior is log p(x)
    g, d = 0.05, 10
    m = LinearGaussianDiagVAE([3.0, 0.5, 0.0], g, d=d)
    x = m.sample(40)
    beta = 2 * g / d
    del m.gamma  # the model declares no gamma of its own
    a = adapt(m, loss="mean_sq", kl_weight=beta)
    assert a.gamma is None and "once d is known" in a.gamma_note  # gamma waits for d (read from the data)
    dg = diagnose(a, x, iw_k=5, iw_n=40)
    s = dg.summary
    assert s["gamma"] == pytest.approx(beta * d / 2) == pytest.approx(g)
    assert "implied Gaussian" in s["iw_log_likelihood"]["model"] and "kl_weight" not in s["gamma_note"]
    # with the exact posterior every importance weight is p(x): the estimate equals the closed form
    assert s["iw_log_likelihood"]["mean"] == pytest.approx(float(m.log_px(x[:40]).mean()), rel=1e-9)
    assert s["gamma_effective"] == pytest.approx(g, rel=1e-6)
    with pytest.raises(UsageError, match="inputs of 5 numbers"):  # the gamma of d = 10 does not fit 5 numbers per input
        diagnose(a, x[:, :5], iw_k=0, check_range=False)


class Scaled(torch.nn.Module):
    """A model trained on data mapped to [lo, hi]: x = lo + s x01 with s = hi - lo; gamma scales by s^2."""

    def __init__(self, inner, lo, hi):
        super().__init__()
        self.inner, self.lo, self.s = inner, lo, hi - lo
        self.gamma = inner.g * self.s ** 2

    def encode(self, x):
        return self.inner.encode((x - self.lo) / self.s)

    def decode(self, z):
        return self.lo + self.s * self.inner.decode(z)


def test_data_range_reports_model_units_and_the_0_1_values_beside():
    inner = LinearGaussianDiagVAE([3.0, 10.0, 0.0], 0.01, d=9)
    x01 = inner.sample(60)
    ref = diagnose(inner, x01, iw_k=6, iw_n=60, check_range=False).summary
    m = Scaled(inner, -1.0, 1.0)
    with pytest.raises(UsageError, match=facts("data_range", "(-1, 1)")):
        diagnose(adapt(m, data_range=(-1, 1)), 3 + x01)
    s = diagnose(adapt(m, data_range=(-1, 1)), -1 + 2 * x01, iw_k=6, iw_n=60, check_range=False).summary
    assert s["gamma"] == pytest.approx(4 * 0.01) and s["gamma_01"] == pytest.approx(0.01)
    assert s["recon_mse_01"] == pytest.approx(ref["recon_mse"], rel=1e-9)
    np.testing.assert_allclose(s["lambda_mean"], ref["lambda_mean"], rtol=1e-12)
    # the same draws: the density in [0, 1] units is the model's times s^d
    assert s["iw_log_likelihood"]["mean_01"] == pytest.approx(ref["iw_log_likelihood"]["mean"], rel=1e-9)
    assert s["iw_log_likelihood"]["mean"] == pytest.approx(ref["iw_log_likelihood"]["mean"] - 9 * math.log(2), rel=1e-9)
    assert [p["image_variance_01"] for p in s["perturbation"]] == pytest.approx([p["image_variance"] for p in ref["perturbation"]])
    assert s["gamma_effective_fit"]["gamma_01"] == pytest.approx(0.01, rel=1e-6)


def test_tanh_vae_on_minus_one_one_is_refused_without_data_range_then_read(vanilla):
    model, x = vanilla
    with pytest.raises(UsageError, match="data_range"):
        diagnose(model, x[:32])
    d = diagnose(adapt(model, loss="mean_sq", kl_weight=0.005, data_range=(-1, 1)), x[:64], iw_k=4, iw_n=16)
    s = d.summary
    assert s["gamma"] == pytest.approx(0.005 * 3 * 8 * 8 / 2) and s["gamma_01"] == pytest.approx(s["gamma"] / 4)
    assert s["data_range"] == [-1.0, 1.0] and s["image_shape"] == [3, 8, 8]
    # uint8 images are mapped into the model's range: the same numbers as the floats they stand for
    u8 = torch.round((x[:64] + 1) / 2 * 255).to(torch.uint8)
    s8 = diagnose(adapt(model, loss="mean_sq", kl_weight=0.005, data_range=(-1, 1)), u8, iw_k=0).summary
    sf = diagnose(adapt(model, loss="mean_sq", kl_weight=0.005, data_range=(-1, 1)), u8.float() / 255 * 2 - 1, iw_k=0).summary
    np.testing.assert_allclose(s8["lambda_mean"], sf["lambda_mean"], rtol=1e-6)


def test_flat_outputs_ask_for_image_shape_unless_square():
    m = LinearGaussianDiagVAE([3.0, 1.0], 0.1, d=100)
    m.decode = lambda z: torch.sigmoid(z.double() @ m.W.T)  # noqa: E731 (outputs in [0, 1], like images)
    x = torch.rand(20, 100).double()
    s, a = diagnose(m, x, iw_k=0)
    assert s["image_shape"] == [1, 10, 10] and a["perturb_images"].shape[2:] == (1, 10, 10)
    m2 = LinearGaussianDiagVAE([3.0, 1.0], 0.1, d=96)
    s2, a2 = diagnose(m2, torch.rand(20, 96).double(), iw_k=0)
    assert s2["image_shape"] is None and "perturb_images" not in a2 and any("image_shape" in n for n in s2["notes"])
    m2.image_shape = (6, 16)  # the picture a flat output is, read from the model
    s3, a3 = diagnose(adapt(m2), torch.rand(20, 96).double(), iw_k=0)
    assert s3["image_shape"] == [1, 6, 16] and a3["perturb_images"].shape[2:] == (1, 6, 16)
    with pytest.raises(UsageError, match="image_shape"):
        m2.image_shape = (5, 5)
        diagnose(adapt(m2), torch.rand(20, 96).double(), iw_k=0)


# ---------------------------------------------------------------------------- item 2: effective gamma
@pytest.mark.parametrize("g", [1e-3, 0.2, 1.0])
def test_gamma_effective_is_the_true_gamma_of_a_linear_gaussian_model(g):
    m = LinearGaussianDiagVAE([3.0, 10.0, 0.0, 0.5], g, d=12)
    s = diagnose(m, m.sample(100), iw_k=0).summary
    assert s["gamma_effective"] == pytest.approx(g, rel=1e-6)
    assert s["gamma_effective_fit"]["r2"] == pytest.approx(1.0, abs=1e-9)


class FullCovLinear(torch.nn.Module):
    """x = W z + noise with a non-orthogonal W: the exact posterior covariance is (I + W^T W / g)^-1 (eq. 73), full."""

    def __init__(self, g, d=8, k=3, seed=0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.W = torch.randn(d, k, generator=gen, dtype=torch.float64)
        self.g = g
        self.cov = torch.linalg.inv(torch.eye(k, dtype=torch.float64) + self.W.T @ self.W / g)

    def encode(self, x):
        mu = x.double() @ self.W @ self.cov / self.g
        return mu, self.cov.expand(len(x), -1, -1)

    def decode(self, z):
        return z.double() @ self.W.T


def test_gamma_effective_full_covariance_closed_form():
    m = FullCovLinear(0.3)
    x = torch.randn(50, 8, dtype=torch.float64)
    s = diagnose(m, x, iw_k=0, check_range=False).summary
    assert s["encoder"] == "full covariance" and s["gamma_effective"] == pytest.approx(0.3, rel=1e-6)


def test_gamma_effective_reports_a_poor_fit():
    m = LinearGaussianDiagVAE([3.0, 10.0, 0.0], 0.1, d=8, var_scale=torch.tensor([1.0, 8.0, 1.0], dtype=torch.float64))
    fit = diagnose(m, m.sample(50), iw_k=0).summary["gamma_effective_fit"]
    assert fit["rms_log_residual"] > 0.3 and fit["r2"] < 0.99


# ---------------------------------------------------------------------------- items 4 and 6
def test_no_gap_gives_no_count_but_the_range(examples):
    model, x = examples
    s = diagnose(adapt(model, likelihood="bernoulli"), x[:200], iw_k=0).summary
    lam = np.array(s["lambda_mean"])
    gap = s["r_hat_separation"]
    assert gap == pytest.approx(np.log(lam[lam >= 0.5].min() / lam[lam < 0.5].max()))
    by_cut = {c: int((lam < float(c)).sum()) for c in s["count_by_cut"]}
    assert s["count_by_cut"] == by_cut and s["r_hat"] == int((lam < 0.5).sum())
    assert s["tau_count"] == int((lam < s["tau"]).sum())
    text = " ".join(diagnose(adapt(model, likelihood="bernoulli"), x[:200], iw_k=0).verdict)
    in_band = [j for j in range(20) if 1 / 3 <= lam[j] <= 2 / 3]
    assert s["r_hat_clear"] is (not in_band) and sorted(s["r_hat_in_band"]) == in_band
    assert s["r_hat_range"] == [int((lam < 1 / 3).sum()), int((lam <= 2 / 3).sum())]
    if not s["r_hat_clear"]:  # this small model has directions near 1/2
        lo, hi = s["r_hat_range"]
        assert "no clear count" in text and f"the count is {lo}..{hi} of 20" in text
        assert f"r_hat = {s['r_hat']} of" not in text.split("at exactly")[0]


def test_stage2_does_not_change_stage1_numbers_and_perturbations_have_a_stderr():
    m = LinearGaussianDiagVAE([3.0, 10.0, 0.0], 0.05, d=8)
    x = m.sample(200)
    stage2 = LinearGaussianDiagVAE([1.0, 2.0, 0.5], 0.1, d=3, seed=4)
    a = diagnose(m, x, iw_k=5, iw_n=50, seed=1).summary
    b = diagnose(m, x, stage2, iw_k=5, iw_n=50, seed=1).summary
    for key in ("perturbation", "mutual_information", "iw_log_likelihood", "kl_gaussian_fit", "gamma_effective"):
        va, vb = a[key], b[key]
        if key == "kl_gaussian_fit":
            va, vb = va["stage1"], vb["stage1"]
        assert va == vb, key
    assert a["spectrum"]["stage1"] == b["spectrum"]["stage1"] and b["spectrum"]["stage2"] is not None
    d = diagnose(m, x, iw_k=0, perturb_inputs=6)
    var = d.arrays["perturb_variance"]
    for row in d.summary["perturbation"]:
        v = var[:, row["direction"]]
        assert row["image_variance_stderr"] == pytest.approx(np.std(v, ddof=1) / np.sqrt(6))


def test_diagnosis_unpacks_saves_atomically_and_refuses_to_overwrite(tmp_path):
    m = LinearGaussianDiagVAE([3.0, 0.0], 0.1)
    d = diagnose(m, m.sample(30), iw_k=0)
    summary, arrays = d
    assert summary == d.summary and set(arrays) == set(d.arrays) and d.verdict == summary["verdict"]
    out = d.save(tmp_path / "diag")
    back = Diagnosis.load(out)
    assert back.summary["r_hat"] == summary["r_hat"] and np.array_equal(back.arrays["lambda_mean"], arrays["lambda_mean"])
    before = (out / "summary.json").read_bytes()
    with pytest.raises(UsageError, match="overwrite=True"):
        d.save(out)
    assert (out / "summary.json").read_bytes() == before and "r_hat=" in repr(d)
    import copy
    import pickle

    for twin in (pickle.loads(pickle.dumps(d)), copy.deepcopy(d)):
        assert isinstance(twin, Diagnosis) and twin.summary == summary
