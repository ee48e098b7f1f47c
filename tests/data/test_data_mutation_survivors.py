"""Small rules of the data layer that mutants of mutation/run.py slipped past (mutation/report.md):
each test names the rule it pins."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from conftest import REPO
from evsynth.data.config import ChangesConfig, Outcome, Window, load_config
from evsynth.data.contrasts import arm_contrasts
from evsynth.data.reconcile import ReconcileError, reconcile_tables, unresolved_message
from evsynth.data.studies import StudyTableError, load_studies, read_table
from evsynth.data.validate import check_columns

MODES = ["coach", "online", "usual_care"]
CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
NAMES = {"a": "a.tsv", "b": "b.tsv", "adjudication": "adjudication.tsv"}
SCORE = {"score": Outcome("score", "Score", "MD", False)}


@pytest.mark.parametrize("window,months,inside", [
    (Window("baseline", 0, 0), 0, True),  # a window starting at 0 includes 0
    (Window("early", 0, 3), 0, True), (Window("early", 0, 3), 3, True), (Window("early", 0, 3), 3.5, False),
    (Window("post", 1, 3), 0, False),  # only a window starting at 0 takes month 0
    (Window("post", 1, 3), 1, False), (Window("post", 1, 3), 1.5, True), (Window("post", 1, 3), 3, True),
])
def test_window_is_open_left_closed_right_except_at_zero(window, months, inside):
    assert window.contains(months) is inside


def arm(name, mean, se=None, lower=None, upper=None):
    return {"study": "T 2020", "year": 2020, "outcome": "score", "timepoint": "3", "timepoint_months": 3.0,
            "form": "arm", "arm": name, "arm_measure": "mean", "arm_estimate": mean, "arm_se": se,
            "arm_ci_lower": lower, "arm_ci_upper": upper, "ci_level": None, "n_arm": 40}


@pytest.mark.parametrize("ses,says", [
    ((0.5, 0.4), "arm SEs as reported, converted to the mean scale (delta method)"),
    ((0.5, None), "arm SEs from each arm's 95% CI on the mean scale (or its reported SE)"),
    ((None, None), "arm SEs from each arm's 95% CI on the mean scale;"),
])
def test_derivation_says_where_the_arm_ses_came_from(ses, says):
    rows = [arm("coach", 2.0, ses[0], 1.0, 3.0), arm("usual_care", 3.0, ses[1], 2.2, 3.8)]
    (contrast,) = arm_contrasts(rows, SCORE, MODES).effects.to_dict("records")
    assert says in contrast["derivation"]
    assert contrast["derivation"].startswith("derived from arm-level estimates: MD = 2 - 3;")


def _table_rows():
    """A contrast row (Dear 2013's reported SMD) and RESOLVE's 3-month coach arm of the shipped table."""
    table = read_table(REPO / "studies.tsv")
    contrast = table[(table["study"] == "Dear 2013") & (table["outcome"] == "pain_interference")].iloc[[0]]
    arms = table[(table["study"] == "DeBar 2025") & (table["arm"] == "coach")].iloc[[0]]
    return contrast, arms


def _problems(tmp_path, frame):
    path = tmp_path / "studies.tsv"
    frame.to_csv(path, sep="\t", index=False)
    try:
        load_studies(path, CONFIG)
    except StudyTableError as err:
        return [(p.column, p.rule) for p in err.problems]
    return []


@pytest.mark.parametrize("level,ok", [("50", True), ("49.9", False), ("99.9", True), ("100", False), ("95", True)])
@pytest.mark.parametrize("form", ["contrast", "arm"])
def test_ci_level_from_50_up_to_but_not_including_100(tmp_path, form, level, ok):
    contrast, arms = _table_rows()
    row = (contrast if form == "contrast" else arms).copy()
    row["ci_level"] = level
    found = [p for p in _problems(tmp_path, row) if p[0] == "ci_level"]
    assert (found == []) is ok, found


def test_a_table_of_one_arm_row_needs_no_treatment_columns():
    _, arms = _table_rows()
    assert check_columns(arms.drop(columns=["treatment", "comparator"]), "t.tsv") == []
    assert [p.column for p in check_columns(arms.iloc[:0].drop(columns=["treatment"]), "t.tsv")] == ["treatment"]


def test_arms_are_matched_on_months_and_the_ci_level_is_named():
    """Arms at "3" and "3.0" months are one timepoint (matched on timepoint_months); a 90% CI is
    read and named as such."""
    rows = [arm("coach", 2.0, None, 1.0, 3.0), {**arm("usual_care", 3.0, None, 2.2, 3.8), "timepoint": "3.0"}]
    rows = [{**r, "ci_level": 90.0} for r in rows]
    (contrast,) = arm_contrasts(rows, SCORE, MODES).effects.to_dict("records")
    assert "arm SEs from each arm's 90% CI on the mean scale;" in contrast["derivation"]


def _problem_values(tmp_path, frame):
    path = tmp_path / "studies.tsv"
    frame.to_csv(path, sep="\t", index=False)
    with pytest.raises(StudyTableError) as err:
        load_studies(path, CONFIG)
    return [(p.column, p.value, p.rule) for p in err.value.problems]


def test_a_ratio_outside_its_own_ci_is_refused_below_1_too(tmp_path):
    contrast, _ = _table_rows()
    row = contrast.copy()
    row[["effect_measure", "effect", "ci_lower", "ci_upper", "se"]] = ["RR", "0.5", "0.6", "0.9", ""]
    outcome = next(o for o, spec in CONFIG["outcomes"].items() if spec["measure"] == "RR")
    row["outcome"] = outcome
    assert ("effect", "0.5", "lies outside its own CI [0.6, 0.9]") in _problem_values(tmp_path, row)


def test_a_long_study_label_is_shown_cut_at_40_characters(tmp_path):
    contrast, _ = _table_rows()
    row = contrast.copy()
    label = "Abcdefghij" * 10 + " 2013"
    row["study"] = label
    (found,) = [p for p in _problem_values(tmp_path, row) if p[0] == "study"]
    assert found[1] == label[:40] + "..."


def test_two_adjudication_lines_for_one_cell_name_the_first_line():
    table = read_table(REPO / "studies.tsv")
    a = table[table["outcome"] == "pain_interference"].head(3).reset_index(drop=True)
    b = a.copy()
    b.loc[0, "effect"] = "-0.91"
    line = {"study": a.loc[0, "study"], "outcome": "pain_interference", "timepoint": a.loc[0, "timepoint"],
            "column": "effect", "agreed_value": "-0.91", "who": "JD", "why": "Table 2"}
    with pytest.raises(ReconcileError) as err:
        reconcile_tables(a, b, pd.DataFrame([line, line]), NAMES, CONFIG)
    assert "adjudication.tsv, line 3: settles the same cell as line 2" in str(err.value)


def test_changes_defaults_are_the_same_in_the_dataclass_and_the_loader():
    # ChangesConfig() and load_config() without a ``changes`` section each carry the defaults:
    # they must not drift apart (a mutant moved one I² cut point of the dataclass only).
    raw = {k: v for k, v in CONFIG.items() if k != "changes"}
    assert load_config(raw).changes == ChangesConfig()


def test_an_unreadable_workbook_is_one_problem_of_the_whole_file(tmp_path):
    # Problem line 0 = the file as a whole (line 1 is the header): a corrupt .xlsx has no line.
    path = tmp_path / "studies.xlsx"
    path.write_bytes(b"PK\x03\x04 this is not a workbook")
    with pytest.raises(StudyTableError) as err:
        read_table(path)
    [problem] = err.value.problems
    assert (problem.file, problem.line, problem.column) == (str(path), 0, "")
    assert problem.rule.startswith("cannot be read: ")


@pytest.mark.parametrize("names,says", [
    (NAMES, "that adjudication.tsv does not settle"),
    ({"a": "a.tsv", "b": "b.tsv"}, "that an adjudication file (config.yaml: extraction.adjudication) does not settle"),
    ({"a": "a.tsv", "b": "b.tsv", "adjudication": ""}, "an adjudication file (config.yaml: extraction.adjudication)"),
])
def test_unresolved_message_names_the_adjudication_file_or_says_to_make_one(names, says):
    cell = {"study": "T 2020", "outcome": "score", "timepoint": "3", "comparison": "coach_vs_usual_care",
            "column": "effect", "value_a": "0.5", "value_b": "0.6"}
    message = unresolved_message([cell], names)
    assert says in message and "None" not in message


@pytest.mark.parametrize("limit", ["lower", "upper"])
@pytest.mark.parametrize("form", ["contrast", "arm"])
def test_an_estimate_on_either_ci_limit_is_inside_and_just_beyond_is_outside(tmp_path, form, limit):
    """A reported estimate equal to a rounded CI limit is valid; 0.01 beyond it is not."""
    contrast, arms = _table_rows()
    row = (contrast if form == "contrast" else arms).copy()
    prefix = "" if form == "contrast" else "arm_"
    estimate = f"{prefix}estimate" if form == "arm" else "effect"
    value = float(row[f"{prefix}ci_{limit}"].iloc[0])
    row[estimate] = f"{value:g}"
    assert [p for p in _problems(tmp_path, row) if p[0] == estimate] == []
    row[estimate] = f"{value + (0.01 if limit == 'upper' else -0.01):g}"
    assert [rule for column, rule in _problems(tmp_path, row) if column == estimate] == [
        f"lies outside its own CI [{float(row[prefix + 'ci_lower'].iloc[0]):g}, "
        f"{float(row[prefix + 'ci_upper'].iloc[0]):g}]"]
