"""The conversions of data as trials report it, pinned to worked examples printed by their sources.

Every expected value below is a number printed in a paper, the Cochrane Handbook or a package's
documentation, quoted with where it is printed; none is computed by evsynth. The tolerance is
half a unit in the last printed digit (a value printed as 1.37 is met by anything in
[1.365, 1.375]). Each case goes through the formula in :mod:`evsynth.stats.conversions` and,
where the study table has the form, through the row conversion of
:mod:`evsynth.data.conversions` as well (the number a row gets in ``results/effects.tsv``).

Formulas with no worked example found (Luo et al. 2018's S2 and S3 means, Wan et al. 2014's S2
SD, Shi et al. 2020's S3 SD, Shi et al. 2023's skewness test, the design effect of Handbook
§23.1.4, the correlation implied by three SDs) stay pinned to the independent base-R computation
of tests/oracle/reference/conversions.R (tests/stats/test_conversions.py; metafor 3.8 has no
conv.* functions). docs/conversions_published.md lists both sets.
"""

from __future__ import annotations

import math

import pytest

from evsynth.data.conversions import convert
from evsynth.stats.conversions import (
    change_sd,
    correlation_from_sds,
    mean_ci_quantile,
    mean_sd_from_fivenum,
    sd_from_mean_ci,
    se_from_p_value,
    se_from_t_statistic,
    smd_from_log_odds_ratio,
)


def half_unit(printed: str) -> float:
    """Half a unit in the last digit of a number as printed ('1.37' -> 0.005)."""
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    return 0.5 * 10.0**-decimals


def assert_printed(got: float, printed: str) -> None:
    assert abs(float(got) - float(printed)) <= half_unit(printed) * (1 + 1e-9), f"{got!r} is not {printed}"


# ---------------------------------------------------------------------------------------------
# Median, minimum and maximum (S1): Luo et al. 2018 (mean), Wan et al. 2014 (SD).
# Source: the metaBLUE package (Yang, Hutson & Wang; CRAN 1.0.0), whose help pages run the papers'
# estimators on min 1, median 4, max 10, n 30, and print (rdrr.io/cran/metaBLUE/man/Luo.mean.html,
# .../Wan.std.html, "Example output"):
#   Luo.mean(c(1, 4, 10), 30, "S1")$muhat    [1] 4.356748   (Luo et al. 2018, eq. 7)
#   Wan.std(c(1, 4, 10), 30, "S1")$sigmahat  [1] 2.205578   (Wan et al. 2014, eq. 9)
# ---------------------------------------------------------------------------------------------
METABLUE_S1 = {"n": 30, "min": 1.0, "median": 4.0, "max": 10.0, "mean": "4.356748", "sd": "2.205578"}


def test_luo_mean_and_wan_sd_s1_metablue_example():
    x = METABLUE_S1
    est = mean_sd_from_fivenum(x["n"], x["median"], minimum=x["min"], maximum=x["max"])
    assert est.scenario == "S1"
    assert_printed(est.mean, x["mean"])
    assert_printed(est.sd, x["sd"])


def test_medians_row_gets_the_metablue_s1_example():
    values = {"n_treat": 30.0, "n_ctrl": 30.0}
    for arm in ("treat", "ctrl"):
        values |= {f"median_{arm}": 4.0, f"min_{arm}": 1.0, f"max_{arm}": 10.0}
    assert convert("medians", values, "MD") == "means"
    for arm in ("treat", "ctrl"):
        assert_printed(values[f"mean_{arm}"], METABLUE_S1["mean"])
        assert_printed(values[f"sd_{arm}"], METABLUE_S1["sd"])
    assert values["conversion"] == "median_range" and values["skew_check"] == ""


# ---------------------------------------------------------------------------------------------
# SD of an arm from the CI of its mean. Cochrane Handbook v6 §6.5.2.2 (v5.1 §7.7.3.2): "the 95%
# confidence interval is 3.92 standard errors wide (3.92 = 2 x 1.96)"; "for 90% confidence
# intervals 3.92 should be replaced by 3.29, and for 99% confidence intervals it should be replaced
# by 5.15" (large arms); for a small arm, "the t value for a 95% confidence interval from a sample
# size of 25 can be obtained by typing =tinv(1-0.95,25-1) ... (the result is 2.0639). The divisor,
# 3.92, in the formula above would be replaced by 2 x 2.0639 = 4.128."
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("level", "printed"), [(95.0, "3.92"), (90.0, "3.29"), (99.0, "5.15")])
def test_handbook_ci_divisor_large_arm(level, printed):
    assert_printed(2 * float(mean_ci_quantile(200, level)), printed)


def test_handbook_ci_small_arm_uses_t():
    assert_printed(mean_ci_quantile(25, 95.0), "2.0639")
    assert_printed(2 * float(mean_ci_quantile(25, 95.0)), "4.128")


def test_means_row_ci_of_small_arm_divides_by_handbook_4_128():
    # A 95% CI of width 4.128 around the mean of 25: SD = sqrt(25) x 4.128 / 4.128 = 5 by the
    # Handbook's divisor; 4.128 is printed to 3 decimals, so the SD is good to 5 x 0.0005/4.128.
    values = {"n_treat": 25.0, "mean_treat": 10.0, "mean_ci_lower_treat": 10 - 2.064, "mean_ci_upper_treat": 12.064,
              "n_ctrl": 25.0, "mean_ctrl": 9.0, "sd_ctrl": 4.0}
    assert convert("means", values, "MD") == "means"
    assert values["conversion"] == "sd_from_mean_ci"
    assert values["sd_treat"] == pytest.approx(5.0, abs=5 * 0.0005 / 4.128)
    assert float(sd_from_mean_ci(0.0, 4.128, 25)) == pytest.approx(5.0, abs=5 * 0.0005 / 4.128)


# ---------------------------------------------------------------------------------------------
# SE of a contrast from its p-value or t statistic. Handbook v6 §6.3.2: "The Z value that
# corresponds to a P value of 0.008 is Z = 2.652." Handbook v6 §6.5.2.3 (v5.1 §7.7.3.3), a mean
# difference of 3.8 between arms of 25 and 22 with P = 0.008: "the t value ... with 45 degrees of
# freedom ... is 2.78"; "the standard error of the difference in means is obtained by dividing
# 3.8 by 2.78, which gives 1.37."
# ---------------------------------------------------------------------------------------------
def test_handbook_z_for_p_0_008():
    assert_printed(1.0 / float(se_from_p_value(1.0, 0.008)), "2.652")


def test_handbook_md_with_p_value_t_test():
    assert_printed(3.8 / float(se_from_p_value(3.8, 0.008, 45)), "2.78")
    assert_printed(se_from_p_value(3.8, 0.008, 45), "1.37")
    assert_printed(se_from_t_statistic(3.8, 2.78), "1.37")


def test_contrast_row_gets_the_handbook_se():
    # The row form: an MD with its exact p-value and both arm sizes is read as a t test on
    # n1 + n2 - 2 = 45 df, as in the Handbook's example.
    values = {"effect": 3.8, "p_value": 0.008, "n_treat": 25.0, "n_ctrl": 22.0}
    convert("contrast", values, "MD")
    assert values["conversion"] == "se_from_p"
    assert_printed(values["se"], "1.37")
    values = {"effect": 3.8, "t_stat": 2.78, "n_treat": 25.0, "n_ctrl": 22.0}
    convert("contrast", values, "MD")
    assert values["conversion"] == "se_from_t"
    assert_printed(values["se"], "1.37")


# ---------------------------------------------------------------------------------------------
# SD of a difference of two correlated measurements from their SDs and correlation, the formula
# of the change-from-baseline SD (Handbook v6 §6.5.2.8). The Handbook's worked example of it is
# the cross-over one of v5.1 §16.4.6.4: SD_E = 2.38, SD_C = 2.21, 10 participants, an imputed
# correlation of 0.68: "The numbers 0.5 and 0.583 may be entered into RevMan as the estimate and
# standard error of a mean difference" (SE = SD_diff / sqrt(10)). v6 §6.5.2.8 prints the formulas
# without numbers.
# ---------------------------------------------------------------------------------------------
def test_handbook_sd_of_difference_with_imputed_correlation():
    assert_printed(float(change_sd(2.38, 2.21, 0.68)) / math.sqrt(10), "0.583")


def test_correlation_from_sds_returns_the_handbook_correlation():
    # The inverse formula (§6.5.2.8) applied to the SDs of the same example gives back the 0.68
    # the Handbook imputed (no separately printed example of it was found).
    assert_printed(correlation_from_sds(2.38, 2.21, change_sd(2.38, 2.21, 0.68)), "0.68")


# ---------------------------------------------------------------------------------------------
# Binary results in an SMD outcome. Chinn 2000 (Stat Med 19:3127), abstract: "a ln(odds ratio)
# can be converted to effect size by dividing by 1.81" (pi / sqrt(3) = 1.8138).
# ---------------------------------------------------------------------------------------------
def test_chinn_divides_log_odds_ratio_by_1_81():
    d, _ = smd_from_log_odds_ratio(1.0, 1.0)
    assert_printed(1.0 / float(d), "1.81")
    d, _ = smd_from_log_odds_ratio(-2.0, 1.0)
    assert_printed(-2.0 / float(d), "1.81")


def test_half_unit_reads_the_printed_precision():
    assert half_unit("1.37") == pytest.approx(0.005) and half_unit("4.356748") == pytest.approx(5e-7)
    assert half_unit("2") == 0.5
    with pytest.raises(AssertionError):
        assert_printed(1.3751, "1.37")
