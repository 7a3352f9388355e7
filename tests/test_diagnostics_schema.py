"""The declaration and serialisation of typed sections: a field's key (dotted for nested objects) and array,
round trips, defaults for missing keys, the docstring help() shows."""

import numpy as np

from vaediag.diagnostics.schema import MISSING, convert, dump, entry, jsonable, load, reference, section


@section
class Inner:
    """An inner section."""

    a: float | None = entry("a number", "nats", "eq. (1)", "a", kind="float")


@section
class Row:
    """A row."""

    j: int = entry("index", "", "", "j", kind="int")
    lam: float = entry("lambda", "", "", "lambda", kind="float")


@section
class Outer:
    """An outer section."""

    x: float | None = entry("x", "model units", "", "x", kind="float")
    arr: np.ndarray | None = entry("an array", "", "", "arr", "arr", kind="array")
    inner: Inner | None = entry("nested", kind="section", key="nest", cls=Inner)
    rows: tuple = entry("rows", "", "", "rows", kind="rows", cls=Row, default=())
    t: tuple = entry("a pair", "", "", "deep.pair", kind="tuple", default=(0, 1))


def test_dump_and_load_round_trip_with_dotted_keys_rows_and_arrays():
    o = Outer(x=1.5, arr=np.arange(3.0), inner=Inner(a=2.0), rows=(Row(0, 0.1), Row(2, 0.9)), t=(3, 4))
    s, a = {}, {}
    dump(o, s, a)
    assert s == {"x": 1.5, "arr": [0.0, 1.0, 2.0], "nest": {"a": 2.0}, "rows": [{"j": 0, "lambda": 0.1},
                 {"j": 2, "lambda": 0.9}], "deep": {"pair": [3, 4]}}
    assert list(a) == ["arr"]
    back = load(Outer, s, a)
    assert back.x == 1.5 and back.inner.a == 2.0 and back.rows[1].lam == 0.9 and back.t == (3, 4)
    np.testing.assert_array_equal(back.arr, o.arr)


def test_missing_keys_take_defaults_and_a_null_section_is_none():
    o = load(Outer, {"nest": None}, {})
    assert o.x is None and o.inner is None and o.rows == () and o.t == (0, 1) and o.arr is None
    assert load(Outer, {}, {}, x=7.0).x == 7.0


def test_help_lists_fields_with_units_and_the_reference_expands_sections():
    assert "x (model units): x" in Outer.__doc__ and "a (nats, eq. (1)): a number" in Inner.__doc__
    names = [r[0] for r in reference(Outer)]
    assert names == ["x", "arr", "inner", "inner.a", "rows", "t"]


def test_json_values():
    assert jsonable({"a": np.float64("nan"), "b": (np.int64(2), np.bool_(True))}) == {"a": None, "b": [2, True]}
    assert convert([[1, 2]], "tuple") == ((1, 2),) and convert(None, "float") is None and MISSING is not None
