"""`vaediag demo`: what it trains, what it writes, and how it refuses bad input."""

import json

import pytest

from _facts import says
from vaediag.cli import main
from vaediag.engine.config import PRESETS

PNG = b"\x89PNG\r\n\x1a\n"


def _one_sentence(capsys, argv) -> tuple[int, str]:
    code = main(argv)
    err = capsys.readouterr().err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert code != 0 and len(lines) == 1 and "Traceback" not in err, err
    return code, lines[0]


def test_demo_refuses_a_non_empty_out_and_leaves_it_alone(tmp_path, capsys):
    out = tmp_path / "demo"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    code, line = _one_sentence(capsys, ["demo", "--out", str(out), "--steps", "2", "--quiet"])
    assert code == 1 and says(line, out, "--out")
    assert [p.name for p in out.iterdir()] == ["mine.txt"] and (out / "mine.txt").read_text() == "keep me"
    f = tmp_path / "file"
    f.write_text("x")
    assert _one_sentence(capsys, ["demo", "--out", str(f)])[0] == 1
    assert f.read_text() == "x"


@pytest.mark.parametrize("argv", [
    ["--out", "OUT", "--runs", "R"],          # --out or --runs/--figures
    ["--out", "OUT", "--steps", "0"],          # a step count must be positive
    ["--out", "OUT", "--stage2-steps", "-3"],
])
def test_demo_usage_errors_exit_2(tmp_path, capsys, argv):
    argv = [str(tmp_path / "o") if a == "OUT" else a for a in argv]
    assert _one_sentence(capsys, ["demo", *argv])[0] == 2
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_demo_with_few_steps_writes_its_figures_and_report(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--steps", "20", "--stage2-steps", "20", "--quiet"]) == 0
    assert "wrote" in capsys.readouterr().err
    figures = out / "figures"
    for name in ("samples", "reconstructions", "figure1", "figure9", "figure10"):
        png = (figures / f"{name}.png").read_bytes()
        assert png[:8] == PNG and len(png) > 5000, name
    html = (figures / "report.html").read_text()
    assert html.lstrip().lower().startswith("<!doctype html") and "data:image/png;base64," in html
    # the learned run is the preset's (with the step counts given), the fixed one its gamma = 1 twin
    learned = json.loads((out / "runs" / "learned" / "config.json").read_text())
    fixed = json.loads((out / "runs" / "fixed" / "config.json").read_text())
    preset = PRESETS["cpu-mnist5k"]
    for cfg in (learned, fixed):
        assert cfg["model"]["arch"] == preset["arch"] and cfg["model"]["latent_dim"] == preset["latent_dim"]
        assert cfg["train"]["gamma_lr_scale"] == preset["gamma_lr_scale"] and cfg["train"]["stage1"]["lr"] == preset["lr"]
        assert cfg["train"]["stage1"]["steps"] == 20
    assert (learned["model"]["gamma_mode"], learned["train"]["stages"], learned["train"]["stage2"]["steps"]) == \
        ("learned", "12", 20)
    assert (fixed["model"]["gamma_mode"], fixed["model"]["gamma_init"], fixed["train"]["stages"]) == ("fixed", 1.0, "1")
    summary = json.loads((out / "runs" / "learned" / "diagnostics" / "summary.json").read_text())
    assert summary["tau_count_by_tau"] and len(summary["perturbation"]) >= 5
    # a second demo into the same --out is refused; with --runs/--figures the finished runs are reused
    code, line = _one_sentence(capsys, ["demo", "--out", str(out), "--quiet"])
    assert code == 1 and says(line, out, "--out")
    before = (out / "runs" / "learned" / "stage1" / "checkpoint.pt").stat().st_mtime_ns
    assert main(["demo", "--runs", str(out / "runs"), "--figures", str(tmp_path / "again"), "--quiet"]) == 0
    assert "reusing the finished run" in capsys.readouterr().err
    assert (out / "runs" / "learned" / "stage1" / "checkpoint.pt").stat().st_mtime_ns == before
    assert (tmp_path / "again" / "figure1.png").read_bytes()[:8] == PNG
