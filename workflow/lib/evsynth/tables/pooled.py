"""One analysis = one outcome in one timepoint window, split by comparison.

Each comparison (treatment vs comparator delivery mode) is pooled on its own: RESOLVE's
coach and online arms share its usual-care arm, so combining comparisons needs their
covariance and is left to the multi-arm analyses, not done here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from evsynth._values import is_na
from evsynth.data.config import Outcome
from evsynth.data.contrasts import analysis_effects
from evsynth.data.conversions import REPORTED_ONLY, conversion_ids
from evsynth.data.vocabulary import comparison_order
from evsynth.stats.exclusion import MIN_K_EXCLUSION, exclusion_reruns
from evsynth.stats.pooling import pool_with
from evsynth.stats.profiles import PROFILES, ROBUSTNESS_PROFILES, MethodSettings
from evsynth.stats.results import PooledEstimate
from evsynth.tables.bayes import BAYES_COLUMNS, SHRINKAGE_COLUMNS, bayes_columns, bayes_robustness_records

STUDY_COLUMNS = (
    "outcome",
    "timepoint",
    "treatment",
    "comparator",
    "study",
    "year",
    "measure",
    "events_treat",
    "n_treat",
    "events_ctrl",
    "n_ctrl",
    "mean_treat",
    "sd_treat",
    "mean_ctrl",
    "sd_ctrl",
    "yi",
    "vi",
    "se",
    "estimate",
    "ci_lower",
    "ci_upper",
    "weight_pct",
    "estimable",
    "arm_group",
    "var_treat_arm",
    "var_ctrl_arm",
    "derivation",
    "conversion",
    *SHRINKAGE_COLUMNS,
)

POOLED_COLUMNS = (
    "outcome",
    "timepoint",
    "treatment",
    "comparator",
    "measure",
    "k",
    "n_participants",
    "theta",
    "se",
    "estimate",
    "ci_lower",
    "ci_upper",
    "p_value",
    "stat",
    "stat_df",
    "tau2",
    "i2",
    "i2_q",
    "h2",
    "q",
    "q_df",
    "q_p",
    "common_theta",
    "common_se",
    "common_estimate",
    "common_ci_lower",
    "common_ci_upper",
    "common_p_value",
    "pi_lower",
    "pi_upper",
    "pi_method",
    "pi_df",
    "tau2_ci_lower",
    "tau2_ci_upper",
    "i2_method",
    "i2_tau2",
    "i2_ci_lower",
    "i2_ci_upper",
    "h2_ci_lower",
    "h2_ci_upper",
    "hksj_narrower_than_wald",
    "profile",
    "estimator",
    "ci_method",
    "alpha",
    "status",
    "studies",
    "note",
    *BAYES_COLUMNS,
)

ROBUSTNESS_COLUMNS = (
    "outcome",
    "timepoint",
    "treatment",
    "comparator",
    "measure",
    "k",
    "profile",
    "chosen",
    "estimate",
    "ci_lower",
    "ci_upper",
    "pi_lower",
    "pi_upper",
    "p_value",
    "tau2",
    "i2",
    "ci_excludes_no_effect",
    "conclusion_differs_from_chosen",
)


#: robustness.tsv's profile suffix of each exclusion re-run (subsets.tsv's ``subset``).
EXCLUSION_LABELS = {"outliers": "excluding outliers", "influential": "excluding influential trials"}


@dataclass(frozen=True)
class Comparison:
    """The pooled result of one comparison within an analysis."""

    treatment: str
    comparator: str
    studies: tuple[str, ...]
    n_participants: int | None
    pooled: PooledEstimate | None
    status: str
    note: str


def analyse(
    rows: Sequence[Mapping[str, Any]],
    outcome: Outcome,
    modes: Sequence[str],
    settings: MethodSettings,
    continuity_correction: float,
) -> tuple[pd.DataFrame, list[Comparison]]:
    """Compute effects and pool each comparison of one outcome x timepoint window.

    Returns the per-study table (``STUDY_COLUMNS`` plus bookkeeping) and one
    :class:`Comparison` per comparison present, in :func:`comparison_order`.
    """
    effects = analysis_effects(rows, outcome, modes, settings, continuity_correction)
    order = comparison_order(modes)
    effects = effects.assign(
        _rank=[order.get(pair, 99) for pair in zip(effects["treatment"], effects["comparator"])]
    ).sort_values(["_rank", "study"], kind="stable").drop(columns="_rank").reset_index(drop=True)
    for column in ("arm_group", "var_treat_arm", "var_ctrl_arm"):
        if column not in effects:
            effects[column] = None
    effects["weight_pct"] = np.nan
    z = stats.norm.ppf(1 - settings.alpha / 2)
    effects["ci_lower_theta"] = effects["yi"] - z * effects["se"]
    effects["ci_upper_theta"] = effects["yi"] + z * effects["se"]
    back = outcome.to_reporting
    effects["estimate"] = back(effects["yi"])
    effects["ci_lower"] = back(effects["ci_lower_theta"])
    effects["ci_upper"] = back(effects["ci_upper_theta"])

    comparisons = []
    for (treatment, comparator), block in effects.groupby(["treatment", "comparator"], sort=False):
        usable = block[block["estimable"]]
        not_estimable = block.loc[~block["estimable"], "study"].tolist()
        notes = [f"not estimable: {', '.join(not_estimable)}"] if not_estimable else []
        known_n = usable["n_treat"].notna() & usable["n_ctrl"].notna()
        n_participants = int((usable["n_treat"] + usable["n_ctrl"])[known_n].sum()) if known_n.any() else None
        if known_n.any() and not known_n.all():
            notes.append(f"arm sizes unknown for {', '.join(usable.loc[~known_n, 'study'])}")
        pooled = None
        if len(usable) >= 2:
            pooled = pool_with(usable["yi"], usable["vi"], settings)
            effects.loc[usable.index, "weight_pct"] = pooled.weights
            status = "pooled"
            if pooled.note:
                notes.append(pooled.note)
        elif len(usable) == 1:
            status = "single study: shown, not pooled"
            effects.loc[usable.index, "weight_pct"] = 100.0
        else:
            status = "no estimable study"
        comparisons.append(
            Comparison(
                treatment=str(treatment),
                comparator=str(comparator),
                studies=tuple(usable["study"]),
                n_participants=n_participants,
                pooled=pooled,
                status=status,
                note="; ".join(notes),
            )
        )
    return effects, comparisons


def study_records(effects: pd.DataFrame, timepoint: str) -> list[dict[str, Any]]:
    records = []
    for rec in effects.to_dict("records"):
        rec = {k: (None if is_na(v) else v) for k, v in rec.items()}
        rec["timepoint"] = timepoint
        records.append(rec)
    return records


def pooled_records(
    effects: pd.DataFrame,
    comparisons: Sequence[Comparison],
    outcome: Outcome,
    timepoint: str,
    settings: MethodSettings,
) -> list[dict[str, Any]]:
    """One ``pooled.tsv`` row per comparison; ratio measures reported as RR/OR, not logs."""
    back = outcome.to_reporting
    records = []
    for comp in comparisons:
        rec: dict[str, Any] = {
            "outcome": outcome.id,
            "timepoint": timepoint,
            "treatment": comp.treatment,
            "comparator": comp.comparator,
            "measure": outcome.measure,
            "k": len(comp.studies),
            "n_participants": comp.n_participants,
            "status": comp.status,
            "studies": "; ".join(comp.studies),
            "note": comp.note,
            "profile": settings.label,
            "alpha": settings.alpha,
        }
        p = comp.pooled
        if p is not None:
            rec.update(
                {name: getattr(p, name) for name in _COPIED_FIELDS}
            )
            rec.update(
                estimate=float(back(p.theta)),
                ci_lower=float(back(p.ci_lower)),
                ci_upper=float(back(p.ci_upper)),
                common_estimate=float(back(p.common_theta)),
                common_ci_lower=float(back(p.common_ci_lower)),
                common_ci_upper=float(back(p.common_ci_upper)),
                pi_lower=None if p.pi_lower is None else float(back(p.pi_lower)),
                pi_upper=None if p.pi_upper is None else float(back(p.pi_upper)),
            )
        elif comp.studies:
            # k = 1: the study's own estimate and Wald CI, labelled as not pooled.
            only = effects[(effects["study"] == comp.studies[0]) & (effects["treatment"] == comp.treatment)
                           & (effects["comparator"] == comp.comparator) & effects["estimable"]].iloc[0]
            stat = float(only["yi"] / only["se"])
            rec.update(
                theta=float(only["yi"]),
                se=float(only["se"]),
                estimate=float(only["estimate"]),
                ci_lower=float(only["ci_lower"]),
                ci_upper=float(only["ci_upper"]),
                stat=stat,
                p_value=float(2 * stats.norm.sf(abs(stat))),
            )
        records.append(rec)
    return records


_COPIED_FIELDS = (
    "theta", "se", "p_value", "stat", "stat_df", "tau2", "i2", "i2_q", "h2", "q", "q_df", "q_p", "common_theta",
    "common_se", "common_p_value", "estimator", "ci_method", "pi_method", "pi_df", "tau2_ci_lower",
    "tau2_ci_upper", "i2_method", "i2_tau2", "i2_ci_lower", "i2_ci_upper", "h2_ci_lower", "h2_ci_upper",
    "hksj_narrower_than_wald",
)


def _robustness_row(
    outcome: Outcome, timepoint: str, comp: Comparison, p: PooledEstimate, label: str, chosen: bool
) -> dict[str, Any]:
    back = outcome.to_reporting
    return {
        "outcome": outcome.id,
        "timepoint": timepoint,
        "treatment": comp.treatment,
        "comparator": comp.comparator,
        "measure": outcome.measure,
        "k": p.k,
        "profile": label,
        "chosen": chosen,
        "estimate": float(back(p.theta)),
        "ci_lower": float(back(p.ci_lower)),
        "ci_upper": float(back(p.ci_upper)),
        "pi_lower": None if p.pi_lower is None else float(back(p.pi_lower)),
        "pi_upper": None if p.pi_upper is None else float(back(p.pi_upper)),
        "p_value": p.p_value,
        "tau2": p.tau2,
        "i2": p.i2,
        "ci_excludes_no_effect": bool(p.ci_lower > 0 or p.ci_upper < 0),
    }


def _exclusion_rows(
    outcome: Outcome, timepoint: str, comp: Comparison, effects: pd.DataFrame, chosen: MethodSettings
) -> list[dict[str, Any]]:
    """The chosen settings without outliers and without influential trials, when any is excluded
    (which ones and why: results/sensitivity/subsets.tsv)."""
    usable = effects[(effects["treatment"] == comp.treatment) & (effects["comparator"] == comp.comparator)
                     & effects["estimable"]]
    reruns = exclusion_reruns(usable["yi"].to_numpy(float), usable["vi"].to_numpy(float), chosen, full=comp.pooled)
    return [
        _robustness_row(outcome, timepoint, comp, rerun.pooled, f"{chosen.label}, {EXCLUSION_LABELS[rerun.analysis]}",
                        False)
        for rerun in reruns
        if rerun.pooled is not None
    ]


def robustness_records(
    rows: Sequence[Mapping[str, Any]],
    outcome: Outcome,
    modes: Sequence[str],
    chosen: MethodSettings,
    continuity_correction: float,
    timepoint: str,
) -> list[dict[str, Any]]:
    """Each pooled comparison re-run under every profile, flagging flipped conclusions.

    The conclusion compared is whether the CI excludes no effect; a profile whose
    conclusion differs from the chosen settings' is flagged. A comparison with rows converted
    from data as reported (:mod:`evsynth.data.conversions`) gets one more row, profile
    "<chosen>, directly reported data only": the chosen settings without those rows (when at
    least two trials are left to pool). From 3 trials, the chosen settings are re-run without
    outliers and without influential trials (:mod:`evsynth.stats.exclusion`), rows
    "<chosen>, excluding outliers" and "<chosen>, excluding influential trials", when the rule
    excludes a trial and leaves at least two.

    Under the ``bayes`` profile only the frequentist profiles are re-run here, none of them
    chosen: the chosen rows are the posterior's (:func:`evsynth.tables.bayes.bayes_robustness_records`),
    and :func:`mark_conclusions` compares with them once they are added.
    """
    candidates = {} if chosen.bayesian else {chosen.label: chosen}
    for name in ROBUSTNESS_PROFILES:
        candidates.setdefault(name, MethodSettings(**{**PROFILES[name].as_dict(), "alpha": chosen.alpha}))
    by_comparison: dict[tuple[str, str], list[dict[str, Any]]] = {}
    excluding: dict[tuple[str, str], list[dict[str, Any]]] = {}
    fits = [(label, settings, rows, None) for label, settings in candidates.items()]
    # Comparisons with rows the pipeline converted are re-run on directly reported data only.
    converted = {(r.get("treatment"), r.get("comparator")) for r in rows if conversion_ids(r.get("conversion"))}
    reported = [r for r in rows if not conversion_ids(r.get("conversion"))]
    if converted and reported and not chosen.bayesian:
        fits.append((f"{chosen.label}, {REPORTED_ONLY}", chosen, reported, converted))
    for label, settings, fit_rows, only in fits:
        effects, comparisons = analyse(fit_rows, outcome, modes, settings, continuity_correction)
        for comp in comparisons:
            p = comp.pooled
            if p is None or (only is not None and (comp.treatment, comp.comparator) not in only):
                continue
            by_comparison.setdefault((comp.treatment, comp.comparator), []).append(
                _robustness_row(outcome, timepoint, comp, p, label, label == chosen.label)
            )
            if label == chosen.label and len(comp.studies) >= MIN_K_EXCLUSION:
                excluding[comp.treatment, comp.comparator] = _exclusion_rows(outcome, timepoint, comp, effects, chosen)
    # Exclusion re-runs last, after the profiles.
    return mark_conclusions([rec for key, group in by_comparison.items() for rec in group + excluding.get(key, [])])


def mark_conclusions(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Set ``conclusion_differs_from_chosen`` on robustness rows, per comparison (outcome,
    timepoint, treatment, comparator), against the comparison's chosen row; None where the
    comparison has no chosen row (yet)."""
    key = ("outcome", "timepoint", "treatment", "comparator")
    chosen = {tuple(r[c] for c in key): r["ci_excludes_no_effect"] for r in records if r["chosen"]}
    for rec in records:
        reference = chosen.get(tuple(rec[c] for c in key))
        rec["conclusion_differs_from_chosen"] = (
            None if reference is None else rec["ci_excludes_no_effect"] != reference
        )
    return list(records)


def bayes_reported_only_records(
    rows: Sequence[Mapping[str, Any]],
    outcome: Outcome,
    modes: Sequence[str],
    chosen: MethodSettings,
    continuity_correction: float,
    timepoint: str,
    bayes: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """Under the ``bayes`` profile, the "directly reported data only" robustness rows: the
    posterior of each comparison with converted rows, refitted without them (at least two
    trials left), as :func:`robustness_records` does for a frequentist chosen profile."""
    converted = {(r.get("treatment"), r.get("comparator")) for r in rows if conversion_ids(r.get("conversion"))}
    reported = [r for r in rows if not conversion_ids(r.get("conversion"))]
    if not (chosen.bayesian and converted and reported):
        return []
    effects, comparisons = analyse(reported, outcome, modes, chosen, continuity_correction)
    pooled, _ = bayes_columns(pooled_records(effects, comparisons, outcome, timepoint, chosen), effects, outcome, bayes)
    pairs = {(c.treatment, c.comparator) for c in comparisons if c.pooled is not None} & converted
    return bayes_robustness_records(pooled, pairs, suffix=f", {REPORTED_ONLY}")
