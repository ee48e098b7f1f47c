"""Dual extraction (evsynth.data.reconcile): what counts as a discrepancy, how adjudication settles
it, and that every problem names the cell (study, outcome, timepoint, comparison, column)."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from conftest import REPO
from evsynth.data.reconcile import (
    DISCREPANCY_COLUMNS,
    ReconcileError,
    reconcile_extractions,
    reconcile_tables,
    typed_row_key,
    unresolved_message,
)
from evsynth.data.studies import read_table

CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
NAMES = {"a": "a.tsv", "b": "b.tsv", "adjudication": "adjudication.tsv"}


def shipped(*studies: str) -> pd.DataFrame:
    """Rows of the shipped table (text cells): interference SMDs and RESOLVE's 3-month arm rows."""
    table = read_table(REPO / "studies.tsv")
    keep = (table["outcome"] == "pain_interference") | (
        (table["study"] == "DeBar 2025") & (table["outcome"] == "pain_severity_response")
        & (table["timepoint"] == "3") & (table["arm"] != "")
    )
    if studies:
        keep &= table["study"].isin(studies) | (table["study"] == "DeBar 2025")
    return table[keep].reset_index(drop=True)


def edit(table: pd.DataFrame, study: str, column: str, value: str, **where: str) -> pd.DataFrame:
    table = table.copy()
    mask = table["study"] == study
    for key, val in where.items():
        mask &= table[key] == val
    assert mask.sum() == 1
    table.loc[mask, column] = value
    return table


def adjudication(*lines: dict) -> pd.DataFrame:
    return pd.DataFrame(list(lines)).fillna("")


def test_identical_tables_reconcile_to_the_same_rows():
    a = shipped()
    result = reconcile_tables(a, a.copy(), None, NAMES, CONFIG)
    assert result.discrepancies == [] and not result.blocked
    assert len(result.studies) == len(a)
    assert all(c["settled"] == "agreed" for c in result.cells)
    assert set(result.row_settled.values()) == {"agreed"}


def test_order_notes_number_format_and_blanks_are_not_discrepancies():
    """Re-sorting, notes, '0.30' vs '0.3' and doubled blanks in text are the same extraction."""
    a = shipped()
    b = a.iloc[::-1].copy()
    b["notes"] = "B's own note"
    b = edit(b, "Dear 2013", "effect", a.loc[a["study"] == "Dear 2013", "effect"].iloc[0] + "0")
    b = edit(b, "Dear 2013", "source", a.loc[a["study"] == "Dear 2013", "source"].iloc[0].replace(" ", "  ", 1))
    result = reconcile_tables(a, b, None, NAMES, CONFIG)
    assert result.discrepancies == []
    # Column order changes neither the records a job receives (params) nor their order.
    again = reconcile_tables(a[list(reversed(a.columns))], b, None, NAMES, CONFIG)
    assert again.cells == result.cells


def test_each_disagreeing_cell_and_missing_row_is_a_discrepancy():
    a = shipped()
    b = edit(a, "Dear 2013", "effect", "-0.91")
    b = edit(b, "DeBar 2025", "arm_estimate", "23.0", arm="coach")
    b = b[b["study"] != "Carpenter 2012"]
    result = reconcile_tables(a, b, None, NAMES, CONFIG)
    assert result.blocked
    found = {(d["study"], d["outcome"], d["timepoint"], d["comparison"], d["column"], d["value_a"], d["value_b"])
             for d in result.unresolved}
    dear_a = a.loc[a["study"] == "Dear 2013", "effect"].iloc[0]
    assert found == {
        ("Dear 2013", "pain_interference", "post", "coach_vs_usual_care", "effect", dear_a, "-0.91"),
        ("DeBar 2025", "pain_severity_response", "3", "arm:coach", "arm_estimate", "32.0", "23.0"),
        ("Carpenter 2012", "pain_interference", "post", "online_vs_usual_care", "row", "present", "absent"),
    }
    assert all(set(d) == set(DISCREPANCY_COLUMNS) for d in result.discrepancies)
    message = unresolved_message(result.unresolved, NAMES)
    assert "disagree in 3 cell(s)" in message and "nothing was pooled" in message
    assert f"Dear 2013, pain_interference, timepoint post, coach_vs_usual_care, column 'effect': A = '{dear_a}', " \
           "B = '-0.91'" in message
    assert "DeBar 2025, pain_severity_response, timepoint 3, arm:coach, column 'arm_estimate': A = '32.0', " \
           "B = '23.0'" in message
    # While blocked, the table handed back (only for building the DAG) is A's, never a mixture.
    assert result.raw is None


def test_adjudication_settles_each_cell_and_is_kept():
    a = shipped()
    b = edit(a, "Dear 2013", "effect", "0.61")
    b = b[b["study"] != "Carpenter 2012"]
    settle = adjudication(
        {"study": "Dear 2013", "outcome": "pain_interference", "timepoint": "post", "column": "effect",
         "agreed_value": "0.61", "who": "JD", "why": "Table 2 of the paper, not the abstract"},
        {"study": "Carpenter 2012", "outcome": "pain_interference", "timepoint": "post", "column": "row",
         "agreed_value": "absent", "who": "JD", "why": "not randomised"},
    )
    result = reconcile_tables(a, b, settle, NAMES, CONFIG)
    assert not result.blocked
    assert {d["status"] for d in result.discrepancies} == {"adjudicated"}
    dear = result.studies[result.studies["study"] == "Dear 2013"].iloc[0]
    assert dear["effect"] == pytest.approx(0.61)
    assert "Carpenter 2012" not in set(result.studies["study"])
    cell = next(c for c in result.cells if c["study"] == "Dear 2013" and c["column"] == "effect")
    assert (cell["value"], cell["settled"], cell["who"], cell["why"]) == (
        "0.61", "adjudicated", "JD", "Table 2 of the paper, not the abstract")
    assert result.row_settled[typed_row_key(dear)] == "adjudicated: effect (JD)"
    carpenter = next(c for c in result.cells if c["study"] == "Carpenter 2012")
    assert (carpenter["column"], carpenter["value"], carpenter["settled"]) == ("row", "absent", "adjudicated")


def test_a_row_only_one_reviewer_extracted_can_be_kept():
    a = shipped()
    b = a[a["study"] != "Carpenter 2012"]
    settle = adjudication({"study": "Carpenter 2012", "outcome": "pain_interference", "timepoint": "post",
                           "column": "row", "agreed_value": "present", "who": "JD", "why": "B missed it"})
    result = reconcile_tables(a, b, settle, NAMES, CONFIG)
    assert "Carpenter 2012" in set(result.studies["study"])


def test_adjudication_problems_are_each_reported():
    a = shipped()
    b = edit(a, "Dear 2013", "effect", "-0.91")
    b = edit(b, "DeBar 2025", "arm_estimate", "23.0", arm="coach")
    settle = adjudication(
        {"study": "Dear 2013", "outcome": "pain_interference", "timepoint": "post", "column": "effect",
         "agreed_value": "-0.91", "who": "", "why": "Table 2"},                      # nobody
        {"study": "Dear 2013", "outcome": "pain_interference", "timepoint": "post", "column": "n_treat",
         "agreed_value": "50", "who": "JD", "why": "x"},                              # no such discrepancy
        {"study": "DeBar 2025", "outcome": "pain_severity_response", "timepoint": "3", "column": "arm_estimate",
         "comparison": "arm:online", "agreed_value": "32.0", "who": "JD", "why": "x"},  # wrong comparison
        {"study": "Buhrman 2004", "outcome": "pain_interference", "timepoint": "post", "column": "effect",
         "agreed_value": "", "who": "", "why": ""},                                   # placeholder: ignored
    )
    with pytest.raises(ReconcileError) as err:
        reconcile_tables(a, b, settle, NAMES, CONFIG)
    text = str(err.value)
    assert "adjudication.tsv, line 2, column 'who' (empty)" in text
    assert "adjudication.tsv, line 3: settles no discrepancy (Dear 2013, pain_interference, post, column " \
           "'n_treat')" in text
    assert "adjudication.tsv, line 4: settles no discrepancy" in text
    assert "line 5" not in text
    assert len(err.value.problems) == 3


def test_ambiguous_adjudication_needs_the_comparison():
    a = shipped()
    b = edit(a, "DeBar 2025", "n_arm", "691", arm="coach")
    b = edit(b, "DeBar 2025", "n_arm", "644", arm="online")
    line = {"study": "DeBar 2025", "outcome": "pain_severity_response", "timepoint": "3", "column": "n_arm",
            "agreed_value": "690", "who": "JD", "why": "CONSORT diagram"}
    with pytest.raises(ReconcileError, match="matches 2 discrepancies .* fill 'comparison' with one of arm:coach, "
                                             "arm:online"):
        reconcile_tables(a, b, adjudication(line), NAMES, CONFIG)
    settle = adjudication({**line, "comparison": "arm:coach"},
                          {**line, "comparison": "arm:online", "agreed_value": "643"})
    result = reconcile_tables(a, b, settle, NAMES, CONFIG)
    arms = result.studies[result.studies["study"] == "DeBar 2025"].set_index("arm")["n_arm"]
    assert (arms["coach"], arms["online"]) == (690, 643)


def test_stale_adjudication_is_refused():
    """A line copied from the discrepancy report keeps value_a/value_b: if a reviewer has since changed
    the cell, the old decision is not silently applied to the new disagreement."""
    a = shipped()
    b = edit(a, "Dear 2013", "effect", "-0.95")
    line = {"study": "Dear 2013", "outcome": "pain_interference", "timepoint": "post",
            "comparison": "coach_vs_usual_care", "column": "effect", "value_a": a.loc[a["study"] == "Dear 2013",
                                                                                         "effect"].iloc[0],
            "value_b": "-0.91", "status": "unresolved", "agreed_value": "-0.91", "who": "JD", "why": "x"}
    with pytest.raises(ReconcileError, match="stale adjudication .* value_b was '-0.91', now '-0.95'"):
        reconcile_tables(a, b, adjudication(line), NAMES, CONFIG)


def test_an_adjudicated_value_breaking_a_table_rule_names_the_source_rows():
    a = shipped()
    b = edit(a, "Dear 2013", "effect", "-0.91")
    settle = adjudication({"study": "Dear 2013", "outcome": "pain_interference", "timepoint": "post",
                           "column": "effect", "agreed_value": "-0.9x", "who": "JD", "why": "typo"})
    with pytest.raises(ReconcileError) as err:
        reconcile_tables(a, b, settle, NAMES, CONFIG)
    line = a.index[a["study"] == "Dear 2013"][0] + 2
    assert f"reconciled row of a.tsv line {line} / b.tsv line {line}, column 'effect' = '-0.9x': must be a number" \
        in str(err.value)


def test_rows_are_matched_on_a_unique_key():
    a = shipped()
    twice = pd.concat([a, a[a["study"] == "Dear 2013"]], ignore_index=True)
    with pytest.raises(ReconcileError, match="a.tsv, line .*: same study, outcome, timepoint and comparison"):
        reconcile_tables(twice, a, None, NAMES, CONFIG)


def test_timepoint_spelling_does_not_split_a_row():
    a = shipped()
    b = edit(a, "DeBar 2025", "timepoint", "3.0", arm="coach")
    result = reconcile_tables(a, b, None, NAMES, CONFIG)
    assert result.discrepancies == []


def test_reconcile_extractions_reads_files_and_reports_table_problems_of_each(tmp_path):
    a = shipped()
    a.to_csv(tmp_path / "a.tsv", sep="\t", index=False)
    bad = edit(a, "Dear 2013", "effect", "1.5x")
    bad.to_csv(tmp_path / "b.tsv", sep="\t", index=False)
    section = {"reviewer_a": str(tmp_path / "a.tsv"), "reviewer_b": str(tmp_path / "b.tsv")}
    with pytest.raises(ReconcileError, match=r"b\.tsv, line \d+, column 'effect' = '1.5x': must be a number"):
        reconcile_extractions(section, CONFIG)
    a.to_csv(tmp_path / "b.tsv", sep="\t", index=False)
    assert not reconcile_extractions(section, CONFIG).blocked
