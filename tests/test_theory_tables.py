"""The theory lab's tables (theory/tables.py): the five columns, and benchmarks/theory_table.py's
quick-beside-full table built from the same cells."""

from vaediag.theory.tables import format_table
from vaediag.theory import separation


def test_table_has_the_claim_its_alternative_the_margin_and_the_standard_error():
    t = format_table([separation.check_point("Theorem 3: x", 3.375, 3.5, [4.0, 3.0], 0.125),
                      {"claim": "old JSON row", "measured": 1.0, "predicted": 1, "tolerance": 0.1, "verdict": "pass"}])
    assert [h.strip() for h in t.splitlines()[0].split(" | ")] == ["claim", "measured", "predicted", "alternative",
                                                                  "margin", "se", "verdict"]
    assert [h.strip() for h in t.splitlines()[2].split(" | ")] == ["Theorem 3: x", "3.38", "3.5", "3", "0.25", "0.125",
                                                                  "pass"]
    assert [h.strip() for h in t.splitlines()[3].split(" | ")] == ["old JSON row", "1", "1", "-", "-", "-", "pass"]


def test_table_script_writes_the_results_page_from_the_quick_and_full_runs(tmp_path):
    """benchmarks/theory_table.py: one row per check with margins and 2 se, the runs' own parentheses kept apart,
    verdicts side by side, held-out pass rates and failures, the counts counted; a quick run passed as the full
    one is refused with a sentence; --out writes the page."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "theory_table.py"

    def run(quick, checks):
        return {"checks": checks, "config": {"quick": quick, "seed": 0, "threads": 1, "jobs": 2}, "elapsed_seconds": 12.0,
                "rhat_table": [{"data": "swissroll (d=10)", "r": 2, "r_hat_vae": 3, "gamma": 5e-6, "mle": 1.97,
                                "twonn": 2.03, "affine": 3, "checked": True,
                                "restarts": [{"r_hat": 3, "held_out_loss": -32.671}]}],
                "reported": [{"data": "sphere (d=10)", "measured": {"r_hat": 3}, "reason": "no chart"}]}

    def ho(rates, fails, verdict, n):
        return {"claim": f"eq. (9): r_hat = r on held-out teachers (r=6; {n} teachers), mean r_hat", "measured": 5.5, "predicted": 6,
                "alternative": 5, "margin": 0.0, "se": 0.34, "verdict": verdict, "pass_rate_by_d": rates,
                "r_hat": [6, 5, 6, 6], "failures": fails}

    fail = {"d": 10, "embed_seed": 7003, "r_hat": 5, "gamma": 0.031, "enc_var": [0.025, 0.185, 0.987]}
    q = run(True, [{"claim": "slope (4 gammas)", "measured": 3.85, "predicted": 4, "alternative": 3.5, "margin": 0.2,
                    "se": 0.05, "verdict": "pass"},
                   {"claim": "a|b", "measured": {"x": 0.5}, "predicted": 0, "tolerance": 0.1, "verdict": "pass"},
                   ho({"d=10": 0.5, "d=16": 1.0}, [fail], "fail", 4)])
    f = run(False, [{"claim": "slope (6 gammas)", "measured": 3.87, "predicted": 4, "alternative": 3.5, "margin": 0.24,
                     "se": 0.15, "verdict": "inconclusive"},
                    {"claim": "a|b", "measured": {"x": 0.25}, "predicted": 0, "tolerance": 0.1, "verdict": "fail"},
                    ho({"d=10": 1.0, "d=16": 1.0}, [], "pass", 6)])
    (tmp_path / "q.json").write_text(json.dumps(q))
    (tmp_path / "f.json").write_text(json.dumps(f))
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "q.json"), str(tmp_path / "f.json")],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert ("| slope (quick: 4 gammas; full: 6 gammas) | 4 | 3.5 | 3.85 | 0.2 (2 se 0.1) | 3.87 | 0.24 (2 se 0.3) | "
            "pass / inconclusive |") in out
    assert "| a\\|b | 0 | - | x=0.5 | tolerance 0.1 | x=0.25 | tolerance 0.1 | pass / fail |" in out
    assert any(line.startswith("| eq. (9): r_hat = r on held-out teachers (quick: r=6; 4 teachers; full: r=6; 6 teachers), "
                               "mean r_hat | 6 | 5 |") for line in out)  # a parenthesis inside the claim
    assert "| 6 | 4 / 4 | d=10: 50%, d=16: 100% | d=10: 100%, d=16: 100% | [6, 5, 6, 6] | fail / pass |" in out
    assert ("- quick, r = 6, d = 10, embed seed 7003: r_hat 5, gamma 0.031, encoder variances [0.025, 0.185, 0.987]"
            in out)
    assert "| swissroll (d=10) | 2 | 3 (5e-06) | 3 (-32.67) | 1.97 | 2.03 | 3 | yes |" in out
    assert "- sphere (d=10): r_hat=3. Reason: no chart" in out
    assert "- quick: 2/3 pass, 1 fail, 12 s by the program's clock (seed 0)" in out
    assert "- full: 1/3 pass, 1 inconclusive, 1 fail, 12 s by the program's clock (seed 0)" in out
    subprocess.run([sys.executable, str(script), str(tmp_path / "q.json"), str(tmp_path / "f.json"), "--out",
                    str(tmp_path / "theory.md")], check=True)
    assert (tmp_path / "theory.md").read_text().splitlines() == out
    bad = subprocess.run([sys.executable, str(script), str(tmp_path / "q.json"), str(tmp_path / "q.json")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "is not a full run" in bad.stderr
    (tmp_path / "broken.json").write_text("{not json")
    bad = subprocess.run([sys.executable, str(script), str(tmp_path / "q.json"), str(tmp_path / "broken.json")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "is not the JSON of" in bad.stderr
