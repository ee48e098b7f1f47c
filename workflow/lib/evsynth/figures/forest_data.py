"""What a forest plot draws (:class:`ForestData`), assembled from an analysis's tables.

The strings follow RevMan 5 (reproduced by R meta's ``layout="RevMan5"``):
"Heterogeneity: Tau² = 0.04; Chi² = 5.12, df = 3 (P = 0.16); I² = 41%" and
"Test for overall effect: Z = 2.31 (P = 0.02)" (the phrases are :mod:`evsynth.wording`'s).
Under HKSJ the test line gives the t statistic and its df, as RevMan Web does since 2025.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from evsynth._values import is_na, optional_float
from evsynth.data.config import MEASURE_NAMES, Outcome
from evsynth.data.conversions import CONVERSIONS, conversion_ids
from evsynth.data.vocabulary import OVERALL_TREATMENT
from evsynth.stats.results import PooledEstimate
from evsynth.tables.bayes import POSTERIOR_PREDICTIVE
from evsynth.tables.rob import ROB_HEADERS, legend_line
from evsynth.wording import (
    CI_METHOD_LABELS,
    HETEROGENEITY_ONE_STUDY,
    I2_LABELS,
    PI_LABELS,
    chi2_test,
    heterogeneity_line,
    number,
    overall_effect_line,
    prediction_line,
)

__all__ = [
    "ForestData",
    "ForestRow",
    "ForestSubgroup",
    "analysis_forest_data",
    "build_forest_data",
    "method_footer",
    "pooled_from_record",
    "robustness_lines",
    "subgroup_lines",
]


@dataclass(frozen=True)
class ForestRow:
    """One study line of a forest plot.

    ``yi``/``ci_lower``/``ci_upper`` are on the analysis scale; the plot
    back-transforms ratio measures. ``None`` means "not estimable" and ``note`` says
    why (drawn in place of the estimate). ``rob`` holds the row's risk-of-bias judgements
    (``low``, ``some concerns``, ``high``, '' = not assessed), one per
    ``ForestData.rob_headers`` column; empty when the plot has no RoB columns.
    """

    label: str
    cells_treat: tuple[str, ...]
    cells_ctrl: tuple[str, ...]
    weight_pct: float | None
    yi: float | None
    ci_lower: float | None
    ci_upper: float | None
    note: str = ""
    rob: tuple[str, ...] = ()


@dataclass(frozen=True)
class ForestSubgroup:
    """A block of study rows with its subtotal diamond and RevMan's text lines."""

    title: str
    rows: tuple[ForestRow, ...]
    total_treat: str
    total_ctrl: str
    pooled: PooledEstimate | None
    pooled_note: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class ForestData:
    """Everything a forest plot draws, already formatted; the plot adds no numbers.

    ``arm_headers`` names the per-arm columns (``("Events", "Total")``,
    ``("Mean", "SD", "Total")`` or ``("Total",)``); ``cells_treat``/``cells_ctrl`` of
    every row have that many entries. ``favours_left``/``favours_right`` label the
    two sides of the null line. ``rob_headers`` names risk-of-bias columns drawn right of
    the graph (RoB 2: ``("D1", ..., "D5", "Overall")``); empty for none.
    """

    title: str
    measure: str
    ratio: bool
    method_label: str
    arm_headers: tuple[str, ...]
    treat_heading: str
    ctrl_heading: str
    favours_left: str
    favours_right: str
    subgroups: tuple[ForestSubgroup, ...]
    footer: tuple[str, ...] = field(default_factory=tuple)
    rob_headers: tuple[str, ...] = ()


def _num(value: Any, fmt: str = "{:g}") -> str:
    if is_na(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return fmt.format(value)


def pooled_from_record(rec: Mapping[str, Any], weights: Sequence[float], ratio: bool) -> PooledEstimate:
    """Rebuild a PooledEstimate from a ``pooled.tsv`` row (CI limits back on the analysis scale)."""
    to_theta = np.log if ratio else (lambda x: x)
    fields = {name: rec[name] for name in ("theta", "se", "stat", "p_value", "tau2", "i2", "i2_q", "h2", "q",
                                           "q_p", "common_theta", "common_se", "common_p_value", "alpha")}
    stat_df = rec.get("stat_df")
    optional = {
        name: optional_float(rec.get(name))
        for name in ("i2_tau2", "pi_df", "tau2_ci_lower", "tau2_ci_upper", "i2_ci_lower", "i2_ci_upper",
                     "h2_ci_lower", "h2_ci_upper")
    }
    limits = {name: optional_float(rec.get(name), to_theta) for name in ("pi_lower", "pi_upper")}
    return PooledEstimate(
        **optional,
        **limits,
        i2_method=str(rec.get("i2_method") or "tau2"),
        pi_method=str(rec.get("pi_method") or "none"),
        hksj_narrower_than_wald=bool(rec.get("hksj_narrower_than_wald") is True),
        profile=str(rec.get("profile") or ""),
        k=int(rec["k"]),
        ci_lower=float(to_theta(rec["ci_lower"])),
        ci_upper=float(to_theta(rec["ci_upper"])),
        stat_df=None if stat_df is None or pd.isna(stat_df) else float(stat_df),
        q_df=int(rec["q_df"]),
        common_ci_lower=float(to_theta(rec["common_ci_lower"])),
        common_ci_upper=float(to_theta(rec["common_ci_upper"])),
        weights=tuple(float(w) for w in weights),
        estimator=str(rec["estimator"]),
        ci_method=str(rec["ci_method"]),
        note=str(rec.get("note") or ""),
        **{k: float(v) for k, v in fields.items()},
    )


def _arm_headers(outcome: Outcome, studies: pd.DataFrame) -> tuple[str, ...]:
    if outcome.measure in ("RR", "OR", "RD"):
        return ("Events", "Total")
    if studies["mean_treat"].notna().any():
        return ("Mean", "SD", "Total")
    return ("Total",)


def _arm_cells(row: Mapping[str, Any], arm: str, headers: tuple[str, ...]) -> tuple[str, ...]:
    columns = {"Events": f"events_{arm}", "Mean": f"mean_{arm}", "SD": f"sd_{arm}", "Total": f"n_{arm}"}
    return tuple(_num(row.get(columns[h])) for h in headers)


def build_forest_data(
    studies: pd.DataFrame,
    pooled: pd.DataFrame,
    outcome: Outcome,
    modes: Mapping[str, str],
    timepoint: str,
    footer: Sequence[str] = (),
    rob: Mapping[tuple[str, str, str], tuple[str, ...]] | None = None,
    bayes_row: bool = False,
    rob_headers: Sequence[str] = ROB_HEADERS,
) -> ForestData:
    """Assemble the forest plot of one analysis from its study and pooled tables.

    ``bayes_row`` adds each comparison's Bayesian posterior (pooled.tsv's ``bayes_*``
    columns, ``config.yaml: bayes.forest_row``) as a summary line under its block.

    ``rob`` maps ``(study, treatment, comparator)`` to risk-of-bias judgements, one per heading of
    ``rob_headers`` (RoB 2: D1-D5, Overall; with RoB 1 items: SG, AC, BA, ITT after them;
    :func:`evsynth.tables.rob.forest_judgements`); when any row of the plot has one, RoB columns
    are drawn right of the graph (unassessed rows grey) and the legend is added to the footer.
    """
    rob = rob or {}
    markers = conversion_markers(studies)
    shown = [(str(s["study"]), str(s["treatment"]), str(s["comparator"])) for s in studies.to_dict("records")]
    with_rob = any(any(rob.get(key, ())) for key in shown)
    headers = _arm_headers(outcome, studies)
    subgroups = []
    # Across-modes estimates ("any remote CBT") are printed under the plot, not drawn as blocks.
    pooled = pooled[pooled["treatment"] != OVERALL_TREATMENT]
    for rec in pooled.to_dict("records"):
        block = studies[(studies["treatment"] == rec["treatment"]) & (studies["comparator"] == rec["comparator"])]
        rows = tuple(
            ForestRow(
                label=_marked(str(s["study"]), s.get("conversion"), markers),
                cells_treat=_arm_cells(s, "treat", headers),
                cells_ctrl=_arm_cells(s, "ctrl", headers),
                weight_pct=None if pd.isna(s["weight_pct"]) else float(s["weight_pct"]),
                yi=float(s["yi"]) if s["estimable"] else None,
                ci_lower=_theta(s["ci_lower"], outcome) if s["estimable"] else None,
                ci_upper=_theta(s["ci_upper"], outcome) if s["estimable"] else None,
                note="" if s["estimable"] else "Not estimable",
                rob=_row_rob(rob, s, len(rob_headers)) if with_rob else (),
            )
            for s in block.to_dict("records")
        )
        estimable = block[block["estimable"]]
        pooled_estimate = None
        lines: tuple[str, ...] = ()
        posterior = is_bayes_primary(rec)
        if rec["status"] == "pooled":
            pooled_estimate = pooled_from_record(rec, estimable["weight_pct"].tolist(), outcome.ratio)
            lines = tuple(
                line
                for line in (
                    heterogeneity_line(pooled_estimate),
                    bayes_primary_line(rec, outcome) if posterior else overall_effect_line(pooled_estimate),
                    prediction_line(pooled_estimate, outcome.ratio) if not posterior else None,
                )
                if line
            )
            pooled_note = ""
        elif rec["status"].startswith("single"):
            pooled_note = "Single study: not pooled"
            lines = (HETEROGENEITY_ONE_STUDY,)
        else:
            pooled_note = "Not estimable"
        if bayes_row and not posterior and bayes_line(rec, outcome):
            lines = (*lines, bayes_line(rec, outcome))
        title = f"{modes[rec['treatment']]} vs {modes[rec['comparator']]}"
        subgroups.append(
            ForestSubgroup(
                title=title,
                rows=rows,
                total_treat=_num(estimable["n_treat"].sum(min_count=1)) if len(estimable) else "",
                total_ctrl=_num(estimable["n_ctrl"].sum(min_count=1)) if len(estimable) else "",
                pooled=pooled_estimate,
                pooled_note=pooled_note,
                lines=lines,
            )
        )
    all_usual = set(pooled["comparator"]) == {"usual_care"} and "usual_care" in modes
    left, right = (
        ("Favours CBT", f"Favours {modes['usual_care']}")
        if all_usual
        else ("Favours experimental", "Favours control")
    )
    if outcome.higher_is_better:
        left, right = right, left
    method = pooled["ci_method"].dropna()
    ci_tag = {"hksj": " (HKSJ)", "hksj-adhoc": " (HKSJ, ad hoc)"}.get(method.iloc[0] if len(method) else "", "")
    level = 100 * (1 - float(pooled["alpha"].dropna().iloc[0])) if pooled["alpha"].notna().any() else 95
    bayes_primary = any(is_bayes_primary(rec) for rec in pooled.to_dict("records"))
    return ForestData(
        title=f"{outcome.label}, {timepoint}",
        measure=MEASURE_NAMES[outcome.measure],
        ratio=outcome.ratio,
        method_label=f"Bayesian, Random, {level:g}% CrI" if bayes_primary else f"IV, Random, {level:g}% CI{ci_tag}",
        arm_headers=headers,
        treat_heading="Experimental",
        ctrl_heading="Control",
        favours_left=left,
        favours_right=right,
        subgroups=tuple(subgroups),
        footer=(*footer, *conversion_lines(studies, markers), *((legend_line(rob_headers),) if with_rob else ())),
        rob_headers=tuple(rob_headers) if with_rob else (),
    )


#: Footnote markers of converted rows, one per conversion, in order of first appearance.
CONVERSION_MARKERS = ("†", "‡", "§", "¶", "‖", "#", "**")


def conversion_markers(studies: pd.DataFrame) -> dict[str, str]:
    """Marker of each conversion used by a row of the plot (:mod:`evsynth.data.conversions`)."""
    if "conversion" not in studies:
        return {}
    used = dict.fromkeys(i for cell in studies["conversion"] for i in conversion_ids(cell))
    return dict(zip(used, CONVERSION_MARKERS))


def _marked(label: str, conversion: Any, markers: Mapping[str, str]) -> str:
    tags = "".join(markers[i] for i in conversion_ids(conversion))
    return f"{label} {tags}" if tags else label


def conversion_lines(studies: pd.DataFrame, markers: Mapping[str, str]) -> list[str]:
    """One footnote per marker: the conversion, its source and the trials it was applied to."""
    lines = []
    for conversion, marker in markers.items():
        trials = studies.loc[[conversion in conversion_ids(c) for c in studies["conversion"]], "study"]
        what, source = CONVERSIONS[conversion]
        lines.append(f"{marker} Converted by the pipeline from data as reported: {what} ({source}): "
                     f"{', '.join(dict.fromkeys(map(str, trials)))}.")
    return lines
def bayes_line(rec: Mapping[str, Any], outcome: Outcome) -> str:
    """The Bayesian summary line of one pooled.tsv row ('' when there is no posterior)."""
    est, lo, hi = (optional_float(rec.get(c)) for c in ("bayes_estimate", "bayes_ci_lower", "bayes_ci_upper"))
    if est is None or lo is None or hi is None:
        return ""
    benefit = optional_float(rec.get("bayes_prob_benefit"))
    prob = "" if benefit is None else f"; P(favours treatment) = {100 * benefit:.0f}%"
    return (f"Bayesian random effects, tau ~ {rec.get('bayes_tau_prior')}: {outcome.measure} {number(est)} "
            f"[{number(lo)}, {number(hi)}] (95% CrI){prob}")


def is_bayes_primary(rec: Mapping[str, Any]) -> bool:
    """Whether a pooled.tsv row's estimate columns are the posterior's (profile bayes)."""
    return rec.get("pi_method") == POSTERIOR_PREDICTIVE


def bayes_primary_line(rec: Mapping[str, Any], outcome: Outcome) -> str:
    """The summary lines of a Bayesian primary estimate: what the diamond is, the predictive
    interval and P(favours treatment), in place of the test for overall effect."""
    level = 100 * (1 - float(rec.get("alpha") or 0.05))
    benefit = optional_float(rec.get("bayes_prob_benefit"))
    prob = "" if benefit is None else f"; P(favours treatment) = {100 * benefit:.0f}%"
    lo, hi = optional_float(rec.get("pi_lower")), optional_float(rec.get("pi_upper"))
    pred = "" if lo is None or hi is None else (
        f"; posterior predictive interval [{number(lo)}, {number(hi)}]")
    return (f"Bayesian random effects, tau ~ {rec.get('bayes_tau_prior')}, mu ~ {rec.get('bayes_mu_prior')}: "
            f"posterior median and central {level:g}% credible interval of {outcome.measure}{pred}{prob}")


def _row_rob(rob: Mapping[tuple[str, str, str], tuple[str, ...]], row: Mapping[str, Any],
             width: int) -> tuple[str, ...]:
    """A study row's risk-of-bias cells ('' where not assessed)."""
    key = (str(row["study"]), str(row["treatment"]), str(row["comparator"]))
    return tuple(rob.get(key, ("",) * width))


def _theta(value: Any, outcome: Outcome) -> float:
    return float(np.log(value)) if outcome.ratio else float(value)


def analysis_forest_data(
    tables: Mapping[str, pd.DataFrame],
    outcome: Outcome,
    modes: Mapping[str, str],
    timepoint: str,
    settings: Mapping[str, Any],
    extra_footer: Sequence[str] = (),
    rob: Mapping[tuple[str, str, str], tuple[str, ...]] | None = None,
    bayes_row: bool = False,
    rob_headers: Sequence[str] = ROB_HEADERS,
) -> ForestData:
    """The forest plot of one analysis from the tables rule analyse writes
    (``pooled``, ``studies``, ``robustness``, ``subgroups``): :func:`build_forest_data` with
    the :func:`method_footer`, then ``extra_footer`` (e.g. the provenance line)."""
    footer = method_footer(
        settings, outcome, tables["pooled"], tables["robustness"], tables["subgroups"], modes, tables["studies"]
    )
    return build_forest_data(
        tables["studies"], tables["pooled"], outcome, modes, timepoint, footer=footer + tuple(extra_footer), rob=rob,
        bayes_row=bayes_row, rob_headers=rob_headers,
    )


def method_footer(
    settings: Mapping[str, Any],
    outcome: Outcome,
    pooled: pd.DataFrame,
    robustness: pd.DataFrame | None = None,
    subgroups: pd.DataFrame | None = None,
    modes: Mapping[str, str] | None = None,
    studies: pd.DataFrame | None = None,
) -> tuple[str, ...]:
    """Footer lines: subgroup tests and across-modes estimate, profile and model, what the
    weights mean, scale, robustness, notes."""
    lines = subgroup_lines(pooled, subgroups, outcome, modes or {})
    frequentist = (f"random effects, inverse variance, {settings['estimator']} tau², "
                   f"{CI_METHOD_LABELS[settings['ci_method']]}, {PI_LABELS[settings['prediction_interval']]}, "
                   f"{I2_LABELS[settings['i2']]}")  # fmt: skip
    profile = pooled['profile'].dropna().iloc[0] if pooled['profile'].notna().any() else ''
    if any(is_bayes_primary(rec) for rec in pooled.to_dict("records")):
        lines.append(
            f"Method profile {profile}: Bayesian random effects (exact posterior, docs/bayes.md); pooled rows show the "
            "posterior median, central credible interval and posterior predictive interval. Heterogeneity "
            f"statistics, single trials and the across-modes estimate: {frequentist}."
        )
    else:
        lines.append(f"Method profile {profile}: {frequentist}.")
    lines += [
        "Weights and subtotals are within each comparison; comparisons share trial arms, so they are combined "
        "only in the across-modes estimate, which uses the shared-arm covariance.",
    ]
    if studies is not None and "derivation" in studies:
        derived = studies.loc[studies["derivation"].astype(str).str.startswith("derived from arm-level"), "study"]
        if len(derived):
            lines.append(
                "Derived from arm-level estimates (computed, not published contrasts): "
                f"{', '.join(dict.fromkeys(derived))}."
            )
    if outcome.scale:
        lines.append(f"Scale: {outcome.scale}.")
    if robustness is not None and len(robustness):
        lines += robustness_lines(robustness)
    notes = [str(n) for n in pooled.loc[pooled["treatment"] != OVERALL_TREATMENT, "note"].dropna() if str(n)]
    lines += [f"Note: {n}." for n in dict.fromkeys(notes)]
    return tuple(lines)


def subgroup_lines(
    pooled: pd.DataFrame, subgroups: pd.DataFrame | None, outcome: Outcome, modes: Mapping[str, str]
) -> list[str]:
    """RevMan's test line per comparator (separate tau²; common-tau² QM beside it) and the
    across-modes estimate with its shared-arm covariance."""
    if subgroups is None or not len(subgroups):
        return []
    lines = []
    for comparator, tests in subgroups.groupby("comparator", sort=False):
        name = modes.get(comparator, comparator)
        by = dict(zip(tests["convention"], tests.to_dict("records")))
        separate, common = by.get("separate_tau2"), by.get("common_tau2")
        line = f"Modes vs {name}: {separate['revman_line']}" if separate else f"Modes vs {name}:"
        if common:
            line += f"; common tau²: {chi2_test(common['stat'], common['df1'], common['p_value'])}"
        if separate and separate["covariance_used"] is True:
            line += "; shared arms accounted for (generalised Q)"
        lines.append(line)
        overall = pooled[(pooled["treatment"] == OVERALL_TREATMENT) & (pooled["comparator"] == comparator)]
        for rec in overall.to_dict("records"):
            est = f"{number(rec['estimate'])} [{number(rec['ci_lower'])}, {number(rec['ci_upper'])}]"
            head = f"Any remote CBT vs {name}: {MEASURE_NAMES[outcome.measure]} {est}"
            if str(rec.get("status") or "").startswith("single"):
                lines.append(
                    f"{head} from a single trial ({rec['studies']}): its CBT arms combined into one group (Cochrane "
                    "Handbook 23.3.4), Wald CI, not pooled; heterogeneity between trials cannot be estimated from "
                    "one trial (two or more trials: multivariate model)."
                )
            else:
                lines.append(
                    f"{head} from {rec['k']:.0f} comparisons (multivariate model with shared-arm covariance, Gleser "
                    "& Olkin 2009; used when two or more trials contribute, a single trial's CBT arms are combined)."
                )
    return lines


def robustness_lines(robustness: pd.DataFrame) -> list[str]:
    """One line per comparison whose conclusion (CI excludes no effect) depends on the profile."""
    lines = []
    for (treatment, comparator), group in robustness.groupby(["treatment", "comparator"], sort=False):
        # empty (no chosen row) when the chosen profile is bayes and the comparison has no posterior
        flipped = group.loc[group["conclusion_differs_from_chosen"].eq(True), "profile"].tolist()
        if flipped:
            lines.append(
                f"Robustness: {treatment} vs {comparator}: the conclusion differs under {', '.join(flipped)} "
                "(see results/robustness.tsv)."
            )
    return lines or ["Robustness: every comparison's conclusion is the same under every method profile."]
