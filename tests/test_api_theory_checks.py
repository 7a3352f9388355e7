"""vaediag.check_theory and the theory verb's file checks refuse bad arguments before the lab runs;
save_theory writes what it was given (the lab's numbers are tested in tests/test_theory_*.py)."""

from __future__ import annotations

import json

import pytest

from vaediag.api.theory_checks import check_theory, check_theory_outputs, save_theory
from vaediag.errors import UsageError, VaediagError


@pytest.mark.parametrize("kwargs, word", [(dict(seed=-1), "seed=-1"), (dict(threads=0), "threads=0"),
                                          (dict(device="no-such-device"), "no-such-device")])
def test_check_theory_refuses_bad_arguments_before_any_work(kwargs, word):
    with pytest.raises(UsageError, match=word):
        check_theory(quick=True, **kwargs)


def test_outputs_that_could_not_be_written_are_refused_first(tmp_path):
    with pytest.raises(VaediagError, match="does not exist"):
        check_theory_outputs(str(tmp_path / "absent" / "t.json"), None)
    with pytest.raises(UsageError, match="is a folder"):
        check_theory_outputs(str(tmp_path), None)
    (tmp_path / "f").write_text("")
    with pytest.raises(UsageError, match="is a file"):
        check_theory_outputs(None, str(tmp_path / "f"))
    check_theory_outputs(str(tmp_path / "t.json"), str(tmp_path / "figs"))  # writable: no error


def test_save_theory_writes_the_checks_and_tables_it_is_given(tmp_path):
    checks = [{"claim": "c", "measured": 1.0, "predicted": 1.0, "tolerance": 0.1, "verdict": "pass"}]
    artifacts = {"estimators": {"rows": [{"manifold": "m", "r": 2}], "reported": []}}
    written = save_theory(checks, artifacts, tmp_path / "t.json", None, {"quick": True}, 1.5)
    doc = json.loads((tmp_path / "t.json").read_text())
    assert written == [tmp_path / "t.json"]
    assert doc["checks"] == checks and doc["rhat_table"] == [{"manifold": "m", "r": 2}]
    assert doc["config"] == {"quick": True} and doc["elapsed_seconds"] == 1.5 and doc["reported"] == []
