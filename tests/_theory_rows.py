"""What every row of the theory lab's table carries (shared by the theory tests)."""

import json

from vaediag.theory.separation import VERDICTS

FIELDS = {"claim", "measured", "predicted", "alternative", "margin", "se", "tolerance", "verdict"}
NAMED = ("Theorem 1", "Theorem 2", "Theorem 3", "Theorem 4", "eq. (8)", "eq. (9)", "eq. (73)", "two-stage (section 4)")


def valid_rows(rows):
    for c in rows:
        assert FIELDS <= set(c) and c["verdict"] in VERDICTS, c
        assert any(name in c["claim"] for name in NAMED), c["claim"]
        assert c["se"] >= 0 or c["verdict"] == "fail", c
    json.dumps(rows)
