"""Rows of ``results/dependent/`` and ``results/metaregression/``: every effect of a comparison.

For one outcome x timepoint window x comparison, given all its effects (several per trial
allowed), :func:`dependent_records` fits the dependent-effects models beside the primary
analysis and :func:`metaregression_records` the meta-regression on each configured moderator.
Columns are ``DEPENDENT_COLUMNS`` and ``METAREGRESSION_COLUMNS`` (docs/outputs.md). A model that
cannot be fitted (too few trials, one effect per trial where the within-trial level needs more,
a constant moderator) gives a row whose ``status`` says why, never an exception or a dropped
row. Estimates are on the reporting scale (RR, not log RR), as in ``pooled.tsv``; ``theta``
and ``se`` on the analysis scale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import stdtrit  # t quantile, as scipy.stats.t.ppf computes it, without importing scipy.stats

from evsynth.data.config import DependentConfig, Outcome
from evsynth.data.vocabulary import comparison_order
from evsynth.stats.dependent import ClusteredCovariance, aggregate_within, extreme_per_trial, trial_mean_variances
from evsynth.stats.escalc import RATIO_MEASURES
from evsynth.stats.metaregression import moderator_design, permutation_test, r2
from evsynth.stats.multilevel import fit_multilevel
from evsynth.stats.multivariate import rma_mv
from evsynth.stats.robust import cr2

DEPENDENT_COLUMNS = (
    "outcome",
    "timepoint",
    "treatment",
    "comparator",
    "measure",
    "model",
    "rho",
    "k_effects",
    "k_trials",
    "theta",
    "se",
    "estimate",
    "ci_lower",
    "ci_upper",
    "p_value",
    "stat_df",
    "robust_se",
    "robust_df",
    "robust_ci_lower",
    "robust_ci_upper",
    "robust_p_value",
    "sigma2_between",
    "sigma2_within",
    "i2_between",
    "i2_within",
    "pi_lower",
    "pi_upper",
    "status",
    "note",
)
METAREGRESSION_COLUMNS = (
    "outcome",
    "timepoint",
    "treatment",
    "comparator",
    "measure",
    "moderator",
    "kind",
    "model",
    "coefficient",
    "k_effects",
    "k_trials",
    "theta",
    "se",
    "stat",
    "stat_df",
    "p_value",
    "ci_lower",
    "ci_upper",
    "permutation_p",
    "qm",
    "qm_df1",
    "qm_df2",
    "qm_p",
    "qm_permutation_p",
    "r2",
    "tau2",
    "status",
    "note",
)

#: model -> what its row is.
MODELS = {
    "three-level": "effects within trials, REML, t on k - 1 df; CR2 by trial",
    "che": "correlated and hierarchical effects with rho, REML; CR2 by trial",
    "aggregated": "one effect per trial aggregated with rho (Borenstein 2009 ch. 24), REML + Knapp-Hartung",
    "lowest": "each trial's lowest effect, REML + Knapp-Hartung",
    "highest": "each trial's highest effect, REML + Knapp-Hartung",
}


def _base(outcome: Outcome, timepoint: str, treatment: str, comparator: str) -> dict[str, Any]:
    return {
        "outcome": outcome.id,
        "timepoint": timepoint,
        "treatment": treatment,
        "comparator": comparator,
        "measure": outcome.measure,
    }


def _one_per_trial(outcome: Outcome, y: np.ndarray, v: np.ndarray, alpha: float) -> dict[str, Any]:
    """REML + Knapp-Hartung on one effect per trial, with the t(k-1) prediction interval."""
    fit = rma_mv(y, v, test="knha", alpha=alpha)
    back = outcome.to_reporting
    df = len(y) - 1
    half = stdtrit(df, 1 - alpha / 2) * np.sqrt(fit.se[0] ** 2 + fit.tau2)
    return {
        "theta": fit.beta[0],
        "se": fit.se[0],
        "estimate": back(fit.beta[0]),
        "ci_lower": back(fit.ci_lower[0]),
        "ci_upper": back(fit.ci_upper[0]),
        "p_value": fit.p_value[0],
        "stat_df": fit.stat_df,
        "sigma2_between": fit.tau2,
        "pi_lower": back(fit.beta[0] - half),
        "pi_upper": back(fit.beta[0] + half),
        "status": "fitted",
    }


def _multilevel(outcome: Outcome, y, v, trial, rho: float, alpha: float) -> dict[str, Any]:
    fit = fit_multilevel(y, ClusteredCovariance.constant_correlation(v, trial, rho), test="t", alpha=alpha)
    robust = cr2(fit)
    back = outcome.to_reporting
    return {
        "theta": fit.beta[0],
        "se": fit.se[0],
        "estimate": back(fit.beta[0]),
        "ci_lower": back(fit.ci_lower[0]),
        "ci_upper": back(fit.ci_upper[0]),
        "p_value": fit.p_value[0],
        "stat_df": fit.stat_df,
        "robust_se": robust.se[0],
        "robust_df": robust.df[0],
        "robust_ci_lower": back(robust.ci_lower[0]),
        "robust_ci_upper": back(robust.ci_upper[0]),
        "robust_p_value": robust.p_value[0],
        "sigma2_between": fit.sigma2[0],
        "sigma2_within": fit.sigma2[1],
        "i2_between": fit.i2[0],
        "i2_within": fit.i2[1],
        "pi_lower": back(robust.pi_lower),
        "pi_upper": back(robust.pi_upper),
        "status": "fitted" if fit.converged else "fitted (REML did not converge: last values)",
    }


def dependent_records(
    outcome: Outcome,
    timepoint: str,
    treatment: str,
    comparator: str,
    yi: Sequence[float],
    vi: Sequence[float],
    trial: Sequence[str],
    config: DependentConfig,
    alpha: float = 0.05,
) -> list[dict[str, Any]]:
    """One row per model of :data:`MODELS` for one comparison's effects (analysis scale)."""
    y, v, trial = np.asarray(yi, dtype=float), np.asarray(vi, dtype=float), [str(t) for t in trial]
    n_trials = len(set(trial))
    rows = []
    for model in MODELS:
        row = {
            **_base(outcome, timepoint, treatment, comparator),
            "model": model,
            "k_effects": len(y),
            "k_trials": n_trials,
            "rho": config.rho if model in ("che", "aggregated") else 0.0,
            "note": "",
        }
        if n_trials < 2:
            row["status"] = "fewer than 2 trials: not modelled"
        elif model in ("three-level", "che") and n_trials == len(y):
            row["status"] = "one effect per trial: no within-trial level (see aggregated)"
        elif model == "che" and config.che_variances == "trial-mean":
            row.update(_multilevel(outcome, y, trial_mean_variances(v, trial), trial, row["rho"], alpha))
            row["note"] = "V from each trial's mean variance (clubSandwich smooth_vi = TRUE, metapsyTools)"
        elif model in ("three-level", "che"):
            row.update(_multilevel(outcome, y, v, trial, row["rho"], alpha))
        elif model == "aggregated":
            agg = aggregate_within(y, ClusteredCovariance.constant_correlation(v, trial, config.rho))
            row.update(_one_per_trial(outcome, np.array(agg.yi), np.array(agg.vi), alpha))
        else:
            rows_kept = extreme_per_trial(y, trial, model)
            row.update(_one_per_trial(outcome, y[rows_kept], v[rows_kept], alpha))
        rows.append(row)
    return rows


def comparison_blocks(effects: pd.DataFrame, modes: Sequence[str]) -> list[tuple[tuple[str, str], pd.DataFrame]]:
    """The estimable effects of each comparison of one analysis, as the dependent-effects models
    and the meta-regression fit them: every effect (secondary rows, ``primary = no``, too),
    comparisons in the primary analysis's order, trials sorted within. Rule analyse
    fits these rows and rule plot_metaregression draws them, so each bubble is one row of the
    fitted model.

    Parameters
    ----------
    effects
        :func:`evsynth.data.contrasts.analysis_effects` of the analysis's rows.
    modes
        Delivery mode ids in config order.
    """
    order = comparison_order(modes)
    rank = [order.get(pair, 99) for pair in zip(effects["treatment"], effects["comparator"])]
    effects = effects.assign(_rank=rank).sort_values(["_rank", "study"], kind="stable")
    usable = effects[effects["estimable"].astype(bool)]
    return [(pair, block) for pair, block in usable.groupby(["treatment", "comparator"], sort=False)]


def metaregression_records(
    outcome: Outcome,
    timepoint: str,
    treatment: str,
    comparator: str,
    yi: Sequence[float],
    vi: Sequence[float],
    trial: Sequence[str],
    moderators: Mapping[str, tuple[Sequence, str]],
    config: DependentConfig,
    alpha: float = 0.05,
    problems: Mapping[str, Sequence[str]] | None = None,
) -> list[dict[str, Any]]:
    """Rows per moderator (``name -> (values per effect, kind)``): one per coefficient.

    ``problems`` (moderator -> messages, e.g. a trial whose rows disagree) makes that
    moderator's row say "not fitted" with them instead of fitting.

    With one effect per trial the model is ``rma(yi, vi, mods, test = "knha")`` with R² and
    permutation p-values (``model = "trial-level"``); with several effects in some trial it is
    the CHE model with CR2 / Satterthwaite tests and the HTZ omnibus test (``model = "che"``;
    permutation tests and R² do not apply to it in metafor either).
    """
    y, v, trial = np.asarray(yi, dtype=float), np.asarray(vi, dtype=float), [str(t) for t in trial]
    n_trials = len(set(trial))
    one_per_trial = n_trials == len(y)
    rows = []
    for name, (values, kind) in moderators.items():
        base = {
            **_base(outcome, timepoint, treatment, comparator),
            "moderator": name,
            "kind": kind,
            "model": "trial-level" if one_per_trial else "che",
            "k_effects": len(y),
            "k_trials": n_trials,
            "note": "",
        }
        if problems and problems.get(name):
            rows.append({**base, "coefficient": "", "status": "not fitted: " + "; ".join(problems[name])})
            continue
        try:
            X, names = moderator_design([(name, values, kind)])
        except ValueError as error:
            rows.append({**base, "coefficient": "", "status": f"not fitted: {error}"})
            continue
        if n_trials <= X.shape[1]:
            status = f"not fitted: {n_trials} trials for {X.shape[1]} coefficients"
            rows.append({**base, "coefficient": "", "status": status})
            continue
        rows.extend(_regression_rows(base, y, v, trial, X, names, one_per_trial, config, alpha))
    return rows


def _regression_rows(base, y, v, trial, X, names, one_per_trial, config, alpha) -> list[dict[str, Any]]:
    if one_per_trial:
        fit = rma_mv(y, v, X, names=names, test="knha", alpha=alpha)
        empty = rma_mv(y, v, test="knha", alpha=alpha)
        perm = permutation_test(y, v, X, test="knha", iterations=config.permutations, seed=config.seed)
        how = "exact" if perm.exact else f"{perm.iterations} random, seed {perm.seed}"
        shared = {
            "qm": fit.qm,
            "qm_df1": fit.qm_df[0],
            "qm_df2": fit.qm_df[1],
            "qm_p": fit.qm_p,
            "qm_permutation_p": perm.qm_p,
            "r2": r2(empty.tau2, fit.tau2),
            "tau2": fit.tau2,
            "status": "fitted",
            "note": f"permutation test: {how}",
        }
        coefs = zip(
            fit.beta,
            fit.se,
            fit.stat,
            [fit.stat_df] * len(names),
            fit.p_value,
            fit.ci_lower,
            fit.ci_upper,
            perm.p_values,
        )
    else:
        fit = fit_multilevel(
            y, ClusteredCovariance.constant_correlation(v, trial, config.rho), X, names=names, test="t", alpha=alpha
        )
        robust = cr2(fit)
        shared = {
            "qm": robust.wald.f_stat,
            "qm_df1": robust.wald.df_num,
            "qm_df2": robust.wald.df_denom,
            "qm_p": robust.wald.p_value,
            "tau2": sum(fit.sigma2),
            "status": "fitted",
            "note": f"CHE rho = {config.rho}; CR2 by trial, Satterthwaite df; HTZ omnibus test",
        }
        coefs = zip(
            robust.beta,
            robust.se,
            robust.stat,
            robust.df,
            robust.p_value,
            robust.ci_lower,
            robust.ci_upper,
            [None] * len(names),
        )
    rows = []
    for coefficient, (theta, se, stat, df, p, lo, hi, perm_p) in zip(names, coefs):
        # Coefficients stay on the analysis scale: a slope of log RR is not a ratio of anything.
        rows.append(
            {
                **base,
                **shared,
                "coefficient": coefficient,
                "theta": theta,
                "se": se,
                "stat": stat,
                "stat_df": df,
                "p_value": p,
                "ci_lower": lo,
                "ci_upper": hi,
                "permutation_p": perm_p,
            }
        )
    return rows


def dependent_robustness_records(
    dependent: Sequence[Mapping[str, Any]], robustness: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """robustness.tsv rows for one analysis's dependent-effects models (``results/dependent/``):
    one per fitted model, profile ``dependent: <model>``, its conclusion (does the CI exclude no
    effect?) compared with the chosen profile's row of the same comparison in ``robustness``.
    Three-level and CHE rows use their CR2 interval (Satterthwaite df), the others their
    Knapp-Hartung one. Only comparisons with several effects in some trial get rows (with one
    effect per trial every model is the primary analysis again); comparisons without a chosen
    row (not pooled) and models not fitted give none."""
    # str(): read back from a TSV, a comparison without a chosen row (bayes profile) has an empty cell.
    chosen = {(r["treatment"], r["comparator"]): str(r["ci_excludes_no_effect"]) == "True"
              for r in robustness if str(r["chosen"]) == "True"}
    records = []
    for row in dependent:
        key = (row["treatment"], row["comparator"])
        several = row["k_effects"] > row["k_trials"]
        if not several or key not in chosen or not str(row["status"]).startswith("fitted"):
            continue
        robust = row["model"] in ("three-level", "che")
        prefix = "robust_" if robust else ""
        lower, upper = row[f"{prefix}ci_lower"], row[f"{prefix}ci_upper"]
        null = 1.0 if row["measure"] in RATIO_MEASURES else 0.0
        excludes = bool(lower > null or upper < null)
        with_rho = row["model"] in ("che", "aggregated")
        label = f"dependent: {row['model']}" + (f" (rho {row['rho']:g})" if with_rho else "")
        tau2 = row["sigma2_between"] + (row["sigma2_within"] if robust else 0.0)
        i2 = row["i2_between"] + row["i2_within"] if robust else None
        records.append({
            "outcome": row["outcome"], "timepoint": row["timepoint"], "treatment": row["treatment"],
            "comparator": row["comparator"], "measure": row["measure"], "k": row["k_trials"],
            "profile": label + (", CR2" if robust else ""), "chosen": False, "estimate": row["estimate"],
            "ci_lower": lower, "ci_upper": upper, "pi_lower": row["pi_lower"], "pi_upper": row["pi_upper"],
            "p_value": row["robust_p_value"] if robust else row["p_value"], "tau2": tau2, "i2": i2,
            "ci_excludes_no_effect": excludes, "conclusion_differs_from_chosen": excludes != chosen[key],
        })  # fmt: skip
    return records
