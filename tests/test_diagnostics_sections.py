"""The sections of a Diagnosis: every field documented (shown by help()), with a file key or an array, and
docs/diagnostics.md's field reference equal to the dataclasses (so the two cannot drift)."""

import dataclasses
from pathlib import Path

from vaediag.diagnostics import sections
from vaediag.diagnostics.result import Diagnosis
from vaediag.diagnostics.schema import reference, reference_table

DOCS = Path(__file__).resolve().parents[1] / "docs" / "diagnostics.md"


def _all_sections(cls=Diagnosis, seen=None):
    seen = seen if seen is not None else []
    seen.append(cls)
    for f in dataclasses.fields(cls):
        if f.metadata["cls"] is not None and f.metadata["cls"] not in seen:
            _all_sections(f.metadata["cls"], seen)
    return seen


def test_every_field_is_documented_and_stored_or_derived():
    for cls in _all_sections():
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen
        for f in dataclasses.fields(cls):
            m = f.metadata
            assert m["doc"], f"{cls.__name__}.{f.name} has no doc"
            assert f"    {f.name}" in cls.__doc__  # help() shows it
            stored = m["key"] is not None or m["npz"] or m["kind"] == "section"
            assert stored or (cls.__name__, f.name) == ("Provenance", "source"), f"{cls.__name__}.{f.name} is not saved"


def test_units_are_explicit_where_model_and_unit_interval_differ():
    ref = {name: unit for name, _, unit, _ in reference(Diagnosis)}
    for model_units, unit01 in [("gamma.value", "gamma.value_01"), ("gamma.effective", "gamma.effective_01"),
                                ("gamma.recon_mse", "gamma.recon_mse_01"), ("effective_fit.value", "effective_fit.value_01")]:
        assert ref[model_units] == sections.MODEL_VAR and ref[unit01] == sections.UNIT_VAR


def test_the_docs_field_reference_is_the_dataclasses():
    text = DOCS.read_text()
    block = text.split("<!-- field reference -->\n")[1].split("\n<!-- /field reference -->")[0]
    assert block == reference_table(Diagnosis), "docs/diagnostics.md's field reference drifted: regenerate it " \
        "with vaediag.diagnostics.schema.reference_table(vaediag.Diagnosis)"
