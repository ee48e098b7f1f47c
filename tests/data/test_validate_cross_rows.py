"""The study-table rules across rows, each message in full (issue 21).

Small tables through :func:`evsynth.data.studies.load_studies` (arm rows that must pair up with one
measure and one set of risk-of-bias judgements, one arm size per trial and timepoint, one primary
effect per trial and window, a contrast not given twice) and :func:`evsynth.data.validate.check_records`
on typed rows: the exact (line, column, value, rule) of every problem, so that a line number
quoted inside a rule ("differs from line 2") or a skipped row cannot silently change. The rows
are rule fixtures built on tests/data/test_validate_boundaries.py's, not data.
"""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from conftest import REPO
from data.test_validate_boundaries import ROWS
from evsynth.data.studies import StudyTableError, load_studies
from evsynth.data.validate import check_records

CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
ARM = ROWS["arm"]


def table_problems(tmp_path, rows) -> list[tuple[int, str, str, str]]:
    path = tmp_path / "t.tsv"
    pd.DataFrame(rows).fillna("").to_csv(path, sep="\t", index=False)
    try:
        load_studies(path, CONFIG)
    except StudyTableError as err:
        return [(p.line, p.column, p.value, p.rule) for p in err.problems]
    return []


def arm(name, **cells):
    return {**ARM, "arm": name, **cells}


def test_arm_rows_that_pair_up_are_valid(tmp_path):
    assert table_problems(tmp_path, [arm("coach"), arm("usual_care"), arm("online")]) == []


PROPORTION = {"arm_measure": "proportion", "arm_estimate": "0.2", "arm_ci_lower": "0.18", "arm_ci_upper": "0.23"}


@pytest.mark.parametrize("measures,lines", [
    (("percent", "percent", "proportion"), [4]),
    (("percent", "proportion", "proportion"), [3, 4]),  # every arm is compared with the first, not the one before
])
def test_one_arm_measure_per_trial_outcome_and_timepoint_names_the_first_line(tmp_path, measures, lines):
    rows = [arm(mode, **(PROPORTION if kind == "proportion" else {}))
            for mode, kind in zip(("coach", "online", "usual_care"), measures)]
    rule = "differs from line 2 ('percent'): one measure per study x outcome x timepoint"
    assert table_problems(tmp_path, rows) == [(line, "arm_measure", "proportion", rule) for line in lines]


def test_an_orphan_arm_and_a_duplicate_arm(tmp_path):
    """Arms pair up per timepoint (months); an arm repeated in one window is a duplicate even at
    another month (both rows would enter one analysis)."""
    rows = [arm("coach"), arm("usual_care"), arm("coach", timepoint="2"),
            arm("usual_care", outcome="pain_severity_response")]
    def orphan(outcome, timepoint):
        return (f"orphan arm row: no other included arm of 'T 2020' for outcome '{outcome}' at timepoint "
                f"'{timepoint}'; a contrast needs at least two arms")
    assert table_problems(tmp_path, rows) == [
        (4, "arm", "coach", "duplicate arm: same study, outcome, timepoint window 'post' and arm as line 2; set "
                            "include to 'no' on one of them"),
        (4, "arm", "coach", orphan("pain_intensity_response", "2")),
        (5, "arm", "usual_care", orphan("pain_severity_response", "3")),
    ]


def test_a_contrast_the_arm_rows_already_give_is_refused_in_either_direction(tmp_path):
    counts = {**ROWS["counts"], "outcome": "pain_intensity_response"}
    reversed_ = {**counts, "treatment": "usual_care", "comparator": "coach", "timepoint": "4"}
    rows = [arm("coach"), arm("usual_care"), counts, reversed_, {**counts, "include": "no", "exclusion_reason": "x"}]
    rule = "the same comparison is formed from the arm rows on lines 2 and 3; set include to 'no' on one"
    assert table_problems(tmp_path, rows) == [(4, "study", "T 2020", rule), (5, "study", "T 2020", rule)]


def test_arm_rows_of_one_contrast_share_their_risk_of_bias(tmp_path):
    rob = {"rob_d1": "low", "rob_d2": "low", "rob_d3": "low", "rob_d4": "low", "rob_d5": "low", "rob_overall": "low"}
    rows = [arm("coach", **rob), arm("usual_care", **{**rob, "rob_d3": "high", "rob_overall": "high"}),
            arm("online", **rob)]
    rule = ("differs from line 2: the arm rows of one study, outcome and timepoint form contrasts together, so give "
            "them the same risk-of-bias judgements")
    assert table_problems(tmp_path, rows) == [(3, "rob_d3", "high", rule)]


def test_one_arm_size_per_trial_and_timepoint_except_secondary_and_grouped_rows(tmp_path):
    means = ROWS["means"]
    rows = [means, {**means, "outcome": "nrs_pain", "n_ctrl": "43"},
            {**means, "outcome": "womac_pain", "n_treat": "39", "n_ctrl": "41", "primary": "no", "instrument": "x"},
            {**means, "outcome": "womac_pain", "n_treat": "40", "n_ctrl": "41"}]
    rule = "arm 'usual_care' of this study at timepoint 3 has 41 participants on line 2 (n_ctrl); one arm has one size"
    assert table_problems(tmp_path, rows) == [(3, "n_ctrl", "43", rule)]


def test_two_primary_effects_and_a_secondary_effect_repeating_one(tmp_path):
    means = ROWS["means"]
    rows = [means, {**means, "timepoint": "2"}, {**means, "primary": "no"},
            {**means, "primary": "no", "instrument": "x"}]
    assert table_problems(tmp_path, rows) == [
        (3, "primary", "yes", "same study, outcome, timepoint window 'post' and comparison as line 2; one row is the "
                              "trial's primary effect: set primary to 'no' on a secondary effect (another instrument "
                              "or follow-up), or include to 'no' on a row that should not count"),
        (4, "instrument", "", "same study, outcome, comparison, timepoint and instrument as line 2 (no instrument "
                              "named on either): the same effect twice; name each row's measure in 'instrument', or "
                              "set include to 'no' on one"),
    ]


def _typed(line, **values):
    return {"line": line, "study": "T 2020", "outcome": "o", "window": "post", "treatment": "coach",
            "comparator": "usual_care", "timepoint": "3", "timepoint_months": 3.0, "form": "means", "include": True,
            "instrument": "", "n_treat": 40.0, "n_ctrl": 41.0, **values}


def test_typed_rows_without_a_primary_flag_are_primary_effects():
    """check_records takes typed rows; a row without 'primary' (typed before the column existed)
    is the trial's primary effect, as an empty cell is."""
    rule = ("same study, outcome, timepoint window 'post' and comparison as line 2; one row is the trial's primary "
            "effect: set primary to 'no' on a secondary effect (another instrument or follow-up), or include to "
            "'no' on a row that should not count")
    found = check_records([_typed(2), _typed(3)], "t.tsv", ["coach", "usual_care"])
    assert [(p.line, p.column, p.value, p.rule) for p in found] == [(3, "primary", "yes", rule)]
    assert check_records([_typed(2), _typed(3, timepoint="6", window="6m")], "t.tsv", ["coach", "usual_care"]) == []


@pytest.mark.parametrize("primary", [None, True])
def test_an_unreadable_or_primary_flag_adds_no_cross_row_problem(primary):
    rows = [_typed(2, primary=primary), _typed(3, window="6m", timepoint="6", timepoint_months=6.0)]
    assert check_records(rows, "t.tsv", ["coach", "usual_care"]) == []
