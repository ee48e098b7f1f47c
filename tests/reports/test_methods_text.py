"""Methods and results text (evsynth.reports.methods_text): every configured choice named with
its citation, each comparison's sentence built from its pooled.tsv row, labels escaped."""

from __future__ import annotations

import pytest

from conftest import REPO
from evsynth.data.screening import load_screening
from evsynth.reports.methods_text import (
    CI_METHODS,
    ESTIMATORS,
    PREDICTION,
    REFERENCES,
    comparison_sentence,
    methods_blocks,
    results_blocks,
    to_html,
    to_markdown,
)
from evsynth.stats.profiles import CI_METHODS as PROFILE_CI_METHODS
from evsynth.stats.profiles import ESTIMATORS as PROFILE_ESTIMATORS
from evsynth.stats.profiles import PREDICTION_INTERVALS, PROFILES

OUTCOMES = {"pain": {"id": "pain", "label": "Pain <b>intensity</b>", "measure": "SMD"},
            "resp": {"id": "resp", "label": "Response", "measure": "RR"}}
LABELS = {"coach": "Coach-led CBT", "online": "Online CBT", "usual_care": "usual care"}
VERSIONS = {"evsynth": "0.9", "pymare": "0.0.13", "numpy": "2.1", "scipy": "1.14"}
SENSITIVITY = {"exclude_if": {"extra_rob": ["high"]}, "cumulative_order_by": [], "small_study_min_k": 10}


def _methods(**changes):
    method = {**PROFILES["cochrane-2025"].as_dict(), **changes}
    return methods_blocks(method, OUTCOMES, SENSITIVITY, 0.5, VERSIONS, [("reported SMD with SE", 9)], None)


def test_every_setting_has_words_and_a_reference():
    assert set(ESTIMATORS) == set(PROFILE_ESTIMATORS)
    assert set(CI_METHODS) == set(PROFILE_CI_METHODS)
    assert set(PREDICTION) | {"none"} == set(PREDICTION_INTERVALS)
    for _words, cite in (*ESTIMATORS.values(), *CI_METHODS.values(), *PREDICTION.values()):
        assert all(key in REFERENCES for key in cite.split("; "))


@pytest.mark.parametrize("estimator", sorted(ESTIMATORS))
def test_methods_name_the_estimator_and_cite_it(estimator):
    text = to_markdown(_methods(estimator=estimator))
    words, cite = ESTIMATORS[estimator]
    assert f"estimated by {words} ({cite})" in text
    for key in cite.split("; "):
        assert REFERENCES[key].split(".")[0] in text  # listed under References


def test_methods_follow_the_profile():
    cochrane = to_markdown(_methods())
    assert "Hartung-Knapp-Sidik-Jonkman method on a t distribution" in cochrane
    assert "prediction intervals were computed on a t distribution with k - 1 degrees of freedom " \
           "(Veroniki et al. 2019)" in cochrane
    assert "I² was computed from tau² (Higgins & Thompson 2002)" in cochrane
    assert "Q-profile confidence intervals" in cochrane and "Viechtbauer 2007" in cochrane
    assert "0.5 was added to every cell" in cochrane and "reported SMD with SE (9 rows)" in cochrane
    assert "extra\\_rob in {high}" in cochrane and "at least 10 trials" in cochrane
    assert "evsynth 0.9 (Python; PyMARE 0.0.13" in cochrane
    revman = to_markdown(methods_blocks(PROFILES["revman5"].as_dict(), OUTCOMES, SENSITIVITY, 0, VERSIONS, [],
                                        None))
    assert "DerSimonian-Laird" in revman and "Wald method" in revman and "prediction interval" not in revman
    assert "I² was computed from Cochran's Q (Higgins et al. 2003)" in revman and "Q-profile" not in revman
    assert "RevMan 5's approximate correction" in revman


ROW = {"outcome": "pain", "timepoint": "post", "treatment": "coach", "comparator": "usual_care", "measure": "SMD",
       "k": 7, "n_participants": 412, "estimate": -0.3330749141, "ci_lower": -0.6331982623,
       "ci_upper": -0.0329515658, "i2": 49.04353467, "tau2": 0.05672405499, "pi_lower": -0.9885917795,
       "pi_upper": 0.3224419513, "alpha": 0.05, "status": "pooled", "studies": "A; B", "note": ""}


def test_methods_name_the_outlier_and_influence_reruns():
    text = to_markdown(_methods())
    assert ("re-analyses without outlying trials (a trial's CI not overlapping the pooled CI) (Harrer et al. "
            "2021) and without the trials the influence diagnostics flag, from 3 trials") in text
    assert REFERENCES["Harrer et al. 2021"].split(".")[0] in text


def test_sentence_as_reviewers_write_it():
    assert comparison_sentence(ROW, LABELS) == (
        "Seven trials (n = 412) compared Coach-led CBT with usual care: SMD -0.33, 95% CI -0.63 to -0.03; "
        "I² = 49%; tau² = 0.0567; prediction interval -0.99 to 0.32.")
    single = {**ROW, "k": 1, "measure": "RR", "estimate": 1.538461538, "ci_lower": 1.299133231,
              "ci_upper": 1.821879272, "n_participants": 1393, "studies": "DeBar 2025",
              "status": "single study: shown, not pooled", "alpha": 0.1}
    assert comparison_sentence(single, LABELS) == (
        "One trial (n = 1,393), DeBar 2025, compared Coach-led CBT with usual care: RR 1.54, 90% CI 1.30 to "
        "1.82 (single trial, not pooled).")
    none = {**ROW, "k": 0, "status": "no estimable study", "note": "not estimable: Dear 2013"}
    assert "no trial gave an estimable effect (not estimable: Dear 2013)" in comparison_sentence(none, LABELS)


def test_results_escape_labels_and_give_selection():
    counts = load_screening(REPO / "tests" / "fixtures" / "screening" / "good_log.tsv",
                            ["wrong comparator", "not randomised"], ["Allen 2019", "Dear 2013"], "studies.tsv")
    blocks = results_blocks([ROW], OUTCOMES, LABELS, counts)
    markdown, html = to_markdown(blocks), to_html(blocks, "Results")
    assert "Pain \\<b\\>intensity\\</b\\>, timepoint post" in markdown
    assert "<b>" not in html and "Pain &lt;b&gt;intensity&lt;/b&gt;" in html
    assert "Via databases and registers, 3 reports were assessed for eligibility and 1 excluded " \
           "(wrong comparator: 1)." in markdown
    assert "2 studies (3 reports) were included" in markdown
