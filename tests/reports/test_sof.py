"""Summary-of-findings arithmetic, checked against the worked examples of its sources.

* Absolute effects and NNT from a risk ratio or odds ratio at an assumed control risk (ACR):
  Cochrane Handbook v5.1 §12.5.4.2-3 = v6.5 §15.4.4 ("RR = 0.92 and ACR = 0.3: 24 fewer per
  1000, NNT 42"; "OR = 0.73 and ACR = 0.3: 62 fewer per 1000, NNT 17"), NNTs rounded up.
* The CI of an NNT whose risk difference CI includes 0 runs through infinity (Altman 1998,
  BMJ 317:1309: "NNTB 10 to infinity to NNTH 20").
* SMD re-expressed on a familiar scale = SMD x reference SD (Handbook v5.1 12.6.4, v6.5 15.5.3).
* The SoF row of RESOLVE's primary outcome (DeBar 2025, coach vs usual care at 3 months):
  RR 1.538 [1.299, 1.822] at the usual-care arm's adjusted 20.8% gives 320 per 1000 with
  coach (32.0%, the coach arm's own adjusted percentage, as it must), 112 more per 1000.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from evsynth.data.config import Outcome, check_sof_settings
from evsynth.data.judgements import JudgementsError, load_judgements
from evsynth.reports.sof import (
    SOF_COLUMNS,
    sof_records,
    sof_row,
    trial_control_risks,
)
from evsynth.stats.absolute import (
    absolute_effect,
    assumed_control_risk,
    number_needed_to_treat,
    per_1000,
    reexpress_smd,
    risk_with_intervention,
)
from evsynth.wording import i2_interpretation

MODES = {"coach": "Health-coach-led remote CBT", "online": "Self-guided online CBT", "usual_care": "Usual care"}
RESPONSE = Outcome("pain_severity_response", ">=30% reduction in pain severity (BPI-SF)", "RR", True)
MORTALITY = Outcome("death", "Death", "RR", False)
SMD = Outcome("pain_intensity", "Pain intensity (SMD)", "SMD", False)
MD = Outcome("bpi", "Pain severity (BPI)", "MD", False, "BPI-SF 0-10")
SETTINGS = {"control_risk": {}, "mid": {"pain_severity_response": 1.25}, "reference_sd": {"pain_intensity": 2.0},
            "reference_scale": "0-10 pain scale"}
# results/pooled.tsv's row for RESOLVE, coach vs usual care, pain severity response, post (3 months).
RESOLVE_ROW = {
    "outcome": "pain_severity_response", "timepoint": "post", "treatment": "coach", "comparator": "usual_care",
    "measure": "RR", "k": 1, "n_participants": 1393, "estimate": 1.538461538, "ci_lower": 1.299133231,
    "ci_upper": 1.821879272, "status": "single study: shown, not pooled", "studies": "DeBar 2025",
    "profile": "cochrane-2025",
}


@pytest.mark.parametrize(("measure", "effect", "fewer", "nnt"), [("RR", 0.92, 24, 42), ("OR", 0.73, 62, 17)])
def test_handbook_worked_examples(measure, effect, fewer, nnt):
    result = absolute_effect(0.3, effect, effect, effect, measure)
    assert per_1000(result.difference) == -fewer
    assert number_needed_to_treat(result.difference, result.difference_ci, higher_is_better=False).value == nnt


def test_risk_with_intervention_formulas():
    assert risk_with_intervention(0.2, 1.5, "RR") == pytest.approx(0.3)
    assert risk_with_intervention(0.2, 2.0, "OR") == pytest.approx(2 * 0.2 / (1 - 0.2 + 2 * 0.2))
    assert risk_with_intervention(0.2, 0.05, "RD") == pytest.approx(0.25)
    assert risk_with_intervention(0.5, 3.0, "RR") == 1.0  # a risk is capped at 1
    with pytest.raises(ValueError):
        risk_with_intervention(0.2, 1.0, "MD")


def test_per_1000_rounds_half_away_from_zero():
    assert per_1000(0.0625) == 63 and per_1000(-0.0625) == -63 and per_1000(0.0) == 0


def test_nnt_ci_through_infinity_and_no_nnt_for_harm():
    # Responders (higher is better): difference +4% [-2%, +10%].
    nnt = number_needed_to_treat(0.04, (-0.02, 0.10), higher_is_better=True)
    assert (nnt.value, nnt.ci_lower) == (25, 10)
    assert nnt.text == "25 (NNTB 10 to infinity to NNTH 50)"
    clear = number_needed_to_treat(0.112, (0.0622, 0.171), higher_is_better=True)
    assert clear.text == "9 (6 to 17)"
    assert number_needed_to_treat(-0.05, (-0.1, 0.0), higher_is_better=True).value is None
    # Fewer events better: a reduction of 5% is beneficial.
    assert number_needed_to_treat(-0.05, (-0.08, -0.02), higher_is_better=False).text == "20 (13 to 50)"


@pytest.mark.parametrize("higher_is_better", [True, False])
def test_nnt_at_exact_reciprocals_is_not_rounded_up(higher_is_better):
    # 1 / 0.10 and 1 / 0.05 are exactly 10 and 20 in floating point: NNTs 10 and 20, not 11 and 21,
    # for the CI limits of a clear benefit and of one through no effect (Altman 1998, BMJ
    # 317:1309: "NNTB 10 to infinity to NNTH 20"), on an outcome where more or fewer events are better.
    s = 1 if higher_is_better else -1
    assert number_needed_to_treat(s * 0.08, (s * 0.05, s * 0.10), higher_is_better).text == "13 (10 to 20)"
    assert number_needed_to_treat(s * 0.05, (s * 0.04, s * 0.10), higher_is_better).text == "20 (10 to 25)"
    through = number_needed_to_treat(s * 0.05, (s * -0.05, s * 0.10), higher_is_better)
    assert through.text == "20 (NNTB 10 to infinity to NNTH 20)"
    assert number_needed_to_treat(s * 0.05, (0.0, s * 0.10), higher_is_better).text == "20 (NNTB 10 to infinity)"


def test_smd_reexpressed_by_reference_sd():
    assert reexpress_smd(-0.33, -0.63, -0.03, 2.0) == pytest.approx((-0.66, -1.26, -0.06))


def test_assumed_control_risk_median_or_configured():
    acr, source = assumed_control_risk(None, {"B 2019": 0.4, "A 2018": 0.2, "C 2020": 0.3})
    assert acr == pytest.approx(0.3) and "median of 3 trials'" in source and "A 2018 20.0%" in source
    assert assumed_control_risk(0.25, {"A": 0.2})[0] == 0.25
    assert assumed_control_risk(None, {})[0] is None


def test_trial_control_risks_from_counts_and_arm_rows():
    rows = [
        {"study": "DeBar 2025", "outcome": "o", "window": "post", "form": "arm", "arm": "usual_care",
         "arm_measure": "percent", "arm_estimate": 20.8},
        {"study": "DeBar 2025", "outcome": "o", "window": "post", "form": "arm", "arm": "coach",
         "arm_measure": "percent", "arm_estimate": 32.0},
        {"study": "Counts 2020", "outcome": "o", "window": "post", "form": "counts", "treatment": "coach",
         "comparator": "usual_care", "events_ctrl": 10, "n_ctrl": 40},
        {"study": "Other 2021", "outcome": "o", "window": "6m", "form": "counts", "treatment": "coach",
         "comparator": "usual_care", "events_ctrl": 1, "n_ctrl": 2},
    ]
    risks = trial_control_risks(rows, "o", "post", "coach", "usual_care", ["DeBar 2025", "Counts 2020", "Other 2021"])
    assert risks == {"DeBar 2025": pytest.approx(0.208), "Counts 2020": 0.25}
    assert trial_control_risks(rows, "o", "post", "coach", "online", ["DeBar 2025"]) == {}


def test_resolve_row_absolute_effects_and_nnt():
    row = sof_row(RESOLVE_ROW, RESPONSE, MODES, SETTINGS, {"DeBar 2025": 0.208}, [("DeBar 2025", 100.0)],
                  {"DeBar 2025": ""})
    assert set(row) <= set(SOF_COLUMNS)
    assert row["effect"] == row["relative_effect"] == "RR 1.54 [1.30, 1.82]"
    assert (row["estimate"], row["ci_lower"], row["ci_upper"]) == (1.538461538, 1.299133231, 1.821879272)
    assert row["assumed_control_risk"] == 0.208
    assert row["risk_comparator_per_1000"] == 208
    assert row["risk_treatment_per_1000"] == round(1000 * 0.208 * 1.538461538) == 320
    assert (row["risk_treatment_ci_lower_per_1000"], row["risk_treatment_ci_upper_per_1000"]) == (270, 379)
    assert (row["difference_per_1000"], row["difference_ci_lower_per_1000"],
            row["difference_ci_upper_per_1000"]) == (112, 62, 171)
    assert row["absolute_difference"] == "112 more per 1,000 (62 more to 171 more)"
    assert (row["nnt"], row["nnt_ci_lower"], row["nnt_ci_upper"]) == (9, 6, 17)
    assert row["participants"] == "1,393 (1 RCT)"
    assert row["ci_includes_no_effect"] is False and row["ci_crosses_mid"] is False
    assert row["inconsistency"] == "not applicable (one trial)"
    assert row["rob_not_assessed_pct"] == 100 and row["risk_of_bias"].startswith("not assessed")
    assert "certainty" not in row  # never computed


def test_smd_and_md_rows():
    pooled = {**RESOLVE_ROW, "outcome": "pain_intensity", "measure": "SMD", "k": 3, "estimate": -0.33,
              "ci_lower": -0.63, "ci_upper": -0.03, "status": "pooled", "i2": 49.0, "tau2": 0.06,
              "pi_lower": -0.99, "pi_upper": 0.32, "n_participants": None, "studies": "A; B; C"}
    row = sof_row(pooled, SMD, MODES, SETTINGS, {}, [("A", 50.0), ("B", 30.0), ("C", 20.0)],
                  {"A": "high", "B": "low", "C": ""})
    assert (row["reexpressed"], row["reexpressed_ci_lower"], row["reexpressed_ci_upper"]) == pytest.approx(
        (-0.66, -1.26, -0.06))
    assert row["absolute_difference"].startswith("SMD 0.33 SD lower (0.63 SD lower to 0.03 SD lower)")
    assert "0.7 lower (1.3 lower to 0.1 lower) points on a 0-10 pain scale" in row["absolute_difference"]
    assert row["pi_includes_no_effect"] is True and "while the CI excludes it" in row["inconsistency"]
    assert "may represent moderate heterogeneity" in row["inconsistency"]
    assert (row["rob_high_pct"], row["rob_low_pct"], row["rob_not_assessed_pct"]) == (50, 30, 20)
    assert row["risk_of_bias"] == "50% high, 30% low, 20% not assessed of the weight (overall RoB 2)"
    md = sof_row({**pooled, "measure": "MD"}, MD, MODES, SETTINGS, {}, [], {})
    assert md["absolute_effect"] == "MD 0.33 lower (0.63 lower to 0.03 lower) (BPI-SF 0-10)"


def test_mid_crossing_and_harm_threshold():
    wide = {**RESOLVE_ROW, "estimate": 1.1, "ci_lower": 0.7, "ci_upper": 1.4}
    row = sof_row(wide, RESPONSE, MODES, SETTINGS, {"DeBar 2025": 0.2}, [], {})
    assert row["ci_includes_no_effect"] is True and row["ci_crosses_mid"] is True
    assert "important benefit and important harm (RR 0.80)" in row["imprecision"]
    assert row["nnt_text"].startswith("50 (NNTB")


def test_no_control_risk_leaves_absolute_effects_empty():
    row = sof_row(RESOLVE_ROW, RESPONSE, MODES, SETTINGS, {}, [], {})
    assert row.get("risk_comparator_per_1000") is None
    assert "set summary_of_findings.control_risk" in row["absolute_effect"]


def test_i2_bands_overlap_as_in_the_handbook():
    assert i2_interpretation(20) == "might not be important"
    assert i2_interpretation(35) == "might not be important or may represent moderate heterogeneity"
    assert i2_interpretation(80) == "may represent substantial heterogeneity or considerable heterogeneity"


def test_sof_records_follow_pooled_order_and_judgements():
    pooled = pd.DataFrame([RESOLVE_ROW, {**RESOLVE_ROW, "treatment": "online", "estimate": 1.2788,
                                         "ci_lower": 1.055, "ci_upper": 1.55}])
    studies = {("pain_severity_response", "post"): pd.DataFrame(
        {"study": ["DeBar 2025", "DeBar 2025"], "treatment": ["coach", "online"],
         "comparator": ["usual_care", "usual_care"], "weight_pct": [100.0, 100.0]})}
    control = [{"study": "DeBar 2025", "outcome": "pain_severity_response", "window": "post", "form": "arm",
                "arm": "usual_care", "arm_measure": "percent", "arm_estimate": 20.8}]
    rob = {("pain_severity_response", "post"): {("DeBar 2025", "coach", "usual_care"): ("low",) * 5 + ("low",)}}
    judged = [{"outcome": "pain_severity_response", "timepoint": "post", "treatment": "coach",
               "comparator": "usual_care", "certainty": "moderate", "reasons": "imprecision", "comments": ""}]
    rows = sof_records(pooled, studies, {"pain_severity_response": RESPONSE}, MODES, SETTINGS, control, rob, judged)
    assert [r["treatment"] for r in rows] == ["coach", "online"]
    assert rows[0]["certainty"] == "moderate" and "certainty" not in rows[1]
    assert rows[0]["rob_low_pct"] == 100 and rows[1]["rob_not_assessed_pct"] == 100
    assert rows[1]["risk_treatment_per_1000"] == per_1000(0.208 * 1.2788)


def test_check_settings_names_every_problem():
    outcomes = {"pain_severity_response": RESPONSE, "pain_intensity": SMD}
    problems = check_sof_settings({"control_risk": {"pain_intensity": 0.2, "typo": 0.1},
                                   "mid": {"pain_severity_response": 0.8},
                                   "reference_sd": {"pain_severity_response": 2}},
                                  outcomes)
    text = "\n".join(problems)
    assert len(problems) == 4
    assert "summary_of_findings.control_risk.typo: unknown outcome" in text
    assert "control_risk.pain_intensity: outcome 'pain_intensity' is analysed as SMD" in text
    assert "a ratio above 1" in text
    assert check_sof_settings({"mid": {"pain_severity_response": 1.25}}, outcomes) == []


def test_judgements_file_checks(tmp_path):
    good = tmp_path / "grade.tsv"
    good.write_text("outcome\ttimepoint\ttreatment\tcomparator\tcertainty\treasons\n"
                    "o\tpost\tcoach\tusual_care\tModerate\tserious imprecision\n")
    rows = load_judgements(good, ["o"], ["post"], ["coach", "usual_care"])
    assert rows[0]["certainty"] == "moderate" and rows[0]["reasons"] == "serious imprecision"
    bad = tmp_path / "bad.tsv"
    bad.write_text("outcome\ttimepoint\ttreatment\tcomparator\tcertainty\n"
                   "o\tpost\tcoach\tusual_care\tgood\n"
                   "o\t3m\tcoach\tusual_care\tlow\n"
                   "o\tpost\tcoach\tusual_care\tlow\n")
    with pytest.raises(JudgementsError) as err:
        load_judgements(bad, ["o"], ["post"], ["coach", "usual_care"])
    text = str(err.value)
    assert "line 2, column 'certainty' = 'good': must be one of high, moderate, low, very low" in text
    assert "line 3, column 'timepoint' = '3m'" in text
    assert "line 4, column 'outcome' = 'o': same outcome, timepoint and comparison as line 2" in text
    with pytest.raises(JudgementsError, match="file not found"):
        load_judgements(tmp_path / "missing.tsv", [], [], [])


def test_judgements_header_problems_are_all_on_line_1(tmp_path):
    """An unknown column and a missing one are both header problems: line 1, each named, at once."""
    bad = tmp_path / "grade.tsv"
    bad.write_text("outcome\ttimepoint\ttreatment\tcomparator\tcertainity\n"
                   "o\tpost\tcoach\tusual_care\tlow\n")
    with pytest.raises(JudgementsError) as err:
        load_judgements(bad, ["o"], ["post"], ["coach", "usual_care"])
    found = [(p.line, p.column, p.rule.split(";")[0]) for p in err.value.problems]
    assert found == [(1, "certainity", "unknown column"), (1, "certainty", "required column is missing")]


def test_all_rows_have_only_known_columns_and_finite_numbers():
    row = sof_row(RESOLVE_ROW, RESPONSE, MODES, SETTINGS, {"DeBar 2025": 0.208}, [], {})
    for key, value in row.items():
        assert key in SOF_COLUMNS
        if isinstance(value, float):
            assert math.isfinite(value)


def test_bayesian_columns_come_from_pooled_or_say_why_not():
    bayes = {"bayes_estimate": 1.538, "bayes_ci_lower": 0.3636, "bayes_ci_upper": 6.509, "bayes_prob_benefit": 0.85,
             "bayes_prob_mid": 0.73, "bayes_tau_prior": "turner2015 pain, nonpharma-control: log-normal on tau²",
             "bayes_status": "posterior from 1 trial"}
    row = sof_row({**RESOLVE_ROW, **bayes}, RESPONSE, MODES, SETTINGS, {}, [], {})
    assert set(row) <= set(SOF_COLUMNS)
    assert row["bayes_effect"] == "RR 1.54 [0.36, 6.51] (95% CrI)"
    assert (row["bayes_prob_benefit"], row["bayes_prob_mid"]) == (0.85, 0.73)
    row = sof_row({**RESOLVE_ROW, "bayes_status": "not run: across modes"}, RESPONSE, MODES, SETTINGS, {}, [], {})
    assert row["bayes_effect"] == "not run: across modes"
