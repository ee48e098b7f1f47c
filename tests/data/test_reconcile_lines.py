"""Dual extraction: a rule of the reconciled table names the rows of both extractions it came
from, in full (issue 21). The reconciled table is checked as a new table whose line ``i + 2`` is
row ``i``; every line number of a problem, and inside its rule ("as line 2"), is mapped back to
"a.tsv line N / b.tsv line M" (or the one extraction a kept row came from)."""

from __future__ import annotations

import pandas as pd
import pytest

from data.test_validate_boundaries import CONFIG, ROWS
from evsynth.data.reconcile import ReconcileError, reconcile_tables

NAMES = {"a": "a.tsv", "b": "b.tsv", "adjudication": "adjudication.tsv"}
MEANS = ROWS["means"]
TWO_PRIMARY = ("same study, outcome, timepoint window 'post' and comparison as the row of a.tsv line 2 / b.tsv line 3; "
               "one row is the trial's primary effect: set primary to 'no' on a secondary effect (another instrument "
               "or follow-up), or include to 'no' on a row that should not count")


def frame(*rows):
    return pd.DataFrame(list(rows)).fillna("")


def problems(a, b, adjudication=None):
    with pytest.raises(ReconcileError) as err:
        reconcile_tables(a, b, adjudication, NAMES, CONFIG)
    return str(err.value).split("\n")


def test_a_cross_row_rule_names_both_extractions_lines():
    a = frame(MEANS, {**MEANS, "study": "U 2021"}, {**MEANS, "timepoint": "2"})
    b = frame({**MEANS, "study": "U 2021"}, MEANS, {**MEANS, "timepoint": "2"})  # the same rows, in another order
    assert problems(a, b) == [
        "Dual extraction: 1 problem(s); nothing was pooled:",
        f"  - reconciled row of a.tsv line 4 / b.tsv line 4, column 'primary' = 'yes': {TWO_PRIMARY}",
    ]


def test_a_row_one_reviewer_alone_extracted_names_that_extraction_only():
    a = frame(MEANS, {**MEANS, "study": "U 2021"}, {**MEANS, "timepoint": "2"})
    b = frame({**MEANS, "study": "U 2021"}, MEANS)
    keep = frame({"study": "T 2020", "outcome": "bpi_pain_severity", "timepoint": "2", "comparison":
                  "coach_vs_usual_care", "column": "row", "agreed_value": "present", "who": "JD", "why": "Table 3"})
    assert problems(a, b, keep) == [
        "Dual extraction: 1 problem(s); nothing was pooled:",
        f"  - reconciled row of a.tsv line 4, column 'primary' = 'yes': {TWO_PRIMARY}",
    ]


def _row_verdict(study, verdict):
    return {"study": study, "outcome": "bpi_pain_severity", "timepoint": "3", "comparison": "coach_vs_usual_care",
            "column": "row", "agreed_value": verdict, "who": "JD", "why": "Table 3"}


def test_every_row_adjudicated_absent_leaves_a_table_without_rows():
    a, b = frame(MEANS), frame({**MEANS, "study": "U 2021"})
    verdicts = frame(_row_verdict("T 2020", "absent"), _row_verdict("U 2021", "absent"))
    assert problems(a, b, verdicts) == ["Dual extraction: 1 problem(s); nothing was pooled:",
                                        "  - reconciled row of line 2: the table has a header but no rows"]


@pytest.mark.parametrize("kept", ["T 2020", "U 2021"])  # the row only A extracted, or only B
def test_a_kept_row_takes_its_cells_from_the_one_extraction_that_has_it(kept):
    a, b = frame(MEANS), frame({**MEANS, "study": "U 2021"})
    dropped = "U 2021" if kept == "T 2020" else "T 2020"
    result = reconcile_tables(a, b, frame(_row_verdict(kept, "present"), _row_verdict(dropped, "absent")), NAMES,
                              CONFIG)
    assert list(result.studies["study"]) == [kept]
    cells = {(c["study"], c["column"]): c for c in result.cells}
    assert {c["study"] for c in result.cells} == {"T 2020", "U 2021"}
    assert (kept, "sd_treat") in cells and (dropped, "sd_treat") not in cells
    present_in_a = kept == "T 2020"
    for column in ("study", "n_treat", "mean_treat", "sd_ctrl"):
        cell = cells[(kept, column)]
        expected = kept if column == "study" else MEANS[column]
        assert (cell["value"], cell["settled"], cell["who"]) == (expected, "adjudicated", "JD")
        assert (cell["value_a"], cell["value_b"]) == ((expected, "") if present_in_a else ("", expected))
    assert cells[(dropped, "row")]["value"] == "absent"
    assert result.row_settled[(kept, "bpi_pain_severity", "3", "coach_vs_usual_care")] == \
        "adjudicated: row present (JD)"
