import json

import pytest
from hypothesis import given, settings, strategies as st

from vaediag.cli import main
from vaediag.theory import checks
from vaediag.cli.theory import format_table

FIELDS = {"claim", "measured", "predicted", "tolerance", "verdict"}
NAMED = ("Theorem 1", "Theorem 2", "Theorem 3", "Theorem 4", "eq. (8)", "eq. (9)", "eq. (73)", "two-stage (section 4)")


def _valid(rows):
    for c in rows:
        assert FIELDS <= set(c) and c["verdict"] in ("pass", "fail")
        assert any(name in c["claim"] for name in NAMED), c["claim"]
    json.dumps(rows)


@settings(max_examples=2)
@given(seed=st.integers(0, 10_000))
def test_quick_construction_checks_pass_for_drawn_seeds(seed):
    s = checks.Settings.make(True, seed=seed)
    rows = checks.check_eq73(s)[0] + checks.check_theorem2(s)[0]
    _valid(rows)
    assert all(c["verdict"] == "pass" for c in rows), [c for c in rows if c["verdict"] == "fail"]


@pytest.mark.slow
def test_theorem1_checks_pass():
    rows, art = checks.check_theorem1(checks.Settings.make(True, seed=3))
    _valid(rows)
    assert all(c["verdict"] == "pass" for c in rows)
    assert art["err1"][-1] < art["err1"][0]


def test_check_fails_when_the_number_is_off():
    c = checks.check("eq. (8): slope", 2.0, 4.0, "15%", abs(2.0 / 4.0 - 1) < 0.15)
    assert c["verdict"] == "fail"


def test_table_has_the_five_columns():
    t = format_table([checks.check("Theorem 3: x", [1.0, 0.5], "decreasing", "-", True)])
    assert [h.strip() for h in t.splitlines()[0].split(" | ")] == ["claim", "measured", "predicted", "tolerance", "verdict"]
    assert [h.strip() for h in t.splitlines()[2].split(" | ")] == ["Theorem 3: x", "[1, 0.5]", "decreasing", "-", "pass"]


@pytest.mark.parametrize("argv,needle", [
    (["theory", "--seed", "-1"], "--seed must be a non-negative integer"),
    (["theory", "--json", "/nonexistent-dir/x.json"], "does not exist"),
    (["theory", "--threads", "0"], "--threads must be at least 1"),
    (["theory", "--device", "cuda"], "no CUDA device"),
    (["theory", "--seed", "abc"], "invalid int value"),
])
def test_bad_arguments_give_one_line_and_exit_2(argv, needle, capsys):
    with pytest.raises(SystemExit) as e:
        code = main(argv)
        raise SystemExit(code)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "Traceback" not in err and len(err.splitlines()) == 1


@pytest.mark.slow
def test_quick_run_end_to_end(tmp_path):
    code = main(["theory", "--quick", "--json", str(tmp_path / "t.json"), "--figures", str(tmp_path / "figs")])
    doc = json.loads((tmp_path / "t.json").read_text())
    _valid(doc["checks"])
    assert code == (1 if any(c["verdict"] == "fail" for c in doc["checks"]) else 0)
    assert {p.name for p in (tmp_path / "figs").iterdir()} >= {"theorem1.png", "theorem2.png", "theorem3.png", "theorem4.png"}
    names = [r["data"].split()[0] for r in doc["rhat_table"]]
    assert names[:5] == ["embedding", "linear", "sphere", "torus", "swissroll"] and "mixture" in names


def test_theory_verb_is_registered(capsys):
    assert main(["theory", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--quick" in out and "Exit status 0 if every check passes, 1 if any fails" in out.replace("\n", " ").replace("  ", " ")
