"""Data as trials report it, end to end below Snakemake: a test table with every implemented form
(arm SE, arm mean CI, medians with quartiles, a contrast with a p-value or a t statistic) is
checked and converted (evsynth.data.conversions), and the conversion shows in effects.tsv, in
the forest plot (marker and footnote), in checks.tsv (skew), in the reported-only sensitivity
subset and in robustness.tsv. Trial labels and numbers are made up (a test table, not the
shipped one); expected values are the formulas of docs/study_table.md worked by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import yaml
from scipy import stats

from conftest import REPO
from evsynth.data.checks import plausibility_checks
from evsynth.data.config import outcomes_from_config, resolve_settings, sensitivity_config
from evsynth.data.studies import StudyTableError, load_studies
from evsynth.figures.forest_data import build_forest_data
from evsynth.tables.effects import effects_records
from evsynth.tables.pooled import analyse, pooled_records, robustness_records, study_records
from evsynth.tables.sensitivity import analyse_sensitivity

CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
OUTCOMES = outcomes_from_config(CONFIG)
MODES = list(CONFIG["modes"])
SETTINGS = resolve_settings({"profile": "cochrane-2025", "alpha": 0.05})
BASE = {
    "year": "2020",
    "treatment": "coach",
    "comparator": "usual_care",
    "outcome": "nrs_pain",
    "timepoint": "3",
    "source": "doi:10.1000/test Table 2",
}
ROWS = [
    {
        "study": "Alpha 2020",
        "n_treat": "40",
        "n_ctrl": "41",
        "mean_treat": "4.1",
        "sem_treat": "0.3",
        "mean_ctrl": "5.2",
        "sem_ctrl": "0.31",
    },
    {
        "study": "Beta 2021",
        "n_treat": "25",
        "n_ctrl": "100",
        "mean_treat": "3.9",
        "mean_ci_lower_treat": "3.1",
        "mean_ci_upper_treat": "4.7",
        "mean_ctrl": "5.0",
        "mean_ci_lower_ctrl": "4.6",
        "mean_ci_upper_ctrl": "5.4",
    },
    {
        "study": "Gamma 2022",
        "n_treat": "80",
        "n_ctrl": "82",
        "median_treat": "2.5",
        "q1_treat": "2",
        "q3_treat": "7",
        "median_ctrl": "5",
        "q1_ctrl": "3.5",
        "q3_ctrl": "6.5",
    },
    {
        "study": "Delta 2023",
        "n_treat": "50",
        "n_ctrl": "52",
        "effect_measure": "MD",
        "effect": "-1.1",
        "p_value": "0.03",
    },
    {"study": "Zeta 2018", "effect_measure": "MD", "effect": "-0.8", "t_stat": "-2.5"},
    {
        "study": "Epsilon 2019",
        "n_treat": "60",
        "n_ctrl": "60",
        "mean_treat": "4.0",
        "sd_treat": "2.0",
        "mean_ctrl": "4.6",
        "sd_ctrl": "2.1",
    },
    {
        "study": "Eta 2017",
        "n_treat": "30",
        "n_ctrl": "31",
        "mean_treat": "3.5",
        "sd_treat": "1.8",
        "mean_ctrl": "4.4",
        "sd_ctrl": "1.9",
    },
]


@pytest.fixture(scope="module")
def studies(tmp_path_factory) -> pd.DataFrame:
    path = tmp_path_factory.mktemp("conv") / "studies.tsv"
    pd.DataFrame([{**BASE, **r} for r in ROWS]).fillna("").to_csv(path, sep="\t", index=False)
    return load_studies(path, CONFIG).set_index("study", drop=False)


def test_each_form_is_converted_with_its_formula(studies):
    alpha = studies.loc["Alpha 2020"]
    assert alpha["form"] == "means" and alpha["conversion"] == "sd_from_se"
    assert alpha["sd_treat"] == pytest.approx(0.3 * math.sqrt(40)) and alpha["sd_ctrl"] == pytest.approx(0.31 * 41**0.5)
    beta = studies.loc["Beta 2021"]  # n 25: t(24); n 100: z
    assert beta["sd_treat"] == pytest.approx(5 * 1.6 / (2 * stats.t.ppf(0.975, 24)))
    assert beta["sd_ctrl"] == pytest.approx(10 * 0.8 / (2 * stats.norm.ppf(0.975)))
    gamma = studies.loc["Gamma 2022"]
    assert gamma["form"] == "means" and gamma["conversion"] == "median_iqr"
    w = 0.7 + 0.39 / 80
    assert gamma["mean_treat"] == pytest.approx(w * 4.5 + (1 - w) * 2.5)
    assert gamma["sd_treat"] == pytest.approx(5 / (2 * stats.norm.ppf((0.75 * 80 - 0.125) / 80.25)))
    assert gamma["skew_check"].startswith("treatment arm: Shi et al. 2023 skewness statistic")
    delta = studies.loc["Delta 2023"]  # MD from a t test: 50 + 52 - 2 df
    assert delta["conversion"] == "se_from_p" and delta["se"] == pytest.approx(1.1 / stats.t.isf(0.015, 100))
    assert studies.loc["Zeta 2018", "se"] == pytest.approx(0.8 / 2.5)
    assert studies.loc["Epsilon 2019", "conversion"] == studies.loc["Eta 2017", "conversion"] == ""


def test_effects_tsv_names_each_conversion_and_its_source(studies):
    records = {r["study"]: r for r in effects_records(studies.to_dict("records"), OUTCOMES, 0.05, 0.5, modes=MODES)}
    assert records["Alpha 2020"]["conversion"] == "sd_from_se"
    assert "Cochrane Handbook v6.5 §6.5.2.2" in records["Alpha 2020"]["conversion_source"]
    assert "Luo et al. 2018 (mean); Wan et al. 2014 (SD)" in records["Gamma 2022"]["conversion_source"]
    assert "§6.3.2" in records["Delta 2023"]["conversion_source"]
    assert "treatment SD 1.89737 = SE 0.3 x sqrt(40)" in records["Alpha 2020"]["derivation"]
    assert records["Epsilon 2019"]["conversion"] == records["Epsilon 2019"]["conversion_source"] == ""
    assert all(r["pooled"] for r in records.values())


@pytest.fixture(scope="module")
def analysis(studies):
    rows = studies.to_dict("records")
    effects, comparisons = analyse(rows, OUTCOMES["nrs_pain"], MODES, SETTINGS, 0.5)
    return rows, effects, comparisons


def test_forest_marks_converted_rows_with_a_footnote(analysis):
    _, effects, comparisons = analysis
    outcome = OUTCOMES["nrs_pain"]
    table = pd.DataFrame(study_records(effects, "post"))
    pooled = pd.DataFrame(pooled_records(effects, comparisons, outcome, "post", SETTINGS))
    data = build_forest_data(table, pooled, outcome, CONFIG["modes"], "post")
    labels = [row.label for group in data.subgroups for row in group.rows]
    assert "Alpha 2020 †" in labels and "Epsilon 2019" in labels
    notes = [line for line in data.footer if "Converted by the pipeline" in line]
    assert len(notes) == 5  # one marker per conversion used: sem, mean CI, quartiles, p, t
    first = next(line for line in notes if line.startswith("†"))
    assert "Cochrane Handbook v6.5 §6.5.2.2" in first and first.endswith(": Alpha 2020.")


def test_reported_only_subset_and_robustness_row(analysis):
    rows, effects, _ = analysis
    outcome = OUTCOMES["nrs_pain"]
    table = pd.DataFrame(study_records(effects, "post"))
    subsets = analyse_sensitivity(table, [], outcome, SETTINGS, sensitivity_config({}), "post")["subsets"]
    reported = [s for s in subsets if s["subset"] == "directly reported data only"]
    assert len(reported) == 1 and reported[0]["k"] == 2
    assert set(reported[0]["studies"].split("; ")) == {"Eta 2017", "Epsilon 2019"}
    assert set(reported[0]["excluded"].split("; ")) == {
        "Alpha 2020",
        "Beta 2021",
        "Gamma 2022",
        "Delta 2023",
        "Zeta 2018",
    }
    robust = robustness_records(rows, outcome, MODES, SETTINGS, 0.5, "post")
    only = [r for r in robust if r["profile"] == "cochrane-2025, directly reported data only"]
    assert len(only) == 1 and only[0]["k"] == 2 and not only[0]["chosen"]
    chosen = next(r for r in robust if r["chosen"])
    assert only[0]["conclusion_differs_from_chosen"] == (
        only[0]["ci_excludes_no_effect"] != chosen["ci_excludes_no_effect"]
    )


def test_checks_list_the_skewed_summary(studies):
    warnings = [w for w in plausibility_checks(studies.to_dict("records"), OUTCOMES) if w["check"] == "skewed summary"]
    assert [(w["study"], w["column"]) for w in warnings] == [("Gamma 2022", "median_treat")]


def test_shipped_table_has_no_conversion():
    studies = load_studies(REPO / "studies.tsv", CONFIG)
    assert set(studies["conversion"]) == {""} and set(studies["skew_check"]) == {""}


# Change from baseline (evsynth.data.change_scores): one trial reports baseline, final and change
# SDs (the correlation source), one only baseline and final SDs, one its own correlation.
CHANGE = [
    {
        "study": "Theta 2016",
        "value_type": "change",
        "n_treat": "50",
        "n_ctrl": "50",
        "mean_treat": "-1.5",
        "sd_treat": "1.6",
        "sd_baseline_treat": "2.0",
        "sd_final_treat": "2.2",
        "mean_ctrl": "-0.5",
        "sd_ctrl": "1.9",
        "sd_baseline_ctrl": "2.1",
        "sd_final_ctrl": "2.3",
    },
    {
        "study": "Iota 2015",
        "value_type": "change",
        "n_treat": "40",
        "n_ctrl": "40",
        "mean_treat": "-1.2",
        "sd_baseline_treat": "1.8",
        "sd_final_treat": "2.0",
        "mean_ctrl": "-0.4",
        "sd_baseline_ctrl": "1.9",
        "sd_final_ctrl": "2.1",
    },
    {
        "study": "Kappa 2014",
        "value_type": "change",
        "n_treat": "30",
        "n_ctrl": "30",
        "mean_treat": "-1.0",
        "sd_baseline_treat": "1.8",
        "sd_final_treat": "2.0",
        "mean_ctrl": "-0.2",
        "sd_ctrl": "1.7",
        "correlation": "0.6",
    },
    {
        "study": "Lambda 2013",
        "n_treat": "30",
        "n_ctrl": "30",
        "mean_treat": "3.0",
        "sd_treat": "2.0",
        "mean_ctrl": "3.9",
        "sd_ctrl": "2.1",
    },
]


def _load(tmp_path, rows, config=CONFIG, outcome="nrs_pain"):
    path = tmp_path / "studies.tsv"
    table = pd.DataFrame([{**BASE, "outcome": outcome, **r} for r in rows]).fillna("")
    table.to_csv(path, sep="\t", index=False)
    return load_studies(path, config).set_index("study", drop=False)


def _r(b, f, c):
    return (b**2 + f**2 - c**2) / (2 * b * f)


def test_change_sd_from_a_trial_reporting_all_three(tmp_path):
    studies = _load(tmp_path, CHANGE)
    r = (_r(2.0, 2.2, 1.6) + _r(2.1, 2.3, 1.9)) / 2
    iota = studies.loc["Iota 2015"]
    assert iota["conversion"] == "change_sd"
    assert iota["sd_treat"] == pytest.approx(math.sqrt(1.8**2 + 2.0**2 - 2 * r * 1.8 * 2.0))
    assert iota["sd_ctrl"] == pytest.approx(math.sqrt(1.9**2 + 2.1**2 - 2 * r * 1.9 * 2.1))
    assert "Theta 2016 (treatment, line 2), Theta 2016 (control, line 2)" in iota["conversion_detail"]
    kappa = studies.loc["Kappa 2014"]  # its own correlation; the control arm's change SD as reported
    assert kappa["sd_treat"] == pytest.approx(math.sqrt(1.8**2 + 2.0**2 - 1.2 * 1.8 * 2.0)) and kappa["sd_ctrl"] == 1.7
    assert "the row's correlation" in kappa["conversion_detail"]
    assert studies.loc["Theta 2016", "conversion"] == studies.loc["Lambda 2013", "conversion"] == ""
    records = effects_records(studies.to_dict("records"), OUTCOMES, 0.05, 0.5, modes=MODES)
    assert {r["study"]: r["conversion_source"] for r in records}["Iota 2015"].startswith("change_sd: SD of the change")


def test_change_sd_from_the_config_default_and_none(tmp_path):
    rows = [CHANGE[1], CHANGE[3]]
    config = {**CONFIG, "effects": {**CONFIG["effects"], "change_correlation": 0.5}}
    iota = _load(tmp_path, rows, config).loc["Iota 2015"]
    assert iota["sd_treat"] == pytest.approx(math.sqrt(1.8**2 + 2.0**2 - 1.8 * 2.0))
    assert "config.yaml effects.change_correlation" in iota["conversion_detail"]
    with pytest.raises(StudyTableError) as err:
        _load(tmp_path, rows)
    assert [(p.line, p.column) for p in err.value.problems] == [(2, "correlation")]
    assert "no correlation for the change SD" in err.value.problems[0].rule


def test_smd_refuses_change_mixed_with_final_but_md_accepts(tmp_path):
    assert len(_load(tmp_path, CHANGE)) == 4  # MD: mixing allowed
    with pytest.raises(StudyTableError) as err:
        _load(tmp_path, CHANGE, outcome="depression")
    assert [(p.line, p.column, p.value) for p in err.value.problems] == [(5, "value_type", "final")]
    assert "Cochrane Handbook 10.5.2" in err.value.problems[0].rule


def test_cluster_trial_variance_times_design_effect(tmp_path):
    base = {
        "n_treat": "60",
        "n_ctrl": "60",
        "mean_treat": "4.0",
        "sd_treat": "2.0",
        "mean_ctrl": "4.6",
        "sd_ctrl": "2.1",
    }
    rows = [
        {"study": "Mu 2012", **base, "cluster_size": "12", "icc": "0.05"},
        {"study": "Nu 2011", **base, "cluster_size": "8"},
        {"study": "Xi 2010", **base},
    ]
    config = {**CONFIG, "outcomes": {**CONFIG["outcomes"], "nrs_pain": {**CONFIG["outcomes"]["nrs_pain"], "icc": 0.02}}}
    studies = _load(tmp_path, rows, config)
    assert studies.loc["Mu 2012", "design_effect"] == pytest.approx(1.55)
    assert studies.loc["Nu 2011", "design_effect"] == pytest.approx(1.14)
    assert pd.isna(studies.loc["Xi 2010", "design_effect"]) and studies.loc["Xi 2010", "conversion"] == ""
    records = {r["study"]: r for r in effects_records(studies.to_dict("records"), OUTCOMES, 0.05, 0.5, modes=MODES)}
    plain = 2.0**2 / 60 + 2.1**2 / 60
    assert records["Xi 2010"]["vi"] == pytest.approx(plain)
    assert records["Mu 2012"]["vi"] == pytest.approx(1.55 * plain)
    assert records["Mu 2012"]["conversion"] == "cluster_design_effect"
    assert "config.yaml outcomes.nrs_pain.icc" in records["Nu 2011"]["derivation"]
    with pytest.raises(StudyTableError) as err:  # no ICC anywhere for Nu 2011
        _load(tmp_path, rows)
    assert [(p.line, p.column) for p in err.value.problems] == [(3, "icc")]


def test_binary_result_in_an_smd_outcome(tmp_path):
    rows = [
        {
            "study": "Omicron 2009",
            "events_treat": "30",
            "n_treat": "100",
            "events_ctrl": "20",
            "n_ctrl": "100",
            "effect_direction": "benefit_positive",
        },
        {
            "study": "Pi 2008",
            "n_treat": "50",
            "n_ctrl": "50",
            "mean_treat": "10",
            "sd_treat": "4",
            "mean_ctrl": "12",
            "sd_ctrl": "4.2",
        },
    ]
    studies = _load(tmp_path, rows, outcome="depression")  # SMD, lower is better
    assert studies.loc["Omicron 2009", "conversion"] == "smd_from_log_or"
    records = {r["study"]: r for r in effects_records(studies.to_dict("records"), OUTCOMES, 0.05, 0.5, modes=MODES)}
    log_or = math.log(30 * 80 / (70 * 20))
    # events are good (responders) and lower is better: the SMD is turned round, favouring treatment
    assert records["Omicron 2009"]["yi"] == pytest.approx(-log_or * math.sqrt(3) / math.pi)
    assert records["Omicron 2009"]["vi"] == pytest.approx((1 / 30 + 1 / 70 + 1 / 20 + 1 / 80) * 3 / math.pi**2)
    assert "Chinn 2000" in records["Omicron 2009"]["conversion_source"]
    with pytest.raises(StudyTableError):  # counts in an MD outcome stay refused
        _load(tmp_path, rows[:1])


def test_arms_of_one_mode_are_combined_with_the_shared_arm_once(tmp_path):
    ctrl = {"mean_ctrl": "5.0", "sd_ctrl": "2.0", "n_ctrl": "60"}
    rows = [
        {"study": "Rho 2007", "arm_group": "coach", "n_treat": "30", "mean_treat": "4.0", "sd_treat": "1.8", **ctrl},
        {"study": "Rho 2007", "arm_group": "coach", "n_treat": "40", "mean_treat": "4.5", "sd_treat": "2.2", **ctrl},
        {
            "study": "Sigma 2006",
            "arm_group": "c",
            "events_treat": "10",
            "n_treat": "30",
            "events_ctrl": "8",
            "n_ctrl": "31",
            "outcome": "pain_severity_response",
        },
        {
            "study": "Sigma 2006",
            "arm_group": "c",
            "events_treat": "12",
            "n_treat": "29",
            "events_ctrl": "8",
            "n_ctrl": "31",
            "outcome": "pain_severity_response",
        },
    ]
    studies = _load(tmp_path, rows)
    assert list(studies["study"]) == ["Rho 2007", "Sigma 2006"]
    rho = studies.loc["Rho 2007"]
    m = (30 * 4.0 + 40 * 4.5) / 70
    sd = math.sqrt((29 * 1.8**2 + 39 * 2.2**2 + 30 * 40 / 70 * (4.0**2 + 4.5**2 - 2 * 4.0 * 4.5)) / 69)
    assert (rho["n_treat"], rho["mean_treat"], rho["sd_treat"], rho["n_ctrl"]) == pytest.approx((70, m, sd, 60))
    assert rho["conversion"] == "combined_arms" and "lines 2, 3 combined" in rho["conversion_detail"]
    sigma = studies.loc["Sigma 2006"]
    assert (sigma["events_treat"], sigma["n_treat"], sigma["events_ctrl"], sigma["n_ctrl"]) == (22, 59, 8, 31)
    with pytest.raises(StudyTableError) as err:  # a control arm that differs, an arm_group of one row
        _load(tmp_path, [rows[0], {**rows[1], "sd_ctrl": "2.1"}, {**rows[2], "arm_group": "alone"}])
    assert [(p.line, p.column) for p in err.value.problems] == [(3, "sd_ctrl"), (4, "arm_group")]


def test_rows_hash_of_rows_used_as_reported_is_unchanged():
    # Provenance footers and provenance.tsv hash the analysis rows: the conversion fields, empty
    # on a row used as reported, leave the hash as it was before they existed.
    from evsynth.data.hashes import rows_hash

    row = {"study": "Eta 2017", "mean_treat": 3.5}
    empty = {"conversion": "", "conversion_detail": "", "skew_check": "", "design_effect": None}
    assert rows_hash([{**row, **empty}]) == rows_hash([row])
    assert rows_hash([{**row, **empty, "conversion": "sd_from_se"}]) != rows_hash([row])


def test_borrowed_sd_only_when_configured(tmp_path):
    rows = [
        {"study": "Tau 2005", "n_treat": "40", "n_ctrl": "40", "mean_treat": "4.0", "mean_ctrl": "4.8"},
        CHANGE[3],  # Lambda 2013: SDs 2.0 and 2.1, as reported
        {**CHANGE[3], "study": "Upsilon 2004", "sd_treat": "1.5", "sd_ctrl": "1.6"},
    ]
    with pytest.raises(StudyTableError) as err:  # off by default: the row is refused
        _load(tmp_path, rows)
    assert [(p.line, p.column) for p in err.value.problems] == [(2, "sd_treat"), (2, "sd_ctrl")]
    config = {**CONFIG, "effects": {**CONFIG["effects"], "borrow_missing_sd": True}}
    tau = _load(tmp_path, rows, config).loc["Tau 2005"]
    assert tau["sd_treat"] == tau["sd_ctrl"] == pytest.approx((2.0 + 2.1 + 1.5 + 1.6) / 4)
    assert tau["conversion"] == "sd_borrowed" and "Lambda 2013, Upsilon 2004" in tau["conversion_detail"]
    with pytest.raises(StudyTableError) as err:  # nothing to borrow from
        _load(tmp_path, rows[:1], config)
    assert "no SD to borrow" in err.value.problems[0].rule
