"""What a converted row says it did: the conversion ids and detail text of each route, in full
(issue 21).

A converted row's ``conversion_detail`` is printed in results/effects.tsv and the methods text, so
its numbers and its choice of distribution (t below n = 60 for a mean's CI, t(n1 + n2 - 2) for a
p-value of a difference of means, z otherwise) are pinned here on rows through
:func:`evsynth.data.validate.check_row`, with the numbers recomputed from the Cochrane Handbook
v6.5 formulas (§6.5.2.2 SD = SE x sqrt(n); §6.5.2.3 SD = sqrt(n) x width / (2 x quantile); §6.3.2
SE = |estimate| / quantile of p) with scipy.
"""

from __future__ import annotations

import math

import pytest
from scipy import stats

from data.test_validate_boundaries import CONFIG, OUTCOMES, ROWS, WINDOWS
from evsynth.data.validate import check_row

HANDBOOK_SE = "(Cochrane Handbook v6.5 §6.5.2.2)"
HANDBOOK_CI = "(Cochrane Handbook v6.5 §6.5.2.3)"
HANDBOOK_P = "(Cochrane Handbook v6.5 §6.3.2, §6.5.2.3)"
NO_SE = "no SE (an estimate of no effect, p = 1 or t = 0), so not estimable"


def converted(form, **cells):
    problems, values = check_row({**ROWS[form], **cells}, 7, "t.tsv", CONFIG, OUTCOMES, WINDOWS)
    assert problems == []
    return values


def t(df, level=0.95):
    return stats.t.ppf(0.5 + level / 2, df)


def test_sd_from_the_se_of_each_arm_mean():
    v = converted("means", sd_treat="", sd_ctrl="", sem_treat="0.3", sem_ctrl="0.31")
    assert v["conversion"] == "sd_from_se"
    assert v["conversion_detail"] == (f"treatment SD 1.89737 = SE 0.3 x sqrt(40) {HANDBOOK_SE}; "
                                      f"control SD 1.98497 = SE 0.31 x sqrt(41) {HANDBOOK_SE}")
    assert (v["sd_treat"], v["sd_ctrl"]) == pytest.approx((0.3 * math.sqrt(40), 0.31 * math.sqrt(41)), rel=1e-14)


@pytest.mark.parametrize("n,dist", [(30, "t(29) 2.0452"), (59, "t(58) 2.0017"), (60, "z 1.9600"), (80, "z 1.9600")])
def test_sd_from_a_mean_ci_uses_t_below_60(n, dist):
    v = converted("means", sd_treat="", mean_ci_lower_treat="3.5", mean_ci_upper_treat="4.7", n_treat=str(n))
    q = t(n - 1) if n < 60 else stats.norm.ppf(0.975)
    sd = math.sqrt(n) * 1.2 / (2 * q)
    assert v["conversion"] == "sd_from_mean_ci" and v["sd_treat"] == pytest.approx(sd, rel=1e-12)
    assert v["conversion_detail"] == (f"treatment SD {sd:.6g} = sqrt({n}) x (4.7 - 3.5) / (2 x {dist}) from the 95% "
                                      f"CI of its mean {HANDBOOK_CI}")


def test_sd_from_a_90_percent_mean_ci():
    v = converted("means", sd_treat="", mean_ci_lower_treat="3.5", mean_ci_upper_treat="4.7", ci_level="90")
    sd = math.sqrt(40) * 1.2 / (2 * t(39, 0.90))
    assert v["sd_treat"] == pytest.approx(sd, rel=1e-12)
    assert v["conversion_detail"] == (f"treatment SD {sd:.6g} = sqrt(40) x (4.7 - 3.5) / (2 x t(39) 1.6849) from the "
                                      f"90% CI of its mean {HANDBOOK_CI}")


@pytest.mark.parametrize("n_treat,n_ctrl,dist", [
    ("", "", "z"), ("1", "1", "z"),  # n1 + n2 - 2 = 0: no t distribution, z
    ("2", "1", "t(1)"), ("20", "22", "t(40)"),
])
def test_se_from_a_p_value_of_a_difference_of_means(n_treat, n_ctrl, dist):
    v = converted("contrast", ci_lower="", ci_upper="", p_value="0.03", n_treat=n_treat, n_ctrl=n_ctrl)
    q = stats.norm.ppf(1 - 0.015) if dist == "z" else t(int(n_treat) + int(n_ctrl) - 2, 0.97)
    assert v["se"] == pytest.approx(0.4 / q, rel=1e-10)
    assert v["conversion"] == "se_from_p"
    assert v["conversion_detail"] == (f"SE {0.4 / q:.6g} = |SMD -0.4| / {dist} quantile of p = 0.03 (two-sided) "
                                      f"{HANDBOOK_P}")


def test_se_from_a_p_value_of_a_ratio_is_on_the_log_scale_with_z():
    v = converted("ratio", ci_lower="", ci_upper="", p_value="0.03", n_treat="20", n_ctrl="22")
    se = math.log(1.5) / stats.norm.ppf(1 - 0.015)
    assert v["se"] == pytest.approx(se, rel=1e-10)
    assert v["conversion_detail"] == (f"SE {se:.6g} = |log RR 0.405465| / z quantile of p = 0.03 (two-sided) "
                                      f"{HANDBOOK_P}")


def test_se_from_a_t_statistic_and_the_no_effect_limits():
    v = converted("contrast", ci_lower="", ci_upper="", t_stat="-2.5")
    assert (v["se"], v["conversion"]) == (pytest.approx(0.16, rel=1e-14), "se_from_t")
    assert v["conversion_detail"] == "SE 0.16 = |SMD -0.4 / t -2.5| (Cochrane Handbook v6.5 §6.3.2)"
    v = converted("contrast", ci_lower="", ci_upper="", t_stat="0")
    assert v["se"] is None
    assert v["conversion_detail"] == f"SE inf = |SMD -0.4 / t 0|: {NO_SE} (Cochrane Handbook v6.5 §6.3.2)"
    v = converted("contrast", ci_lower="", ci_upper="", p_value="1")
    assert v["se"] is None and v["conversion_detail"].endswith(f"quantile of p = 1 (two-sided): {NO_SE} {HANDBOOK_P}")


def test_counts_in_an_smd_outcome_say_chinn():
    v = converted("counts", outcome="pain_interference")
    assert (v["conversion"], v["form"]) == ("smd_from_log_or", "counts")
    assert v["conversion_detail"] == ("log OR from 30/100 vs 20/100 x sqrt(3)/pi, variance x 3/pi² (Chinn 2000, Stat "
                                      "Med 19:3127)")
    assert converted("counts")["conversion"] == ""  # an RR outcome: no conversion


MEDIANS = {"sd_treat": "", "sd_ctrl": "", "mean_treat": "", "mean_ctrl": "", "median_treat": "4", "q1_treat": "3",
           "q3_treat": "6", "median_ctrl": "5", "min_ctrl": "1", "max_ctrl": "9"}


def test_medians_name_the_scenario_of_each_arm_and_flag_skew():
    v = converted("means", **MEDIANS)
    assert (v["form"], v["conversion"], v["skew_check"]) == ("means", "median_iqr; median_range", "")
    assert v["conversion_detail"] == (
        "treatment mean 4.35487, SD 2.30679 from q1 3, median 4, q3 6, n 40 (S2; Luo et al. 2018 (mean); Wan et al. "
        "2014 (SD)); control mean 5, SD 1.84663 from min 1, median 5, max 9, n 41 (S1; Luo et al. 2018 (mean); Wan "
        "et al. 2014 (SD))")
    v = converted("means", **{**MEDIANS, "min_treat": "0", "max_treat": "20"})
    assert v["conversion"] == "median_fivenum; median_range"
    assert v["conversion_detail"].startswith("treatment mean 5.03173, SD 3.72773 from min 0, q1 3, median 4, q3 6, "
                                             "max 20, n 40 (S3; Luo et al. 2018 (mean); Shi et al. 2020 (SD)); ")
    assert v["skew_check"] == (
        "treatment arm: Shi et al. 2023 skewness statistic 0.799 >= critical value 0.474 (n 40): the min 0, q1 3, "
        "median 4, q3 6, max 20 suggest skewed data, so the mean and SD estimated as if normal may mislead")
