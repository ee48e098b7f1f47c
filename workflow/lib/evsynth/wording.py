"""RevMan and GRADE wording from numbers: P values, heterogeneity, overall-effect and
prediction lines, CI, PI and I² labels, signed differences ("0.40 lower (0.62 lower to 0.18
lower)") and the Cochrane Handbook's interpretation of I². A leaf module: it imports nothing
from evsynth, so every layer may use it."""

from __future__ import annotations

from typing import Any

import numpy as np

CI_METHOD_LABELS = {
    "wald": "Wald (normal) CI",
    "hksj": "Hartung-Knapp-Sidik-Jonkman CI (t, k-1 df)",
    "hksj-adhoc": "Hartung-Knapp-Sidik-Jonkman CI with the ad hoc floor (never narrower than Wald)",
}


I2_LABELS = {"tau2": "I² from tau²", "q": "I² from Q (RevMan 5)", "q-ht": "I² from Q, test-based CI (R meta)"}

#: Status of a single trial's combined-arms contrast (tables.subgroups); here, a leaf, so that
#: reports.reproduce_r can test for it without importing the statistics (and scipy.stats).
SINGLE_TRIAL_STATUS = "single study: CBT arms combined, not pooled"

PI_LABELS = {
    "none": "no prediction interval",
    "normal": "prediction interval on the normal distribution",
    "t_k-1": "prediction interval on t(k-1)",
    "t_k-2": "prediction interval on t(k-2)",
    "t_k-2-wald": "prediction interval on t(k-2) with the non-HK SE",
}


def number(x: float, decimals: int = 2) -> str:
    """``x`` to ``decimals`` places, never a signed zero ("-0.00" is "0.00")."""
    text = f"{x:.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def direction(value: float, up: str, down: str, decimals: int = 2, unit: str = "") -> str:
    """'0.40 lower' / '112 more' style, GRADE's wording for signed differences (ints get thousands commas)."""
    if isinstance(value, int):
        text = f"{abs(value):,}"
    else:
        text = number(abs(value), decimals)
        if float(text) == 0:
            return f"{text}{unit}"
    return f"{text}{unit} {up if value > 0 else down}" if value != 0 else f"{text}{unit}"


def difference_text(d: float, lo: float, hi: float, up: str, down: str, decimals: int = 2, unit: str = "") -> str:
    """A difference and its CI in GRADE's words: '112 more (74 more to 155 more)'."""
    return (f"{direction(d, up, down, decimals, unit)} ({direction(lo, up, down, decimals, unit)} to "
            f"{direction(hi, up, down, decimals, unit)})")


#: Cochrane Handbook 10.10.2: a rough guide to interpreting I² (overlapping on purpose).
HANDBOOK_I2_BANDS = ((0, 40, "might not be important"), (30, 60, "may represent moderate heterogeneity"),
                     (50, 90, "may represent substantial heterogeneity"), (75, 100, "considerable heterogeneity"))


def i2_interpretation(i2: float) -> str:
    """Cochrane Handbook 10.10.2's overlapping interpretation of an I² (percent)."""
    return " or ".join(text for low, high, text in HANDBOOK_I2_BANDS if low <= i2 <= high)


def format_p(p: float) -> str:
    """RevMan style: 'P = 0.16', 'P = 0.004', 'P < 0.00001'."""
    if p < 0.00001:
        return "P < 0.00001"
    for decimals, floor in ((2, 0.01), (3, 0.001), (4, 0.0001), (5, 0.0)):
        if p >= floor:
            return f"P = {p:.{decimals}f}"
    raise AssertionError("unreachable")


def chi2_test(stat: float, df: float, p: float) -> str:
    """RevMan's chi² test: 'Chi² = 5.12, df = 3 (P = 0.16)' (df a whole number)."""
    return f"Chi² = {stat:.2f}, df = {df:.0f} ({format_p(p)})"


#: RevMan's heterogeneity line of a single-study subgroup.
HETEROGENEITY_ONE_STUDY = "Heterogeneity: not applicable (one study)"


def heterogeneity_line(p: Any) -> str:
    """RevMan's heterogeneity line of a pooled estimate:
    'Heterogeneity: Tau² = 0.04 [0.00, 0.31] (REML); Chi² = 5.12, df = 3 (P = 0.16); I² = 41%'."""
    tau2 = f"Tau² = {p.tau2:.2f}"
    if p.tau2_ci_lower is not None and p.tau2_ci_upper is not None:
        tau2 += f" [{p.tau2_ci_lower:.2f}, {p.tau2_ci_upper:.2f}]"
    return f"Heterogeneity: {tau2} ({p.estimator}); {chi2_test(p.q, p.q_df, p.q_p)}; I² = {p.i2:.0f}%"


def prediction_line(p: Any, ratio: bool) -> str | None:
    """'Prediction interval: [0.71, 1.62] (t, 3 df)' on the reporting scale; None without one."""
    if p.pi_lower is None or p.pi_upper is None:
        return None
    back = np.exp if ratio else (lambda x: x)
    df = "normal" if p.pi_df is None else f"t, {p.pi_df:.0f} df"
    return f"Prediction interval: [{number(back(p.pi_lower))}, {number(back(p.pi_upper))}] ({df})"


def overall_effect_line(p: Any) -> str:
    """'Test for overall effect: Z = 2.31 (P = 0.02)', or t and its df under HKSJ (RevMan Web)."""
    if p.stat_df is None:
        return f"Test for overall effect: Z = {abs(p.stat):.2f} ({format_p(p.p_value)})"
    return f"Test for overall effect: t = {abs(p.stat):.2f}, df = {p.stat_df:.0f} ({format_p(p.p_value)})"
