"""Tests for subgroup differences between delivery modes, as rows of
``results/subgroup_tests.tsv``: the study-table side (shared-arm covariance rebuilt from the
rows, one comparator at a time) of :mod:`evsynth.stats.subgroups`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pandas as pd

from evsynth.data.config import Outcome
from evsynth.data.contrasts import covariance_blocks
from evsynth.data.vocabulary import OVERALL_TREATMENT
from evsynth.stats.profiles import MethodSettings
from evsynth.stats.subgroups import (
    MULTIVARIATE_METHODS,
    SubgroupAnalysis,
    common_tau2_test,
    overall_estimate,
    separate_tau2_test,
)


def subgroup_differences(
    effects: pd.DataFrame,
    by: str = "treatment",
    *,
    levels: Sequence[str] | None = None,
    estimator: str = "REML",
    ci_method: str = "wald",
    alpha: float = 0.05,
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
        separate=separate_tau2_test(yi, vi, groups, cov, levels=levels, estimator=estimator, alpha=alpha),
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
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Tests for subgroup differences between delivery modes sharing a comparator, and the
    overall (any mode) estimate, with shared-arm covariance (``evsynth.stats.subgroups``).

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
            ci_method=settings.ci_method, alpha=settings.alpha,
        )
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
                "method": test.method, "revman_line": test.revman_line(), "note": test.note,
            })
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
