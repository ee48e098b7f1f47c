"""``pooling.profile: bayes``: the posterior as the primary analysis (evsynth.tables.bayes.bayes_primary)
and everything that reports it: pooled rows, robustness.tsv's chosen row and conclusions, the forest
plot's summary lines and footer, the summary of findings, the methods and results text and the R script.

Data: dat.normand1999 (length of stay, SMD; metafor's data set, inputs from
tests/oracle/data/metafor_reference.json) in one comparison, plus a single trial in another.
"""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest

from conftest import normand_rows, rscript_with_metafor, run_r_scripts
from evsynth.data.bayes_config import bayes_settings
from evsynth.data.config import Outcome, resolve_settings
from evsynth.data.io import read_tsv, write_tsv
from evsynth.figures.forest_data import build_forest_data, method_footer, robustness_lines
from evsynth.reports.methods_text import comparison_sentence, methods_blocks
from evsynth.reports.reproduce_r import reproduce_script
from evsynth.reports.sof import sof_row
from evsynth.stats.profiles import PROFILES, ROBUSTNESS_PROFILES
from evsynth.tables.bayes import bayes_columns, bayes_primary, bayes_robustness_records
from evsynth.tables.pooled import (
    POOLED_COLUMNS,
    STUDY_COLUMNS,
    analyse,
    bayes_reported_only_records,
    mark_conclusions,
    pooled_records,
    robustness_records,
    study_records,
)

OUTCOME = Outcome("los", "Length of stay", "SMD", higher_is_better=False)
MODES = ["coach", "online", "usual_care"]
LABELS = {"coach": "Coach", "online": "Online", "usual_care": "Usual care"}
BAYES = resolve_settings({"profile": "bayes", "alpha": 0.05})
BAYES_SETTINGS = bayes_settings({"bayes": {}}, "los", "SMD").as_dict()  # default half-normal(0.5)


@pytest.fixture(scope="module")
def rows(metafor):
    rows = normand_rows(metafor)
    return rows + [{**rows[0], "study": "Single", "treatment": "online"}]


def _tables(rows, settings):
    effects, comparisons = analyse(rows, OUTCOME, MODES, settings, 0.5)
    pooled = pooled_records(effects, comparisons, OUTCOME, "post", settings)
    pooled, fits = bayes_columns(pooled, effects, OUTCOME, BAYES_SETTINGS)
    return effects, (bayes_primary(pooled, OUTCOME) if settings.bayesian else pooled)


def test_bayes_is_a_profile_over_cochrane_settings():
    assert BAYES.bayesian and BAYES.label == "bayes" and "bayes" not in ROBUSTNESS_PROFILES
    cochrane = PROFILES["cochrane-2025"]
    assert (BAYES.estimator, BAYES.ci_method, BAYES.prediction_interval, BAYES.i2, BAYES.tau2_ci) == (
        cochrane.estimator, cochrane.ci_method, cochrane.prediction_interval, cochrane.i2, cochrane.tau2_ci)
    assert not resolve_settings({"profile": "cochrane-2025"}).bayesian


def test_pooled_rows_show_the_posterior_and_say_so(rows):
    _, frequentist = _tables(rows, PROFILES["cochrane-2025"])
    _, bayes = _tables(rows, BAYES)
    pooled, single = bayes
    assert pooled["status"] == "pooled" and pooled["profile"] == "bayes"
    for column in ("estimate", "ci_lower", "ci_upper", "pi_lower", "pi_upper"):
        assert pooled[column] == pooled[f"bayes_{column}"]  # the bayes_* columns, unchanged
    assert pooled["estimate"] != pytest.approx(frequentist[0]["estimate"], abs=1e-3)
    assert pooled["theta"] == pooled["bayes_estimate"]  # SMD: analysis scale is the reporting scale
    assert pooled["p_value"] is None and pooled["stat"] is None and pooled["se"] is None
    assert pooled["pi_method"] == "posterior predictive" and pooled["pi_df"] is None
    assert "posterior median of mu" in pooled["note"] and "half-normal(0.5)" in pooled["note"]
    for column in ("tau2", "i2", "q", "common_estimate", "tau2_ci_upper", "estimator", "ci_method"):
        assert pooled[column] == frequentist[0][column]  # the frequentist heterogeneity columns stay
    assert single["status"].startswith("single study") and single["estimate"] == frequentist[1]["estimate"]


def test_credible_level_follows_alpha(rows):
    settings = resolve_settings({"profile": "bayes", "alpha": 0.1})
    _, (pooled, _) = _tables(rows, settings)
    _, (wide, _) = _tables(rows, BAYES)
    assert wide["ci_lower"] < pooled["ci_lower"] < pooled["estimate"] < pooled["ci_upper"] < wide["ci_upper"]
    assert "central 90% credible interval" in pooled["note"]


def test_robustness_chooses_the_posterior_and_compares_the_frequentist_profiles(rows):
    _, pooled = _tables(rows, BAYES)
    records = robustness_records(rows, OUTCOME, MODES, BAYES, 0.5, "post")
    assert [r["profile"] for r in records] == list(ROBUSTNESS_PROFILES) and not any(r["chosen"] for r in records)
    covered = {(r["treatment"], r["comparator"]) for r in records}
    records = mark_conclusions(records + bayes_robustness_records(pooled, covered, chosen=True))
    chosen = [r for r in records if r["chosen"]]
    assert len(chosen) == 1 and chosen[0]["profile"].startswith("bayes (half-normal(0.5)")
    assert chosen[0]["estimate"] == pooled[0]["estimate"] and chosen[0]["conclusion_differs_from_chosen"] is False
    # normand1999: the CrI includes no effect, as REML-HKSJ; DerSimonian-Laird with Wald excludes it
    verdict = {r["profile"]: r["conclusion_differs_from_chosen"] for r in records if not r["chosen"]}
    assert chosen[0]["ci_excludes_no_effect"] is False
    assert verdict == {"cochrane-2025": False, "revman5": True, "metafor": False}
    lines = robustness_lines(pd.DataFrame(records))
    assert lines == ["Robustness: coach vs usual_care: the conclusion differs under revman5 (see "
                     "results/robustness.tsv)."]


def test_directly_reported_only_is_refitted_by_the_posterior(rows):
    converted = [dict(r, conversion="sd_from_se") if r["study"] == rows[0]["study"] else r for r in rows]
    assert bayes_reported_only_records(converted, OUTCOME, MODES, PROFILES["cochrane-2025"], 0.5, "post",
                                       BAYES_SETTINGS) == []  # frequentist chosen: robustness_records does it
    frequentist = robustness_records(converted, OUTCOME, MODES, BAYES, 0.5, "post")
    assert not any("directly reported" in r["profile"] for r in frequentist)
    extra = bayes_reported_only_records(converted, OUTCOME, MODES, BAYES, 0.5, "post", BAYES_SETTINGS)
    assert len(extra) == 1 and extra[0]["profile"].endswith(", directly reported data only")
    assert extra[0]["k"] == len(rows) - 2 and not extra[0]["chosen"]
    _, pooled = _tables([r for r in rows if r["study"] != rows[0]["study"]], BAYES)
    assert extra[0]["estimate"] == pooled[0]["estimate"]


def test_forest_plot_summary_and_footer_say_what_they_show(rows):
    effects, pooled = _tables(rows, BAYES)
    studies = pd.DataFrame(study_records(effects, "post"))
    frame = pd.DataFrame(pooled)
    data = build_forest_data(studies, frame, OUTCOME, LABELS, "post", bayes_row=True)
    assert data.method_label == "Bayesian, Random, 95% CrI"
    block = data.subgroups[0]
    assert block.pooled.theta == pooled[0]["estimate"] and block.pooled.ci_lower == pooled[0]["ci_lower"]
    assert not any(line.startswith("Test for overall effect") for line in block.lines)
    summary = next(line for line in block.lines if line.startswith("Bayesian random effects"))
    assert "posterior median and central 95% credible interval" in summary
    assert "posterior predictive interval" in summary and "P(favours treatment)" in summary
    assert sum(line.startswith("Bayesian random effects") for line in block.lines) == 1  # no duplicate row
    settings = BAYES.as_dict()
    footer = method_footer(settings, OUTCOME, frame)
    assert any(line.startswith("Method profile bayes: Bayesian random effects") for line in footer)
    cochrane = pd.DataFrame(_tables(rows, PROFILES["cochrane-2025"])[1])
    plain = build_forest_data(studies, cochrane, OUTCOME, LABELS, "post", bayes_row=True)
    assert plain.method_label.startswith("IV, Random")
    assert any(line.startswith("Test for overall effect") for line in plain.subgroups[0].lines)


def test_summary_of_findings_and_text_name_the_posterior(rows):
    _, pooled = _tables(rows, BAYES)
    sof = sof_row(pooled[0], OUTCOME, LABELS, {}, {}, [], {})
    assert sof["effect"].endswith("(posterior median, 95% CrI)") and sof["profile"] == "bayes"
    sentence = comparison_sentence(pooled[0], LABELS)
    assert "(posterior median), 95% credible interval" in sentence and "posterior predictive interval" in sentence
    _, frequentist = _tables(rows, PROFILES["cochrane-2025"])
    assert "credible" not in comparison_sentence(frequentist[0], LABELS)
    blocks = methods_blocks(BAYES.as_dict(), {"los": OUTCOME.as_dict()}, {}, 0, {}, [], None)
    text = " ".join(str(b[1]) for b in blocks)
    assert "primary analysis was a Bayesian normal-normal random-effects model" in text
    assert "Röver C. Bayesian random-effects meta-analysis using the bayesmeta R package" in text


def test_r_script_says_the_primary_numbers_are_bayesian_and_checks_the_rest(rows, tmp_path):
    effects, pooled = _tables(rows, BAYES)
    write_tsv(study_records(effects, "post"), STUDY_COLUMNS, tmp_path / "studies.tsv")
    write_tsv(pooled, POOLED_COLUMNS, tmp_path / "pooled.tsv")
    script = reproduce_script(read_tsv(tmp_path / "studies.tsv"), read_tsv(tmp_path / "pooled.tsv"),
                              OUTCOME.as_dict(), "post")  # fmt: skip
    assert "# The primary numbers of this row are Bayesian (pooling.profile: bayes)" in script
    compared = re.search(r"## coach vs usual_care: pooled\n(.*?)agree\(", script, re.S).group(1)
    evsynth = re.search(r"evsynth <- c\((.*?)\)\n", compared, re.S).group(1)
    assert "tau2 =" in evsynth and "common_theta =" in evsynth
    assert not re.search(r"\b(estimate|ci_lower|pi_lower|p_value|theta) =", evsynth)
    rscript = rscript_with_metafor()
    if rscript is None:
        pytest.skip("Rscript with metafor not installed (CI); run locally where R is")
    path = tmp_path / "bayes.R"
    path.write_text(script)
    result = run_r_scripts(rscript, [path], tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"SCRIPT bayes.R: (\d+) checked, 0 differ", result.stdout)


def test_posterior_median_is_log_scale_theta_for_ratios():
    rr = Outcome("resp", "Response", "RR", higher_is_better=True)
    row = {"status": "pooled", "alpha": 0.05, "bayes_estimate": 1.5, "bayes_ci_lower": 1.1, "bayes_ci_upper": 2.0,
           "bayes_pi_lower": 0.9, "bayes_pi_upper": 2.5, "bayes_tau_prior": "t", "bayes_mu_prior": "m"}
    (out,) = bayes_primary([row], rr)
    assert out["theta"] == pytest.approx(math.log(1.5), rel=1e-15) and out["estimate"] == 1.5
