"""Theorems 1, 2 and eq. (73) on their constructions (checks_constructions): every check passes for drawn
seeds, Theorem 1's error falls with t."""

import pytest
from _theory_rows import valid_rows
from hypothesis import given, settings
from hypothesis import strategies as st

from vaediag.theory import checks_constructions as checks
from vaediag.theory.checks_common import Settings


@settings(max_examples=2)
@given(seed=st.integers(0, 10_000))
def test_quick_construction_checks_pass_for_drawn_seeds(seed):
    s = Settings.make(True, seed=seed)
    rows = checks.check_eq73(s)[0] + checks.check_theorem2(s)[0]
    valid_rows(rows)
    assert all(c["verdict"] == "pass" for c in rows), [c for c in rows if c["verdict"] == "fail"]


@pytest.mark.slow
def test_theorem1_checks_pass():
    rows, art = checks.check_theorem1(Settings.make(True, seed=3))
    valid_rows(rows)
    assert all(c["verdict"] == "pass" for c in rows)
    assert art["err1"][-1] < art["err1"][0]
