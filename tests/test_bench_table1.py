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
