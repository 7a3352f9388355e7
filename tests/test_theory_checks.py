"""The theory lab as a whole (theory/checks.py): the second process (denormal state, one BLAS thread, its
share of the work and its timeline) and the quick run end to end. The checks by concern: tests/test_theory_checks_*.py."""

import json

import pytest
from _theory_rows import valid_rows

from vaediag.cli import main
from vaediag.theory import checks


@pytest.mark.parametrize("flush", [True, False])
def test_denormal_state_is_detected_for_the_second_process(flush):
    import torch

    try:
        if not torch.set_flush_denormal(flush):
            pytest.skip("this CPU cannot flush denormals")
        assert checks._denormals_flushed() is flush
    finally:
        torch.set_flush_denormal(False)


@pytest.mark.slow
def test_quick_run_end_to_end(tmp_path):
    code = main(["theory", "--quick", "--json", str(tmp_path / "t.json"), "--figures", str(tmp_path / "figs")])
    doc = json.loads((tmp_path / "t.json").read_text())
    valid_rows(doc["checks"])
    assert code == (1 if any(c["verdict"] == "fail" for c in doc["checks"]) else 0)
    assert {p.name for p in (tmp_path / "figs").iterdir()} >= {"theorem1.png", "theorem2.png", "theorem3.png", "theorem4.png"}
    names = [r["data"].split()[0] for r in doc["rhat_table"]]
    assert names[:5] == ["embedding", "linear", "sphere", "torus", "swissroll"] and "mixture" in names


def test_the_second_process_runs_blas_on_one_thread():
    """Inside the second process's context every BLAS/OpenMP pool threadpoolctl sees has one thread."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from vaediag.theory.checks import _one_blas_thread

    with threadpool_limits(limits=2):  # as outside the test workers, which set one thread already
        assert any(p["num_threads"] == 2 for p in threadpool_info())
        with _one_blas_thread():
            pools = threadpool_info()
            assert pools and all(p["num_threads"] == 1 for p in pools)


def test_the_second_process_trains_its_share_and_reports_its_timeline(monkeypatch):
    """The second process's share (the other manifolds' VAEs, the held-out teachers of the last ambient
    dimension, the constructions it runs, then the mixture's VAE), only numbers sent back, and each part's start and end in seconds
    after the given start."""
    import time

    import numpy as np
    import torch

    from vaediag.theory.checks_heldout import HELDOUT_DS

    calls = []
    monkeypatch.setattr(checks, "train_others", lambda s: calls.append("others") or {"res": object(),
                                                                                    "eval": {"loss": np.zeros(5)}})
    monkeypatch.setattr(checks, "train_heldout", lambda s, d: calls.append(d) or [{"d": d}])
    monkeypatch.setattr(checks, "train_mixture", lambda s: calls.append("mixture") or {"x": np.zeros(2)})
    monkeypatch.setattr(checks, "CONSTRUCTIONS", tuple((k, (lambda k: lambda s: calls.append(k) or ([k], {k: 1}))(k))
                                                       for k, _ in checks.CONSTRUCTIONS))
    threads = torch.get_num_threads()
    try:
        oth, last, cons, mixture, times = checks._second_process(True, 0, "cpu", checks._denormals_flushed(), time.time() - 2.0)
    finally:
        torch.set_num_threads(threads)
    assert calls == ["others", HELDOUT_DS[-1], *checks.SECOND_CONSTRUCTIONS, "mixture"]
    assert oth["res"] is None and last == [{"d": HELDOUT_DS[-1]}]
    assert cons == {k: ([k], {k: 1}) for k in checks.SECOND_CONSTRUCTIONS} and mixture["x"].shape == (2,)
    assert [t[0] for t in times] == ["the other manifolds' 5 VAEs", f"the held-out teachers at d={HELDOUT_DS[-1]}",
                                     f"the constructions of {', '.join(checks.SECOND_CONSTRUCTIONS)}", "the mixture's VAE"]
    ends = [v for t in times for v in t[1:3]]
    assert 2.0 <= ends[0] and ends == sorted(ends) and ends[-1] < 60.0
    assert all(0.0 <= t[3] < 60.0 for t in times)  # CPU seconds
    assert checks._timeline([("a", 1.0, 2.5, 1.25), ("b", 2.5, 10.0, 7.0)]) == (
        "a 1.0-2.5 s (1.5 s, 1.2 s CPU); b 2.5-10.0 s (7.5 s, 7.0 s CPU)")
