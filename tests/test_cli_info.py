"""``vaediag info RUN [--json]`` and ``vaediag.info``: what a run is, how far each stage got, what to run next;
both exit statuses (a missing run 1, a bad option 2)."""

from __future__ import annotations

import json

import vaediag
from vaediag.cli import main


def test_info_says_what_a_run_is_how_far_it_got_and_what_next(tmp_path, capsys, fast_run):
    run = fast_run  # vaediag train FAST_TRAIN --quiet --out RUN (tests/conftest.py)
    assert main(["info", str(run)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{run}: manifold:sphere") and "kappa" in out[0]
    assert any(line.startswith("stage 1: done, 30 / 30 steps checkpointed") for line in out), out
    assert out[-1] == f"next: vaediag diagnose --run {run}  # no diagnosis yet: gamma's convergence, r_hat and " \
                      "the aggregated posterior"
    assert main(["info", str(run), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["stages"][0]["steps_done"] == 30 and d["stages"][0]["done"] is True and d["diagnosis"] is None
    info = vaediag.info(run)
    assert isinstance(info, vaediag.RunInfo) and isinstance(info.stages[0], vaediag.StageInfo)
    assert json.loads(json.dumps(info.to_dict())) == d
    assert main(["info", str(tmp_path / "none")]) == 1  # both sides: a missing run is 1, a bad option 2
    assert main(["info", str(run), "--bogus"]) == 2
    capsys.readouterr()
    model = vaediag.load_model(run, device="cpu")
    assert not model.training and model.cfg.latent_dim == info.latent_dim
