"""The typed Diagnosis: save / load round trip, files of earlier releases (tests/data, written by 0.4's code
and by hand in the pre-0.3 key set), one sentence for a file that is not a diagnosis or of an unknown schema,
nothing overwritten."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from _facts import facts
from _lingauss import LinearGaussianDiagVAE
from vaediag.diagnostics import diagnose
from vaediag.diagnostics.result import SCHEMA_VERSION, Diagnosis
from vaediag.diagnostics.sections import GammaResult, LatentUsage
from vaediag.errors import UsageError, VaediagError

DATA = Path(__file__).parent / "data"


def test_a_summary_written_by_0_4_loads_with_its_numbers():
    raw = json.loads((DATA / "diagnosis_v1" / "summary.json").read_text())
    d = Diagnosis.load(DATA / "diagnosis_v1")
    assert d.provenance.schema_version == SCHEMA_VERSION and "schema_version" not in raw
    assert d.usage.r_hat == raw["r_hat"] == 2 and d.model.latent_dim == 3
    np.testing.assert_allclose(d.usage.lambda_mean, raw["lambda_mean"])
    assert d.gamma.value == raw["gamma"] and d.gamma.effective == pytest.approx(raw["gamma_effective"])
    assert d.collapse.kl_total == raw["kl_total"] and d.likelihood.mean == raw["iw_log_likelihood"]["mean"]
    assert [r.lam for r in d.perturbations.rows] == [p["lambda"] for p in raw["perturbation"]]
    assert d.spectra.gap_stage1 == raw["spectrum_gap"]["stage1"] and d.spectra.stage2 is None
    assert d.usage.used_fraction is None and d.usage.partly_used == ()  # not measured before schema 2
    assert d.usage.hist_counts.sum() == 40 * 3 and d.gamma.trajectory is None


def test_a_run_summary_and_a_pre_0_3_summary_load():
    run = Diagnosis.load(DATA / "diagnosis_v1_run")
    assert run.gamma.trajectory.converged is True and run.provenance.settings.n == 40
    assert run.provenance.config["arch"] == "mlp" and run.gamma.regime == "learned-small"
    old = Diagnosis.load(DATA / "diagnosis_v0")  # active_dims / threshold / r_hat_by_threshold
    assert old.usage.tau_count == 2 and old.usage.tau == 0.1 and old.usage.tau_count_by_tau["0.05"] == 2
    assert old.usage.r_hat == 2  # derived from the saved mean lambda_j
    assert old.collapse.kl_total is None and old.likelihood is None and old.effective_fit is None
    assert any("r_hat = 2 of 3" in v for v in old.verdict)


def test_save_and_load_round_trip(tmp_path):
    m = LinearGaussianDiagVAE([3.0, 0.5, 0.0], 0.05)
    d = diagnose(m, m.sample(30), iw_k=3, iw_n=10, mi_n=30)
    back = Diagnosis.load(d.save(tmp_path / "d"))
    assert back.to_dict() == d.to_dict()
    for k, a in d.to_arrays().items():
        np.testing.assert_array_equal(back.to_arrays()[k], a)
    assert json.loads((tmp_path / "d" / "summary.json").read_text())["schema_version"] == SCHEMA_VERSION
    again = Diagnosis.load(back.save(tmp_path / "e"))
    assert again.to_dict() == d.to_dict()


def test_unknown_schema_and_not_a_diagnosis_get_one_sentence_and_nothing_is_overwritten(tmp_path):
    folder = tmp_path / "d"
    shutil.copytree(DATA / "diagnosis_v1", folder)
    s = json.loads((folder / "summary.json").read_text())
    (folder / "summary.json").write_text(json.dumps({**s, "schema_version": 99}))
    with pytest.raises(VaediagError, match=facts("summary.json", "schema_version", 99, "upgrade")) as e:
        Diagnosis.load(folder)
    assert str(folder) in str(e.value) and "\n" not in str(e.value)
    (folder / "summary.json").write_text(json.dumps({"checks": []}))  # a theory lab's JSON
    with pytest.raises(VaediagError, match=facts(folder, "lambda_mean")):
        Diagnosis.load(folder)
    (folder / "summary.json").write_text("{not json")
    with pytest.raises(VaediagError, match=facts(folder / "summary.json", "JSONDecodeError")):
        Diagnosis.load(folder)
    assert Diagnosis.load(tmp_path / "none", missing_ok=True) is None
    with pytest.raises(VaediagError, match=facts(tmp_path / "none")):
        Diagnosis.load(tmp_path / "none")
    d = Diagnosis.load(DATA / "diagnosis_v1")
    before = (folder / "summary.json").read_bytes()
    with pytest.raises(UsageError, match="overwrite=True"):
        d.save(folder)
    assert (folder / "summary.json").read_bytes() == before


def test_fields_are_typed_documented_and_shown_by_help():
    d = Diagnosis.load(DATA / "diagnosis_v1")
    assert isinstance(d.gamma, GammaResult) and isinstance(d.usage, LatentUsage)
    assert isinstance(d.usage.lambda_mean, np.ndarray) and isinstance(d.usage.r_hat_range, tuple)
    with pytest.raises(AttributeError):
        d.usage.r_hat = 3  # frozen
    doc = GammaResult.__doc__
    assert "value_01 ([0, 1] units^2" in doc and "value (model units^2" in doc
    summary, arrays = d  # the pair of earlier releases
    assert summary["r_hat"] == 2 and "lambda_mean" in arrays
    copy = d.with_provenance(source="reused")
    assert copy.provenance.source == "reused" and d.provenance.source is None and "source" not in copy.to_dict()


def test_run_settings_match_what_is_asked_and_a_whole_set_answers_larger_n():
    from vaediag.diagnostics.result import RunSettings

    part = RunSettings(n=200, all_inputs=False, tau=0.1, seed=0)
    whole = RunSettings(n=270, all_inputs=True, tau=0.1, seed=0)
    assert part.matches(200, 0.1, 0) and not part.matches(100, 0.1, 0) and not part.matches(None, 0.1, 0)
    assert not part.matches(200, 0.2, 0) and not part.matches(200, 0.1, 1)
    assert whole.matches(270, 0.1, 0) and whole.matches(10000, 0.1, 0) and whole.matches(None, 0.1, 0)
    assert not whole.matches(100, 0.1, 0)  # the first 100 inputs are another diagnosis
    assert not RunSettings(n=None, all_inputs=None, tau=None, seed=None).matches(None, 0.1, 0)
    assert part.text() == "n=200, tau=0.1, seed=0"


def test_settings_keep_their_file_form_and_active_budgets_name_the_ones_that_acted():
    from vaediag.diagnostics.result import Diagnosis

    summary = {"settings": {"n": 40, "all_inputs": False, "tau": 0.1, "seed": 3},
               "budgets": {"active": {"perturb_directions": True, "spectrum_dims": False, "gain_numbers": True}}}
    d = Diagnosis.from_dict(summary, {})
    st = d.provenance.settings
    assert (st.n, st.all_inputs, st.tau, st.seed) == (40, False, 0.1, 3)
    assert d.provenance.active_budgets() == ("perturb_directions", "gain_numbers")
    assert d.to_dict()["settings"] == summary["settings"]  # written back as it was read
    bare = Diagnosis.from_dict({}, {})
    assert bare.provenance.settings is None and bare.provenance.active_budgets() == ()
