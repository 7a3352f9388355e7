"""The theory lab's tables (theory/tables.py): the five columns, and benchmarks/theory_table.py's
quick-beside-full table built from the same cells."""

from vaediag.api import format_table
from vaediag.theory import checks


def test_table_has_the_five_columns():
    t = format_table([checks.check("Theorem 3: x", [1.0, 0.5], "decreasing", "-", True)])
    assert [h.strip() for h in t.splitlines()[0].split(" | ")] == ["claim", "measured", "predicted", "tolerance", "verdict"]
    assert [h.strip() for h in t.splitlines()[2].split(" | ")] == ["Theorem 3: x", "[1, 0.5]", "decreasing", "-", "pass"]


def test_readme_table_script_pairs_the_quick_and_full_runs(tmp_path):
    """benchmarks/theory_table.py: one row per check, the runs' own parentheses kept apart, verdicts side
    by side, the pass counts counted; a quick run passed as the full one is refused with a sentence."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "theory_table.py"

    def run(quick, checks):
        return {"checks": checks, "config": {"quick": quick, "seed": 0}, "elapsed_seconds": 12.0,
                "rhat_table": [{"data": "swissroll (d=10)", "r": 2, "r_hat_vae": 3, "gamma": 5e-6, "mle": 1.97,
                                "twonn": 2.03, "affine": 3, "checked": True,
                                "restarts": [{"r_hat": 3, "held_out_loss": -32.671}]}]}

    q = run(True, [{"claim": "slope (4 gammas)", "measured": 3.85, "predicted": 4, "tolerance": "15%", "verdict": "pass"},
                   {"claim": "a|b", "measured": {"x": 0.5}, "predicted": 0, "tolerance": 0.1, "verdict": "pass"}])
    f = run(False, [{"claim": "slope (6 gammas)", "measured": 3.87, "predicted": 4, "tolerance": "15%", "verdict": "pass"},
                    {"claim": "a|b", "measured": {"x": 0.25}, "predicted": 0, "tolerance": 0.1, "verdict": "fail"}])
    (tmp_path / "q.json").write_text(json.dumps(q))
    (tmp_path / "f.json").write_text(json.dumps(f))
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "q.json"), str(tmp_path / "f.json")],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[2] == "| slope (quick: 4 gammas; full: 6 gammas) | 3.85 | 3.87 | 4 | 15% | pass / pass |"
    assert out[3] == "| a\\|b | x=0.5 | x=0.25 | 0 | 0.1 | pass / fail |"
    assert "| swissroll (d=10) | 2 | 3 (5e-06) | 3 (-32.67) | 1.97 | 2.03 | 3 | yes |" in out
    assert "quick: 2/2 pass, 12 s by the program's clock (seed 0)" in out
    assert "full: 1/2 pass, 12 s by the program's clock (seed 0)" in out
    bad = subprocess.run([sys.executable, str(script), str(tmp_path / "q.json"), str(tmp_path / "q.json")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "is not a full run" in bad.stderr
    (tmp_path / "broken.json").write_text("{not json")
    bad = subprocess.run([sys.executable, str(script), str(tmp_path / "q.json"), str(tmp_path / "broken.json")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "is not the JSON of" in bad.stderr
