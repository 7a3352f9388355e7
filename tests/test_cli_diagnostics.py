"""Every diagnostic verb on tiny real runs, and one-sentence answers to bad input."""

import json

import numpy as np
import pytest

from vaediag.cli import main
from vaediag.engine.runs import Run

REQUIRED = ("gamma", "gamma_stage2", "recon_mse", "tau_count", "lambda_mean", "perturbation", "spectrum",
            "spectrum_gap")


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("diag_runs")
    img, vec = root / "img", root / "vec"
    from vaediag.data import load_mnist5k

    np.save(root / "digits.npy", load_mnist5k()[:300].reshape(300, 1, 28, 28))  # uint8 images
    assert main(["train", "--preset", "quick", "--dataset", str(root / "digits.npy"), "--steps", "10", "--stage2-steps", "10", "--latent-dim", "8",
                 "--stage2-width", "32", "--out", str(img), "--quiet", "--device", "cpu"]) == 0
    assert main(["train", "--dataset", "manifold:sphere?r=2&d=10&n=300", "--steps", "40", "--latent-dim", "4",
                 "--stages", "1", "--out", str(vec), "--quiet", "--device", "cpu"]) == 0
    return {"img": img, "vec": vec, "root": root}


def run_cli(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_sentence(code, err):
    assert code != 0
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


# The n of the figure verbs below: the diagnosis the first test saves in the run is the one they reuse.
N_FIG = 100


def test_diagnose_image_run_writes_documented_summary(tiny_runs, capsys):
    code, out, err = run_cli(["diagnose", "--run", str(tiny_runs["img"]), "--n", str(N_FIG), "--device", "cpu"], capsys)
    assert code == 0, err
    run = Run.open(tiny_runs["img"])
    s = json.loads((run.diagnostics_dir / "summary.json").read_text())
    for key in REQUIRED:
        assert key in s
    k = 8
    assert len(s["lambda_mean"]) == k and len(s["perturbation"]) == k
    assert all(len(s["spectrum"][key]) == k for key in ("stage1", "stage2", "gaussian"))
    assert s["spectrum"]["stage1"][0] == pytest.approx(1.0)  # normalised by the largest singular value
    lam = [p["lambda"] for p in s["perturbation"]]
    assert lam == sorted(lam)
    assert s["gamma"] == pytest.approx(run.load_model(1).gamma.item(), rel=1e-6)
    assert s["gamma_stage2"] == pytest.approx(run.load_model(2).gamma.item(), rel=1e-6)
    assert s["tau_count"] == sum(v < s["tau"] for v in s["lambda_mean"])
    assert s["r_hat"] == sum(v < 0.5 for v in s["lambda_mean"]) and "active_dims" not in s
    with np.load(run.diagnostics_dir / "arrays.npz") as f:
        assert f["perturb_images"].shape == (k, 15, 1, 28, 28)
        assert f["lambda_hist_counts"].sum() == N_FIG * k  # every lambda of every input counted once
    head = f"r_hat {s['r_hat']} of {k}" if s["r_hat_clear"] else \
        f"r_hat: no clear count (range {s['r_hat_range'][0]}-{s['r_hat_range'][1]}; direction(s) "
    assert head in out and f"tau-count(lambda<0.1) {s['tau_count']}" in out


def test_diagnose_tau_changes_the_tau_count_only(tiny_runs, capsys, tmp_path):
    # into another folder (the run's saved diagnosis stays the one the figures reuse); no IW likelihood,
    # which tau does not touch
    code, out, _ = run_cli(["diagnose", "--run", str(tiny_runs["img"]), "--n", "50", "--tau", "5", "--no-iw",
                            "--out", str(tmp_path / "d"), "--device", "cpu"], capsys)
    assert code == 0
    s = json.loads((tmp_path / "d" / "summary.json").read_text())
    assert s["tau"] == 5 and s["tau_count"] == 8  # every variance is below 5
    assert s["r_hat"] == sum(v < 0.5 for v in s["lambda_mean"])  # r_hat does not move with tau
    assert "tau-count(lambda<5) 8" in out


def test_threshold_is_gone_tau_is_the_name(tiny_runs, capsys):
    code, _, err = run_cli(["diagnose", "--run", str(tiny_runs["img"]), "--threshold", "5"], capsys)
    assert code == 2 and "--threshold" in err and err.count("\n") == 1


def test_vector_run_without_stage2_gives_nulls_with_note(tiny_runs, capsys):
    code, out, err = run_cli(["diagnose", "--run", str(tiny_runs["vec"]), "--device", "cpu"], capsys)
    assert code == 0, err
    s = json.loads((tiny_runs["vec"] / "diagnostics" / "summary.json").read_text())
    assert s["gamma_stage2"] is None and s["spectrum"]["stage2"] is None and s["spectrum_gap"]["stage2"] is None
    assert any("stage 2" in n for n in s["notes"])
    assert s["n"] == 270  # all 270 training vectors (300 minus the 10% held out)
    assert len(s["perturbation"]) == 4 and all(p["image_variance"] >= 0 for p in s["perturbation"])


def test_figure_verbs_write_files(tiny_runs, capsys, tmp_path):
    img, vec = str(tiny_runs["img"]), str(tiny_runs["vec"])
    for argv, path, magic in [
        (["figure1", "--run", img, "--compare", vec, "--out", str(tmp_path / "f1.png")], tmp_path / "f1.png", b"\x89PNG"),
        (["figure1", "--run", img, "--out", str(tmp_path / "f1.pdf")], tmp_path / "f1.pdf", b"%PDF"),
        (["figure9", "--run", img, "--out", str(tmp_path / "f9.png")], tmp_path / "f9.png", b"\x89PNG"),
        (["figure9", "--run", vec, "--out", str(tmp_path / "f9v.png")], tmp_path / "f9v.png", b"\x89PNG"),
        (["figure10", "--run", img, "--run", vec, "--out", str(tmp_path / "f10.png")], tmp_path / "f10.png", b"\x89PNG"),
    ]:
        code, _, err = run_cli(argv + ["--n", str(N_FIG), "--device", "cpu"], capsys)
        assert code == 0, err
        assert path.read_bytes()[:4] == magic


def test_report_is_self_contained_with_verdict(tiny_runs, capsys, tmp_path):
    out = tmp_path / "r.html"
    code, _, err = run_cli(["report", "--run", str(tiny_runs["img"]), "--out", str(out), "--n", str(N_FIG), "--device", "cpu"], capsys)
    assert code == 0, err
    page = out.read_text()
    s = json.loads((tiny_runs["img"] / "diagnostics" / "summary.json").read_text())
    assert page.count("data:image/png;base64,") == 3
    assert "src='http" not in page and 'src="http' not in page
    count = f"r_hat = {s['r_hat']} of 8" if s["r_hat_clear"] else "There is no clear count"  # eq. 73 count
    assert count in page and f"which assumes gamma -&gt; 0) is {s['tau_count']}" in page  # the tau-count
    assert "gamma" in page and ("Stage 2 repairs" in page or "Stage 2 does not" in page or "Stage 2 improves" in page
                                or "already close" in page)


@pytest.mark.parametrize("argv_fn", [
    lambda r, t: ["diagnose", "--run", str(t / "missing")],
    lambda r, t: ["diagnose", "--run", str(t)],  # a directory that is not a run
    lambda r, t: ["figure1", "--run", str(r["vec"]), "--out", str(t / "f.png")],  # no stage 2
    lambda r, t: ["figure1", "--run", str(r["img"]), "--out", str(t / "nodir" / "f.png")],
    lambda r, t: ["figure9", "--run", str(r["img"]), "--out", str(t / "f.jpg")],
    lambda r, t: ["figure10", "--run", str(r["img"]), "--run", str(t / "missing"), "--out", str(t / "f.png")],
    lambda r, t: ["report", "--run", str(r["img"]), "--out", str(t / "nodir" / "r.html")],
    lambda r, t: ["report", "--run", str(r["img"]), "--out", str(t / "r.png")],
    lambda r, t: ["diagnose", "--run", str(r["img"]), "--n", "1"],
    lambda r, t: ["diagnose", "--run", str(r["img"]), "--tau", "-1"],
])
def test_bad_input_gets_one_sentence(tiny_runs, capsys, tmp_path, argv_fn):
    code, _, err = run_cli(argv_fn(tiny_runs, tmp_path), capsys)
    assert_one_sentence(code, err)
    assert err.startswith("vaediag ")


# ---------------------------------------------------------------------------- the budget flags
LINEAR = """
import torch
import torch.nn as nn
import vaediag


class Linear(nn.Module):
    def __init__(self, k=100, d=20):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.W = nn.Parameter(torch.randn(d, k, generator=g) * torch.linspace(0.01, 2, k))
        self.E = nn.Parameter(torch.randn(k, d, generator=g) / d)
        self.lv = nn.Parameter(torch.linspace(-4, 0.5, k))

    def encode(self, x):
        return x @ self.E.T, self.lv.expand(len(x), -1)

    def decode(self, z):
        return z @ self.W.T


def factory():
    return vaediag.adapt(Linear(), gamma=0.1)
"""


@pytest.fixture
def linear_model(tmp_path, monkeypatch):
    """A linear Gaussian VAE with a latent of 100 numbers (above 64: the budgets apply), as a file factory."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lin.py").write_text(LINEAR)
    np.save(tmp_path / "x.npy", np.random.default_rng(1).normal(size=(40, 20)).astype(np.float32))
    return ["diagnose", "--model", "lin.py:factory", "--data", "x.npy", "--no-iw", "--device", "cpu", "--quiet"]


def test_too_small_max_memory_is_refused_in_the_flags_words(linear_model, tmp_path, capsys):
    code, out, err = run_cli(linear_model + ["--out", "o", "--max-memory-gb", "1e-6"], capsys)
    assert_one_sentence(code, err)
    assert code == 2 and out == ""
    assert "--max-memory-gb 1e-06" in err and "GB" in err and "100 numbers" in err  # the limit and the estimate
    assert "max_memory_gb" not in err and "Budgets(" not in err  # the flag, not the Python argument
    assert not (tmp_path / "o").exists()  # refused before anything is written


def test_a_budget_flag_changes_the_result(linear_model, tmp_path, capsys):
    code, out, err = run_cli(linear_model + ["--json", "s.json", "--perturb-directions", "4"], capsys)
    assert code == 0, err
    s = json.loads((tmp_path / "s.json").read_text())
    assert len(s["perturbation"]) == 4 and s["budgets"]["perturb_directions"] == 4  # default 16
    assert s["budgets"]["gain_directions"] == 16  # the flags not given keep their defaults
    assert "pass --perturb-directions, --gain-directions" in out and "Budgets(" not in out  # the note in flags


def test_all_and_zero_mean_no_budget():
    from vaediag.cli.diagnostics import _budget_value

    every, limit = _budget_value("all"), _budget_value("none")
    assert every("all") is None and every("0") is None and every("12") == 12 and isinstance(every("12"), int)
    assert limit("none") is None and limit("0") is None and limit("0.5") == 0.5


@pytest.mark.parametrize("flag, value, words", [
    ("--perturb-directions", "1", ["--perturb-directions 1", "2", "all (no budget)"]),
    ("--max-seconds", "-1", ["--max-seconds -1", "0 (no limit)"]),
    ("--spectrum-dims", "many", ["--spectrum-dims", "'all'"]),
])
def test_bad_budget_values_are_one_sentence_naming_the_flag(linear_model, capsys, flag, value, words):
    code, _, err = run_cli(linear_model + [flag, value], capsys)
    assert_one_sentence(code, err)
    assert code == 2 and all(w in err for w in words), err


def test_budget_help_states_the_library_defaults():
    from vaediag.cli.diagnostics import BUDGET_FLAGS
    from vaediag.diagnostics import budget as B

    text = {field: help_text for _, field, _, help_text in BUDGET_FLAGS}
    assert f"default {B.PERTURB_DIRECTIONS};" in text["perturb_directions"]
    assert f"default {B.GAIN_DIRECTIONS};" in text["gain_directions"]
    assert f"default {B.SPECTRUM_DIMS};" in text["spectrum_dims"]
    assert f"default {B.MEMORY_GB:g};" in text["max_memory_gb"] and B.Budgets().max_seconds is None
    assert B.FLAT_MAX == 64  # the help's group says 64
