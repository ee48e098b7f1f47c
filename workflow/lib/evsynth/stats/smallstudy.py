"""Small-study effects: Egger's regression test, the rank correlation test, trim-and-fill.

All three follow metafor 3.8 (``regtest``, ``ranktest``, ``trimfill``) so they can be
pinned to it; the pipeline runs them only with at least 10 studies (Cochrane Handbook
v6.5 §13.3.5.4: with fewer, the tests are too weak to tell chance from asymmetry).

* **Egger's test** (Egger et al. 1997) regresses the estimates on their standard errors.
  ``model="lm"`` is the classical test: weighted least squares with weights 1/vᵢ and a
  residual variance estimated from the data, t on k - 2 df. ``model="rma"`` is metafor's
  default mixed-effects version: a meta-regression with moderator SEᵢ under the
  configured tau² estimator and test (z, or t on k - 2 df under Knapp-Hartung). The
  intercept is the "limit estimate", the effect of a study with SE → 0.
* **Rank correlation test** (Begg & Mazumdar 1994): Kendall's tau between the
  standardised deviates (yᵢ - θ̂)/sqrt(vᵢ - 1/Σw) and the variances vᵢ, θ̂ the common-effect
  estimate. metafor asks R for the exact p-value (``exact=TRUE``), which R gives whenever
  there are no ties. Here it is exact (permutation distribution of Kendall's statistic)
  when there are no ties and k ≤ 300, else R's normal approximation with its
  tie-corrected variance: the exact distribution costs O(k³) time (R's recursion also
  O(k³) memory, out of reach for k in the thousands); at k = 102 the two p-values differ
  by 0.1% of their value.
* **Trim-and-fill** (Duval & Tweedie 2000), estimator L0: the side with the missing
  studies is chosen as metafor does, from the sign of the SEᵢ slope in a meta-regression
  (negative slope: missing on the right); the most extreme studies are trimmed until the
  number missing, k0, is stable; their mirror images about the trimmed estimate are
  filled in and the model is refitted with :func:`evsynth.stats.pooling.pool` under the
  configured settings. (metafor's ``trimfill`` refits with ``test="z"`` and a 95% level
  unless they are passed again; here the configured CI method and alpha are used.)
  ``trim_estimator="FE"`` trims under the common-effect model and pools under the configured
  one, R meta's default (``ma.common = TRUE``; Peters et al. 2007).

The funnel plot's significance contours follow Peters et al. (2008); they are drawn by
:mod:`evsynth.figures.sensitivity`.

Meta-regression (p ≤ a few columns) is fitted here without any k x k matrix: every
quantity of metafor's ``rma.uni`` (P = W - WX(XᵀWX)⁻¹XᵀW, its traces, YᵀPY, YᵀPPY) is
a p x p product of weighted sums.

References
----------
Egger M, Davey Smith G, Schneider M, Minder C (1997). Bias in meta-analysis detected by
a simple, graphical test. BMJ 315(7109):629-634. doi:10.1136/bmj.315.7109.629
Begg CB, Mazumdar M (1994). Operating characteristics of a rank correlation test for
publication bias. Biometrics 50(4):1088-1101. doi:10.2307/2533446
Duval S, Tweedie R (2000). Trim and fill: a simple funnel-plot-based method of testing
and adjusting for publication bias in meta-analysis. Biometrics 56(2):455-463.
doi:10.1111/j.0006-341X.2000.00455.x
Peters JL, Sutton AJ, Jones DR, Abrams KR, Rushton L (2007). Performance of the trim and
fill method in the presence of publication bias and between-study heterogeneity. Stat Med
26(25):4544-4562. doi:10.1002/sim.2889
Peters JL, Sutton AJ, Jones DR, Abrams KR, Rushton L (2008). Contour-enhanced
meta-analysis funnel plots help distinguish publication bias from other causes of
asymmetry. J Clin Epidemiol 61(10):991-996. doi:10.1016/j.jclinepi.2007.11.010
Sterne JAC et al. (2011). Recommendations for examining and interpreting funnel plot
asymmetry in meta-analyses of randomised controlled trials. BMJ 343:d4002.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from evsynth.stats._iterate import EPS, MAX_ITER, fisher_scoring
from evsynth.stats.pooling import pool
from evsynth.stats.results import PooledEstimate

__all__ = [
    "EggerTest",
    "RankTest",
    "RegressionFit",
    "TrimFill",
    "egger_test",
    "kendall_exact_cdf",
    "meta_regression",
    "rank_test",
    "trim_and_fill",
]

#: Up to this many studies (and without ties) the rank test's p-value is exact.
EXACT_RANK_TEST_MAX_K = 300


# ---------------------------------------------------------------------------------------
# Meta-regression (metafor rma.uni with moderators), without k x k matrices.
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegressionFit:
    """A meta-regression: coefficients with SEs, tests and CIs (one entry per column)."""

    beta: np.ndarray
    se: np.ndarray
    stat: np.ndarray
    stat_df: float | None
    p_value: np.ndarray
    ci_lower: np.ndarray
    ci_upper: np.ndarray
    tau2: float
    s2w: float


def _weighted(X: np.ndarray, y: np.ndarray, w: np.ndarray):
    """(X'WX)⁻¹, coefficients and residuals of weighted least squares."""
    xtwx_inv = np.linalg.inv(X.T @ (w[:, None] * X))
    beta = xtwx_inv @ (X.T @ (w * y))
    return xtwx_inv, beta, y - X @ beta


def _regression_tau2(y, v, X, estimator: str) -> float:
    """metafor's tau² estimators for a meta-regression with model matrix X."""
    k, p = X.shape
    if k == p or estimator == "FE":  # metafor's k = 1 fit (and no df left in general); common effect
        return 0.0
    # HE: ordinary least squares residuals against the trace of P_ols V.
    ols_inv = np.linalg.inv(X.T @ X)
    resid = y - X @ (ols_inv @ (X.T @ y))
    leverage = np.einsum("ij,jk,ik->i", X, ols_inv, X)
    he = max(0.0, float((resid @ resid - np.sum(v * (1 - leverage))) / (k - p)))
    if estimator == "HE":
        return he
    if estimator == "DL":
        w = 1 / v
        inv, _, r = _weighted(X, y, w)
        trace_p = w.sum() - np.trace(inv @ (X.T @ ((w * w)[:, None] * X)))
        return max(0.0, float((np.sum(w * r * r) - (k - p)) / trace_p))
    if estimator == "SJ":
        start = float(np.sum((y - y.mean()) ** 2) / k)
        _, _, r = _weighted(X, y, 1 / (v + start))
        return start * float(np.sum(r * r / (v + start))) / (k - p)
    if estimator == "PM":
        def excess(t: float) -> float:
            w = 1 / (v + t)
            _, _, r = _weighted(X, y, w)
            return float(np.sum(w * r * r)) - (k - p)

        if excess(0.0) < 0:
            return 0.0
        high = max(1.0, 10 * float(np.var(y)))
        while excess(high) > 0:
            high *= 2
        return float(optimize.brentq(excess, 0.0, high, xtol=1e-15, rtol=4 * EPS))
    if estimator not in ("REML", "ML", "EB"):
        raise ValueError(f"unknown tau² estimator {estimator!r}")

    def step_at(tau2: float) -> float:
        w = 1 / (v + tau2)
        inv, _, r = _weighted(X, y, w)
        if estimator == "EB":
            step = (np.sum(w * r * r) * k / (k - p) - k) / w.sum()
        else:
            ypy2 = np.sum((w * r) ** 2)
            if estimator == "ML":
                step = (ypy2 - w.sum()) / np.sum(w * w)
            else:
                a2 = inv @ (X.T @ ((w * w)[:, None] * X))
                a3 = inv @ (X.T @ ((w**3)[:, None] * X))
                trace_p = w.sum() - np.trace(a2)
                trace_pp = np.sum(w * w) - 2 * np.trace(a3) + np.trace(a2 @ a2)
                step = (ypy2 - trace_p) / trace_pp
        return float(np.nan_to_num(step))

    tau2, converged = fisher_scoring(step_at, he)
    if not converged:
        raise ArithmeticError(f"{estimator} Fisher scoring did not converge in {MAX_ITER} iterations")
    return tau2


def meta_regression(
    yi, vi, X, *, estimator: str = "REML", ci_method: str = "wald", alpha: float = 0.05
) -> RegressionFit:
    """Mixed-effects meta-regression, metafor's ``rma.uni(yi, vi, mods=X, intercept=FALSE)``.

    Parameters
    ----------
    yi, vi : array_like
        Estimates and sampling variances.
    X : array_like
        k x p model matrix (include a column of ones for an intercept).
    estimator : str
        tau² estimator: REML, ML, DL, HE, PM, SJ or EB; "FE" fixes tau² at 0 (metafor
        ``method="FE"``).
    ci_method : str
        "wald" (z), "hksj" (t on k - p df, variances times s² = YᵀPY/(k - p)) or
        "hksj-adhoc" (s² floored at 1). With k = 1 the test is z (metafor).
    alpha : float
        Two-sided level of the confidence intervals.
    """
    y, v = np.asarray(yi, dtype=float), np.asarray(vi, dtype=float)
    X = np.asarray(X, dtype=float).reshape(len(y), -1)
    k, p = X.shape
    if k < p:
        raise ValueError(f"{k} studies cannot estimate {p} coefficients")
    tau2 = _regression_tau2(y, v, X, estimator)
    w = 1 / (v + tau2)
    inv, beta, r = _weighted(X, y, w)
    knha = ci_method != "wald" and k > p and k > 1
    s2w = 1.0
    if knha:
        rss = float(np.sum(w * r * r))
        s2w = 0.0 if rss <= EPS else rss / (k - p)
        if ci_method == "hksj-adhoc":
            s2w = max(s2w, 1.0)
    se = np.sqrt(s2w * np.diag(inv))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = beta / se
    if knha:
        df = float(k - p)
        crit = stats.t.ppf(1 - alpha / 2, df)
        p_value = 2 * stats.t.sf(np.abs(stat), df)
    else:
        df = None
        crit = stats.norm.ppf(1 - alpha / 2)
        p_value = 2 * stats.norm.sf(np.abs(stat))
    return RegressionFit(beta, se, stat, df, p_value, beta - crit * se, beta + crit * se, tau2, s2w)


# ---------------------------------------------------------------------------------------
# Egger's regression test.
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EggerTest:
    """Egger's test: the SE slope and its test; the intercept is the limit estimate.

    ``stat`` is t on ``stat_df`` df (``model="lm"``, or ``"rma"`` under Knapp-Hartung) or
    z (``stat_df`` None). ``limit``, ``limit_se`` and the CI are the intercept, the
    estimate as SE → 0, on the analysis scale. ``tau2`` is the residual heterogeneity of
    the ``"rma"`` model (None for ``"lm"``).
    """

    model: str
    slope: float
    slope_se: float
    stat: float
    stat_df: float | None
    p_value: float
    limit: float
    limit_se: float
    limit_ci_lower: float
    limit_ci_upper: float
    tau2: float | None


def egger_test(
    yi,
    vi,
    *,
    model: str = "lm",
    estimator: str = "REML",
    ci_method: str = "wald",
    alpha: float = 0.05,
) -> EggerTest:
    """Regression test for funnel-plot asymmetry (Egger et al. 1997; metafor ``regtest``).

    Parameters
    ----------
    yi, vi : array_like
        Estimates and sampling variances; k ≥ 3.
    model : {"lm", "rma"}
        Classical weighted regression (``regtest(res, model="lm")``), or the
        mixed-effects meta-regression (``regtest(res, model="rma")``, metafor's default).
    estimator, ci_method
        tau² estimator and test of the ``"rma"`` model (ignored by ``"lm"``).
    alpha : float
        Two-sided level of the limit estimate's CI.

    Returns
    -------
    EggerTest
    """
    y, v = np.asarray(yi, dtype=float), np.asarray(vi, dtype=float)
    k = len(y)
    if k < 3:
        raise ValueError("Egger's test needs at least 3 studies")
    X = np.column_stack((np.ones(k), np.sqrt(v)))
    if model == "lm":
        inv, beta, r = _weighted(X, y, 1 / v)
        sigma2 = float(np.sum(r * r / v)) / (k - 2)
        se = np.sqrt(sigma2 * np.diag(inv))
        df = float(k - 2)
        stat = beta[1] / se[1]
        crit = stats.t.ppf(1 - alpha / 2, df)
        return EggerTest(
            model="lm",
            slope=float(beta[1]),
            slope_se=float(se[1]),
            stat=float(stat),
            stat_df=df,
            p_value=float(2 * stats.t.sf(abs(stat), df)),
            limit=float(beta[0]),
            limit_se=float(se[0]),
            limit_ci_lower=float(beta[0] - crit * se[0]),
            limit_ci_upper=float(beta[0] + crit * se[0]),
            tau2=None,
        )
    if model != "rma":
        raise ValueError(f"model must be 'lm' or 'rma', not {model!r}")
    fit = meta_regression(y, v, X, estimator=estimator, ci_method=ci_method, alpha=alpha)
    return EggerTest(
        model="rma",
        slope=float(fit.beta[1]),
        slope_se=float(fit.se[1]),
        stat=float(fit.stat[1]),
        stat_df=fit.stat_df,
        p_value=float(fit.p_value[1]),
        limit=float(fit.beta[0]),
        limit_se=float(fit.se[0]),
        limit_ci_lower=float(fit.ci_lower[0]),
        limit_ci_upper=float(fit.ci_upper[0]),
        tau2=fit.tau2,
    )


# ---------------------------------------------------------------------------------------
# Begg and Mazumdar's rank correlation test.
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RankTest:
    """Kendall's tau and its two-sided p; ``exact`` says which p-value was computed
    (``stat`` is the normal deviate when not exact)."""

    tau: float
    p_value: float
    exact: bool
    stat: float | None


def kendall_exact_cdf(n: int) -> np.ndarray:
    """P(T ≤ t), t = 0..n(n-1)/2, T the number of concordant pairs of n untied points.

    The permutation distribution of the inversion count (what R's ``pkendall`` computes):
    the coefficients of Π_{j=1..n} (1 + x + ... + x^{j-1}) / j, one factor at a time;
    multiplying by (1 + ... + x^{j-1}) is a difference of running sums, so the whole
    distribution costs O(n³) additions.
    """
    dist = np.ones(1)
    for j in range(2, n + 1):
        padded = np.concatenate((np.zeros(j - 1), dist, np.zeros(j - 1)))
        running = np.concatenate(([0.0], np.cumsum(padded)))
        dist = (running[j:] - running[:-j]) / j  # sums of j consecutive coefficients
    return np.minimum(np.cumsum(dist), 1.0)


def _tie_groups(x: np.ndarray) -> np.ndarray:
    _, counts = np.unique(x, return_counts=True)
    return counts[counts > 1].astype(float)


def rank_test(yi, vi) -> RankTest:
    """Rank correlation test for funnel-plot asymmetry (Begg & Mazumdar 1994).

    Parameters
    ----------
    yi, vi : array_like
        Estimates and sampling variances; k ≥ 3.

    Returns
    -------
    RankTest
        As metafor's ``ranktest(res)``: Kendall's tau-b of the standardised deviates
        against the variances.
    """
    y, v = np.asarray(yi, dtype=float), np.asarray(vi, dtype=float)
    n = len(y)
    if n < 3:
        raise ValueError("the rank correlation test needs at least 3 studies")
    w = 1 / v
    theta = np.sum(w * y) / w.sum()
    deviates = (y - theta) / np.sqrt(v - 1 / w.sum())
    tau = float(stats.kendalltau(deviates, v, variant="b").statistic)
    ties_x, ties_y = _tie_groups(deviates), _tie_groups(v)
    if not len(ties_x) and not len(ties_y) and n <= EXACT_RANK_TEST_MAX_K:
        # R cor.test(method="kendall", exact=TRUE): q concordant pairs, two-sided.
        q = int(np.round((tau + 1) * n * (n - 1) / 4))
        cdf = kendall_exact_cdf(n)
        tail = 1 - cdf[q - 1] if q > n * (n - 1) / 4 else cdf[q]
        return RankTest(tau=tau, p_value=float(min(2 * tail, 1.0)), exact=True, stat=None)
    # R's normal approximation with tie corrections (no continuity correction).
    pairs = n * (n - 1) / 2
    t1 = np.sum(ties_x * (ties_x - 1)) / 2
    t2 = np.sum(ties_y * (ties_y - 1)) / 2
    s = tau * np.sqrt((pairs - t1) * (pairs - t2))
    var_s = (
        (n * (n - 1) * (2 * n + 5) - np.sum(ties_x * (ties_x - 1) * (2 * ties_x + 5))
         - np.sum(ties_y * (ties_y - 1) * (2 * ties_y + 5))) / 18
        + np.sum(ties_x * (ties_x - 1)) * np.sum(ties_y * (ties_y - 1)) / (2 * n * (n - 1))
        + np.sum(ties_x * (ties_x - 1) * (ties_x - 2)) * np.sum(ties_y * (ties_y - 1) * (ties_y - 2))
        / (9 * n * (n - 1) * (n - 2))
    )
    z = float(s / np.sqrt(var_s))
    return RankTest(tau=tau, p_value=float(2 * stats.norm.sf(abs(z))), exact=False, stat=z)


# ---------------------------------------------------------------------------------------
# Trim-and-fill.
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrimFill:
    """Trim-and-fill result: ``k0`` studies estimated missing on ``side`` (SE ``se_k0``),
    their filled estimates and variances, and ``pooled``, the meta-analysis of the
    observed plus filled studies (the observed studies alone when k0 = 0)."""

    side: str
    k0: int
    se_k0: float
    filled_yi: np.ndarray
    filled_vi: np.ndarray
    pooled: PooledEstimate
    iterations: int


def trim_and_fill(
    yi,
    vi,
    *,
    estimator: str = "REML",
    ci_method: str = "wald",
    alpha: float = 0.05,
    side: str | None = None,
    max_iter: int = 100,
    trim_estimator: str | None = None,
) -> TrimFill:
    """Trim-and-fill with the L0 estimator (Duval & Tweedie 2000; metafor ``trimfill``).

    Parameters
    ----------
    yi, vi : array_like
        Estimates and sampling variances; k ≥ 3.
    estimator : str
        tau² estimator of the final, filled-in meta-analysis, and of every trimming fit
        unless ``trim_estimator`` says otherwise (metafor refits with the model's ``method``).
    ci_method, alpha
        Test and level of the final, filled-in meta-analysis.
    side : {"left", "right"}, optional
        Side of the funnel where studies are missing; by default chosen from the sign of
        the SEᵢ slope of ``rma(yi, vi, mods=sqrt(vi))`` under the trimming estimator:
        negative -> "right".
    max_iter : int
        metafor stops with an error when k0 has not settled after this many rounds.
    trim_estimator : str, optional
        tau² estimator of the side choice and the trimming fits; None: ``estimator``
        (metafor's ``trimfill``). "FE" estimates k0 under the common-effect model and pools
        the filled-in studies under ``estimator``: R meta's ``trimfill`` default
        (``ma.common = TRUE``, the "fixed-random" model Peters et al. 2007 found to perform
        best; metapsyTools' ``correctPublicationBias``), whose side rule, the sign of Egger's
        classical intercept, is the sign of the FE slope. (meta also averages tied ranks and
        rounds L0 half up, where metafor, and this function, rank ties first and round half
        to even: they differ only on exact ties.)

    Returns
    -------
    TrimFill
    """
    y, v = np.asarray(yi, dtype=float), np.asarray(vi, dtype=float)
    k = len(y)
    if k < 3:
        raise ValueError("trim-and-fill needs at least 3 studies")
    trim = estimator if trim_estimator is None else trim_estimator
    if side is None:
        slope = meta_regression(y, v, np.column_stack((np.ones(k), np.sqrt(v))), estimator=trim).beta[1]
        side = "right" if slope < 0 else "left"
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', not {side!r}")
    flipped = -y if side == "right" else y
    index = np.argsort(flipped, kind="stable")
    ys, vs = flipped[index], v[index]
    ones = np.ones((k, 1))
    k0, previous, iterations, beta, se_k0 = 0, -1, 0, 0.0, 0.0
    while k0 != previous:
        previous = k0
        iterations += 1
        if iterations > max_iter:
            raise ArithmeticError("trim-and-fill did not converge")
        kept = k - k0
        beta = float(meta_regression(ys[:kept], vs[:kept], ones[:kept], estimator=trim).beta[0])
        centred = ys - beta
        ranks = np.empty(k)
        ranks[np.argsort(np.abs(centred), kind="stable")] = np.arange(1, k + 1)  # ties: first
        signed = np.sign(centred) * ranks
        sr = float(np.sum(signed[signed > 0]))
        estimate = (4 * sr - k * (k + 1)) / (2 * k - 1)
        var_sr = (
            k * (k + 1) * (2 * k + 1) + 10 * estimate**3 + 27 * estimate**2 + 17 * estimate
            - 18 * k * estimate**2 - 18 * k * estimate + 6 * k**2 * estimate
        ) / 24
        se_k0 = max(0.0, 4 * np.sqrt(var_sr) / (2 * k - 1))
        k0 = max(0, int(np.round(estimate)))  # R's round(): half to even, as numpy's
    mirrored = 2 * beta - ys[k - k0:]
    filled_yi = -mirrored if side == "right" else mirrored
    filled_vi = vs[k - k0:]
    pooled = pool(
        np.concatenate((y, filled_yi)),
        np.concatenate((v, filled_vi)),
        estimator=estimator,
        ci_method=ci_method,
        alpha=alpha,
    )
    return TrimFill(side, k0, float(se_k0), filled_yi, filled_vi, pooled, iterations)
