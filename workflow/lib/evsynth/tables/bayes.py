"""Bayesian random-effects rows: pooled.tsv's ``bayes_*`` columns, robustness.tsv's ``bayes`` row,
each trial's shrunken estimate (studies.tsv) and the prior-sensitivity table.

Every comparison with at least one estimable trial gets the posterior of
:func:`evsynth.stats.bayes.bayes_meta` under the outcome's prior (``config.yaml: bayes``), k = 1
and k = 2 included: with few trials the prior on tau carries the heterogeneity that the data
cannot estimate, which is the point (Röver et al. 2021; Bender et al. 2018). Estimates and
intervals are on the reporting scale (RR and OR, not their logs); tau on the analysis scale.

"Benefit" follows ``higher_is_better``: P(mu > 0) when larger is better, else P(mu < 0); the
MID probability is P(mu beyond the MID in the beneficial direction), with the MID of
``summary_of_findings.mid`` (a ratio for RR and OR, compared on the log scale).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from evsynth.data.bayes_config import tau_prior_from
from evsynth.data.config import Outcome
from evsynth.stats.bayes import BayesFit, MuPrior, bayes_meta
from evsynth.stats.bayes_priors import unit_information_sd
from evsynth.stats.profiles import BAYES

__all__ = [
    "BAYES_COLUMNS",
    "PRIOR_SENSITIVITY_COLUMNS",
    "SHRINKAGE_COLUMNS",
    "POSTERIOR_PREDICTIVE",
    "PRIMARY_NOTE",
    "bayes_columns",
    "bayes_primary",
    "bayes_robustness_records",
    "prior_sensitivity_records",
    "resolved_prior",
    "shrinkage_columns",
]

#: Appended to pooled.tsv's columns (evsynth.tables.pooled.POOLED_COLUMNS).
BAYES_COLUMNS = (
    "bayes_tau_prior",
    "bayes_mu_prior",
    "bayes_estimate",
    "bayes_ci_lower",
    "bayes_ci_upper",
    "bayes_shortest_lower",
    "bayes_shortest_upper",
    "bayes_tau",
    "bayes_tau_lower",
    "bayes_tau_upper",
    "bayes_pi_lower",
    "bayes_pi_upper",
    "bayes_prob_benefit",
    "bayes_mid",
    "bayes_prob_mid",
    "bayes_status",
)
#: Appended to studies.tsv's columns: each trial's posterior (shrunken) effect.
SHRINKAGE_COLUMNS = ("bayes_shrunken_estimate", "bayes_shrunken_lower", "bayes_shrunken_upper")
PRIOR_SENSITIVITY_COLUMNS = (
    "outcome", "timepoint", "treatment", "comparator", "measure", "k", "tau_prior", "configured",
    *BAYES_COLUMNS[1:-1], "status",
)  # fmt: skip


def _thresholds(outcome: Outcome, mid: float | None) -> tuple[float, ...]:
    """Analysis-scale thresholds: no effect, then the MID in the beneficial direction."""
    sign = 1.0 if outcome.higher_is_better else -1.0
    if mid is None:
        return (0.0,)
    return (0.0, sign * (math.log(mid) if outcome.ratio else mid))


def _fit(yi, vi, prior_fields, mu_sd, outcome, mid, alpha=0.05) -> BayesFit:
    """The posterior at level 1 - alpha, the level of every interval (``pooling.alpha``)."""
    mu_prior = MuPrior() if mu_sd is None else MuPrior(0.0, mu_sd)
    return bayes_meta(yi, vi, tau_prior_from(prior_fields), mu_prior, level=1 - alpha,
                      thresholds=_thresholds(outcome, mid))  # fmt: skip


def resolved_prior(
    bayes: Mapping[str, Any], effects: pd.DataFrame, outcome_id: str
) -> tuple[dict[str, Any] | None, str]:
    """The configured prior's fields with any UISD-relative scale filled in, or None and why.

    For an outcome on an arbitrary scale (``uisd_multiple`` set, an MD without a configured
    scale) the scale is ``uisd_multiple`` times the unit information standard deviation of the
    analysis's estimable trials with known arm sizes, all comparisons together (Röver et al.
    2021, eq. 6), so every comparison of the analysis has the same prior, in the outcome's
    units; the prior's label says so.
    """
    if bayes["prior"] is None:
        return None, bayes["reason"]
    multiple = bayes.get("uisd_multiple")
    if multiple is None:
        return bayes["prior"], ""
    known = effects[effects["estimable"].astype(bool)]
    known = known[known["n_treat"].notna() & known["n_ctrl"].notna()] if "n_treat" in known else known.iloc[:0]
    if known.empty:
        return None, ("no trial of this analysis reports its arm sizes, which the UISD-scaled default prior "
                      f"needs: set config.yaml: bayes.priors.{outcome_id}: {{prior: ..., scale: ...}}")  # fmt: skip
    uisd = unit_information_sd(known["n_treat"].to_numpy(float) + known["n_ctrl"].to_numpy(float),
                               known["vi"].to_numpy(float))  # fmt: skip
    source = f"UISD/{1 / multiple:g}, UISD {uisd:.4g} from {len(known)} contrast{'s' if len(known) != 1 else ''}"
    return {**bayes["prior"], "scale": multiple * uisd, "source": source}, ""


def _summary(fit: BayesFit, outcome: Outcome, mid: float | None) -> dict[str, Any]:
    back = outcome.to_reporting

    def toward_benefit(p_above: float) -> float:
        return p_above if outcome.higher_is_better else 1.0 - p_above

    return {
        "bayes_tau_prior": fit.tau_prior,
        "bayes_mu_prior": fit.mu_prior,
        "bayes_estimate": float(back(fit.mu.median)),
        "bayes_ci_lower": float(back(fit.mu.central_lower)),
        "bayes_ci_upper": float(back(fit.mu.central_upper)),
        "bayes_shortest_lower": float(back(fit.mu.shortest_lower)),
        "bayes_shortest_upper": float(back(fit.mu.shortest_upper)),
        "bayes_tau": fit.tau.median,
        "bayes_tau_lower": fit.tau.central_lower,
        "bayes_tau_upper": fit.tau.central_upper,
        "bayes_pi_lower": float(back(fit.prediction.central_lower)),
        "bayes_pi_upper": float(back(fit.prediction.central_upper)),
        "bayes_prob_benefit": toward_benefit(fit.prob_above[0]),
        "bayes_mid": mid,
        "bayes_prob_mid": toward_benefit(fit.prob_above[1]) if mid is not None else None,
    }


def _usable(effects: pd.DataFrame, treatment: str, comparator: str) -> pd.DataFrame:
    block = effects[(effects["treatment"] == treatment) & (effects["comparator"] == comparator)]
    return block[block["estimable"].astype(bool)]


def bayes_columns(
    pooled: Sequence[dict[str, Any]], effects: pd.DataFrame, outcome: Outcome, bayes: Mapping[str, Any]
) -> tuple[list[dict[str, Any]], dict[tuple[str, str], BayesFit]]:
    """``pooled`` rows with the ``bayes_*`` columns filled in, and the fits by comparison.

    ``bayes`` is :meth:`evsynth.data.bayes_config.BayesSettings.as_dict`. Rows of the
    across-modes estimate are left with a status saying why.
    """
    out, fits = [], {}
    prior, reason = resolved_prior(bayes, effects, outcome.id)
    for row in pooled:
        row = dict(row)
        usable = _usable(effects, row["treatment"], row["comparator"])
        if row["status"] == "pooled across delivery modes":
            row["bayes_status"] = ("not run: the across-modes estimate uses the shared-arm covariance "
                                   "(rma.mv); the Bayesian model here assumes independent trials")  # fmt: skip
        elif usable.empty:
            row["bayes_status"] = "not run: no estimable trial"
        elif prior is None:
            row["bayes_status"] = f"not run: {reason}"
        else:
            fit = _fit(usable["yi"].to_numpy(float), usable["vi"].to_numpy(float), prior,
                       bayes["mu_prior_sd"], outcome, bayes["mid"], row.get("alpha") or 0.05)  # fmt: skip
            fits[(row["treatment"], row["comparator"])] = fit
            row.update(_summary(fit, outcome, bayes["mid"]))
            row["bayes_status"] = f"posterior from {len(usable)} trial{'s' if len(usable) != 1 else ''}"
        out.append(row)
    return out, fits


def shrinkage_columns(
    effects: pd.DataFrame, fits: Mapping[tuple[str, str], BayesFit], outcome: Outcome
) -> pd.DataFrame:
    """studies.tsv with each estimable trial's posterior median and central interval."""
    effects = effects.copy()
    for column in SHRINKAGE_COLUMNS:
        effects[column] = np.nan
    back = outcome.to_reporting
    for (treatment, comparator), fit in fits.items():
        rows = ((effects["treatment"] == treatment) & (effects["comparator"] == comparator)
                & effects["estimable"].astype(bool)).to_numpy()  # fmt: skip
        effects.loc[rows, "bayes_shrunken_estimate"] = back(np.array(fit.shrunken_median))
        effects.loc[rows, "bayes_shrunken_lower"] = back(np.array(fit.shrunken_lower))
        effects.loc[rows, "bayes_shrunken_upper"] = back(np.array(fit.shrunken_upper))
    return effects


def bayes_robustness_records(
    pooled: Sequence[dict[str, Any]],
    comparisons: Collection[tuple[str, str]],
    chosen: bool = False,
    suffix: str = "",
) -> list[dict[str, Any]]:
    """One robustness.tsv row per comparison with a posterior, profile ``bayes (<prior>)<suffix>``.

    ``comparisons`` are the (treatment, comparator) pairs robustness.tsv covers (those pooled
    from at least two trials). Its conclusion is whether the central 95% credible interval
    excludes no effect; ``chosen`` marks the rows as the chosen analysis (profile ``bayes``).
    ``conclusion_differs_from_chosen`` is left to
    :func:`evsynth.tables.pooled.mark_conclusions`, once every row of the comparison is there.
    """
    records = []
    for row in pooled:
        if row.get("bayes_estimate") is None or (row["treatment"], row["comparator"]) not in comparisons:
            continue
        null = 1.0 if row["measure"] in ("RR", "OR") else 0.0
        excludes = bool(row["bayes_ci_lower"] > null or row["bayes_ci_upper"] < null)
        records.append({
            "outcome": row["outcome"], "timepoint": row["timepoint"], "treatment": row["treatment"],
            "comparator": row["comparator"], "measure": row["measure"], "k": row["k"],
            "profile": f"{BAYES} ({row['bayes_tau_prior']}, mu {row['bayes_mu_prior']}){suffix}", "chosen": chosen,
            "estimate": row["bayes_estimate"], "ci_lower": row["bayes_ci_lower"], "ci_upper": row["bayes_ci_upper"],
            "pi_lower": row["bayes_pi_lower"], "pi_upper": row["bayes_pi_upper"], "p_value": None,
            "tau2": row["bayes_tau"] ** 2, "i2": None, "ci_excludes_no_effect": excludes,
        })  # fmt: skip
    return records


def prior_sensitivity_records(
    pooled: Sequence[dict[str, Any]], effects: pd.DataFrame, outcome: Outcome, bayes: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Each comparison under the configured prior and every ``bayes.sensitivity_priors`` entry."""
    records = []
    configured = ("configured", *resolved_prior(bayes, effects, outcome.id))
    candidates = [configured] + [tuple(s) for s in bayes["sensitivity"]]
    for row in pooled:
        if row["status"] == "pooled across delivery modes":
            continue
        usable = _usable(effects, row["treatment"], row["comparator"])
        if usable.empty:
            continue
        for i, (label, fields, reason) in enumerate(candidates):
            rec = {key: row[key] for key in ("outcome", "timepoint", "treatment", "comparator", "measure")}
            rec.update(k=len(usable), configured=i == 0, tau_prior=label)
            if fields is None:
                rec["status"] = f"not run: {reason}"
            else:
                fit = _fit(usable["yi"].to_numpy(float), usable["vi"].to_numpy(float), fields,
                           bayes["mu_prior_sd"], outcome, bayes["mid"], row.get("alpha") or 0.05)  # fmt: skip
                summary = _summary(fit, outcome, bayes["mid"])
                rec.update({key: summary[key] for key in BAYES_COLUMNS[1:-1]})
                rec["tau_prior"] = summary["bayes_tau_prior"]
                rec["status"] = "computed"
            records.append(rec)
    return records


#: pooled.tsv's ``pi_method`` of a row whose estimate columns are the posterior's.
POSTERIOR_PREDICTIVE = "posterior predictive"
#: Added to the note of each pooled.tsv row whose estimate columns are the posterior's.
PRIMARY_NOTE = (
    "Bayesian primary analysis (profile bayes): estimate and theta are the posterior median of mu, "
    "ci_* its central {level:g}% credible interval, pi_* the central {level:g}% posterior predictive interval "
    "of a new trial's effect (tau ~ {tau_prior}; mu ~ {mu_prior}); no p-value. tau2, I², Q, their CIs and "
    "the common-effect columns are the frequentist model's ({estimator})"
)


def bayes_primary(pooled: Sequence[dict[str, Any]], outcome: Outcome) -> list[dict[str, Any]]:
    """pooled.tsv rows with the posterior as the primary estimate (profile ``bayes``).

    For each comparison pooled from at least two trials that has a posterior, ``estimate``,
    ``ci_*`` and ``pi_*`` become the posterior median, the central credible interval and the
    posterior predictive interval (the ``bayes_*`` columns, Röver 2020), ``theta`` the median on
    the analysis scale; ``se``, ``stat``, ``stat_df`` and ``p_value`` are emptied (no frequentist
    test is the primary one), ``pi_method`` says ``posterior predictive`` and the note says
    what every column shows. Single trials, the across-modes estimate (no Bayesian model) and
    rows without a posterior keep their frequentist numbers.
    """
    out = []
    for row in pooled:
        row = dict(row)
        if row.get("status") == "pooled" and row.get("bayes_estimate") is not None:
            est = row["bayes_estimate"]
            row.update(
                theta=math.log(est) if outcome.ratio else est,
                se=None, stat=None, stat_df=None, p_value=None,
                estimate=est, ci_lower=row["bayes_ci_lower"], ci_upper=row["bayes_ci_upper"],
                pi_lower=row["bayes_pi_lower"], pi_upper=row["bayes_pi_upper"],
                pi_method=POSTERIOR_PREDICTIVE, pi_df=None,
            )  # fmt: skip
            note = PRIMARY_NOTE.format(level=100 * (1 - row["alpha"]), tau_prior=row["bayes_tau_prior"],
                                       mu_prior=row["bayes_mu_prior"], estimator=row.get("estimator"))  # fmt: skip
            row["note"] = "; ".join(n for n in (row.get("note"), note) if n)
        out.append(row)
    return out
