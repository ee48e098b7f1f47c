"""GRADE summary-of-findings table: absolute effects, NNT, re-expressed SMDs, certainty inputs.

One row per outcome x timepoint window x comparison of ``results/pooled.tsv``. Nothing here
re-estimates anything: every relative effect is ``pooled.tsv``'s, and the arithmetic below
turns it into what a GRADE summary-of-findings table shows.

The arithmetic (absolute effects, NNT, assumed control risk, SMD re-expression) and its
sources are in :mod:`evsynth.stats.absolute`; the phrases in :mod:`evsynth.wording`.

Certainty inputs (the rating is left to the reviewer):

* risk of bias: share of the meta-analysis weight from trials at each overall RoB 2
  judgement (GRADE Handbook 5.2.1: judge by the studies contributing most of the weight);
* inconsistency: I² with the Handbook's overlapping bands (10.10.2: 0-40% might not be
  important, 30-60% moderate, 50-90% substantial, 75-100% considerable) and whether the
  prediction interval includes no effect (IntHout et al. 2016, BMJ Open 6:e010247);
* imprecision: whether the CI includes no effect or crosses the minimal important
  difference (GRADE Handbook 5.2.6; Guyatt et al. 2011, J Clin Epidemiol 64:1283, whose
  rule of thumb for ratios is a 25% relative change, RR 1.25 / 0.80).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from evsynth._values import optional_float
from evsynth.data.columns import ROB_VALUES
from evsynth.data.config import Outcome
from evsynth.data.vocabulary import OVERALL_TREATMENT
from evsynth.stats.absolute import (
    absolute_effect,
    assumed_control_risk,
    number_needed_to_treat,
    per_1000,
    reexpress_smd,
)
from evsynth.stats.escalc import RATIO_MEASURES
from evsynth.tables.bayes import POSTERIOR_PREDICTIVE
from evsynth.tables.rob import NOT_ASSESSED, weight_shares
from evsynth.wording import difference_text, i2_interpretation, number

BINARY = ("RR", "OR", "RD")
#: GRADE's certainty symbols (GRADEpro GDT).
CERTAINTY_SYMBOLS = {"high": "⊕⊕⊕⊕", "moderate": "⊕⊕⊕◯", "low": "⊕⊕◯◯", "very low": "⊕◯◯◯"}

SOF_COLUMNS = (
    "outcome",
    "outcome_label",
    "timepoint",
    "treatment",
    "comparator",
    "comparison",
    "measure",
    "status",
    "k",
    "n_participants",
    "participants",
    "estimate",
    "ci_lower",
    "ci_upper",
    "effect",
    "relative_effect",
    "assumed_control_risk",
    "control_risk_source",
    "risk_comparator_per_1000",
    "risk_treatment_per_1000",
    "risk_treatment_ci_lower_per_1000",
    "risk_treatment_ci_upper_per_1000",
    "difference_per_1000",
    "difference_ci_lower_per_1000",
    "difference_ci_upper_per_1000",
    "absolute_difference",
    "absolute_effect",
    "nnt",
    "nnt_ci_lower",
    "nnt_ci_upper",
    "nnt_text",
    "reference_sd",
    "reexpressed",
    "reexpressed_ci_lower",
    "reexpressed_ci_upper",
    "heterogeneity",
    "i2",
    "tau2",
    "pi_lower",
    "pi_upper",
    "rob_low_pct",
    "rob_some_concerns_pct",
    "rob_high_pct",
    "rob_not_assessed_pct",
    "risk_of_bias",
    "inconsistency",
    "imprecision",
    "mid",
    "ci_includes_no_effect",
    "ci_crosses_mid",
    "pi_includes_no_effect",
    "certainty",
    "certainty_reasons",
    "comments",
    "profile",
    # Bayesian random-effects model (docs/bayes.md), from pooled.tsv's bayes_* columns.
    "bayes_effect",
    "bayes_prob_benefit",
    "bayes_prob_mid",
    "bayes_tau_prior",
)


# --------------------------------------------------------------------------- trials' control risks


def trial_control_risks(
    records: Iterable[Mapping[str, Any]], outcome: str, window: str, treatment: str, comparator: str,
    studies: Sequence[str],
) -> dict[str, float]:
    """Each pooled trial's observed risk in the comparator arm of one comparison.

    From counts (``events_ctrl / n_ctrl``) or from the comparator's arm row (an adjusted
    percentage or proportion, as RESOLVE reports). A trial that reports only a contrast has
    no control risk. For the across-modes estimate, any row with that comparator counts.
    """
    wanted = set(studies)
    risks: dict[str, float] = {}
    for row in records:
        study = str(row["study"])
        if study not in wanted or row["outcome"] != outcome or row["window"] != window:
            continue
        if row.get("form") == "arm":
            if row.get("arm") == comparator and row.get("arm_estimate") is not None:
                scale = 100.0 if row.get("arm_measure") == "percent" else 1.0
                risks.setdefault(study, float(row["arm_estimate"]) / scale)
        elif row.get("form") == "counts" and row.get("comparator") == comparator and (
            treatment == OVERALL_TREATMENT or row.get("treatment") == treatment
        ):
            if row.get("events_ctrl") is not None and row.get("n_ctrl"):
                risks.setdefault(study, float(row["events_ctrl"]) / float(row["n_ctrl"]))
    return risks


def _includes(lo: float | None, hi: float | None, null: float) -> bool | None:
    if lo is None or hi is None:
        return None
    return lo <= null <= hi


# --------------------------------------------------------------------------- one row


def sof_row(
    pooled: Mapping[str, Any],
    outcome: Outcome,
    modes: Mapping[str, str],
    settings: Mapping[str, Any],
    trial_risks: Mapping[str, float],
    study_weights: Sequence[tuple[str, float | None]],
    overall_rob: Mapping[str, str],
    judgement: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The summary-of-findings row of one ``pooled.tsv`` row.

    Parameters
    ----------
    pooled : mapping
        One row of ``pooled.tsv`` (estimate and CI on the reporting scale).
    outcome : Outcome
    modes : mapping
        Delivery-mode id -> label.
    settings : mapping
        ``config.yaml: summary_of_findings`` (``control_risk``, ``mid``, ``reference_sd``,
        ``reference_scale``).
    trial_risks : mapping
        Pooled trial -> its comparator-arm risk (:func:`trial_control_risks`).
    study_weights : sequence of (study, weight percent or None)
        The comparison's trials and meta-analysis weights (``None``: count trials equally).
    overall_rob : mapping
        Trial -> overall RoB 2 judgement ('' = not assessed).
    judgement : mapping, optional
        The reviewer's certainty rating for this row (judgements file).
    """
    measure = str(pooled["measure"])
    treatment, comparator = str(pooled["treatment"]), str(pooled["comparator"])
    treat_label = "Any remote CBT" if treatment == OVERALL_TREATMENT else modes.get(treatment, treatment)
    comp_label = modes.get(comparator, comparator)
    k = int(pooled["k"]) if optional_float(pooled.get("k")) is not None else 0
    n = optional_float(pooled.get("n_participants"))
    est, lo, hi = (optional_float(pooled.get(c)) for c in ("estimate", "ci_lower", "ci_upper"))
    row: dict[str, Any] = {
        "outcome": outcome.id,
        "outcome_label": outcome.label,
        "timepoint": pooled["timepoint"],
        "treatment": treatment,
        "comparator": comparator,
        "comparison": f"{treat_label} vs {comp_label}",
        "measure": measure,
        "status": pooled.get("status") or "",
        "k": k,
        "n_participants": None if n is None else int(n),
        "participants": _participants(pooled, treatment, k, n),
        "estimate": est,
        "ci_lower": lo,
        "ci_upper": hi,
        "profile": pooled.get("profile") or "",
    }
    row.update(_bayes(pooled, measure))
    if est is None or lo is None or hi is None:
        row.update(effect="", absolute_effect="no estimate", risk_of_bias="", inconsistency="", imprecision="")
        return _with_judgement(row, judgement)
    ratio = measure in RATIO_MEASURES
    row["effect"] = f"{measure} {number(est)} [{number(lo)}, {number(hi)}]"
    if pooled.get("pi_method") == POSTERIOR_PREDICTIVE:  # profile bayes: the posterior is the estimate
        level = 100 * (1 - float(optional_float(pooled.get("alpha")) or 0.05))
        row["effect"] += f" (posterior median, {level:g}% CrI)"
    row["relative_effect"] = row["effect"] if ratio else ""
    if measure in BINARY:
        _binary_effect(row, outcome, settings, trial_risks, treat_label, comp_label)
    else:
        _continuous_effect(row, outcome, settings)
    _certainty_inputs(row, pooled, outcome, settings, study_weights, overall_rob)
    return _with_judgement(row, judgement)


def _bayes(pooled: Mapping[str, Any], measure: str) -> dict[str, Any]:
    """The Bayesian columns: posterior median [central 95% credible interval] and probabilities."""
    est, lo, hi = (optional_float(pooled.get(c)) for c in ("bayes_estimate", "bayes_ci_lower", "bayes_ci_upper"))
    if est is None or lo is None or hi is None:
        return {"bayes_effect": pooled.get("bayes_status") or ""}
    return {
        "bayes_effect": f"{measure} {number(est)} [{number(lo)}, {number(hi)}] (95% CrI)",
        "bayes_prob_benefit": optional_float(pooled.get("bayes_prob_benefit")),
        "bayes_prob_mid": optional_float(pooled.get("bayes_prob_mid")),
        "bayes_tau_prior": pooled.get("bayes_tau_prior") or "",
    }


def _participants(pooled: Mapping[str, Any], treatment: str, k: int, n: float | None) -> str:
    """'1,234 (3 RCTs)'; for the across-modes estimate, comparisons and trials."""
    trials = len(dict.fromkeys(s for s in str(pooled.get("studies") or "").split("; ") if s))
    rct = "RCT" if trials == 1 else "RCTs"
    if treatment == OVERALL_TREATMENT and not str(pooled.get("status") or "").startswith("single"):
        return f"{k} comparisons from {trials} {rct}"
    return f"{int(n):,} ({trials} {rct})" if n is not None else f"not known ({trials} {rct})"


def _binary_effect(
    row: dict[str, Any], outcome: Outcome, settings: Mapping[str, Any], trial_risks: Mapping[str, float],
    treat_label: str, comp_label: str,
) -> None:
    """Risks per 1000 at the assumed control risk, their difference and the NNT (RR, OR, RD)."""
    measure, est, lo, hi = row["measure"], row["estimate"], row["ci_lower"], row["ci_upper"]
    configured = (settings.get("control_risk") or {}).get(outcome.id)
    acr, source = assumed_control_risk(configured, trial_risks)
    row["control_risk_source"] = source
    if acr is None:
        row["absolute_effect"] = "not computed: " + source
        row["nnt_text"] = "no NNT: no assumed control risk"
        return
    effect = absolute_effect(acr, est, lo, hi, measure)
    d, (dlo, dhi) = effect.difference, effect.difference_ci
    row.update(
        assumed_control_risk=acr,
        risk_comparator_per_1000=per_1000(acr),
        risk_treatment_per_1000=per_1000(effect.risk_treatment),
        risk_treatment_ci_lower_per_1000=per_1000(effect.risk_treatment_ci[0]),
        risk_treatment_ci_upper_per_1000=per_1000(effect.risk_treatment_ci[1]),
        difference_per_1000=per_1000(d),
        difference_ci_lower_per_1000=per_1000(dlo),
        difference_ci_upper_per_1000=per_1000(dhi),
    )
    difference = difference_text(per_1000(d), per_1000(dlo), per_1000(dhi), "more", "fewer")
    row["absolute_difference"] = difference.replace(" (", " per 1,000 (", 1)
    row["absolute_effect"] = (
        f"{per_1000(acr):,} per 1,000 with {comp_label}; {per_1000(effect.risk_treatment):,} per 1,000 with "
        f"{treat_label} ({per_1000(effect.risk_treatment_ci[0]):,} to "
        f"{per_1000(effect.risk_treatment_ci[1]):,}); difference {difference} per 1,000"
    )
    if measure == "RR" and acr * hi > 1:
        row["absolute_effect"] += " (upper limit capped: a risk cannot exceed 1,000 per 1,000)"
    nnt = number_needed_to_treat(d, (dlo, dhi), outcome.higher_is_better)
    row.update(nnt=nnt.value, nnt_ci_lower=nnt.ci_lower, nnt_ci_upper=nnt.ci_upper, nnt_text=nnt.text)


def _continuous_effect(row: dict[str, Any], outcome: Outcome, settings: Mapping[str, Any]) -> None:
    """An SMD in SD units, re-expressed on a familiar scale when a reference SD is set; an MD as is."""
    est, lo, hi = row["estimate"], row["ci_lower"], row["ci_upper"]
    if row["measure"] != "SMD":
        scale = f" ({outcome.scale})" if outcome.scale else ""
        text = "MD " + difference_text(est, lo, hi, "higher", "lower") + scale
        row["absolute_effect"] = row["absolute_difference"] = text
        return
    text = "SMD " + difference_text(est, lo, hi, "higher", "lower", 2, " SD")
    row["absolute_difference"] = text
    sd = (settings.get("reference_sd") or {}).get(outcome.id)
    scale = settings.get("reference_scale") or "0-10 pain scale"
    if sd is not None:
        md, mlo, mhi = reexpress_smd(est, lo, hi, float(sd))
        row.update(reference_sd=float(sd), reexpressed=md, reexpressed_ci_lower=mlo, reexpressed_ci_upper=mhi)
        reexpressed = difference_text(md, mlo, mhi, "higher", "lower", 1)
        text += f"; on a {scale} (reference SD {float(sd):g}): {reexpressed} points"
        row["absolute_difference"] += f"; about {reexpressed} points on a {scale}"
    else:
        text += ("; not re-expressed on a familiar scale: no reference SD for this outcome in config.yaml "
                 "(summary_of_findings.reference_sd)")
    row["absolute_effect"] = text


def _certainty_inputs(
    row: dict[str, Any], pooled: Mapping[str, Any], outcome: Outcome, settings: Mapping[str, Any],
    study_weights: Sequence[tuple[str, float | None]], overall_rob: Mapping[str, str],
) -> None:
    """Heterogeneity, inconsistency, imprecision and risk of bias: GRADE's inputs, not a rating."""
    measure, treatment, lo, hi = row["measure"], row["treatment"], row["ci_lower"], row["ci_upper"]
    i2, tau2 = optional_float(pooled.get("i2")), optional_float(pooled.get("tau2"))
    pi_lo, pi_hi = optional_float(pooled.get("pi_lower")), optional_float(pooled.get("pi_upper"))
    ratio = measure in RATIO_MEASURES
    null = 1.0 if ratio else 0.0
    sign = 1.0 if outcome.higher_is_better else -1.0

    # Heterogeneity and inconsistency.
    ci_null = _includes(lo, hi, null)
    pi_null = _includes(pi_lo, pi_hi, null)
    row.update(i2=i2, tau2=tau2, pi_lower=pi_lo, pi_upper=pi_hi, ci_includes_no_effect=ci_null,
               pi_includes_no_effect=pi_null)
    if str(row["status"]).startswith("single"):
        row["heterogeneity"] = "not applicable (one trial)"
        row["inconsistency"] = "not applicable (one trial)"
    elif treatment == OVERALL_TREATMENT:
        tau = f"tau² = {tau2:.3g}" if tau2 is not None else "tau² not estimated"
        row["heterogeneity"] = f"{tau} (multivariate model across delivery modes)"
        row["inconsistency"] = (f"{tau}; no I² or prediction interval for the multivariate model: see the "
                                "delivery-mode rows and results/subgroup_tests.tsv")
    else:
        parts = []
        if i2 is not None:
            parts.append(f"I² = {i2:.0f}%")
        if tau2 is not None:
            parts.append(f"tau² = {tau2:.3g}")
        if pi_lo is not None and pi_hi is not None:
            parts.append(f"prediction interval {number(pi_lo)} to {number(pi_hi)}")
        row["heterogeneity"] = "; ".join(parts) if parts else "not estimated"
        notes = []
        if i2 is not None:
            notes.append(f"I² = {i2:.0f}%: {i2_interpretation(i2)} (Cochrane Handbook 10.10.2)")
        if pi_null is not None:
            verdict = "includes" if pi_null else "excludes"
            notes.append(f"prediction interval {verdict} no effect" + (" while the CI excludes it" if pi_null and
                                                                        not ci_null else ""))
        elif treatment != OVERALL_TREATMENT:
            notes.append("no prediction interval (method profile or k)")
        row["inconsistency"] = "; ".join(notes) if notes else "not estimated"

    # Imprecision.
    mid = (settings.get("mid") or {}).get(outcome.id)
    notes = ["CI includes no effect" if ci_null else "CI excludes no effect"]
    if mid is not None:
        mid = float(mid)
        benefit = mid ** sign if ratio else sign * mid
        harm = mid ** -sign if ratio else -sign * mid
        crosses = lo < benefit < hi
        row.update(mid=mid, ci_crosses_mid=crosses)
        shown = f"{measure} {number(benefit)}"
        notes.append(f"CI {'crosses' if crosses else 'does not cross'} the minimal important difference ({shown})")
        if lo < harm < hi and lo < benefit < hi:
            notes.append(f"CI includes both important benefit and important harm ({measure} {number(harm)})")
    else:
        notes.append("no minimal important difference in config.yaml (summary_of_findings.mid)")
    if row["n_participants"] is not None:
        notes.append(f"{row['n_participants']:,} participants")
    row["imprecision"] = "; ".join(notes)

    # Risk of bias: share of the weight at each overall judgement.
    shares = weight_shares(study_weights, overall_rob)
    row.update(rob_low_pct=shares["low"], rob_some_concerns_pct=shares["some concerns"],
               rob_high_pct=shares["high"], rob_not_assessed_pct=shares[NOT_ASSESSED])
    weighting = "of the weight" if any(w is not None for _, w in study_weights) else "of the trials"
    if shares[NOT_ASSESSED] >= 100 - 1e-9:
        row["risk_of_bias"] = "not assessed (no RoB 2 judgements in the study table)"
    else:
        parts = [f"{shares[v]:.0f}% {v}" for v in (*reversed(ROB_VALUES), NOT_ASSESSED) if shares[v] > 0]
        row["risk_of_bias"] = ", ".join(parts) + f" {weighting} (overall RoB 2)"


def _with_judgement(row: dict[str, Any], judgement: Mapping[str, str] | None) -> dict[str, Any]:
    if judgement:
        row["certainty"] = judgement.get("certainty", "")
        row["certainty_reasons"] = judgement.get("reasons", "")
        row["comments"] = judgement.get("comments", "")
    return row


# --------------------------------------------------------------------------- whole table


def sof_records(
    pooled: pd.DataFrame,
    studies: Mapping[tuple[str, str], pd.DataFrame],
    outcomes: Mapping[str, Outcome],
    modes: Mapping[str, str],
    settings: Mapping[str, Any],
    control_records: Sequence[Mapping[str, Any]],
    rob: Mapping[tuple[str, str], Mapping[tuple[str, str, str], tuple[str, ...]]],
    judgements: Sequence[Mapping[str, str]] = (),
) -> list[dict[str, Any]]:
    """Summary-of-findings rows, in ``pooled.tsv`` order.

    ``studies`` maps (outcome, timepoint) to that analysis's ``studies.tsv``; ``rob`` maps
    (outcome, timepoint) to :func:`evsynth.tables.rob.comparison_judgements` of its rows.
    """
    by_key = {(j["outcome"], j["timepoint"], j["treatment"], j["comparator"]): j for j in judgements}
    records = []
    for rec in pooled.to_dict("records"):
        key = (str(rec["outcome"]), str(rec["timepoint"]))
        outcome = outcomes[key[0]]
        treatment, comparator = str(rec["treatment"]), str(rec["comparator"])
        names = [s for s in str(rec.get("studies") or "").split("; ") if s]
        table = studies.get(key)
        judged = rob.get(key, {})
        weights: list[tuple[str, float | None]]
        if treatment == OVERALL_TREATMENT or table is None:
            weights = [(s, None) for s in dict.fromkeys(names)]
            overall = {}
            for s in names:
                found = [j[-1] for (study, _, c), j in judged.items() if study == s and c == comparator and j[-1]]
                overall[s] = found[0] if found else ""
        else:
            block = table[(table["treatment"] == treatment) & (table["comparator"] == comparator)
                          & table["weight_pct"].notna()]
            weights = [(str(s), float(w)) for s, w in zip(block["study"], block["weight_pct"])]
            overall = {s: judged.get((s, treatment, comparator), ("",) * 6)[-1] for s, _ in weights}
        risks = trial_control_risks(control_records, key[0], key[1], treatment, comparator, names)
        records.append(sof_row(rec, outcome, modes, settings, risks, weights, overall,
                               by_key.get((key[0], key[1], treatment, comparator))))
    return records


__all__ = [
    "CERTAINTY_SYMBOLS",
    "SOF_COLUMNS",
    "sof_records",
    "sof_row",
    "trial_control_risks",
]
