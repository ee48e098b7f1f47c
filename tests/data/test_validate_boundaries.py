"""Each per-row rule of the study-table check at and across its boundary (issue 21).

:func:`evsynth.data.validate.check_row` on one row of each data form (counts, means, medians,
a reported contrast, one arm's estimate), with one or two cells changed: the exact list of
(column, value, rule) problems it reports, [] on the allowed side of every bound. The rows are
rule fixtures, not data: they never enter a study table (the shipped rows' numbers are cited in
studies.tsv). A changed comparison, bound or column name in a rule changes a list below.
"""

from __future__ import annotations

import pytest
import yaml

from conftest import REPO
from evsynth.data.config import outcomes_from_config
from evsynth.data.validate import check_row

CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
OUTCOMES = outcomes_from_config(CONFIG)
WINDOWS = list(CONFIG["timepoints"])
COMMON = {"study": "T 2020", "year": "2020", "treatment": "coach", "comparator": "usual_care", "timepoint": "3",
          "source": "doi:10.1000/rule-fixture, Table 2"}
ROWS = {
    "counts": {**COMMON, "outcome": "pain_severity_response", "events_treat": "30", "n_treat": "100",
               "events_ctrl": "20", "n_ctrl": "100"},
    "means": {**COMMON, "outcome": "bpi_pain_severity", "mean_treat": "4.1", "sd_treat": "1.9", "n_treat": "40",
              "mean_ctrl": "5.0", "sd_ctrl": "2.0", "n_ctrl": "41"},
    "contrast": {**COMMON, "outcome": "pain_interference", "effect_measure": "SMD", "effect": "-0.4",
                 "ci_lower": "-0.7", "ci_upper": "-0.1"},
    "ratio": {**COMMON, "outcome": "pain_severity_response", "effect_measure": "RR", "effect": "1.5",
              "ci_lower": "1.1", "ci_upper": "2.0"},
    "arm": {**COMMON, "treatment": "", "comparator": "", "outcome": "pain_intensity_response", "arm": "coach",
            "arm_measure": "percent", "arm_estimate": "27.0", "arm_ci_lower": "24.0", "arm_ci_upper": "30.5",
            "n_arm": "690"},
    "mean_arm": {**COMMON, "treatment": "", "comparator": "", "outcome": "nrs_pain", "arm": "coach",
                 "arm_measure": "mean", "arm_estimate": "4.0", "arm_se": "0.3", "n_arm": "60"},
}


def problems(form: str, **cells) -> list[tuple[str, str, str]]:
    found, _ = check_row({**ROWS[form], **cells}, 7, "t.tsv", CONFIG, OUTCOMES, WINDOWS)
    assert all(p.line == 7 and p.file == "t.tsv" for p in found)
    return [(p.column, p.value, p.rule) for p in found]


@pytest.mark.parametrize("form", sorted(ROWS))
def test_the_fixture_rows_are_valid(form):
    assert problems(form) == []


AT_LEAST_1 = "must be at least 1"
CASES = [
    # counts: 0 <= events <= n, n >= 1, whole numbers
    ("counts", {"events_treat": "0"}, []), ("counts", {"events_treat": "100"}, []),
    ("counts", {"events_treat": "101"}, [("events_treat", "101", "must not exceed n_treat (100)")]),
    ("counts", {"events_ctrl": "-1"}, [("events_ctrl", "-1", "must not be negative")]),
    ("counts", {"n_ctrl": "1", "events_ctrl": "1"}, []),
    ("counts", {"n_ctrl": "0", "events_ctrl": "0"}, [("n_ctrl", "0", AT_LEAST_1)]),
    ("counts", {"n_treat": "0", "events_treat": "1"}, [("n_treat", "0", AT_LEAST_1)]),  # no second complaint
    ("counts", {"events_treat": "2.5"}, [("events_treat", "2.5", "must be a whole number")]),
    ("counts", {"n_ctrl": ""}, [("n_ctrl", "", "must be filled for counts data")]),
    # means: SD > 0, n >= 1, an SMD needs N >= 3
    ("means", {"sd_treat": "0"}, [("sd_treat", "0", "must be greater than 0")]),
    ("means", {"sd_ctrl": "0.001"}, []),
    ("means", {"n_treat": "1"}, []), ("means", {"n_treat": "0"}, [("n_treat", "0", AT_LEAST_1)]),
    ("means", {"outcome": "pain_interference", "n_treat": "1", "n_ctrl": "2"}, []),
    ("means", {"outcome": "pain_interference", "n_treat": "1", "n_ctrl": "1"},
     [("n_treat", "1", "an SMD needs at least 3 participants in all")]),
    ("means", {"outcome": "pain_severity_response"},
     [("mean_treat", "4.1", "arm means given, but outcome 'pain_severity_response' is analysed as RR")]),
    ("means", {"sd_treat": "", "sem_treat": "0.3"}, []),
    ("means", {"sd_treat": "", "sem_treat": "0"}, [("sem_treat", "0", "an SE must be greater than 0")]),
    ("means", {"sd_treat": "", "mean_ci_lower_treat": "3.5", "mean_ci_upper_treat": "4.7"}, []),
    ("means", {"sd_treat": "", "sem_treat": "0", "mean_ci_lower_treat": "3.5", "mean_ci_upper_treat": "4.7"},
     [("sem_treat", "0", "an SE must be greater than 0")]),  # not also "disagrees with the CI"
    ("means", {"sd_treat": "", "mean_ci_lower_treat": "4.1", "mean_ci_upper_treat": "4.7"}, []),  # mean on a limit
    ("means", {"sd_treat": "", "mean_ci_lower_treat": "3.5", "mean_ci_upper_treat": "4.1"}, []),
    ("means", {"sd_treat": "", "mean_ci_lower_treat": "4.2", "mean_ci_upper_treat": "4.7"},
     [("mean_treat", "4.1", "lies outside its own CI [4.2, 4.7]")]),
    ("means", {"sd_treat": "", "mean_ci_lower_treat": "4.7", "mean_ci_upper_treat": "3.5"},
     [("mean_ci_lower_treat", "4.7", "CI is reversed: lower limit above upper limit (3.5)")]),
    ("means", {"sd_treat": "", "mean_ci_lower_treat": "4.1", "mean_ci_upper_treat": "4.1"},
     [("mean_ci_upper_treat", "4.1", "CI has zero width")]),
    ("means", {"sd_treat": "", "mean_ci_lower_treat": "3.5"},
     [("mean_ci_upper_treat", "", "give both limits of the arm mean's CI or neither")]),
    ("means", {"n_treat": ""}, [("n_treat", "", "must be filled for means data")]),  # an SD needs no n to convert
    ("means", {"sd_treat": "", "sem_treat": "0.3", "n_treat": ""},
     [("n_treat", "", "must be filled for means data"),
      ("n_treat", "", "must be filled: the SD is computed from the SE or CI of the mean and n")]),
    ("means", {"sd_treat": "", "sem_treat": "0.3", "n_treat": "1"},
     [("n_treat", "1", "an arm of 1 has no SD to recover; at least 2 needed")]),
    ("means", {"sd_treat": "", "sem_treat": "0.3", "n_treat": "2"}, []),
    # SE of the mean beside its CI: within 10% (the 95% CI 3.5-4.7 with n 40 implies SE 0.2966)
    ("means", {"sd_treat": "", "sem_treat": "0.28", "mean_ci_lower_treat": "3.5", "mean_ci_upper_treat": "4.7"}, []),
    ("means", {"sd_treat": "", "sem_treat": "0.32", "mean_ci_lower_treat": "3.5", "mean_ci_upper_treat": "4.7"}, []),
    ("means", {"sd_treat": "", "sem_treat": "0.26", "mean_ci_lower_treat": "3.5", "mean_ci_upper_treat": "4.7"},
     [("sem_treat", "0.26", "disagrees with the CI of the mean beside it, which implies an SE of 0.2966 (more than 10% "
                            "apart); check both, keep the one the source reports")]),
    ("means", {"sd_treat": "", "sem_treat": "0.34", "mean_ci_lower_treat": "3.5", "mean_ci_upper_treat": "4.7"},
     [("sem_treat", "0.34", "disagrees with the CI of the mean beside it, which implies an SE of 0.2966 (more than 10% "
                            "apart); check both, keep the one the source reports")]),
    # exactly 10% apart is allowed: SE 0.3845262615623163 is 0.1 x itself above the 0.3460736354 the CI
    # 3.4-4.8 implies with n 40, exactly in floating point (found by stepping the SE by ulps)
    ("means", {"sd_treat": "", "sem_treat": "0.3845262615623163", "mean_ci_lower_treat": "3.4",
               "mean_ci_upper_treat": "4.8", "mean_treat": "4.1"}, []),
    ("means", {"sd_treat": "", "sem_treat": "0.38452626156232", "mean_ci_lower_treat": "3.4",
               "mean_ci_upper_treat": "4.8", "mean_treat": "4.1"},
     [("sem_treat", "0.38452626156232", "disagrees with the CI of the mean beside it, which implies an SE of 0.3461 "
                                        "(more than 10% apart); check both, keep the one the source reports")]),
    # contrast: estimate within its CI (limits allowed), SE > 0, CI level in [50, 100), p in (0, 1]
    ("contrast", {"effect": "-0.7"}, []), ("contrast", {"effect": "-0.1"}, []),
    ("contrast", {"effect": "-0.05"}, [("effect", "-0.05", "lies outside its own CI [-0.7, -0.1]")]),
    ("contrast", {"ci_lower": "-0.1", "ci_upper": "-0.7"},
     [("ci_lower", "-0.1", "CI is reversed: lower limit above upper limit (-0.7)")]),
    ("contrast", {"effect": "-0.4", "ci_lower": "-0.4", "ci_upper": "-0.4"},
     [("ci_upper", "-0.4", "CI has zero width")]),
    ("contrast", {"ci_upper": ""}, [("ci_upper", "", "give both CI limits or neither")]),
    ("contrast", {"ci_lower": "", "ci_upper": "", "se": "0"}, [("se", "0", "must be greater than 0")]),
    ("contrast", {"ci_lower": "", "ci_upper": "", "se": "0.01"}, []),
    ("contrast", {"ci_level": "50"}, []), ("contrast", {"ci_level": "99.9"}, []),
    ("contrast", {"ci_level": "100"}, [("ci_level", "100", "must be a percentage between 50 and 100, e.g. 95")]),
    ("contrast", {"ci_level": "49"}, [("ci_level", "49", "must be a percentage between 50 and 100, e.g. 95")]),
    ("contrast", {"ci_lower": "", "ci_upper": "", "p_value": "1"}, []),
    ("contrast", {"ci_lower": "", "ci_upper": "", "p_value": "1e-9"}, []),
    ("contrast", {"ci_lower": "", "ci_upper": "", "p_value": "0"}, [("p_value", "0", "a p-value must lie in (0, 1]")]),
    ("contrast", {"ci_lower": "", "ci_upper": "", "p_value": "1.01"},
     [("p_value", "1.01", "a p-value must lie in (0, 1]")]),
    ("contrast", {"effect_measure": "MD"},
     [("effect_measure", "MD", "outcome 'pain_interference' is analysed as SMD; convert or use another outcome")]),
    ("contrast", {"effect_measure": "HR"}, [("effect_measure", "HR", "must be one of RR, OR, RD, SMD, MD")]),
    # the SE beside a CI: within 10% of the CI's (the 95% CI -0.7 to -0.1 implies 0.1531)
    ("contrast", {"se": "0.14"}, []), ("contrast", {"se": "0.168"}, []),
    ("contrast", {"se": "0.135"},
     [("se", "0.135", "disagrees with the CI beside it, which implies an SE of 0.1531 (more than 10% apart); check "
                      "both, keep the one the source reports")]),
    # exactly 10% apart is allowed (the CI 0.1-0.5 implies 0.1020426914 = 0.9 x 0.11338076820547868 in floating point)
    ("contrast", {"effect": "0.3", "ci_lower": "0.1", "ci_upper": "0.5", "se": "0.11338076820547868"}, []),
    ("contrast", {"effect": "0.3", "ci_lower": "0.1", "ci_upper": "0.5", "se": "0.1133807682055"},
     [("se", "0.1133807682055", "disagrees with the CI beside it, which implies an SE of 0.102 (more than 10% apart); "
                                "check both, keep the one the source reports")]),
    # ratio measures: > 0, the estimate within its CI
    ("ratio", {"effect": "1.1"}, []), ("ratio", {"effect": "2.0"}, []),
    ("ratio", {"effect": "0", "ci_lower": ""}, [("ci_lower", "", "give both CI limits or neither"),
                                                 ("effect", "0", "a RR must be greater than 0")]),
    ("ratio", {"ci_lower": "0"}, [("ci_lower", "0", "a RR must be greater than 0")]),
    ("ratio", {"effect": "2.1"}, [("effect", "2.1", "lies outside its own CI [1.1, 2]")]),
    # one arm's estimate: a proportion strictly inside (0, 100%), within its CI, SE > 0, n_arm >= 1
    ("arm", {"arm_estimate": "24.0"}, []), ("arm", {"arm_estimate": "30.5"}, []),
    ("arm", {"arm_estimate": "31"}, [("arm_estimate", "31", "lies outside its own CI [24, 30.5]")]),
    ("arm", {"arm_estimate": "0", "arm_ci_lower": "0"},
     [("arm_estimate", "0", "a percent must lie strictly between 0 and 100"),
      ("arm_ci_lower", "0", "a percent must lie strictly between 0 and 100")]),
    ("arm", {"arm_ci_upper": "100"}, [("arm_ci_upper", "100", "a percent must lie strictly between 0 and 100")]),
    ("arm", {"arm_ci_upper": "99.9"}, []),
    ("arm", {"arm_measure": "proportion", "arm_estimate": "0.27", "arm_ci_lower": "0.24", "arm_ci_upper": "1"},
     [("arm_ci_upper", "1", "a proportion must lie strictly between 0 and 1")]),
    ("arm", {"arm_ci_lower": "30.5", "arm_ci_upper": "24.0"},
     [("arm_ci_lower", "30.5", "CI is reversed: lower limit above upper limit (24)")]),
    ("arm", {"arm_estimate": "27", "arm_ci_lower": "27", "arm_ci_upper": "27"},
     [("arm_ci_upper", "27", "CI has zero width")]),
    ("arm", {"n_arm": "1"}, []), ("arm", {"n_arm": "0"}, [("n_arm", "0", AT_LEAST_1)]),
    ("arm", {"arm_ci_upper": ""}, [("arm_ci_upper", "", "give both CI limits or neither")]),
    ("arm", {"arm_ci_lower": "", "arm_ci_upper": ""},
     [("arm_ci_lower", "", "give the arm's CI (arm_ci_lower, arm_ci_upper) or its SE (arm_se)")]),
    ("arm", {"arm_measure": "mean"},
     [("arm_measure", "mean", "mean arms give MD contrasts, but outcome 'pain_intensity_response' is analysed as RR")]),
    ("arm", {"n_treat": "40"}, [("n_treat", "40", "not used on an arm row: give the arm's size in n_arm")]),
    ("mean_arm", {"arm_se": "0.001"}, []), ("mean_arm", {"arm_se": "0.5"}, []), ("mean_arm", {"arm_se": "2"}, []),
    ("mean_arm", {"arm_se": "0"}, [("arm_se", "0", "must be greater than 0")]),
    ("mean_arm", {"arm_se": "-0.3"}, [("arm_se", "-0.3", "must be greater than 0")]),
    ("mean_arm", {"arm_estimate": "-250"}, []),  # a mean arm has no bounds
    # every row: a year in [1900, 2100]
    ("contrast", {"year": "1900"}, []), ("contrast", {"year": "2100"}, []),
    ("contrast", {"year": "1899"}, [("year", "1899", "must be a year between 1900 and 2100")]),
    ("contrast", {"year": "2101"}, [("year", "2101", "must be a year between 1900 and 2100")]),
]


@pytest.mark.parametrize("form,cells,expected", CASES)
def test_each_rule_at_and_across_its_boundary(form, cells, expected):
    assert problems(form, **cells) == expected
