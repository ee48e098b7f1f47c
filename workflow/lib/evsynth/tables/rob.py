"""Risk of bias (RoB 2) judgements from the study table, per comparison and per analysis.

The study table's optional columns ``rob_d1`` ... ``rob_d5`` and ``rob_overall``
(:data:`evsynth.data.columns.ROB_COLUMNS`) hold the RoB 2 judgements (Sterne et al. 2019,
BMJ 366:l4898) of the row's result: ``low``, ``some concerns`` or ``high``; an empty cell
means "not assessed". This module maps them onto the comparisons the workflow pools
(arm rows give their judgements to every contrast formed from them), and computes what the
robvis figures draw (McGuinness & Higgins 2021, Res Synth Methods 12:55): one traffic-light
row per study, and the share of each comparison's meta-analysis weight at each judgement.
Nothing here draws (see :mod:`evsynth.figures.rob`) or invents a judgement.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from evsynth.data.columns import ROB_COLUMNS, ROB_DOMAINS, ROB_VALUES

__all__ = [
    "COLOURS",
    "DOMAIN_NAMES",
    "JUDGEMENT_LABELS",
    "NOT_ASSESSED",
    "ROB_HEADERS",
    "TrafficLightRow",
    "comparison_judgements",
    "legend_line",
    "SYMBOLS",
    "traffic_light_rows",
    "weight_shares",
    "weighted_summary",
]

#: Short column headings, as RevMan Web and robvis print them.
ROB_HEADERS = ("D1", "D2", "D3", "D4", "D5", "Overall")
#: RoB 2's domain names (Sterne et al. 2019, Table 1).
DOMAIN_NAMES = {
    "rob_d1": "Bias arising from the randomisation process",
    "rob_d2": "Bias due to deviations from intended interventions",
    "rob_d3": "Bias due to missing outcome data",
    "rob_d4": "Bias in measurement of the outcome",
    "rob_d5": "Bias in selection of the reported result",
    "rob_overall": "Overall risk of bias",
}
NOT_ASSESSED = "not assessed"
JUDGEMENT_LABELS = {"low": "Low risk", "some concerns": "Some concerns", "high": "High risk",
                    NOT_ASSESSED: "Not assessed"}
#: robvis's RoB 2 colours and symbols; grey and no symbol for "not assessed" (not a robvis level).
COLOURS = {"low": "#02C100", "some concerns": "#E2DF07", "high": "#BF0000", NOT_ASSESSED: "#D9D9D9"}
SYMBOLS = {"low": "+", "some concerns": "-", "high": "X", NOT_ASSESSED: ""}

Judgements = tuple[str, ...]
EMPTY: Judgements = ("",) * len(ROB_COLUMNS)


def _judgements(row: Mapping[str, Any]) -> Judgements:
    return tuple(str(row.get(c) or "").strip().lower() for c in ROB_COLUMNS)


def comparison_judgements(records: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str, str], Judgements]:
    """``(study, treatment, comparator) -> (d1, ..., d5, overall)`` for one analysis's rows.

    A contrast row gives its own judgements; arm rows (which the study-table checks require
    to agree within a study, outcome and timepoint) give theirs to every contrast of two of
    the study's arms, in either direction. Judgements are '' where not assessed.
    """
    out: dict[tuple[str, str, str], Judgements] = {}
    arms: dict[str, list[tuple[str, Judgements]]] = {}
    for row in records:
        if str(row.get("form") or "") == "arm":
            arms.setdefault(str(row["study"]), []).append((str(row["arm"]), _judgements(row)))
        else:
            out[(str(row["study"]), str(row["treatment"]), str(row["comparator"]))] = _judgements(row)
    for study, items in arms.items():
        for arm_a, judged in items:
            for arm_b, _ in items:
                if arm_a != arm_b:
                    out.setdefault((study, arm_a, arm_b), judged)
    return out


@dataclass(frozen=True)
class TrafficLightRow:
    """One row of a traffic-light plot: a study (or one comparison of it) and six judgements."""

    label: str
    judgements: Judgements


def traffic_light_rows(
    studies: pd.DataFrame,
    judgements: Mapping[tuple[str, str, str], Judgements],
    modes: Mapping[str, str],
) -> list[TrafficLightRow]:
    """One row per study of an analysis, in forest-plot order (first appearance).

    ``studies`` is the analysis's ``studies.tsv`` (columns study, treatment, comparator).
    A study whose comparisons were judged differently gets one row per comparison,
    labelled ``"Study (treatment vs comparator)"``; a study with no judgements is drawn as
    not assessed, so the figure shows what is missing rather than leaving it out.
    """
    per_study: dict[str, list[tuple[str, str, Judgements]]] = {}
    for rec in studies[["study", "treatment", "comparator"]].astype(str).to_dict("records"):
        judged = judgements.get((rec["study"], rec["treatment"], rec["comparator"]), EMPTY)
        per_study.setdefault(rec["study"], []).append((rec["treatment"], rec["comparator"], judged))
    rows = []
    for study, items in per_study.items():
        distinct = list(dict.fromkeys(j for _, _, j in items))
        if len(distinct) == 1:
            rows.append(TrafficLightRow(study, distinct[0]))
            continue
        for treatment, comparator, judged in items:
            label = f"{study} ({modes.get(treatment, treatment)} vs {modes.get(comparator, comparator)})"
            rows.append(TrafficLightRow(label, judged))
    return rows


def weighted_summary(
    studies: pd.DataFrame,
    judgements: Mapping[tuple[str, str, str], Judgements],
    modes: Mapping[str, str],
) -> list[tuple[str, dict[str, dict[str, float]]]]:
    """Per comparison: for each RoB column, the percentage of the meta-analysis weight at each
    judgement (robvis ``rob_summary(weighted = TRUE)``).

    Weights are the random-effects weights of the analysis's ``studies.tsv`` (100% for a
    single study); studies without a weight (not estimable) do not count. Each domain's
    percentages (low, some concerns, high, not assessed) sum to 100.

    Returns
    -------
    list of (title, {column: {judgement: percent}})
        In the order the comparisons appear in ``studies``.
    """
    panels = []
    for (treatment, comparator), block in studies.groupby(["treatment", "comparator"], sort=False):
        block = block[block["weight_pct"].notna()]
        total = float(block["weight_pct"].sum())
        if not len(block) or not total > 0:
            continue
        shares: dict[str, dict[str, float]] = {}
        for index, column in enumerate(ROB_COLUMNS):
            share = {value: 0.0 for value in (*ROB_VALUES, NOT_ASSESSED)}
            for rec in block.to_dict("records"):
                judged = judgements.get((str(rec["study"]), str(treatment), str(comparator)), EMPTY)[index]
                share[judged or NOT_ASSESSED] += 100.0 * float(rec["weight_pct"]) / total
            shares[column] = share
        title = f"{modes.get(treatment, treatment)} vs {modes.get(comparator, comparator)}"
        panels.append((title, shares))
    return panels


def weight_shares(
    study_weights: Sequence[tuple[str, float | None]],
    overall: Mapping[str, str],
) -> dict[str, float]:
    """Share (percent) of weight at each overall judgement for one comparison.

    ``study_weights`` lists ``(study, weight)``; a ``None`` weight counts each study equally
    (used where no per-study weights exist, e.g. the across-modes estimate). ``overall``
    maps study -> overall judgement ('' = not assessed).
    """
    weights = [(s, 1.0 if w is None or not math.isfinite(w) else float(w)) for s, w in study_weights]
    total = sum(w for _, w in weights)
    share = {value: 0.0 for value in (*ROB_VALUES, NOT_ASSESSED)}
    if total <= 0:
        return share
    for study, weight in weights:
        share[overall.get(study) or NOT_ASSESSED] += 100.0 * weight / total
    return share


def legend_line() -> str:
    """The footnote a forest plot with RoB columns carries (RevMan's risk-of-bias legend)."""
    domains = "; ".join(f"{h} {DOMAIN_NAMES[c].lower()}" for h, c in zip(ROB_HEADERS, ROB_DOMAINS))
    return (f"Risk of bias (RoB 2, Sterne et al. 2019): {domains}; Overall: overall risk of bias. "
            "+ low risk, - some concerns, X high risk; grey: not assessed.")
