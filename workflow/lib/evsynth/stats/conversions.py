"""Arm summaries as trials report them, converted to the mean and SD a meta-analysis needs.

Each function takes numbers (scalars or arrays) and returns numbers; the study-table forms
that call them, and the labels that make every converted row traceable, are
:mod:`evsynth.data.conversions`.

SD of an arm from the SE or the confidence interval of its mean (Cochrane Handbook v6.5,
§6.5.2.2-6.5.2.3)::

    SD = SE sqrt(n)
    SD = sqrt(n) (upper - lower) / (2 c),   c = t(1 - (1 - level)/2; n - 1) when n < 60, else z

The Handbook reads a CI of a small arm (under about 60) as a t interval on n - 1 degrees of
freedom, and a large arm's with the normal quantile (3.92 = 2 x 1.96 for 95%).

Mean and SD from the median and the range and/or quartiles, for the three scenarios of Wan et
al. (2014): S1 = {min a, median m, max b}, S2 = {q1, m, q3}, S3 = all five. The mean is Luo et
al.'s (2018, eqs. 7, 11, 15); the SD Wan et al.'s (2014, eqs. 9 and 16) for S1 and S2 and Shi
et al.'s (2020, eq. 10) for S3, with ``xi(n) = 2 Phi^-1((n - 0.375)/(n + 0.25))`` and
``eta(n) = 2 Phi^-1((0.75 n - 0.125)/(n + 0.25))``::

    S1: mean = w (a + b)/2 + (1 - w) m,  w = 4/(4 + n^0.75);          SD = (b - a)/xi(n)
    S2: mean = w (q1 + q3)/2 + (1 - w) m,  w = 0.7 + 0.39/n;          SD = (q3 - q1)/eta(n)
    S3: mean = w1 (a + b)/2 + w2 (q1 + q3)/2 + (1 - w1 - w2) m,
        w1 = 2.2/(2.2 + n^0.75), w2 = 0.7 - 0.72/n^0.55;
        SD = w (b - a)/xi(n) + (1 - w)(q3 - q1)/eta(n),  w = 1/(1 + 0.07 n^0.6)

These are the defaults of metafor's ``conv.fivenum`` (metafor >= 4.0, method "luo/wan/shi").
They assume roughly normal data; the skewness test of Shi et al. (2023) says when the summary
contradicts that: the statistic ``T`` and critical value ``c(n)`` below, skew suggested when
``T >= c``::

    S1: T = |a + b - 2m| / (b - a),                 c = 1/ln(n + 9) + 2.5/(n + 1)
    S2: T = |q1 + q3 - 2m| / (q3 - q1),             c = 2.65/sqrt(n) - 6/n^2
    S3: T = max(2.65 ln(0.6 n)/sqrt(n) T1, T2),     c = 3/sqrt(n) - 40/n^3

SD of a change from baseline from the baseline and final SDs and their correlation ``r``, and
``r`` from a trial that reports all three (Handbook §6.5.2.8)::

    SD_change = sqrt(SD_b^2 + SD_f^2 - 2 r SD_b SD_f)
    r = (SD_b^2 + SD_f^2 - SD_change^2) / (2 SD_b SD_f)

A log odds ratio as a standardised mean difference (Chinn 2000; metafor's ``escalc`` measure
"OR2DL"): ``d = ln(OR) sqrt(3)/pi``, ``var(d) = var(ln OR) 3/pi^2`` (the logistic distribution's
SD is pi/sqrt(3)).

Two groups of one trial combined into one (Handbook Table 6.5.a)::

    N = N1 + N2,  M = (N1 M1 + N2 M2) / N,
    SD = sqrt(((N1 - 1) SD1^2 + (N2 - 1) SD2^2 + N1 N2 / N (M1^2 + M2^2 - 2 M1 M2)) / (N - 1))

Design effect of a cluster-randomised trial with mean cluster size ``m`` and intracluster
correlation ``ICC``: ``DE = 1 + (m - 1) ICC`` (Handbook §23.1.4).

SE of a reported contrast from its two-sided p-value or its t statistic (Handbook §6.3.2):
``SE = |estimate| / t`` with ``t`` the quantile of the p-value on the normal distribution
(or a t distribution when its degrees of freedom are given).

References
----------
Higgins JPT, Li T, Deeks JJ (eds). Chapter 6. Cochrane Handbook for Systematic Reviews of
Interventions v6.5, 2024: §6.3.2, §6.5.2.2, §6.5.2.3, §6.5.2.8; Higgins JPT, Eldridge S, Li T
(eds). Chapter 23, §23.1.4.
Wan X, Wang W, Liu J, Tong T (2014). Estimating the sample mean and standard deviation from the
sample size, median, range and/or interquartile range. BMC Med Res Methodol 14:135.
doi:10.1186/1471-2288-14-135
Luo D, Wan X, Liu J, Tong T (2018). Optimally estimating the sample mean from the sample size,
median, mid-range, and/or mid-quartile range. Stat Methods Med Res 27:1785-1805.
doi:10.1177/0962280216669183
Chinn S (2000). A simple method for converting an odds ratio to effect size for use in
meta-analysis. Stat Med 19:3127-3131.
Shi J, Luo D, Weng H, et al. (2020). Optimally estimating the sample standard deviation from the
five-number summary. Res Synth Methods 11:641-654.
Shi J, Luo D, Wan X, et al. (2023). Detecting the skewness of data from the five-number summary
and its application in meta-analysis. Stat Methods Med Res 32:1338-1360.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

_NORMAL = NormalDist()


def _special():
    """scipy.special, imported on first use. The conversions run at parse time, once per
    Snakemake invocation (a no-op re-run included), so they use the quantile functions
    scipy.stats itself calls (``t.ppf`` is ``stdtrit``, ``t.isf`` ``-stdtrit``, ``norm.isf``
    ``-ndtri``: the same numbers) without importing scipy.stats, which costs ~0.4 s CPU
    (benchmarks/results.md, case 8; tests/pipeline/test_stats_api.py)."""
    return importlib.import_module("scipy.special")


#: Below this arm size a CI of a mean is read as a t interval (Handbook §6.5.2.3: "say, < 60").
T_INTERVAL_BELOW_N = 60
#: Smallest arm a median-based conversion accepts (as metafor's conv.fivenum).
MIN_N_FIVENUM = 5
#: S1 = min, median, max; S2 = q1, median, q3; S3 = all five (Wan et al. 2014).
SCENARIOS = ("S1", "S2", "S3")


def sd_from_se(se, n):
    """SD of an arm from the SE of its mean: ``SE sqrt(n)`` (Handbook §6.5.2.2)."""
    return np.asarray(se, dtype=float) * np.sqrt(np.asarray(n, dtype=float))


def mean_ci_quantile(n, level: float = 95.0):
    """The quantile ``c`` a CI of an arm mean is ``mean +/- c SE`` with: t on n - 1 df for an arm
    under :data:`T_INTERVAL_BELOW_N`, else normal (Handbook §6.5.2.3)."""
    n = np.asarray(n, dtype=float)
    p = 1 - (1 - level / 100) / 2
    t = _special().stdtrit(np.maximum(n - 1, 1), p) if np.any(n < T_INTERVAL_BELOW_N) else 0.0
    return np.where(n < T_INTERVAL_BELOW_N, t, _NORMAL.inv_cdf(p))


def sd_from_mean_ci(lower, upper, n, level: float = 95.0):
    """SD of an arm from the CI of its mean: ``sqrt(n) (upper - lower) / (2 c)`` (Handbook §6.5.2.3)."""
    width = np.asarray(upper, dtype=float) - np.asarray(lower, dtype=float)
    return np.sqrt(np.asarray(n, dtype=float)) * width / (2 * mean_ci_quantile(n, level))


def se_from_mean_ci(lower, upper, n, level: float = 95.0):
    """SE of an arm mean from its CI (the SD of :func:`sd_from_mean_ci` over sqrt(n))."""
    return sd_from_mean_ci(lower, upper, n, level) / np.sqrt(np.asarray(n, dtype=float))


def _xi(n: float) -> float:
    return 2 * _NORMAL.inv_cdf((n - 0.375) / (n + 0.25))


def _eta(n: float) -> float:
    return 2 * _NORMAL.inv_cdf((0.75 * n - 0.125) / (n + 0.25))


@dataclass(frozen=True)
class FiveNumberEstimate:
    """Mean and SD estimated from a median with its range and/or quartiles.

    ``scenario`` is S1, S2 or S3; ``skew_statistic`` and ``skew_critical`` are Shi et al.'s
    (2023) test, ``skewed`` True when the statistic reaches the critical value.
    """

    scenario: str
    mean: float
    sd: float
    skew_statistic: float
    skew_critical: float
    skewed: bool


def scenario_of(minimum, q1, q3, maximum) -> str | None:
    """S1, S2 or S3 from which of min, q1, q3, max are given (None: another combination)."""
    have = tuple(v is not None and not np.isnan(v) for v in (minimum, q1, q3, maximum))
    return {(True, False, False, True): "S1", (False, True, True, False): "S2", (True, True, True, True): "S3"}.get(
        have
    )


def mean_sd_from_fivenum(
    n: float,
    median: float,
    minimum: float | None = None,
    q1: float | None = None,
    q3: float | None = None,
    maximum: float | None = None,
) -> FiveNumberEstimate:
    """Mean (Luo et al. 2018) and SD (Wan et al. 2014; Shi et al. 2020 for S3) of one arm.

    Parameters
    ----------
    n
        Arm size (at least :data:`MIN_N_FIVENUM`).
    median
        The sample median.
    minimum, maximum, q1, q3
        The range and/or quartiles: min and max (S1), q1 and q3 (S2) or all four (S3).

    Returns
    -------
    FiveNumberEstimate
        With Shi et al.'s (2023) skewness test; see the module docstring for the formulas.
    """
    scenario = scenario_of(minimum, q1, q3, maximum)
    if scenario is None:
        raise ValueError("give min and max, q1 and q3, or all four beside the median")
    if n < MIN_N_FIVENUM:
        raise ValueError(f"a median-based conversion needs n >= {MIN_N_FIVENUM}")
    m = float(median)
    if scenario == "S1":
        a, b = float(minimum), float(maximum)
        w = 4 / (4 + n**0.75)
        mean = w * (a + b) / 2 + (1 - w) * m
        sd = (b - a) / _xi(n)
        t = abs(a + b - 2 * m) / (b - a) if b > a else 0.0
        crit = 1 / np.log(n + 9) + 2.5 / (n + 1)
    elif scenario == "S2":
        lo, hi = float(q1), float(q3)
        w = 0.7 + 0.39 / n
        mean = w * (lo + hi) / 2 + (1 - w) * m
        sd = (hi - lo) / _eta(n)
        t = abs(lo + hi - 2 * m) / (hi - lo) if hi > lo else 0.0
        crit = 2.65 / np.sqrt(n) - 6 / n**2
    else:
        a, lo, hi, b = float(minimum), float(q1), float(q3), float(maximum)
        w1, w2 = 2.2 / (2.2 + n**0.75), 0.7 - 0.72 / n**0.55
        mean = w1 * (a + b) / 2 + w2 * (lo + hi) / 2 + (1 - w1 - w2) * m
        w = 1 / (1 + 0.07 * n**0.6)
        sd = w * (b - a) / _xi(n) + (1 - w) * (hi - lo) / _eta(n)
        t1 = abs(a + b - 2 * m) / (b - a) if b > a else 0.0
        t2 = abs(lo + hi - 2 * m) / (hi - lo) if hi > lo else 0.0
        t = max(2.65 * np.log(0.6 * n) / np.sqrt(n) * t1, t2)
        crit = 3 / np.sqrt(n) - 40 / n**3
    return FiveNumberEstimate(scenario, float(mean), float(sd), float(t), float(crit), bool(t >= crit))


def se_from_p_value(estimate, p, df=None):
    """SE of a contrast from its two-sided p-value: ``|estimate| / q(1 - p/2)`` with ``q`` the
    normal quantile, or the t quantile on ``df`` degrees of freedom (Handbook §6.3.2)."""
    p = np.asarray(p, dtype=float)
    quantile = -_special().ndtri(p / 2) if df is None else -_special().stdtrit(df, p / 2)
    with np.errstate(divide="ignore", invalid="ignore"):  # p = 1: no SE (inf or NaN), refused by the caller
        return np.abs(np.asarray(estimate, dtype=float)) / quantile


def se_from_t_statistic(estimate, t):
    """SE of a contrast from its t (or z) statistic: ``|estimate / t|`` (Handbook §6.3.2)."""
    with np.errstate(divide="ignore", invalid="ignore"):  # t = 0: no SE, refused by the caller
        return np.abs(np.asarray(estimate, dtype=float) / np.asarray(t, dtype=float))


def change_sd(sd_baseline, sd_final, correlation):
    """SD of the change from baseline: ``sqrt(SDb² + SDf² - 2 r SDb SDf)`` (Handbook §6.5.2.8)."""
    b, f = np.asarray(sd_baseline, dtype=float), np.asarray(sd_final, dtype=float)
    return np.sqrt(b**2 + f**2 - 2 * np.asarray(correlation, dtype=float) * b * f)


def correlation_from_sds(sd_baseline, sd_final, sd_change):
    """Baseline-final correlation implied by the three SDs of one arm (Handbook §6.5.2.8)."""
    b, f, c = (np.asarray(x, dtype=float) for x in (sd_baseline, sd_final, sd_change))
    return (b**2 + f**2 - c**2) / (2 * b * f)


def design_effect(cluster_size, icc):
    """Design effect ``1 + (m - 1) ICC`` of a cluster-randomised trial (Handbook §23.1.4)."""
    return 1 + (np.asarray(cluster_size, dtype=float) - 1) * np.asarray(icc, dtype=float)


def smd_from_log_odds_ratio(log_or, variance):
    """SMD and its variance from a log odds ratio: ``ln(OR) sqrt(3)/pi``, ``var 3/pi^2`` (Chinn 2000)."""
    scale = np.sqrt(3) / np.pi
    return np.asarray(log_or, dtype=float) * scale, np.asarray(variance, dtype=float) * scale**2


def combine_groups(n1, m1, sd1, n2, m2, sd2):
    """Size, mean and SD of two groups combined into one (Handbook Table 6.5.a)."""
    n1, m1, sd1, n2, m2, sd2 = (np.asarray(x, dtype=float) for x in (n1, m1, sd1, n2, m2, sd2))
    n = n1 + n2
    mean = (n1 * m1 + n2 * m2) / n
    sd = np.sqrt(((n1 - 1) * sd1**2 + (n2 - 1) * sd2**2 + n1 * n2 / n * (m1**2 + m2**2 - 2 * m1 * m2)) / (n - 1))
    return n, mean, sd
