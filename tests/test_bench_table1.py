"""benchmarks/table1_cpu.py --quick: the Table 1 pipeline end to end (four models, two seeds, the floor),
checked against independently computed numbers, resumed after a lost score, and its usage mistakes.

The offline proxy features stand in for Inception, so the test needs no weights file; the full
benchmark's Inception path is the same code with ``InceptionFeatures``.
"""

from __future__ import annotations

import importlib.util
import json
import re
import statistics
from pathlib import Path

import numpy as np
import pytest

from _facts import says

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "table1_cpu.py"


def _bench():
    spec = importlib.util.spec_from_file_location("table1_cpu", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _fid_scipy(f1: np.ndarray, f2: np.ndarray) -> float:
    """The FID formula (Heusel et al.), written out independently: tr (S1 S2)^(1/2) as the sum of the square
    roots of the eigenvalues of S1 S2 (real and >= 0: S1 S2 is similar to S1^(1/2) S2 S1^(1/2)); at
    n = 6 both covariances are singular, where scipy's sqrtm warns."""
    m1, m2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    ev = np.linalg.eigvals(s1 @ s2).real.clip(min=0)
    return float(((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(ev).sum())


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("t1") / "quick"
    bench = _bench()
    return bench, out, bench.main(["--out", str(out), "--quick", "--features", "proxy"])


def test_quick_table_matches_the_stored_scores(quick, capsys):
    bench, out, code = quick
    assert code == 0
    scores = {p.stem: json.loads(p.read_text()) for p in (out / "scores").glob("*.json")}
    keys = ["ce", "fixed", "learned", "twostage", "floor"]
    assert sorted(scores) == sorted(f"{k}-s{s}" for k in keys for s in (0, 1))
    # the table's cells are mean ± sample std over the seeds' stored values
    text = bench.table(out, bench.QUICK, "proxy")
    for key, label in zip(keys, ["VAE (cross-entr.)", "VAE (fixed γ)", "VAE (learned γ)", "2-Stage VAE", bench.FLOOR]):
        v = [scores[f"{key}-s{s}"]["fid"] for s in (0, 1)]
        row = next(line for line in text.splitlines() if line.startswith(f"| {label} |"))
        assert f"| {statistics.mean(v):.1f} ± {statistics.stdev(v):.1f} | 2 of 2 |" in row
    # the paper's MNIST row beside ours (Table 1 of the paper)
    assert "| VAE (learned γ) |" in text and "| 47.0 ± 0.9 |" in text and "| 13.4 ± 1.3 |" in text
    # the learned runs carry the convergence verdict; the fixed and cross-entropy ones do not
    assert scores["learned-s0"]["gamma_verdict"] is not None and scores["fixed-s0"]["gamma_verdict"] is None
    assert "learned gamma converged" in text and "2-Stage < learned γ:" in text


def test_floor_is_the_fid_of_training_vs_held_out_digits(quick):
    """The floor of seed 1: its split's first n training digits against its first n held-out digits,
    recomputed here from the data set and the scipy formula."""
    import vaediag
    from vaediag.quality import ProxyFeatures

    bench, out, _ = quick
    n = bench.QUICK["n"]
    data = vaediag.load_dataset("mnist5k", seed=1, test_fraction=0.1, progress=False)
    ext = ProxyFeatures()
    f_tr = ext(data.train[:n].float() / 255).numpy().astype(np.float64)
    f_te = ext(data.test[:n].float() / 255).numpy().astype(np.float64)
    stored = json.loads((out / "scores" / "floor-s1.json").read_text())["fid"]
    assert stored == pytest.approx(_fid_scipy(f_tr, f_te), rel=1e-5)


def test_a_rerun_redoes_only_what_is_missing(quick, capsys):
    bench, out, _ = quick
    lost = out / "scores" / "twostage-s1.json"
    before = json.loads(lost.read_text())["fid"]
    kept = {p: p.stat().st_mtime_ns for p in (out / "scores").iterdir() if p != lost}
    lost.unlink()  # as if the benchmark had been killed while scoring it
    capsys.readouterr()
    assert bench.main(["--out", str(out), "--quick", "--features", "proxy"]) == 0
    log = capsys.readouterr().out
    assert "trained" not in log and "floor seed" not in log
    assert re.findall(r"scored (\w+ seed \d)", log) == ["twostage seed 1"], log
    assert json.loads(lost.read_text())["fid"] == pytest.approx(before, rel=1e-9)  # same samples, same score
    assert {p: p.stat().st_mtime_ns for p in kept} == kept


@pytest.mark.parametrize("args, words", [
    (["--quick"], ("--out",)),
    (["--out", "X", "--n", "1"], ("--n", "2", "500")),
    (["--out", "X", "--seeds", "1"], ("--seeds", "2")),
    (["--out", "X", "--features", "fid"], ("--features",)),
])
def test_usage_mistakes_get_one_sentence_and_exit_2(tmp_path, capsys, args, words):
    args = [str(tmp_path / "o") if a == "X" else a for a in args]
    assert _bench().main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and says(err, *words) and err.endswith(".")
    assert not (tmp_path / "o").exists()


def test_other_settings_in_the_same_folder_are_refused(quick, capsys):
    bench, out, _ = quick
    capsys.readouterr()
    assert bench.main(["--out", str(out), "--quick", "--features", "proxy", "--seeds", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and says(err, out, "--out")


def test_time_left_is_the_work_left_at_the_measured_rates(tmp_path):
    """2 seeds, n = 10, 100 + 50 steps: per seed 20 floor images, 3 runs of 100 steps (one with 50 stage-2
    steps) and 4 scores of 10 images; after seed 0's floor and ce run, the rest at the given rates."""
    bench = _bench()
    s = dict(bench.SCHEDULE, seeds=2, n=10, steps=100, stage2_steps=50)
    clock = bench.Clock(s, {"floor-s0"})
    clock.finish("train-ce-s0", step=4.0, image=2.0)
    clock.rate["step2"] = 10.0
    steps, steps2, images = 100 * 5, 50 * 2, 20 + 4 * 10 * 2
    assert clock.left() == pytest.approx(steps / 4.0 + steps2 / 10.0 + images / 2.0)
    clock.finish("train-fixed-s0", step=2.0)  # a second measurement is averaged with the first
    assert clock.rate["step"] == pytest.approx(3.0)


def test_orderings_count_seeds_and_compare_means(tmp_path):
    bench = _bench()
    scores = tmp_path / "scores"
    fids = {"twostage": [60, 70, 90], "learned": [100, 65, 95], "fixed": [130, 140, 120], "ce": [80, 85, 200]}
    for key, v in fids.items():
        for seed, f in enumerate(v):
            bench.write_json(scores / f"{key}-s{seed}.json", {"fid": f})
    lines = bench.orderings(bench.collect(tmp_path, 3), 3)
    assert "2-Stage < learned γ: holds for the means (73.3 vs 86.7), in 2 of 3 seeds" in lines
    assert "learned γ < fixed γ: holds for the means (86.7 vs 130.0), in 3 of 3 seeds" in lines
    assert "cross-entr. < learned γ: does not hold for the means (121.7 vs 86.7), in 1 of 3 seeds" in lines


def test_missing_inception_weights_stop_before_any_work(tmp_path, capsys):
    assert _bench().main(["--out", str(tmp_path / "o"), "--quick", "--inception", str(tmp_path / "none.pt")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and says(err, "none.pt") and "resume" not in err
    assert not (tmp_path / "o").exists()



def _add_ceiling(bench, out):
    """The ceiling (--models posterior) added to the quick folder by a later call: no training, its scores only."""
    return bench.main(["--out", str(out), "--quick", "--features", "proxy", "--models", "learned,posterior"])


def test_a_later_call_adds_models_to_the_folder(quick, capsys):
    bench, out, _ = quick
    capsys.readouterr()
    assert _add_ceiling(bench, out) == 0
    log = capsys.readouterr().out
    assert "trained" not in log and "floor seed" not in log
    assert set(re.findall(r"scored (\w+) seed", log)) <= {"posterior"}
    assert sorted(p.stem for p in (out / "scores").glob("posterior-*.json")) == ["posterior-s0", "posterior-s1"]
    table = log[log.index("| model |"):]  # the table printed for the models asked for
    assert "| VAE (fixed γ) |" not in table and "| ceiling: learned-γ decoder on z ~ q(z|x) |" in table


def test_stage2_gamma_z_verdict_is_the_reports_rule(quick):
    import vaediag
    from vaediag.diagnostics.gamma import gamma_verdict

    bench, out, _ = quick
    m = vaediag.open_run(out / "runs" / "learned-s0").read_metrics(2)
    stored = json.loads((out / "scores" / "twostage-s0.json").read_text())["gamma_z_verdict"]
    assert stored == json.loads(json.dumps(gamma_verdict(m["step"], m["log_gamma"])))
    assert "stage 2's gamma_z converged" in bench.table(out, bench.QUICK, "proxy")


def test_the_ceiling_decodes_posterior_draws_of_training_digits(quick):
    """posterior-s1: the learned-γ decoder on z = mu + exp(logvar / 2) e of n training digits picked by a
    permutation of the seed's generator, recomputed here and scored with the same features."""
    import torch

    import vaediag
    from vaediag.quality import ProxyFeatures, frechet_distance, gaussian_stats

    bench, out, _ = quick
    assert _add_ceiling(bench, out) == 0  # (a no-op when the test above has run first)
    n = bench.QUICK["n"]
    run = vaediag.open_run(out / "runs" / "learned-s1")
    mu, logvar = (torch.from_numpy(a) for a in run.load_posteriors())
    gen = torch.Generator().manual_seed(1001)
    idx = torch.randperm(len(mu), generator=gen)[:n]
    e = torch.randn(n, mu.shape[1], generator=gen)
    with torch.no_grad():
        x = run.load_model(1, "cpu").decode(mu[idx] + torch.exp(0.5 * logvar[idx]) * e).numpy()
    with np.load(out / "scores" / "real-s1.npz") as f:
        real = f["mu"], f["sigma"]
    feats = ProxyFeatures()(torch.as_tensor(x)).numpy().astype(np.float64)
    fid = frechet_distance(*gaussian_stats(feats), *real)
    assert json.loads((out / "scores" / "posterior-s1.json").read_text())["fid"] == pytest.approx(fid, rel=1e-6)


def test_the_zmean_ablation_decodes_stage2_means_of_the_2stage_rows_u(quick):
    """zmean-s1: x = mu_x(mu_z(u)) with u the first draw of the seed's generator, the u of the 2-Stage row's
    samples: recomputed here from the two networks and scored with the same features; and the 2-Stage row's
    samples, recomputed with the noise gamma_z^(1/2) e drawn after u, differ from it by exactly that noise."""
    import torch

    import vaediag
    from vaediag.quality import ProxyFeatures, frechet_distance, gaussian_stats

    bench, out, _ = quick
    assert bench.main(["--out", str(out), "--quick", "--features", "proxy", "--models", "learned,zmean"]) == 0
    n = bench.QUICK["n"]
    run = vaediag.open_run(out / "runs" / "learned-s1")
    model, stage2 = run.load_model(1, "cpu"), run.load_model(2, "cpu")
    gen = torch.Generator().manual_seed(1001)
    u = torch.randn(n, stage2.cfg.latent_dim, generator=gen)
    e = torch.randn(n, stage2.cfg.latent_dim, generator=gen)
    with torch.no_grad():
        z = stage2.decode(u)
        x = model.decode(z).numpy()
        noisy = model.decode(z + torch.exp(0.5 * stage2.log_gamma) * e).numpy()
    np.testing.assert_allclose(noisy, vaediag.sample(run, stage=2, n=n, seed=1001), rtol=1e-5, atol=1e-6)
    with np.load(out / "scores" / "real-s1.npz") as f:
        real = f["mu"], f["sigma"]
    feats = ProxyFeatures()(torch.as_tensor(x)).numpy().astype(np.float64)
    fid = frechet_distance(*gaussian_stats(feats), *real)
    assert json.loads((out / "scores" / "zmean-s1.json").read_text())["fid"] == pytest.approx(fid, rel=1e-6)
    assert "| ablation: 2-Stage with z = mu_z(u) (no gamma_z noise) |" in bench.table(out, bench.QUICK, "proxy",
                                                                                      ("learned", "zmean"))


def test_ratio_is_per_seed_2stage_over_learned_beside_the_papers(tmp_path):
    bench = _bench()
    for key, v in {"twostage": [60, 70, 90], "learned": [100, 70, 120]}.items():
        for seed, f in enumerate(v):
            bench.write_json(tmp_path / "scores" / f"{key}-s{seed}.json", {"fid": f})
    line = bench.ratio_line(bench.collect(tmp_path, 3))
    r = [0.6, 1.0, 0.75]
    assert line == (f"2-Stage / learned γ FID: {statistics.mean(r):.2f} ± {statistics.stdev(r):.2f} "
                    f"(per seed 0.60, 1.00, 0.75); paper {13.4 / 47.0:.2f}")


def test_default_schedule_is_the_first_tables_and_long_stage2_is_longer(tmp_path):
    bench = _bench()
    a, s = bench.parse(["--out", str(tmp_path / "o")])
    assert s == bench.SCHEDULE and s["stage2_steps"] == 1600 and a.models == bench.DEFAULT_KEYS
    a, s = bench.parse(["--out", str(tmp_path / "o"), "--schedule", "long-stage2", "--models", "learned, twostage"])
    assert s == dict(bench.SCHEDULE, stage2_steps=bench.STAGE2_LONG_STEPS, stage2_halve_every=bench.STAGE2_LONG_HALVE)
    assert s["stage2_steps"] >= 2 * s["steps"] and a.models == ("learned", "twostage")  # the paper's 2:1 at least


def test_unknown_models_get_one_sentence(tmp_path, capsys):
    assert _bench().main(["--out", str(tmp_path / "o"), "--models", "learned,vae"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--models" in err and "'learned,vae'" in err
    assert not (tmp_path / "o").exists()
