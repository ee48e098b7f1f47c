"""Numbers as text (evsynth.wording, forest-plot lines): every P-value and number-format tier at
and across its boundary, and never a signed zero ("-0.00") (issue 21)."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from evsynth.data.config import Outcome
from evsynth.data.vocabulary import OVERALL_TREATMENT
from evsynth.figures.forest import format_estimate, format_weight
from evsynth.figures.forest_data import bayes_line, bayes_primary_line, subgroup_lines
from evsynth.wording import (
    chi2_test,
    difference_text,
    direction,
    format_p,
    heterogeneity_line,
    i2_interpretation,
    number,
    overall_effect_line,
    prediction_line,
)


@pytest.mark.parametrize("p,text", [
    (1.0, "P = 1.00"), (0.16, "P = 0.16"), (0.05, "P = 0.05"),
    (0.01, "P = 0.01"),  # first tier: 2 decimals down to 0.01
    (0.0099, "P = 0.010"), (0.004, "P = 0.004"),  # RevMan's "P = 0.004", not "P = 0.00"
    (0.001, "P = 0.001"), (0.00099, "P = 0.0010"), (0.0004, "P = 0.0004"),
    (0.0001, "P = 0.0001"), (0.000099, "P = 0.00010"), (0.00004, "P = 0.00004"),
    (0.00001, "P = 0.00001"), (0.0000099, "P < 0.00001"), (0.0, "P < 0.00001"),
])
def test_p_value_tiers_at_and_across_each_boundary(p, text):
    assert format_p(p) == text


def test_no_tier_prints_a_p_value_of_zero():
    for exponent in range(1, 9):
        for mantissa in (1.0, 2.5, 4.0, 9.9):
            text = format_p(mantissa * 10.0**-exponent)
            assert text == "P < 0.00001" or float(text.removeprefix("P = ")) > 0, text


@pytest.mark.parametrize("x,decimals,text", [
    (-0.001, 2, "0.00"), (-0.0049, 2, "0.00"), (-0.0, 2, "0.00"), (0.0, 2, "0.00"), (-0.006, 2, "-0.01"),
    (-0.04, 1, "0.0"), (-0.06, 1, "-0.1"), (-0.4, 0, "0"), (-0.6, 0, "-1"), (1.005, 3, "1.005"), (-12.345, 2, "-12.35"),
])
def test_number_never_prints_a_signed_zero(x, decimals, text):
    assert number(x, decimals) == text


@pytest.mark.parametrize("value,text", [
    (0.4, "0.40 more"), (-0.4, "0.40 lower"), (0.004, "0.00"), (-0.004, "0.00"), (0.0, "0.00"),
    (112, "112 more"), (-1234, "1,234 lower"), (0, "0"),
])
def test_direction_words_on_both_sides_of_zero(value, text):
    assert direction(value, "more", "lower") == text


def test_difference_text_crossing_zero():
    assert difference_text(-0.1, -0.42, 0.001, "higher", "lower") == "0.10 lower (0.42 lower to 0.00)"
    assert difference_text(5, -3, 12, "more", "fewer", unit=" per 1,000") == \
        "5 per 1,000 more (3 per 1,000 fewer to 12 per 1,000 more)"


@pytest.mark.parametrize("i2,text", [
    (0, "might not be important"), (29.9, "might not be important"),
    (30, "might not be important or may represent moderate heterogeneity"),
    (40, "might not be important or may represent moderate heterogeneity"),
    (40.1, "may represent moderate heterogeneity"),
    (50, "may represent moderate heterogeneity or may represent substantial heterogeneity"),
    (60.1, "may represent substantial heterogeneity"),
    (75, "may represent substantial heterogeneity or considerable heterogeneity"),
    (90, "may represent substantial heterogeneity or considerable heterogeneity"),
    (90.1, "considerable heterogeneity"), (100, "considerable heterogeneity"),
])
def test_handbook_i2_bands_at_their_edges(i2, text):
    assert i2_interpretation(i2) == text


def test_forest_estimate_and_weight_text_have_no_signed_zero():
    assert format_estimate(-0.001, -0.5, 0.4991, ratio=False) == "0.00 [-0.50, 0.50]"
    assert format_estimate(-1e-9, -0.3, 0.3, ratio=True) == "1.00 [0.74, 1.35]"
    assert format_weight(None) == "" and format_weight(12.34) == "12.3%" and format_weight(100.0) == "100.0%"


def test_revman_lines_use_the_p_tiers_and_no_signed_zero():
    pooled = SimpleNamespace(tau2=0.0, tau2_ci_lower=0.0, tau2_ci_upper=0.31, estimator="REML", q=5.123, q_df=3.0,
                             q_p=0.004, i2=41.4, stat=-2.31, stat_df=None, p_value=0.0004, pi_lower=-0.001,
                             pi_upper=0.62, pi_df=3.0)
    assert heterogeneity_line(pooled) == (
        "Heterogeneity: Tau² = 0.00 [0.00, 0.31] (REML); Chi² = 5.12, df = 3 (P = 0.004); I² = 41%")
    assert overall_effect_line(pooled) == "Test for overall effect: Z = 2.31 (P = 0.0004)"
    assert prediction_line(pooled, ratio=False) == "Prediction interval: [0.00, 0.62] (t, 3 df)"
    assert prediction_line(SimpleNamespace(pi_lower=None, pi_upper=None, pi_df=None), ratio=False) is None
    hksj = SimpleNamespace(**{**vars(pooled), "stat_df": 3.0, "p_value": 0.00000001})
    assert overall_effect_line(hksj) == "Test for overall effect: t = 2.31, df = 3 (P < 0.00001)"
    assert chi2_test(0.0, 1.0, 1.0) == "Chi² = 0.00, df = 1 (P = 1.00)"


def test_across_modes_line_has_no_signed_zero():
    pooled = pd.DataFrame([{"treatment": OVERALL_TREATMENT, "comparator": "usual_care", "estimate": -0.001,
                            "ci_lower": -0.4, "ci_upper": 0.4, "k": 3}])
    subgroups = pd.DataFrame([{"comparator": "usual_care", "convention": "separate_tau2", "stat": 1.0, "df1": 1.0,
                               "p_value": 0.32, "covariance_used": True,
                               "revman_line": "Chi² = 1.00, df = 1 (P = 0.32)"}])
    lines = subgroup_lines(pooled, subgroups, Outcome("o", "Score", "MD", False), {"usual_care": "Usual care"})
    assert lines[1].startswith("Any remote CBT vs Usual care: Mean Difference 0.00 [-0.40, 0.40] from 3 comparisons")
    assert "-0.00" not in "\n".join(lines)


def test_bayesian_summary_lines_have_no_signed_zero():
    """A posterior median a rounding error below 0 (bpi_pain_intensity post, k = 1 MD: -5.3e-17
    before the mixture-quantile fix of the seed-3004 triage) or any value that rounds to 0 prints
    "0.00", as every other number of the forest plot; so does a posterior predictive limit."""
    rec = {"bayes_estimate": -0.004, "bayes_ci_lower": -1.96, "bayes_ci_upper": -5.3e-17, "bayes_prob_benefit": 0.5,
           "bayes_tau_prior": "half-normal(0.5)"}
    line = bayes_line(rec, Outcome("o", "Score", "MD", False))
    assert line == ("Bayesian random effects, tau ~ half-normal(0.5): MD 0.00 [-1.96, 0.00] (95% CrI); "
                    "P(favours treatment) = 50%")
    rec = {"pi_lower": -0.004, "pi_upper": 1.5, "bayes_tau_prior": "half-normal(0.5)", "bayes_mu_prior": "flat"}
    assert "posterior predictive interval [0.00, 1.50]" in bayes_primary_line(rec, Outcome("o", "Score", "MD", False))
