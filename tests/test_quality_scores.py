"""The typed quality results: read by attribute, and their JSON exactly the dicts ``vaediag fid`` wrote
before they existed (written out by hand here)."""

import dataclasses
import json

import pytest

from vaediag.quality.evaluate import Protocol
from vaediag.quality.scores import RunScores, ScoredModel, Score, SourceScore, Spread


def _spread(mean, std, n=30):
    return {"mean": mean, "std": std, "values": [mean - std, mean + std], "n": n}


def _protocol(**kw):
    return {"features": "proxy-randconv-v1:seed0", "preprocess": "p", "dataset": "mnist5k", "split_seed": 0,
            "test_fraction": 0.1, "n": 30, "seeds": 2, "seed": 0, "generated_norm": "none", "real": "r",
            "recon": "x", "std": "s", "fid_method": "eigh", **kw}


RUN_DICT = {  # the layout evaluate_run returns and RUN/quality/fid.json stores
    "stage1": {**_spread(62.0, 0.5), "kid": _spread(1.1, 0.01)},
    "recon": {**_spread(63.0, 0.1), "kid": _spread(1.2, 0.02), "mse": _spread(0.22, 0.001)},
    "metric": "proxy-fd", "proxy": True, "notes": ["stage2 skipped: the run has no stage-2 model"],
    "protocol": _protocol(), "real_stats_cached": False, "run": "/runs/r",
    "model": {"gamma_mode": "learned", "gamma_init": 1.0, "decoder": "gaussian", "arch": "mlp", "gamma": 0.5},
    "elapsed_seconds": 1.5, "time": "2026-01-01T00:00:00+0000",
}


def test_run_scores_read_by_attribute_and_write_the_same_json():
    r = RunScores.from_dict(json.loads(json.dumps(RUN_DICT)), path="/runs/r/quality/proxy.json")
    assert r.stage1.fid == Spread(mean=62.0, std=0.5, values=(61.5, 62.5), n=30)
    assert r.stage1.kid.mean == 1.1 and r.stage1.mse is None and r.stage2 is None
    assert r.recon.mse.mean == 0.22 and list(r.sources) == ["stage1", "recon"]
    assert r.protocol == Protocol(**_protocol()) and r.protocol.n == 30
    assert r.model == ScoredModel(gamma_mode="learned", gamma_init=1.0, decoder="gaussian", arch="mlp", gamma=0.5)
    assert r.notes == ("stage2 skipped: the run has no stage-2 model",) and r.proxy and r.metric == "proxy-fd"
    assert r.path == "/runs/r/quality/proxy.json"
    assert r.to_dict() == RUN_DICT  # "path" is where the JSON went, not part of it
    assert RunScores.from_dict(r.to_dict(), path=r.path) == r
    assert "proxy FD (not FID)" in str(r) and "stage1 62 ± 0.5" in str(r)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.metric = "fid"


def test_run_scores_read_an_older_file_without_kid_or_fid_method():
    old = json.loads(json.dumps(RUN_DICT))
    old["stage1"].pop("kid")
    old["protocol"].pop("fid_method")
    r = RunScores.from_dict(old)
    assert r.stage1.kid is None and r.protocol.fid_method == "eigh" and r.path is None
    assert r.to_dict()["stage1"] == _spread(62.0, 0.5)


SETS_DICT = {  # the layout score_sets returns (without images / reference)
    "fid": 0.75, "kid": {"mean": -5e-5, "std": 3e-4, "subsets": 5, "subset_size": 15,
                         "subset_size_note": "subsets of 15 (half of the smaller set, 30): ..."},
    "n_images": 30, "n_reference": 40, "features": "proxy-randconv-v1:seed0", "proxy": True,
    "metric": "proxy-fd", "notes": ["fewer images (30) than feature dimensions (224): ..."],
    "elapsed_seconds": 1.6,
}


def test_score_from_sets_keeps_every_note_and_writes_the_cli_json():
    s = Score.from_sets(SETS_DICT, notes=("first",), images="a.npy", reference="b.npy")
    assert (s.fid, s.kid, s.kid_std, s.kid_subsets, s.kid_subset_size) == (0.75, -5e-5, 3e-4, 5, 15)
    assert s.notes == ("first", SETS_DICT["notes"][0], SETS_DICT["kid"]["subset_size_note"])
    assert s.kid_subset_size_note == SETS_DICT["kid"]["subset_size_note"]
    assert s.to_dict() == {**SETS_DICT, "notes": ["first", *SETS_DICT["notes"]], "images": "a.npy",
                           "reference": "b.npy"}
    assert Score.from_dict(s.to_dict()) == s
    assert str(s) == "proxy FD (not FID) 0.75, KID -5e-05 ± 0.0003 (5 subsets of 15; 30 vs 40 images)"


def test_a_score_without_a_subset_note():
    d = {**SETS_DICT, "kid": {**SETS_DICT["kid"], "subset_size_note": None}, "notes": []}
    s = Score.from_sets(d)
    assert s.notes == () and s.kid_subset_size_note is None and s.images is None
    assert s.to_dict()["kid"]["subset_size_note"] is None and s.to_dict()["notes"] == []


def test_source_score_layout():
    src = SourceScore(fid=Spread(1.0, 0.0, (1.0,), 5), mse=Spread(0.1, 0.0, (0.1,), 5))
    assert src.to_dict() == {"mean": 1.0, "std": 0.0, "values": [1.0], "n": 5,
                             "mse": {"mean": 0.1, "std": 0.0, "values": [0.1], "n": 5}}
    assert SourceScore.from_dict(src.to_dict()) == src and SourceScore.from_dict(None) is None
