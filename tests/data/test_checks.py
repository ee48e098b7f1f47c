"""Plausibility warnings (results/checks.tsv) on small hand-made tables."""

from evsynth.data.checks import plausibility_checks
from evsynth.data.config import Outcome

OUTCOMES = {"pain": Outcome("pain", "Pain", "SMD", False), "score": Outcome("score", "Score", "MD", False)}


def _means(study, n_ctrl=50, months=3.0, n_treat=50, mean_ctrl=4.0):
    return {"study": study, "outcome": "score", "timepoint": f"{months:g}", "timepoint_months": months,
            "form": "means", "treatment": "coach", "comparator": "usual_care", "n_treat": n_treat,
            "n_ctrl": n_ctrl, "mean_ctrl": mean_ctrl, "sd_ctrl": 1.5}


def test_large_smd_is_flagged():
    row = {"study": "A 2020", "outcome": "pain", "timepoint": "3", "form": "contrast", "effect": -3.4}
    (warning,) = plausibility_checks([row], OUTCOMES)
    assert warning["check"] == "large SMD" and warning["value"] == -3.4


def test_identical_control_arm_in_two_trials_is_flagged():
    warnings = plausibility_checks([_means("A 2020"), _means("B 2021")], OUTCOMES)
    assert [w["study"] for w in warnings] == ["A 2020", "B 2021"]
    assert "identical to that of B 2021" in warnings[0]["message"]


def test_arm_that_grows_or_halves_is_flagged():
    rows = [_means("A 2020", months=3), _means("A 2020", months=6, n_ctrl=60, mean_ctrl=3.0),
            _means("A 2020", months=12, n_ctrl=20, mean_ctrl=2.0)]
    messages = [w["message"] for w in plausibility_checks(rows, OUTCOMES)]
    assert messages == ["arm 'usual_care' grows from 50 at 3 months to 60",
                        "arm 'usual_care' shrinks from 60 at 6 months to 20 (over half lost)"]


def test_clean_rows_give_no_warning():
    assert plausibility_checks([_means("A 2020"), _means("B 2021", mean_ctrl=4.5)], OUTCOMES) == []
