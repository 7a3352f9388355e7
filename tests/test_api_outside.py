"""Outside models get what a run gets: vaediag.diagnose returns a Diagnosis that writes, draws and reports;
vaediag.score of two image sets; `vaediag diagnose --model module:factory` with a checkpoint, writing the
same files as for a run, and one sentence for every mistake. Models: tests/_wild.py, as their authors wrote them."""

import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from _facts import facts, says
import vaediag
from _wild import ExamplesVAE, VanillaVAE, binary_shapes, colour_blobs, train_examples, train_vanilla
from vaediag.cli import main
from vaediag.errors import UsageError

TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def examples():
    x = binary_shapes(300)
    return train_examples(ExamplesVAE(), x, steps=150), x


@pytest.fixture(scope="module")
def vanilla():
    x = colour_blobs(128)
    return train_vanilla(VanillaVAE(), x, steps=20), x


# ---------------------------------------------------------------------------- the Python API
def test_diagnose_returns_a_diagnosis_that_saves_for_a_model(examples, tmp_path):
    model, x = examples
    d = vaediag.diagnose(vaediag.adapt(model, likelihood="bernoulli"), x, n=120, out=tmp_path / "d",
                         options=vaediag.DiagnoseOptions(iw=False))
    assert isinstance(d, vaediag.Diagnosis)
    summary, arrays = d  # still a pair
    with torch.no_grad():  # lambda_j of a diagonal encoder: its variances, averaged over the inputs (independent)
        lam = model.encode(x[:120])[1].exp().double().mean(0).numpy()
    np.testing.assert_allclose(arrays["lambda_mean"], lam, rtol=1e-5)
    assert summary["r_hat"] == int((lam < 0.5).sum()) and summary["iw_log_likelihood"] is None
    assert any("skipped on request" in n for n in summary["notes"])
    back = vaediag.Diagnosis.load(tmp_path / "d")
    assert back.summary["r_hat"] == summary["r_hat"]
    np.testing.assert_array_equal(back.arrays["lambda_mean"], arrays["lambda_mean"])
    with pytest.raises(UsageError, match=facts(tmp_path / "d", "overwrite=True")):  # nothing overwritten unless asked
        vaediag.diagnose(vaediag.adapt(model, likelihood="bernoulli"), x, n=120, out=tmp_path / "d",
                         options=vaediag.DiagnoseOptions(iw=False))
    with pytest.raises(UsageError, match=facts("write=True", "out=")):  # write=True for a model no longer writes nothing silently
        vaediag.diagnose(vaediag.adapt(model, likelihood="bernoulli"), x, n=50, write=True)


def test_figures_and_report_take_a_diagnosis(examples, tmp_path):
    model, x = examples
    d = vaediag.diagnose(vaediag.adapt(model, likelihood="bernoulli"), x, n=80, options=vaediag.DiagnoseOptions(iw=False))
    f1 = vaediag.figure1(d)
    assert len(f1.axes) >= 3 and "no history" in f1.axes[0].get_title()
    hist = {"step": [0, 1, 2], "gamma": [1.0, 0.5, 0.25]}
    line = vaediag.figure1(d, history=hist).axes[0].lines[0]
    np.testing.assert_allclose(line.get_ydata(), np.log([1.0, 0.5, 0.25]))
    f9 = vaediag.figure9(d)
    assert f9.axes and f9.axes[0].images[0].get_array().shape[0] >= 28  # digits as pictures, not bars
    f10 = vaediag.figure10(d)
    assert sum(p.get_height() for p in f10.axes[0].patches) == d.arrays["lambda_hist_counts"].sum() == 80 * 20
    html = vaediag.report(d, out=tmp_path / "r.html")
    assert (tmp_path / "r.html").read_text() == html and "r_hat" in html and html.count("data:image/png") == 3


def test_score_of_two_image_sets_against_independent_code(vanilla):
    from vaediag.quality.features import ProxyFeatures
    from vaediag.quality.kid import mmd2_unbiased

    _, x = vanilla  # images in [-1, 1]
    a, b = x[:64], x[64:]
    s = vaediag.score(a, b, proxy=True, data_range=(-1, 1), device="cpu",
                      options=vaediag.FidOptions(kid_subsets=5, kid_subset_size=1000))
    assert isinstance(s, vaediag.Score) and s.proxy and s.metric == "proxy-fd" and s.n_images == s.n_reference == 64
    assert s.kid_subset_size < 64 and any("subsets of" in n for n in s.notes)  # never the whole set
    f = ProxyFeatures()
    fa = f(((a + 1) / 2).float()).double().numpy()
    fb = f(((b + 1) / 2).float()).double().numpy()
    m1, m2, c1, c2 = fa.mean(0), fb.mean(0), np.cov(fa, rowvar=False), np.cov(fb, rowvar=False)
    w, v = np.linalg.eigh(c1)
    r1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T  # tr sqrt(c1 c2) = tr sqrt(c1^(1/2) c2 c1^(1/2))
    tr = np.sqrt(np.clip(np.linalg.eigvalsh(r1 @ c2 @ r1), 0, None)).sum()
    fd = float(((m1 - m2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * tr)
    assert s.fid == pytest.approx(fd, rel=1e-3, abs=1e-6)
    rng = np.random.default_rng(0)
    vals = [mmd2_unbiased(fa[rng.choice(64, 32, replace=False)], fb[rng.choice(64, 32, replace=False)]) for _ in range(5)]
    assert s.kid == pytest.approx(np.mean(vals), rel=1e-6) and s.kid_std == pytest.approx(np.std(vals, ddof=1), rel=1e-6)
    assert s.to_dict()["fid"] == s.fid and s.to_dict()["kid"]["mean"] == s.kid and "KID" in str(s)
    with pytest.raises(vaediag.VaediagError, match=facts("[0, 1]", f"[{float(a.min()):.3g}, ")):  # [-1, 1] data read as [0, 1]: refused
        vaediag.score(a.numpy(), b.numpy(), proxy=True)


# ---------------------------------------------------------------------------- the command line
FACTORY = """
import sys
sys.path.insert(0, {tests!r})
import vaediag
from _wild import VanillaVAE, ExamplesVAE

def vanilla():
    return vaediag.adapt(VanillaVAE(), loss="mean_sq", kl_weight=0.005, data_range=(-1, 1))

def examples():
    return vaediag.adapt(ExamplesVAE(), likelihood="bernoulli")

def broken():
    raise ValueError("no weights here")

NOT_A_FUNCTION = 3
"""


@pytest.fixture()
def folder(tmp_path, vanilla, examples, monkeypatch):
    (tmp_path / "mine.py").write_text(textwrap.dedent(FACTORY.format(tests=str(TESTS))))
    model, x = vanilla
    torch.save(model.state_dict(), tmp_path / "vanilla.pt")
    torch.save({"state_dict": examples[0].state_dict(), "epoch": 3}, tmp_path / "examples.pt")
    np.save(tmp_path / "blobs.npy", x.numpy())
    np.save(tmp_path / "shapes.npy", examples[1].numpy())
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    sys.modules.pop("mine", None)


def test_cli_diagnoses_an_outside_model_from_its_checkpoint(folder, vanilla, capsys):
    model, x = vanilla
    code = main(["diagnose", "--model", "mine:vanilla", "--checkpoint", "vanilla.pt", "--data", "blobs.npy",
                 "--out", "diag", "--n", "100", "--figures", "--device", "cpu"])
    out, err = capsys.readouterr()
    assert code == 0, err
    names = sorted(p.name for p in (folder / "diag").iterdir())
    assert names == ["arrays.npz", "figure1.png", "figure10.png", "figure9.png", "report.html", "summary.json"]
    s = json.loads((folder / "diag" / "summary.json").read_text())
    model.eval()
    with torch.no_grad():  # the checkpoint was loaded: the trained encoder's variances (independent code)
        lam = model.encode(x[:100])[1].exp().double().mean(0).numpy()
    np.testing.assert_allclose(s["lambda_mean"], lam, rtol=1e-5)
    assert s["gamma"] == pytest.approx(0.005 * 3 * 8 * 8 / 2)  # kld_weight * d / 2
    assert s["model"]["factory"] == "mine:vanilla" and s["data_range"] == [-1, 1]
    assert "r_hat" in out and "tau-count(lambda<0.1)" in out


def test_cli_reads_a_wrapped_state_dict_and_a_file_factory(folder, examples, capsys):
    code = main(["diagnose", "--model", str(folder / "mine.py") + ":examples", "--checkpoint", "examples.pt",
                 "--data", "shapes.npy", "--n", "60", "--no-iw", "--device", "cpu"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "nothing written" in err and "r_hat" in out


def test_cli_diagnose_shows_progress_unless_quiet(folder, capsys):
    argv = ["diagnose", "--model", "mine:examples", "--checkpoint", "examples.pt", "--data", "shapes.npy", "--n", "30",
            "--no-iw", "--device", "cpu"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "diagnose: 30 inputs, a latent of" in err and "diagnose: one pass" in err and "ETA" in err
    assert main(argv + ["--quiet"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("argv,status,words", [
    (["--model", "mine", "--data", "blobs.npy"], 2, ("--model mine", "module:factory")),
    (["--model", "nowhere:f", "--data", "blobs.npy"], 1, ("'nowhere'",)),
    (["--model", "mine:missing", "--data", "blobs.npy"], 2, ("'missing'",)),
    (["--model", "mine:NOT_A_FUNCTION", "--data", "blobs.npy"], 2, ("NOT_A_FUNCTION",)),
    (["--model", "mine:broken", "--data", "blobs.npy"], 1, ("broken", "no weights here")),  # the factory's own words
    (["--model", "mine:vanilla", "--checkpoint", "examples.pt", "--data", "blobs.npy"], 1, ("examples.pt",)),
    (["--model", "mine:vanilla", "--checkpoint", "none.pt", "--data", "blobs.npy"], 1, ("none.pt",)),
    (["--model", "mine:vanilla", "--data", "shapes.npy"], 1, ("shape",)),
    (["--model", "mine:examples", "--data", "blobs.npy"], 1, ("shape",)),
    (["--model", "mine:vanilla", "--data", "nothing.npy"], 1, ("nothing.npy",)),
    (["--model", "mine:vanilla"], 2, ("--model", "--data")),
    (["--model", "mine:vanilla", "--data", "blobs.npy", "--run", "x"], 2, ("--run", "--model")),
])
def test_every_mistake_is_one_sentence(folder, capsys, argv, status, words):
    code = main(["diagnose", *argv, "--n", "20", "--device", "cpu"])
    _, err = capsys.readouterr()
    assert code == status, err
    assert says(err, *words) and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_existing_output_is_not_overwritten(folder, capsys):
    argv = ["diagnose", "--model", "mine:vanilla", "--data", "blobs.npy", "--out", "o", "--n", "20", "--no-iw",
            "--device", "cpu"]
    assert main(argv) == 0
    before = (folder / "o" / "summary.json").read_bytes()
    capsys.readouterr()
    assert main(argv) == 2 and says(capsys.readouterr().err, "summary.json", "--overwrite")
    assert (folder / "o" / "summary.json").read_bytes() == before
    assert main(argv + ["--overwrite"]) == 0


# ---------------------------------------------------------------------------- enhance: the codes of an outside model
def test_codes_of_a_batchnorm_tanh_vae_in_its_own_range_leave_it_unchanged(vanilla):
    from vaediag.diagnostics.enhance import encode_codes

    model, x = vanilla
    model.train()  # as after a training loop
    before = {k: v.clone() for k, v in model.state_dict().items()}
    adapted = vaediag.adapt(model, loss="mean_sq", kl_weight=0.005, data_range=(-1, 1))
    mu, logvar, full = encode_codes(adapted, x, batch=50)
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    model.eval()
    with torch.no_grad():  # eval-mode encode, by the model's own code
        want_mu, want_lv = model.encode(x)
    model.train()
    assert not full
    np.testing.assert_allclose(mu, want_mu.double().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(logvar, want_lv.double().numpy(), rtol=1e-5, atol=1e-6)
    # uint8 images are mapped into the model's range [-1, 1] before encoding
    u8 = ((x + 1) / 2 * 255).round().clamp(0, 255).to(torch.uint8)
    mu8, _, _ = encode_codes(adapted, u8, batch=50)
    model.eval()
    with torch.no_grad():
        want8 = model.encode(u8.float() / 255 * 2 - 1)[0]
    model.train()
    np.testing.assert_allclose(mu8, want8.double().numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(UsageError, match="data_range"):  # [-1, 1] data to a model declared (0, 1)
        encode_codes(vaediag.adapt(model, loss="mean_sq", kl_weight=0.005, data_range=(0, 1)), x)
    with pytest.raises(UsageError, match="bernoulli"):  # Tanh decodes are not probabilities
        encode_codes(vaediag.adapt(model, likelihood="bernoulli"), (x + 1) / 2)


def test_gamma_effective_on_16_inputs_is_that_on_64(examples):
    """The default fit size (GAMMA_FIT_N = 16, chosen for cost) against four times as many inputs."""
    from vaediag.diagnostics.summary import GAMMA_FIT_N, diagnose as core

    model, x = examples
    m = vaediag.adapt(model, likelihood="bernoulli")
    small = core(m, x[:80], iw_k=0)
    big = core(m, x[:80], iw_k=0, gamma_fit_n=64)
    # a Bernoulli decoder: the fit is the Fisher calibration c (1 / the gamma of the same eq. 73 machinery)
    assert GAMMA_FIT_N == 16 and small.fisher.n == 16 and big.fisher.n == 64
    assert small.fisher.c == pytest.approx(big.fisher.c, rel=0.25)
