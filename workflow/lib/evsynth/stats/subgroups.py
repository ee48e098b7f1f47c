"""Tests for subgroup differences between delivery modes, under both tau² conventions.

Subgroups are comparisons against one comparator (coach vs usual care, online vs usual
care). A three-arm trial such as RESOLVE puts one estimate in each, and the two share the
usual-care arm, so the subgroup estimates are correlated (Gleser & Olkin 2009).

* **Separate tau²** (RevMan; R meta's default): a random-effects fit per subgroup
  (:func:`evsynth.stats.pooling.pool`, Wald), then ``Q_b = Σ w_g (θ_g - θ̄)²`` with
  ``w_g = 1/SE_g²`` on G - 1 df (Borenstein et al. 2009, ch. 19), ``I² = (Q_b - df)/Q_b``.
  When trials contribute to more than one subgroup through a shared arm, the subgroup
  estimates covary::

      cov(θ_g, θ_h) = Σ_i Σ_j w_gi w_hj cov(y_gi, y_hj) / (W_g W_h),   g ≠ h,

  with the random-effects weights ``w = 1/(v + tau²_g)`` of each subgroup and the
  within-study (sampling) covariance of the two estimates: the true effects of different
  comparisons are taken as independent, as the separate-tau² model does. Then
  ``Q_b = dᵀ (C S Cᵀ)⁻¹ d``, ``d = C θ`` the G - 1 contrasts of subgroup means and S the
  covariance above with ``SE_g²`` on its diagonal. With no shared arm S is diagonal and
  the plain RevMan Q_b is used as is; the result says which (``covariance_used``).
* **Common tau²** (metafor's documented approach): a mixed-effects meta-regression on
  subgroup dummies (:func:`evsynth.stats.multivariate.rma_mv`, shared-arm V): QM on G - 1 df,
  or F(G - 1, k - G) under Knapp-Hartung.

The "overall" estimate across subgroups (any remote CBT vs usual care) is the
intercept-only multivariate model with the shared-arm V, not a naive pool that counts the
shared arm twice, where two or more trials contribute; from one trial the workflow shows its
combined-arms contrast instead (:mod:`evsynth.stats.multiarm`). :func:`split_shared_group` is
the Cochrane Handbook §23.3.4 alternative (split the shared group's sample size), for reviewers
who want to compare.

References
----------
Gleser LJ, Olkin I (2009). Handbook of Research Synthesis and Meta-Analysis, 2nd ed., ch. 19.
Borenstein M, Hedges LV, Higgins JPT, Rothstein HR (2009). Introduction to Meta-Analysis,
ch. 19 (subgroup analyses; separate vs pooled tau²).
Higgins JPT et al. (eds). Cochrane Handbook v6.5, §10.11.3 (subgroup differences) and
§23.3.4 (multi-arm trials).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from evsynth.stats.multivariate import BlockCovariance, dummies, rma_mv
from evsynth.stats.pooling import pool
from evsynth.wording import format_p

OVERALL_METHOD = "multivariate model with shared-arm covariance (Gleser & Olkin 2009)"
# Profile ci_method (evsynth.stats.profiles) -> rma_mv test; the raw tests are accepted too.
_TESTS = {"wald": "z", "hksj": "knha", "hksj-adhoc": "adhoc", "z": "z", "knha": "knha", "adhoc": "adhoc", "t": "t"}
_TEST_NAMES = {
    "z": "Wald chi² (QM)",
    "knha": "Knapp-Hartung F",
    "adhoc": "Knapp-Hartung F (factor >= 1)",
    "t": "F without rescaling",
}
MULTIVARIATE_METHODS = ("REML", "ML")  # what metafor's rma.mv offers for tau²


@dataclass(frozen=True)
class SubgroupEstimate:
    """One subgroup's pooled estimate (analysis scale); ``tau2`` is None for a single study."""

    label: str
    k: int
    theta: float
    se: float
    ci_lower: float
    ci_upper: float
    tau2: float | None


@dataclass(frozen=True)
class SubgroupDifferenceTest:
    """A test for subgroup differences under one tau² ``convention`` ("separate", "common").

    ``stat`` is chi² on ``df = (G-1,)`` or F on ``df = (G-1, k-G)`` (``distribution``);
    ``i2`` = max(0, (stat - df)/stat) in percent for chi², None for F.
    ``covariance_used`` says whether shared-arm covariance entered the test.
    """

    convention: str
    subgroups: tuple[SubgroupEstimate, ...]
    stat: float
    distribution: str
    df: tuple[int, ...]
    p_value: float
    i2: float | None
    tau2: tuple[float | None, ...]
    covariance_used: bool
    estimator: str
    test: str
    method: str
    note: str = ""

    def revman_line(self) -> str:
        """'Test for subgroup differences: Chi² = 1.02, df = 1 (P = 0.31), I² = 2.1%' (RevMan 5)."""
        head, p = "Test for subgroup differences:", format_p(self.p_value)
        if self.distribution == "F":
            return f"{head} F = {self.stat:.2f}, df = {self.df[0]}, {self.df[1]} ({p})"
        i2 = "0%" if not self.i2 else f"{self.i2:.1f}%"
        return f"{head} Chi² = {self.stat:.2f}, df = {self.df[0]} ({p}), I² = {i2}"


@dataclass(frozen=True)
class OverallEstimate:
    """Pooled estimate across subgroups from the intercept-only multivariate model."""

    k: int
    theta: float
    se: float
    ci_lower: float
    ci_upper: float
    stat: float
    stat_df: float | None
    p_value: float
    tau2: float
    qe: float
    qe_df: int
    qe_p: float
    estimator: str
    test: str
    covariance_used: bool
    method: str = OVERALL_METHOD
    note: str = ""


@dataclass(frozen=True)
class SubgroupAnalysis:
    """Everything :func:`subgroup_differences` computes for one analysis."""

    separate: SubgroupDifferenceTest
    common: SubgroupDifferenceTest
    common_hksj: SubgroupDifferenceTest | None  # None when k = G: no residual df for F
    overall: OverallEstimate


def _blocks(cov, vi: np.ndarray | None = None) -> BlockCovariance:
    if cov is None:
        return BlockCovariance.from_variances(vi)
    return cov if isinstance(cov, BlockCovariance) else BlockCovariance.from_dense(np.asarray(cov, dtype=float))


def _i2(q: float, df: int) -> float:
    """RevMan's I² for subgroup differences, in percent: max(0, (Q - df) / Q)."""
    return max(0.0, 100 * (q - df) / q) if q > 0 else 0.0


def _levels(groups: Sequence[str], levels: Sequence[str] | None) -> tuple[np.ndarray, list[str]]:
    labels = np.asarray([str(g) for g in groups])
    levels = list(dict.fromkeys(labels)) if levels is None else [str(x) for x in levels if str(x) in set(labels)]
    if len(levels) < 2:
        raise ValueError("a test for subgroup differences needs at least two subgroups")
    return labels, levels


def separate_tau2_test(
    yi: Sequence[float],
    vi: Sequence[float],
    groups: Sequence[str],
    covariance: np.ndarray | BlockCovariance | None = None,
    *,
    levels: Sequence[str] | None = None,
    estimator: str = "REML",
    alpha: float = 0.05,
    se_method: str = "wald",
) -> SubgroupDifferenceTest:
    """Subgroup differences with a separate tau² per subgroup (RevMan), shared arms allowed.

    Parameters
    ----------
    yi, vi
        Estimates and sampling variances.
    groups
        Subgroup label of each estimate.
    covariance
        Sampling covariance of ``yi`` (dense or :class:`BlockCovariance`, diagonal = ``vi``);
        None when all estimates are independent.
    levels
        Subgroup order (default: first appearance).
    estimator
        tau² estimator for each subgroup's fit.
    se_method
        "wald" (RevMan): each subgroup's random-effects SE; "hksj": its Hartung-Knapp SE
        (``pool(..., ci_method="hksj")``), as R meta's test for subgroup differences uses it
        when the model is fitted with Hartung-Knapp (metapsyTools' ``subgroupAnalysis``). A
        single-study subgroup keeps its own SE either way.
    """
    if se_method not in ("wald", "hksj"):
        raise ValueError(f"se_method must be 'wald' or 'hksj', not {se_method!r}")
    yi, vi = np.asarray(yi, dtype=float), np.asarray(vi, dtype=float)
    labels, levels = _levels(groups, levels)
    cov = _blocks(covariance, vi)
    onehot = (labels[:, None] == np.asarray(levels)[None, :]).astype(float)
    if _correlated_within(cov, labels):  # pool() below assumes independence within a subgroup
        raise ValueError("estimates within one subgroup are correlated; use the common-tau² (multivariate) test")
    z = stats.norm.ppf(1 - alpha / 2)
    share = np.zeros(len(yi))  # w_gi / W_g
    subgroups = []
    for label in levels:
        idx = np.flatnonzero(labels == label)
        if len(idx) == 1:
            theta, se, tau2 = float(yi[idx[0]]), float(np.sqrt(vi[idx[0]])), None
            share[idx] = 1.0
        else:
            fit = pool(yi[idx], vi[idx], estimator=estimator, ci_method=se_method, alpha=alpha)
            theta, se, tau2 = fit.theta, fit.se, fit.tau2
            share[idx] = np.asarray(fit.weights) / 100
        subgroups.append(SubgroupEstimate(label, len(idx), theta, se, theta - z * se, theta + z * se, tau2))
    theta = np.array([s.theta for s in subgroups])
    S = cov.sandwich(onehot * share[:, None])
    S[np.diag_indices_from(S)] = [s.se**2 for s in subgroups]
    used = bool(np.any(S[~np.eye(len(levels), dtype=bool)] != 0))
    if used:
        C = np.column_stack([-np.ones(len(levels) - 1), np.eye(len(levels) - 1)])
        d = C @ theta
        q = float(d @ np.linalg.solve(C @ S @ C.T, d))
    else:  # RevMan's Q_b, exactly
        w = 1 / np.diag(S)
        q = float(np.sum(w * (theta - np.sum(w * theta) / w.sum()) ** 2))
    df = len(levels) - 1
    how = (
        "generalised Q on the G - 1 contrasts of subgroup estimates with their shared-arm covariance"
        if used
        else "Q between subgroup estimates (RevMan)"
    )
    if se_method == "hksj":
        how += ", on the subgroups' Hartung-Knapp SEs (R meta)"
    return SubgroupDifferenceTest(
        convention="separate",
        subgroups=tuple(subgroups),
        stat=q,
        distribution="chi2",
        df=(df,),
        p_value=float(stats.chi2.sf(q, df)),
        i2=_i2(q, df),
        tau2=tuple(s.tau2 for s in subgroups),
        covariance_used=used,
        estimator=estimator,
        test="z",
        method=f"separate {estimator} tau² per subgroup; {how}",
    )


def common_tau2_test(
    yi: Sequence[float],
    covariance: np.ndarray | BlockCovariance | Sequence[float],
    groups: Sequence[str],
    *,
    levels: Sequence[str] | None = None,
    method: str = "REML",
    test: str = "z",
    alpha: float = 0.05,
) -> SubgroupDifferenceTest:
    """Subgroup differences with one common tau²: ``rma.mv(yi, V, mods = ~ factor(group))``.

    ``covariance`` is the sampling covariance (or variances) of ``yi``. ``test`` "z"/"wald"
    gives QM ~ chi²(G - 1); "knha"/"hksj" gives F(G - 1, k - G) with the Knapp-Hartung
    factor (:mod:`evsynth.stats.multivariate`). Subgroup estimates are the fitted cell means.
    """
    yi = np.asarray(yi, dtype=float)
    labels, levels = _levels(groups, levels)
    cov = _blocks(covariance)
    X, names = dummies(labels, levels)
    fit = rma_mv(yi, cov, X, names=names, method=method, test=_TESTS[test], alpha=alpha)
    vb, beta = np.array(fit.vcov), np.array(fit.beta)
    L = np.column_stack([np.ones(len(levels)), np.eye(len(levels))[:, 1:]])  # cell means
    theta, se = L @ beta, np.sqrt(np.diag(L @ vb @ L.T))
    crit = stats.norm.ppf(1 - alpha / 2) if fit.stat_df is None else stats.t.ppf(1 - alpha / 2, fit.stat_df)
    subgroups = tuple(
        SubgroupEstimate(
            lv, int(np.sum(labels == lv)), float(t), float(s), float(t - crit * s), float(t + crit * s), fit.tau2
        )
        for lv, t, s in zip(levels, theta, se)
    )
    chi2 = fit.test == "z"
    return SubgroupDifferenceTest(
        convention="common",
        subgroups=subgroups,
        stat=fit.qm,
        distribution="chi2" if chi2 else "F",
        df=tuple(int(d) for d in fit.qm_df),
        p_value=fit.qm_p,
        i2=_i2(fit.qm, fit.qm_df[0]) if chi2 else None,
        tau2=(fit.tau2,),
        covariance_used=_has_offdiagonal(cov),
        estimator=method,
        test=fit.test,
        method=f"mixed-effects meta-regression on subgroup dummies, common {method} tau², {_TEST_NAMES[fit.test]}",
        note=fit.note,
    )


def overall_estimate(
    yi: Sequence[float],
    covariance: np.ndarray | BlockCovariance | Sequence[float],
    *,
    method: str = "REML",
    test: str = "z",
    alpha: float = 0.05,
) -> OverallEstimate:
    """Pooled estimate across subgroups (``rma.mv(yi, V, random = ~ 1 | id)``), shared arms counted once."""
    cov = _blocks(covariance)
    fit = rma_mv(yi, cov, method=method, test=_TESTS[test], alpha=alpha)
    return OverallEstimate(
        k=fit.k,
        theta=fit.beta[0],
        se=fit.se[0],
        ci_lower=fit.ci_lower[0],
        ci_upper=fit.ci_upper[0],
        stat=fit.stat[0],
        stat_df=fit.stat_df,
        p_value=fit.p_value[0],
        tau2=fit.tau2,
        qe=fit.qe,
        qe_df=fit.qe_df,
        qe_p=fit.qe_p,
        estimator=method,
        test=fit.test,
        covariance_used=_has_offdiagonal(cov),
        note=fit.note,
    )


def _correlated_within(cov: BlockCovariance, labels: np.ndarray) -> bool:
    for idx, B in zip(cov.index, cov.blocks):
        size = B.shape[1]
        if size > 1:
            lab = labels[idx.reshape(len(B), size)]
            same = (lab[:, :, None] == lab[:, None, :]) & ~np.eye(size, dtype=bool)
            if np.any(B[same] != 0):
                return True
    return False


def _has_offdiagonal(cov: BlockCovariance) -> bool:
    return any(B.shape[1] > 1 and np.any(B[:, ~np.eye(B.shape[1], dtype=bool)] != 0) for B in cov.blocks)


@dataclass(frozen=True)
class SharedGroupShare:
    """One comparison's share of a shared group: its sample size and, for counts, its events."""

    n: float
    events: float | None = None


def split_shared_group(n: float, parts: int = 2, events: float | None = None, integer: bool = True):
    """Split a shared (e.g. usual-care) group across ``parts`` comparisons.

    Cochrane Handbook v6.5 §23.3.4 (paraphrased): a shared group may be split into two or
    more smaller groups, one per comparison, so that the comparisons are roughly
    independent. For counts, events and participants are both divided; for means and SDs,
    only ``n`` is divided (the mean and SD stay as they are). This only partly removes the
    unit-of-analysis error (the estimates remain correlated); the shared-arm covariance
    (:func:`overall_estimate`) is exact. This helper is for comparison.

    Parameters
    ----------
    n, events
        The shared group's participants and (for counts) events.
    parts
        Number of comparisons sharing the group.
    integer
        Whole numbers as RevMan needs (remainders go to the first shares, so
        ``777 -> 389, 388``); False gives equal fractions.
    """
    if parts < 2 or n < parts:
        raise ValueError("split a group of at least `parts` participants into two or more parts")
    if events is not None and not 0 <= events <= n:
        raise ValueError("events must lie between 0 and n")

    def divide(total: float) -> list[float]:
        if not integer:
            return [total / parts] * parts
        base, extra = divmod(int(round(total)), parts)
        return [float(base + (i < extra)) for i in range(parts)]

    ns = divide(n)
    ev = divide(events) if events is not None else [None] * parts
    return tuple(SharedGroupShare(n=a, events=e) for a, e in zip(ns, ev))
