"""Arm sizes over time in both directions, at and across the limits, in any row order (issue 21)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evsynth.data.checks import MAX_ATTRITION, plausibility_checks
from evsynth.data.config import Outcome

OUTCOMES = {"score": Outcome("score", "Score", "MD", False), "pain": Outcome("pain", "Pain", "SMD", False)}


def row(months, n_ctrl, n_treat=50, outcome="score", study="A 2020", mean_ctrl=None):
    return {"study": study, "outcome": outcome, "timepoint": f"{months:g}", "timepoint_months": months,
            "form": "means", "treatment": "coach", "comparator": "usual_care", "n_treat": n_treat,
            "n_ctrl": n_ctrl, "mean_ctrl": 4.0 + months if mean_ctrl is None else mean_ctrl, "sd_ctrl": 1.5}


def messages(rows):
    return [w["message"] for w in plausibility_checks(rows, OUTCOMES)]


def as_set(warnings):
    return sorted(tuple(sorted((k, str(v)) for k, v in w.items())) for w in warnings)


def test_order_of_rows_does_not_change_the_direction():
    """The survivor of issue 21: with the 12-month row first, an arm that shrinks read as growing."""
    rows = [row(3, 50), row(6, 60), row(12, 20)]
    expected = ["arm 'usual_care' grows from 50 at 3 months to 60",
                "arm 'usual_care' shrinks from 60 at 6 months to 20 (over half lost)"]
    assert messages(rows) == expected
    assert messages(rows[::-1]) == expected
    assert messages([rows[2], rows[0], rows[1]]) == expected


@pytest.mark.parametrize("n_late,expected", [
    (50, []),  # same size
    (51, ["arm 'usual_care' grows from 50 at 3 months to 51"]),
    (25, []),  # exactly half lost: allowed
    (24.9, ["arm 'usual_care' shrinks from 50 at 3 months to 24.9 (over half lost)"]),
    (24, ["arm 'usual_care' shrinks from 50 at 3 months to 24 (over half lost)"]),
    (49, []),
])
def test_growing_and_shrinking_at_and_across_the_limits(n_late, expected):
    assert MAX_ATTRITION == 0.5
    assert messages([row(3, 50), row(6, n_late)]) == expected


def test_treatment_arm_is_checked_too_and_the_warning_names_its_column():
    (warning,) = plausibility_checks([row(3, 50, n_treat=40), row(6, 50, n_treat=41)], OUTCOMES)
    assert warning["column"] == "n_treat" and warning["value"] == 41 and warning["timepoint"] == "6"
    assert warning["message"] == "arm 'coach' grows from 40 at 3 months to 41"


def test_outcomes_reporting_different_sizes_at_one_time_are_read_the_same_in_any_order():
    """Pain reports 50 at 3 months, score 30: the arm's size then is 50 whichever row comes first."""
    rows = [row(3, 30, outcome="score"), row(3, 50, outcome="pain"), row(6, 24, outcome="score")]
    assert messages(rows) == messages(rows[::-1]) == [
        "arm 'usual_care' shrinks from 50 at 3 months to 24 (over half lost)"]


@st.composite
def tables(draw):
    rows = []
    for s in range(draw(st.integers(1, 3))):
        for months in draw(st.lists(st.sampled_from([0.0, 3.0, 6.0, 12.0]), min_size=1, max_size=4, unique=True)):
            for outcome in draw(st.lists(st.sampled_from(["score", "pain"]), min_size=1, max_size=2, unique=True)):
                rows.append(row(months, draw(st.integers(5, 120)), n_treat=draw(st.integers(5, 120)),
                                outcome=outcome, study=f"S{s}", mean_ctrl=draw(st.sampled_from([3.0, 4.0]))))
    return rows


@settings(max_examples=60, deadline=None, derandomize=True)
@given(rows=tables(), data=st.data())
def test_warnings_are_the_same_for_any_row_order(rows, data):
    order = data.draw(st.permutations(range(len(rows))))
    reordered = plausibility_checks([rows[i] for i in order], OUTCOMES)
    assert as_set(reordered) == as_set(plausibility_checks(rows, OUTCOMES))
