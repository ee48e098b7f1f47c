"""Between-study variance: estimators PyMARE lacks, and Q-profile confidence intervals.

All formulas are metafor's ``rma.uni`` for the intercept-only model (Viechtbauer 2010),
written as sums over studies so nothing builds a k x k matrix:

* PM, Paule & Mandel (1982): the tau² solving the generalised Q(tau²) = k - 1, 0 if
  Q(0) < k - 1 (DerSimonian & Kacker 2007).
* SJ, Sidik & Jonkman (2005): tau²₀ = Σ(yᵢ - ȳ)²/k, then tau²₀ · Q_w(tau²₀) / (k - 1).
* EB, Morris (1983): metafor iterates tau² += (Q(tau²)·k/(k-1) - k) / Σwᵢ; its fixed
  point solves Q(tau²) = k - 1, the PM equation, for the intercept-only model. That
  iteration can oscillate (found by our property tests), so the equation is solved by
  Brent's method: the same root wherever metafor's iteration converges.
* HE, Hedges (1983): (Σ(yᵢ - ȳ)² - (1 - 1/k)Σvᵢ) / (k - 1), truncated at 0.
* Q-profile CI for tau² (Viechtbauer 2007, Stat Med 26:37): the tau² at which the
  generalised Q equals the chi²(k-1) quantiles; I² and H² CIs follow from its limits.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, stats

from evsynth.tau2 import fisher_scoring_tau2


def generalised_q(tau2: float, yi: np.ndarray, vi: np.ndarray) -> float:
    """Σ wᵢ (yᵢ - μ̂)² with wᵢ = 1/(vᵢ + tau²); decreasing in tau²."""
    w = 1.0 / (vi + tau2)
    mu = np.sum(w * yi) / np.sum(w)
    return float(np.sum(w * (yi - mu) ** 2))


def _upper_bracket(yi, vi, target: float) -> float:
    """A tau² at which Q has fallen below ``target`` (doubling from a data-scaled start)."""
    high = max(100.0, 10 * float(np.var(yi)), 10 * float(np.max(vi)))
    for _ in range(200):
        if generalised_q(high, yi, vi) < target:
            return high
        high *= 2
    raise ArithmeticError("could not bracket the generalised Q equation")


def _solve_q(yi, vi, target: float) -> float:
    """tau² with Q(tau²) = target, or 0 when Q(0) is already below it."""
    if generalised_q(0.0, yi, vi) <= target:
        return 0.0
    high = _upper_bracket(yi, vi, target)
    return float(optimize.brentq(lambda t: generalised_q(t, yi, vi) - target, 0.0, high, xtol=1e-14, rtol=1e-14))


def tau2_paule_mandel(yi, vi) -> float:
    yi, vi = np.asarray(yi, float), np.asarray(vi, float)
    return _solve_q(yi, vi, len(yi) - 1.0)


def tau2_hedges(yi, vi) -> float:
    yi, vi = np.asarray(yi, float), np.asarray(vi, float)
    k = len(yi)
    return max(0.0, float((np.sum((yi - yi.mean()) ** 2) - (1 - 1 / k) * np.sum(vi)) / (k - 1)))


def tau2_sidik_jonkman(yi, vi) -> float:
    yi, vi = np.asarray(yi, float), np.asarray(vi, float)
    k = len(yi)
    start = float(np.sum((yi - yi.mean()) ** 2) / k)
    return start * generalised_q(start, yi, vi) / (k - 1)


def tau2_empirical_bayes(yi, vi) -> tuple[float, bool]:
    """EB tau²: the root of its estimating equation Q(tau²) = k - 1 (see module notes)."""
    return tau2_paule_mandel(yi, vi), True


def own_tau2(yi, vi, estimator: str) -> tuple[float, bool]:
    """tau² by our own code, for estimators PyMARE lacks (and as a cross-check)."""
    if estimator == "PM":
        return tau2_paule_mandel(yi, vi), True
    if estimator == "SJ":
        return tau2_sidik_jonkman(yi, vi), True
    if estimator == "EB":
        return tau2_empirical_bayes(yi, vi)
    if estimator == "HE":
        return tau2_hedges(yi, vi), True
    if estimator in ("REML", "ML"):
        return fisher_scoring_tau2(yi, vi, estimator)
    raise ValueError(f"no own implementation for {estimator}")


def typical_variance(vi) -> float:
    """metafor's ṽ = (k-1) / (Σw - Σw²/Σw), w = 1/vᵢ (Higgins & Thompson 2002, eq. 9)."""
    w = 1.0 / np.asarray(vi, float)
    return (len(w) - 1) / (w.sum() - (w**2).sum() / w.sum())


def q_profile_ci(yi, vi, alpha: float = 0.05) -> tuple[float, float]:
    """Q-profile confidence interval for tau² (Viechtbauer 2007); needs k >= 2.

    The upper limit solves Q(tau²) = chi²_{k-1}(alpha/2) and the lower limit
    Q(tau²) = chi²_{k-1}(1 - alpha/2); a limit is 0 when Q(0) is already below its target.
    """
    yi, vi = np.asarray(yi, float), np.asarray(vi, float)
    df = len(yi) - 1
    lower = _solve_q(yi, vi, float(stats.chi2.ppf(1 - alpha / 2, df)))
    upper = _solve_q(yi, vi, float(stats.chi2.ppf(alpha / 2, df)))
    return lower, upper
