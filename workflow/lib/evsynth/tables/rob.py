"""Risk-of-bias judgements (RoB 2, or RoB 1 items) from the study table, per comparison and analysis.

The study table's optional columns ``rob_d1`` ... ``rob_d5`` and ``rob_overall``
(:data:`evsynth.data.columns.ROB_COLUMNS`) hold the RoB 2 judgements (Sterne et al. 2019,
BMJ 366:l4898) of the row's result: ``low``, ``some concerns`` or ``high``; an empty cell
means "not assessed". This module maps them onto the comparisons the workflow pools
(arm rows give their judgements to every contrast formed from them), and computes what the
robvis figures draw (McGuinness & Higgins 2021, Res Synth Methods 12:55): one traffic-light
row per study, and the share of each comparison's meta-analysis weight at each judgement.
Nothing here draws (see :mod:`evsynth.figures.rob`) or invents a judgement.

Results judged with the original Cochrane tool instead (RoB 1, Higgins et al. 2011, BMJ
343:d5928; columns ``rob1_sg``, ``rob1_ac``, ``rob1_ba``, ``rob1_itt``) are kept apart: their
items are shown as items (their own traffic-light panel and forest-plot columns), never as RoB 2
domains, and their summary (:func:`evsynth.data.columns.rob1_summary`) is counted under its own
"RoB 1" labels wherever a RoB 2 overall judgement would be.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from evsynth.data.columns import (
    ROB1_ITEMS,
    ROB1_VALUES,
    ROB_COLUMNS,
    ROB_DOMAINS,
    ROB_VALUES,
    SELF_REPORT,
    rob1_summary,
)

__all__ = [
    "COLOURS",
    "DOMAIN_NAMES",
    "JUDGEMENT_LABELS",
    "NOT_ASSESSED",
    "ROB1_HEADERS",
    "ROB1_LEVELS",
    "ROB1_NAMES",
    "ROB_HEADERS",
    "SHARE_LEVELS",
    "TrafficLightRow",
    "comparison_judgements",
    "forest_judgements",
    "legend_line",
    "overall_judgement",
    "traffic_light_panels",
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
#: RoB 1 items (Higgins et al. 2011, Table 2), with the short headings Cochrane reviews use.
ROB1_HEADERS = ("SG", "AC", "BA", "ITT")
ROB1_NAMES = {
    "rob1_sg": "Random sequence generation (selection bias)",
    "rob1_ac": "Allocation concealment (selection bias)",
    "rob1_ba": "Blinding of outcome assessment (detection bias)",
    "rob1_itt": "Incomplete outcome data / intention to treat (attrition bias)",
}
NOT_ASSESSED = "not assessed"
#: Where a RoB 2 overall judgement is counted, a RoB 1 result counts as its summary under these.
ROB1_LEVELS = {value: f"RoB 1 {value}" for value in ROB1_VALUES}
#: Every level a share of weight can be at (weight_shares, weighted_summary), in reading order.
SHARE_LEVELS = (*ROB_VALUES, *ROB1_LEVELS.values(), NOT_ASSESSED)
JUDGEMENT_LABELS = {"low": "Low risk", "some concerns": "Some concerns", "high": "High risk",
                    "unclear": "Unclear risk", SELF_REPORT: "Self-reported outcome",
                    **{level: f"{level[:5]} {value} risk" for value, level in ROB1_LEVELS.items()},
                    NOT_ASSESSED: "Not assessed"}
#: robvis's RoB 2 colours and symbols (its RoB 1 template: yellow "?" unclear); grey and no symbol
#: for "not assessed" (not a robvis level); a self-reported outcome (no assessor judged) is pale
#: blue "S"; RoB 1 summaries in the weighted bars are hatched in the figure, to tell them apart.
COLOURS = {"low": "#02C100", "some concerns": "#E2DF07", "high": "#BF0000", "unclear": "#E2DF07",
           SELF_REPORT: "#9EC9E2", ROB1_LEVELS["low"]: "#02C100", ROB1_LEVELS["unclear"]: "#E2DF07",
           ROB1_LEVELS["high"]: "#BF0000", NOT_ASSESSED: "#D9D9D9"}
SYMBOLS = {"low": "+", "some concerns": "-", "high": "X", "unclear": "?", SELF_REPORT: "S", NOT_ASSESSED: ""}

Judgements = tuple[str, ...]
EMPTY: Judgements = ("",) * len(ROB_COLUMNS)
EMPTY_ROB1: Judgements = ("",) * len(ROB1_ITEMS)


def _judgements(row: Mapping[str, Any], columns: Sequence[str]) -> Judgements:
    return tuple(" ".join(str(row.get(c) or "").replace("_", " ").split()).lower() for c in columns)


def comparison_judgements(
    records: Iterable[Mapping[str, Any]], columns: Sequence[str] = ROB_COLUMNS
) -> dict[tuple[str, str, str], Judgements]:
    """``(study, treatment, comparator) -> (d1, ..., d5, overall)`` for one analysis's rows.

    A contrast row gives its own judgements; arm rows (which the study-table checks require
    to agree within a study, outcome and timepoint) give theirs to every contrast of two of
    the study's arms, in either direction. Judgements are '' where not assessed. With
    ``columns=ROB1_ITEMS``, the four RoB 1 items instead.
    """
    out: dict[tuple[str, str, str], Judgements] = {}
    arms: dict[str, list[tuple[str, Judgements]]] = {}
    for row in records:
        if str(row.get("form") or "") == "arm":
            arms.setdefault(str(row["study"]), []).append((str(row["arm"]), _judgements(row, columns)))
        else:
            out[(str(row["study"]), str(row["treatment"]), str(row["comparator"]))] = _judgements(row, columns)
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
    studies_only: Iterable[str] | None = None,
) -> list[TrafficLightRow]:
    """One row per study of an analysis, in forest-plot order (first appearance).

    ``studies`` is the analysis's ``studies.tsv`` (columns study, treatment, comparator).
    A study whose comparisons were judged differently gets one row per comparison,
    labelled ``"Study (treatment vs comparator)"``; a study with no judgements is drawn as
    not assessed, so the figure shows what is missing rather than leaving it out.
    ``studies_only`` limits the rows to those studies (one panel of :func:`traffic_light_panels`).
    """
    width = len(next(iter(judgements.values()), EMPTY))
    keep = None if studies_only is None else set(studies_only)
    per_study: dict[str, list[tuple[str, str, Judgements]]] = {}
    for rec in studies[["study", "treatment", "comparator"]].astype(str).to_dict("records"):
        if keep is not None and rec["study"] not in keep:
            continue
        judged = judgements.get((rec["study"], rec["treatment"], rec["comparator"]), ("",) * width)
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


def traffic_light_panels(
    studies: pd.DataFrame,
    rob2: Mapping[tuple[str, str, str], Judgements],
    rob1: Mapping[tuple[str, str, str], Judgements],
    modes: Mapping[str, str],
) -> tuple[list[TrafficLightRow], list[TrafficLightRow]]:
    """(RoB 2 rows, RoB 1 rows) of one analysis: each study in one panel, by the tool that judged it.

    A study with RoB 1 items (and no RoB 2 judgement) goes to the RoB 1 panel, with its four
    items; every other study, judged or not, to the RoB 2 panel (unjudged ones grey).
    """
    names = list(dict.fromkeys(studies["study"].astype(str)))
    by_rob1 = {s for (s, _, _), items in rob1.items() if any(items)}
    by_rob2 = {s for (s, _, _), judged in rob2.items() if any(judged)}
    rob1_studies = [s for s in names if s in by_rob1 and s not in by_rob2]
    rows2 = traffic_light_rows(studies, rob2, modes,
                               [s for s in names if s not in rob1_studies])
    rows1 = traffic_light_rows(studies, rob1, modes, rob1_studies) if rob1_studies else []
    return rows2, rows1


def overall_judgement(rob2: Judgements, rob1: Judgements) -> str:
    """What counts for a result where an overall judgement is needed: the RoB 2 overall
    judgement, else the RoB 1 summary under its own label (:data:`ROB1_LEVELS`), else ''."""
    if rob2 and rob2[-1]:
        return rob2[-1]
    summary = rob1_summary(rob1)
    return ROB1_LEVELS[summary] if summary else ""


def weighted_summary(
    studies: pd.DataFrame,
    judgements: Mapping[tuple[str, str, str], Judgements],
    modes: Mapping[str, str],
    rob1: Mapping[tuple[str, str, str], Judgements] | None = None,
) -> list[tuple[str, dict[str, dict[str, float]]]]:
    """Per comparison: for each RoB column, the percentage of the meta-analysis weight at each
    judgement (robvis ``rob_summary(weighted = TRUE)``).

    Weights are the random-effects weights of the analysis's ``studies.tsv`` (100% for a
    single study); studies without a weight (not estimable) do not count. Each domain's
    percentages (:data:`SHARE_LEVELS`) sum to 100. A trial judged with RoB 1 (``rob1``) has no
    RoB 2 domain: it counts under its RoB 1 summary in the overall bar and as "not assessed"
    with RoB 2 in the domain bars (its items are in the traffic-light plot's RoB 1 panel).

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
            share = dict.fromkeys(SHARE_LEVELS, 0.0)
            for rec in block.to_dict("records"):
                key = (str(rec["study"]), str(treatment), str(comparator))
                judged = judgements.get(key, EMPTY)
                level = (overall_judgement(judged, (rob1 or {}).get(key, EMPTY_ROB1)) if column == "rob_overall"
                         else judged[index])
                share[level or NOT_ASSESSED] += 100.0 * float(rec["weight_pct"]) / total
            shares[column] = _without_unused_rob1(share)
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
    maps study -> overall judgement ('' = not assessed; RoB 1 summaries as :func:`overall_judgement`
    gives them).
    """
    weights = [(s, 1.0 if w is None or not math.isfinite(w) else float(w)) for s, w in study_weights]
    total = sum(w for _, w in weights)
    share = dict.fromkeys(SHARE_LEVELS, 0.0)
    if total <= 0:
        return _without_unused_rob1(share)
    for study, weight in weights:
        share[overall.get(study) or NOT_ASSESSED] += 100.0 * weight / total
    return _without_unused_rob1(share)


def _without_unused_rob1(share: dict[str, float]) -> dict[str, float]:
    """The RoB 1 levels only where some weight is at them (tables of RoB 2 alone stay as they were)."""
    return {k: v for k, v in share.items() if v > 0 or k not in ROB1_LEVELS.values()}


def forest_judgements(
    records: Iterable[Mapping[str, Any]],
) -> tuple[tuple[str, ...], dict[tuple[str, str, str], Judgements]]:
    """(column headings, ``(study, treatment, comparator) -> judgements``) of a forest plot's RoB
    columns: D1-D5 and Overall when any row has RoB 2 judgements, then SG, AC, BA, ITT when any
    has RoB 1 items; each row's cells in that order ('' where not assessed with that tool)."""
    records = list(records)
    rob2, rob1 = comparison_judgements(records), comparison_judgements(records, ROB1_ITEMS)
    with2, with1 = any(map(any, rob2.values())), any(map(any, rob1.values()))
    headers = (ROB_HEADERS if with2 else ()) + (ROB1_HEADERS if with1 else ())
    cells = {key: (rob2.get(key, EMPTY) if with2 else ()) + (rob1.get(key, EMPTY_ROB1) if with1 else ())
             for key in (*rob2, *rob1)}
    return headers, cells


def legend_line(headers: Sequence[str] = ROB_HEADERS) -> str:
    """The footnote a forest plot with RoB columns carries (RevMan's risk-of-bias legend), for
    the RoB 2 and/or RoB 1 columns among ``headers``."""
    parts = []
    if "Overall" in headers:
        domains = "; ".join(f"{h} {DOMAIN_NAMES[c].lower()}" for h, c in zip(ROB_HEADERS, ROB_DOMAINS))
        parts.append(f"Risk of bias (RoB 2, Sterne et al. 2019): {domains}; Overall: overall risk of bias. "
                     "+ low risk, - some concerns, X high risk")
    if "SG" in headers:
        items = "; ".join(f"{h} {ROB1_NAMES[c].lower()}" for h, c in zip(ROB1_HEADERS, ROB1_ITEMS))
        parts.append(f"RoB 1 (Higgins et al. 2011; trials the source database rated with it, not translated "
                     f"into RoB 2): {items}. + low, ? unclear, X high risk; S self-reported outcome")
    return "; ".join(parts) + "; grey: not assessed."
