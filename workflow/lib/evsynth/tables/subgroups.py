"""Tests for subgroup differences between delivery modes, as rows of
``results/subgroup_tests.tsv``: the study-table side (shared-arm covariance rebuilt from the
rows, one comparator at a time) of :mod:`evsynth.stats.subgroups`; and the across-modes
estimate ("any remote CBT") appended to ``pooled.tsv``: the multivariate model where two or
more trials contribute, a single trial's combined-arms contrast (:mod:`evsynth.stats.multiarm`)
where one does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from evsynth.data.config import Outcome
from evsynth.data.contrasts import arm_scale, covariance_blocks
from evsynth.data.vocabulary import OVERALL_TREATMENT
from evsynth.stats.multiarm import (
    RULE,
    CombinedArms,
    NotCombinable,
    combined_arm_estimates,
    combined_contrasts,
    combined_counts,
    combined_means,
)
from evsynth.stats.profiles import MethodSettings
from evsynth.stats.subgroups import (
    MULTIVARIATE_METHODS,
    SubgroupAnalysis,
    common_tau2_test,
    overall_estimate,
    separate_tau2_test,
)
from evsynth.wording import SINGLE_TRIAL_STATUS


def subgroup_differences(
    effects: pd.DataFrame,
    by: str = "treatment",
    *,
    levels: Sequence[str] | None = None,
    estimator: str = "REML",
    ci_method: str = "wald",
    alpha: float = 0.05,
    subgroup_se: str = "wald",
) -> SubgroupAnalysis:
    """Both conventions and the overall estimate for the estimable rows of one analysis.

    Parameters
    ----------
    effects
        Rows with ``yi``, ``vi`` and ``by``, all against one comparator; rows formed from
        arms (:func:`evsynth.data.contrasts.arm_contrasts`) carry the columns from which their
        shared-arm covariance is rebuilt, other rows are independent.
    by
        Column naming the subgroup (the delivery mode in ``treatment``).
    levels
        Subgroup order (default: first appearance).
    estimator
        tau² estimator of the separate fits. The multivariate fits (common tau², overall)
        use it when it is REML or ML, else REML, and say so in ``note``.
    ci_method
        The profile's CI method for the overall estimate ("wald", "hksj", "hksj-adhoc").
    subgroup_se
        The profile's SE of each subgroup estimate in the separate-tau² test ("wald" or "hksj").
    """
    frame = effects.reset_index(drop=True)
    if by != "comparator" and "comparator" in frame and frame["comparator"].nunique() > 1:
        raise ValueError("subgroups by delivery mode need one comparator; split the rows by comparator first")
    cov = covariance_blocks(frame)
    yi, vi, groups = frame["yi"].to_numpy(float), frame["vi"].to_numpy(float), frame[by].astype(str).tolist()
    mv = estimator if estimator in MULTIVARIATE_METHODS else "REML"
    substituted = "" if mv == estimator else f"{estimator} is not available for the multivariate model; REML used"

    def noted(result):
        note = "; ".join(n for n in (substituted, result.note) if n)
        return replace(result, note=note)

    common = dict(levels=levels, method=mv, alpha=alpha)
    saturated = len(yi) <= len(set(groups))  # k = G leaves no residual df for the F test
    return SubgroupAnalysis(
        separate=separate_tau2_test(yi, vi, groups, cov, levels=levels, estimator=estimator, alpha=alpha,
                                    se_method=subgroup_se),
        common=noted(common_tau2_test(yi, cov, groups, test="z", **common)),
        common_hksj=None if saturated else noted(common_tau2_test(yi, cov, groups, test="knha", **common)),
        overall=noted(overall_estimate(yi, cov, method=mv, test=ci_method, alpha=alpha)),
    )


SUBGROUP_COLUMNS = (
    "outcome",
    "timepoint",
    "comparator",
    "convention",
    "subgroups",
    "k_per_subgroup",
    "estimate_per_subgroup",
    "tau2_per_subgroup",
    "distribution",
    "stat",
    "df1",
    "df2",
    "p_value",
    "i2",
    "covariance_used",
    "estimator",
    "test",
    "method",
    "revman_line",
    "note",
)


def subgroup_records(
    effects: pd.DataFrame,
    outcome: Outcome,
    modes: Sequence[str],
    settings: MethodSettings,
    timepoint: str,
    continuity_correction: float = 0.5,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Tests for subgroup differences between delivery modes sharing a comparator, and the
    overall (any mode) estimate, with shared-arm covariance (``evsynth.stats.subgroups``).

    The overall estimate is the multivariate model when two or more trials contribute. From a
    single trial, heterogeneity between trials cannot be estimated, so it is that trial's
    combined-arms contrast (:func:`single_trial_overall`), labelled as a single study; when its
    arms cannot be combined there is no overall row and the test rows' ``note`` says why.

    Returns ``(subgroup_test_rows, overall_pooled_rows)``; empty where fewer than two modes
    have an estimable comparison against the same comparator.
    """
    back = outcome.to_reporting
    tests, overall_rows = [], []
    usable = effects[effects["estimable"]]
    for comparator in modes:
        block = usable[usable["comparator"] == comparator]
        levels = [m for m in modes if m in set(block["treatment"])]
        if len(levels) < 2:
            continue
        result = subgroup_differences(
            block, by="treatment", levels=levels, estimator=settings.estimator,
            ci_method=settings.ci_method, alpha=settings.alpha, subgroup_se=settings.subgroup_se,
        )
        single, not_combined = None, ""
        if block["study"].nunique() == 1:
            trial = usable[usable["study"] == block["study"].iloc[0]]
            try:
                single = single_trial_overall(trial, comparator, levels, outcome, settings, continuity_correction)
            except NotCombinable as err:
                not_combined = f"no across-modes estimate from this single trial: {err}"
        for convention, test in (("separate_tau2", result.separate), ("common_tau2", result.common),
                                 ("common_tau2_hksj", result.common_hksj)):
            if test is None:
                continue
            tests.append({
                "outcome": outcome.id, "timepoint": timepoint, "comparator": comparator, "convention": convention,
                "subgroups": "; ".join(g.label for g in test.subgroups),
                "k_per_subgroup": "; ".join(str(g.k) for g in test.subgroups),
                "estimate_per_subgroup": "; ".join(f"{back(g.theta):.6g}" for g in test.subgroups),
                "tau2_per_subgroup": "; ".join("" if t is None else f"{t:.6g}" for t in test.tau2),
                "distribution": test.distribution, "stat": test.stat, "df1": test.df[0],
                "df2": test.df[1] if len(test.df) > 1 else None, "p_value": test.p_value, "i2": test.i2,
                "covariance_used": test.covariance_used, "estimator": test.estimator, "test": test.test,
                "method": test.method, "revman_line": test.revman_line(),
                "note": "; ".join(n for n in (test.note, not_combined) if n),
            })
        if not_combined:
            continue
        if single is not None:
            overall_rows.append(_single_row(single, block, outcome, comparator, settings, timepoint))
            continue
        o = result.overall
        overall_rows.append({
            "outcome": outcome.id, "timepoint": timepoint, "treatment": OVERALL_TREATMENT, "comparator": comparator,
            "measure": outcome.measure, "k": o.k, "theta": o.theta, "se": o.se, "estimate": float(back(o.theta)),
            "ci_lower": float(back(o.ci_lower)), "ci_upper": float(back(o.ci_upper)), "p_value": o.p_value,
            "stat": o.stat, "stat_df": o.stat_df, "tau2": o.tau2, "q": o.qe, "q_df": o.qe_df, "q_p": o.qe_p,
            "estimator": o.estimator, "ci_method": settings.ci_method, "profile": settings.label,
            "alpha": settings.alpha, "status": "pooled across delivery modes",
            "studies": "; ".join(dict.fromkeys(block["study"])),
            "note": "; ".join(n for n in (o.method, o.note) if n),
        })
    return tests, overall_rows


def single_trial_overall(
    trial: pd.DataFrame,
    comparator: str,
    modes: Sequence[str],
    outcome: Outcome,
    settings: MethodSettings,
    continuity_correction: float = 0.5,
) -> CombinedArms:
    """One trial's CBT arms (``modes``, each compared with ``comparator``) combined into one group
    against ``comparator`` (:mod:`evsynth.stats.multiarm`), from whichever form its rows take.

    Parameters
    ----------
    trial
        The trial's estimable effect rows of this analysis (every comparison: a reported contrast
        between the CBT arms is used to back-calculate the arm variances).

    Raises
    ------
    NotCombinable
        When the rows do not allow it (mixed forms, different control arms, ratio or SMD contrasts).
    """
    measure = outcome.measure
    rows = trial[(trial["comparator"] == comparator) & trial["treatment"].isin(list(modes))]
    rows = rows.set_index("treatment").loc[[m for m in modes if m in set(rows["treatment"])]]
    forms = set(rows["form"])
    if len(forms) != 1:
        raise NotCombinable(f"its rows mix data forms ({', '.join(sorted(map(str, forms)))})")
    form = forms.pop()
    num = lambda column: rows[column].to_numpy(dtype=float)  # noqa: E731

    def one_control(*columns: str) -> list[float]:
        values = rows[list(columns)].drop_duplicates()
        if len(values) != 1:
            raise NotCombinable(f"its rows give different {comparator} arms ({', '.join(columns)})")
        return [float(v) for v in values.iloc[0]]

    if form == "counts":
        events_ctrl, n_ctrl = one_control("events_ctrl", "n_ctrl")
        return combined_counts(measure, num("events_treat"), num("n_treat"), events_ctrl, n_ctrl,
                               add=continuity_correction)
    if form == "means":
        n_ctrl, mean_ctrl, sd_ctrl = one_control("n_ctrl", "mean_ctrl", "sd_ctrl")
        return combined_means(measure, num("n_treat"), num("mean_treat"), num("sd_treat"), n_ctrl, mean_ctrl,
                              sd_ctrl, smd_variance=settings.smd_variance)
    if form == "arm":
        estimate_ctrl, var_ctrl = one_control("arm_estimate_ctrl", "var_ctrl_arm")
        kind = str(rows["arm_measure"].iloc[0])
        f_treat, _ = arm_scale(measure, kind, num("arm_estimate_treat"))
        f_ctrl, _ = arm_scale(measure, kind, [estimate_ctrl])
        n_ctrl = rows["n_ctrl"].iloc[0]
        return combined_arm_estimates(measure, num("n_treat"), f_treat, num("var_treat_arm"), float(f_ctrl[0]),
                                      var_ctrl, None if pd.isna(n_ctrl) else float(n_ctrl))
    if len(rows) == 2:
        a, b = rows.index
        between = trial[((trial["treatment"] == a) & (trial["comparator"] == b))
                        | ((trial["treatment"] == b) & (trial["comparator"] == a))]
        if len(between) != 1:
            raise NotCombinable(f"its reported contrasts do not include {a} vs {b}, from which the arm "
                                "variances would be back-calculated")
        combined = combined_contrasts(measure, num("n_treat"), num("yi"), num("vi"), float(between["vi"].iloc[0]))
        n_ctrl = rows["n_ctrl"].dropna()
        return CombinedArms(combined.yi, combined.vi, combined.n_treat,
                            float(n_ctrl.iloc[0]) if len(n_ctrl) else None, combined.method)
    return combined_contrasts(measure, num("n_treat"), num("yi"), num("vi"), float("nan"))


def _single_row(c: CombinedArms, block: pd.DataFrame, outcome: Outcome, comparator: str,
                settings: MethodSettings, timepoint: str) -> dict[str, Any]:
    """The pooled.tsv row of a single trial's combined-arms contrast: its Wald CI, as for any
    single study shown, not pooled."""
    back = outcome.to_reporting
    se = float(np.sqrt(c.vi))
    z = float(stats.norm.ppf(1 - settings.alpha / 2))
    stat = c.yi / se
    n = None if c.n_treat is None or c.n_ctrl is None else int(round(c.n_treat + c.n_ctrl))
    study = str(block["study"].iloc[0])
    return {
        "outcome": outcome.id, "timepoint": timepoint, "treatment": OVERALL_TREATMENT, "comparator": comparator,
        "measure": outcome.measure, "k": 1, "n_participants": n, "theta": c.yi, "se": se,
        "estimate": float(back(c.yi)), "ci_lower": float(back(c.yi - z * se)), "ci_upper": float(back(c.yi + z * se)),
        "stat": stat, "p_value": float(2 * stats.norm.sf(abs(stat))), "profile": settings.label,
        "alpha": settings.alpha, "status": SINGLE_TRIAL_STATUS, "studies": study,
        "note": f"{RULE}: {c.method}",
    }
