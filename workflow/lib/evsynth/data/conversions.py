"""Study-table rows given as trials report them: checked, then converted, and labelled.

A trial that reports an arm's mean with its SE or CI instead of its SD, or a median with
quartiles and/or range instead of a mean and SD, or a contrast with only its p-value or t
statistic, is entered as reported (docs/study_table.md#data-as-trials-report-it). The checks
here run inside :func:`evsynth.data.validate.check_row`; the conversion fills the columns of an
ordinary row (``mean_*``/``sd_*`` of the means form, ``se`` of a reported contrast) and records
what it did in three fields every later table reads:

* ``conversion``: the ids of :data:`CONVERSIONS` used, ``"; "``-separated ('' = data used as
  reported);
* ``conversion_detail``: which arm, which numbers, which formula, and the citation;
* ``skew_check``: for a median-based arm whose summary suggests skew (Shi et al. 2023), the
  warning that ``results/checks.tsv`` lists.

The formulas are :mod:`evsynth.stats.conversions`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from evsynth.stats.conversions import (
    MIN_N_FIVENUM,
    T_INTERVAL_BELOW_N,
    mean_ci_quantile,
    mean_sd_from_fivenum,
    scenario_of,
    sd_from_mean_ci,
    sd_from_se,
    se_from_mean_ci,
    se_from_p_value,
    se_from_t_statistic,
)
from evsynth.stats.escalc import z_for_level

HANDBOOK = "Cochrane Handbook v6.5"
#: Conversion id -> (what it does, its source). Forest plots and effects.tsv show these.
CONVERSIONS: dict[str, tuple[str, str]] = {
    "sd_from_se": ("arm SD from the SE of its mean, SD = SE x sqrt(n)", f"{HANDBOOK} §6.5.2.2"),
    "sd_from_mean_ci": (
        f"arm SD from the CI of its mean, SD = sqrt(n) x width / (2 x t on n - 1 df when n < {T_INTERVAL_BELOW_N}, "
        "else z)",
        f"{HANDBOOK} §6.5.2.3",
    ),
    "median_range": (
        "arm mean and SD from median, minimum and maximum",
        "Luo et al. 2018 (mean); Wan et al. 2014 (SD)",
    ),
    "median_iqr": ("arm mean and SD from median and quartiles", "Luo et al. 2018 (mean); Wan et al. 2014 (SD)"),
    "median_fivenum": (
        "arm mean and SD from median, quartiles, minimum and maximum",
        "Luo et al. 2018 (mean); Shi et al. 2020 (SD)",
    ),
    "se_from_p": ("contrast SE from its exact two-sided p-value", f"{HANDBOOK} §6.3.2, §6.5.2.3"),
    "se_from_t": ("contrast SE from its t statistic, SE = |estimate / t|", f"{HANDBOOK} §6.3.2"),
    "smd_from_log_or": (
        "SMD from a binary result (counts) in an SMD outcome, SMD = ln(OR) x sqrt(3)/pi, variance x 3/pi²",
        "Chinn 2000, Stat Med 19:3127",
    ),
    "combined_arms": (
        "several arms of one mode in one trial combined into one group (counts summed; means and SDs "
        "combined), the shared control arm counted once",
        f"{HANDBOOK} §6.5.2.10, Table 6.5.a",
    ),
    "sd_borrowed": (
        "missing arm SD borrowed: the mean of the SDs the other trials of the analysis report",
        "Furukawa et al. 2006, J Clin Epidemiol 59:7",
    ),
    "cluster_design_effect": (
        "variance of a cluster-randomised trial analysed as individually randomised multiplied by the design "
        "effect 1 + (m - 1) ICC",
        f"{HANDBOOK} §23.1.4",
    ),
    "change_sd": (
        "SD of the change from baseline from the baseline and final SDs and their correlation, "
        "SD = sqrt(SDb² + SDf² - 2 r SDb SDf)",
        f"{HANDBOOK} §6.5.2.8",
    ),
}
_SCENARIO_IDS = {"S1": "median_range", "S2": "median_iqr", "S3": "median_fivenum"}
ARMS = (("treat", "treatment"), ("ctrl", "control"))
#: Spread of an arm mean other than its SD (docs/study_table.md#data-as-trials-report-it).
SEM_COLUMNS = ("sem_treat", "sem_ctrl")
MEAN_CI_COLUMNS = ("mean_ci_lower_treat", "mean_ci_upper_treat", "mean_ci_lower_ctrl", "mean_ci_upper_ctrl")
FIVENUM_STATS = ("median", "q1", "q3", "min", "max")
FIVENUM_COLUMNS = tuple(f"{s}_{arm}" for arm, _ in ARMS for s in FIVENUM_STATS)
CONTRAST_TEST_COLUMNS = ("p_value", "t_stat")
#: How far the SE a CI implies may differ from a reported SE beside it (rounding of both).
SE_AGREEMENT = 0.10
#: The sensitivity subset without converted rows (results/sensitivity/subsets.tsv, robustness.tsv).
REPORTED_ONLY = "directly reported data only"
NO_CONVERSION = {"conversion": "", "conversion_detail": "", "skew_check": ""}

Bad = Callable[[str, str], None]


def _filled(row: Mapping[str, str], column: str) -> bool:
    return row.get(column, "") != ""


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def has_fivenum(row: Mapping[str, str]) -> bool:
    """True when any median, quartile or range cell is filled (the medians form)."""
    return any(_filled(row, c) for c in FIVENUM_COLUMNS)


def has_arm_spread(row: Mapping[str, str]) -> bool:
    """True when an arm mean's SE or CI is given (part of the means form)."""
    return any(_filled(row, c) for c in (*SEM_COLUMNS, *MEAN_CI_COLUMNS))


# ---------------------------------------------------------------------------------------
# Means form: each arm's spread as an SD, the SE of its mean, or the CI of its mean.
# ---------------------------------------------------------------------------------------


def check_arm_spread(row: Mapping[str, str], values: Mapping[str, Any], bad: Bad) -> None:
    """Each arm gives exactly one of sd, sem, or the mean's CI (sem and CI together only if
    they agree), with a positive SE, an ordered CI around the mean, and n for the conversion."""
    level = values.get("ci_level") or 95.0
    for arm, name in ARMS:
        sd, sem = f"sd_{arm}", f"sem_{arm}"
        lo, hi = f"mean_ci_lower_{arm}", f"mean_ci_upper_{arm}"
        given = [c for c in (sd, sem, lo, hi) if _filled(row, c)]
        if not given and row.get("value_type", "") == "change" and _filled(row, f"sd_baseline_{arm}"):
            continue  # the change SD from baseline and final SDs (evsynth.data.change_scores)
        if not given and values.get("borrow_sd") and _filled(row, f"n_{arm}"):
            continue  # borrowed from the other trials (evsynth.data.borrowed_sd), when configured
        if not given:
            bad(
                sd,
                f"must be filled for means data: the {name} arm's SD, or the SE (sem_{arm}) or CI "
                f"(mean_ci_lower_{arm}, mean_ci_upper_{arm}) of its mean",
            )
            continue
        if _filled(row, sd) and len(given) > 1:
            others = ", ".join(c for c in given if c != sd)
            bad(sd, f"the {name} arm's spread is given in more than one form (sd and {others}); keep one per arm")
            continue
        if _filled(row, lo) != _filled(row, hi):
            bad(hi if _filled(row, lo) else lo, "give both limits of the arm mean's CI or neither")
            continue
        if values.get(sem) is not None and values[sem] <= 0:
            bad(sem, "an SE must be greater than 0")
        low, high, mean = values.get(lo), values.get(hi), values.get(f"mean_{arm}")
        if low is not None and high is not None:
            if low > high:
                bad(lo, f"CI is reversed: lower limit above upper limit ({high:g})")
                continue
            if low == high:
                bad(hi, "CI has zero width")
                continue
            if mean is not None and not low <= mean <= high:
                bad(f"mean_{arm}", f"lies outside its own CI [{low:g}, {high:g}]")
        n = values.get(f"n_{arm}")
        if not _filled(row, sd) and not _filled(row, f"n_{arm}"):
            bad(f"n_{arm}", "must be filled: the SD is computed from the SE or CI of the mean and n")
        elif low is not None and high is not None and values.get(sem) is not None and n is not None and n >= 2:
            implied = float(se_from_mean_ci(low, high, n, level))
            if values[sem] > 0 and abs(implied - values[sem]) > SE_AGREEMENT * values[sem]:
                bad(
                    sem,
                    f"disagrees with the CI of the mean beside it, which implies an SE of {implied:.4g} "
                    f"(more than {SE_AGREEMENT:.0%} apart); check both, keep the one the source reports",
                )
        if n is not None and n < 2 and not _filled(row, sd):
            bad(f"n_{arm}", "an arm of 1 has no SD to recover; at least 2 needed")


def convert_arm_spread(values: dict[str, Any]) -> dict[str, str]:
    """Fill ``sd_*`` of a checked means row from the SE or CI of each arm's mean."""
    level = values.get("ci_level") or 95.0
    ids, details = [], []
    for arm, name in ARMS:
        n = values.get(f"n_{arm}")
        sem, lo, hi = values.get(f"sem_{arm}"), values.get(f"mean_ci_lower_{arm}"), values.get(f"mean_ci_upper_{arm}")
        if values.get(f"sd_{arm}") is not None:
            continue
        if sem is None and (lo is None or hi is None):
            continue  # a change score's SD from its components: evsynth.data.change_scores
        if sem is not None:
            sd = float(sd_from_se(sem, n))
            ids.append("sd_from_se")
            details.append(f"{name} SD {sd:.6g} = SE {sem:g} x sqrt({n:g}) ({CONVERSIONS['sd_from_se'][1]})")
        else:
            sd = float(sd_from_mean_ci(lo, hi, n, level))
            c = float(mean_ci_quantile(n, level))
            dist = f"t({n - 1:g})" if n < T_INTERVAL_BELOW_N else "z"
            ids.append("sd_from_mean_ci")
            details.append(
                f"{name} SD {sd:.6g} = sqrt({n:g}) x ({hi:g} - {lo:g}) / (2 x {dist} {c:.4f}) from the {level:g}% CI "
                f"of its mean ({CONVERSIONS['sd_from_mean_ci'][1]})"
            )
        values[f"sd_{arm}"] = sd
    return _label(ids, details)


# ---------------------------------------------------------------------------------------
# Medians form: each arm's median with its range and/or quartiles.
# ---------------------------------------------------------------------------------------


def check_fivenum(row: Mapping[str, str], values: Mapping[str, Any], measure: str | None, bad: Bad) -> None:
    """Both arms give a median, n >= 5, and the range, the quartiles or both, in order."""
    if measure and measure not in ("MD", "SMD"):
        bad("median_treat", f"medians given, but the outcome is analysed as {measure}")
    for arm, name in ARMS:
        v = {s: values.get(f"{s}_{arm}") for s in FIVENUM_STATS}
        if not _filled(row, f"median_{arm}"):
            bad(f"median_{arm}", f"must be filled for medians data: the {name} arm's median")
        n = values.get(f"n_{arm}")
        if not _filled(row, f"n_{arm}"):
            bad(f"n_{arm}", "must be filled for medians data (the conversion depends on n)")
        elif n is not None and n < MIN_N_FIVENUM:
            bad(f"n_{arm}", f"a median-based conversion needs at least {MIN_N_FIVENUM} participants")
        if scenario_of(*(float("nan") if v[s] is None else v[s] for s in ("min", "q1", "q3", "max"))) is None:
            given = [f"{s}_{arm}" for s in ("min", "q1", "q3", "max") if _filled(row, f"{s}_{arm}")]
            column = given[0] if given else f"q1_{arm}"
            bad(
                column,
                f"give the {name} arm's min and max, its q1 and q3, or all four beside the median "
                f"(given: {', '.join(given) or 'none'})",
            )
            continue
        _check_order(v, arm, bad)


def _check_order(v: Mapping[str, float | None], arm: str, bad: Bad) -> None:
    """min <= q1 <= median <= q3 <= max, and a spread above 0."""
    m, lo, hi, a, b = (v[s] for s in ("median", "q1", "q3", "min", "max"))
    if lo is not None and hi is not None:
        if lo > hi:
            bad(f"q1_{arm}", f"quartiles out of order: q1 above q3 ({hi:g})")
        elif lo == hi:
            bad(f"q3_{arm}", "q1 equals q3: an interquartile range of 0 gives no SD")
        elif m is not None and not lo <= m <= hi:
            bad(f"median_{arm}", f"lies outside its quartiles [{lo:g}, {hi:g}]")
    if a is not None and b is not None:
        if a > b:
            bad(f"min_{arm}", f"range out of order: min above max ({b:g})")
        elif a == b:
            bad(f"max_{arm}", "min equals max: a range of 0 gives no SD")
        elif m is not None and not a <= m <= b:
            bad(f"median_{arm}", f"lies outside its range [{a:g}, {b:g}]")
    if a is not None and lo is not None and a > lo:
        bad(f"min_{arm}", f"min above q1 ({lo:g})")
    if b is not None and hi is not None and b < hi:
        bad(f"max_{arm}", f"max below q3 ({hi:g})")


def convert_fivenum(values: dict[str, Any]) -> dict[str, str]:
    """Fill ``mean_*``/``sd_*`` of a checked medians row, and flag a summary that suggests skew."""
    ids, details, skew = [], [], []
    for arm, name in ARMS:
        v = {s: values.get(f"{s}_{arm}") for s in FIVENUM_STATS}
        n = values[f"n_{arm}"]
        est = mean_sd_from_fivenum(n, v["median"], v["min"], v["q1"], v["q3"], v["max"])
        values[f"mean_{arm}"], values[f"sd_{arm}"] = est.mean, est.sd
        kind = _SCENARIO_IDS[est.scenario]
        ids.append(kind)
        shown = ", ".join(f"{s} {v[s]:g}" for s in ("min", "q1", "median", "q3", "max") if v[s] is not None)
        details.append(
            f"{name} mean {est.mean:.6g}, SD {est.sd:.6g} from {shown}, n {n:g} "
            f"({est.scenario}; {CONVERSIONS[kind][1]})"
        )
        if est.skewed:
            skew.append(
                f"{name} arm: Shi et al. 2023 skewness statistic {est.skew_statistic:.3f} >= critical "
                f"value {est.skew_critical:.3f} (n {n:g}): the {shown} suggest skewed data, so the mean "
                "and SD estimated as if normal may mislead"
            )
    label = _label(ids, details)
    label["skew_check"] = "; ".join(skew)
    return label


# ---------------------------------------------------------------------------------------
# Contrast form: a p-value or t statistic instead of a CI or SE.
# ---------------------------------------------------------------------------------------


def check_contrast_test(row: Mapping[str, str], values: dict[str, Any], bad: Bad) -> None:
    """A p-value in (0, 1] written as a number, or a t statistic, and nothing else beside the effect."""
    text = row.get("p_value", "")
    values["p_value"] = None
    if text:
        p = _number(text)
        if p is None:
            if text.lstrip().startswith(("<", ">", "≤", "≥", "=")) or text.lower().startswith(("p<", "p>", "p =")):
                bad(
                    "p_value",
                    "an inequality or a level of significance is not a p-value: an SE cannot be "
                    "recovered from it (Cochrane Handbook 6.3.2); give the exact p-value, or the CI or SE",
                )
            else:
                bad(
                    "p_value", "must be a number, the exact two-sided p-value (e.g. 0.031): 'NS' or a level gives no SE"
                )
        elif not 0 < p <= 1:
            bad("p_value", "a p-value must lie in (0, 1]")
        else:
            values["p_value"] = p
    given = [c for c in ("p_value", "t_stat") if _filled(row, c)]
    if given and (_filled(row, "ci_lower") or _filled(row, "se")):
        given.insert(0, "ci_lower" if _filled(row, "ci_lower") else "se")
    if len(given) > 1:
        shown = ["CI" if c == "ci_lower" else c for c in given]
        bad(given[1], f"gives the contrast's precision in more than one form ({' and '.join(shown)}); keep one")


def check_se_agrees_with_ci(values: Mapping[str, Any], measure: str | None, bad: Bad) -> None:
    """A reported contrast with both a CI and an SE: the SE the CI implies must be within
    :data:`SE_AGREEMENT` of the SE (else one of them was mistyped)."""
    lower, upper, se = values.get("ci_lower"), values.get("ci_upper"), values.get("se")
    if lower is None or upper is None or se is None or se <= 0 or lower >= upper:
        return
    if measure in ("RR", "OR"):
        if lower <= 0:
            return
        lower, upper = math.log(lower), math.log(upper)
    level = values.get("ci_level") or 95.0
    if not 50 <= level < 100:  # refused by its own rule (validate); no z to compare with
        return
    implied = (upper - lower) / (2 * z_for_level(level))
    if abs(implied - se) > SE_AGREEMENT * se:
        bad(
            "se",
            f"disagrees with the CI beside it, which implies an SE of {implied:.4g} (more than "
            f"{SE_AGREEMENT:.0%} apart); check both, keep the one the source reports",
        )


def convert_contrast_test(values: dict[str, Any], measure: str | None) -> dict[str, str]:
    """Fill ``se`` of a contrast from its p-value or t statistic (on the log scale for RR, OR)."""
    effect = values.get("effect")
    if effect is None or (values.get("p_value") is None and values.get("t_stat") is None):
        return dict(NO_CONVERSION)
    ratio = measure in ("RR", "OR")
    y = math.log(effect) if ratio and effect > 0 else effect
    name = f"log {measure}" if ratio else measure
    if values.get("p_value") is not None:
        p = values["p_value"]
        n_t, n_c = values.get("n_treat"), values.get("n_ctrl")
        # Handbook 6.5.2.3: a difference of means tested by a t test has n1 + n2 - 2 df.
        df = n_t + n_c - 2 if measure in ("MD", "SMD") and n_t and n_c and n_t + n_c > 2 else None
        se = float(se_from_p_value(y, p, df))
        dist = f"t({df:g})" if df is not None else "z"
        detail = f"SE {se:.6g} = |{name} {y:.6g}| / {dist} quantile of p = {p:g} (two-sided)"
        kind = "se_from_p"
    else:
        se = float(se_from_t_statistic(y, values["t_stat"]))
        detail = f"SE {se:.6g} = |{name} {y:.6g} / t {values['t_stat']:g}|"
        kind = "se_from_t"
    values["se"] = se if math.isfinite(se) and se > 0 else None
    if values["se"] is None:
        detail += ": no SE (an estimate of no effect, p = 1 or t = 0), so not estimable"
    return _label([kind], [f"{detail} ({CONVERSIONS[kind][1]})"])


def _label(ids: list[str], details: list[str]) -> dict[str, str]:
    return {"conversion": "; ".join(dict.fromkeys(ids)), "conversion_detail": "; ".join(details), "skew_check": ""}


def convert(form: str, values: dict[str, Any], measure: str | None) -> str:
    """Convert a checked row in place (``values`` gains the NO_CONVERSION fields, filled when a
    conversion ran); returns the form the row is analysed as (a medians row becomes means)."""
    values.update(NO_CONVERSION)
    if form == "means" and any(values.get(c) is not None for c in (*SEM_COLUMNS, *MEAN_CI_COLUMNS)):
        values.update(convert_arm_spread(values))
    elif form == "medians":
        values.update(convert_fivenum(values))
        return "means"
    elif form == "contrast":
        values.update(convert_contrast_test(values, measure))
    elif form == "counts" and measure == "SMD":
        detail = (
            f"log OR from {values['events_treat']:g}/{values['n_treat']:g} vs {values['events_ctrl']:g}/"
            f"{values['n_ctrl']:g} x sqrt(3)/pi, variance x 3/pi² ({CONVERSIONS['smd_from_log_or'][1]})"
        )
        values.update(_label(["smd_from_log_or"], [detail]))
    return form


def conversion_ids(cell: Any) -> list[str]:
    """The conversion ids of a ``conversion`` cell ('' or NaN: none)."""
    text = cell if isinstance(cell, str) else ""
    return [i for i in text.split("; ") if i in CONVERSIONS]


def conversion_sources(cell: Any) -> str:
    """'id: description (source)' for each id of a ``conversion`` cell, '; '-separated."""
    return "; ".join(f"{i}: {CONVERSIONS[i][0]} ({CONVERSIONS[i][1]})" for i in conversion_ids(cell))
