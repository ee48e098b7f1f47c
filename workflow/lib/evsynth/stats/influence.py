"""Leave-one-out meta-analysis and influence diagnostics for the random-effects model.

Everything is computed from one vectorised leave-one-out refit
(:func:`evsynth.stats.refit.leave_one_out_fits`) and the full-data fit, with metafor 3.8's
formulas for the intercept-only model (``influence.rma.uni``; p = 1 coefficient):

==============  =========================================================================
``rstudent``    (yᵢ - θ̂₋ᵢ) / sqrt(vᵢ s²₋ᵢ + Var θ̂₋ᵢ + τ²₋ᵢ s²₋ᵢ): externally
                studentised residual (s² is the Knapp-Hartung scale, 1 under Wald)
``dffits``      (θ̂ - θ̂₋ᵢ) / sqrt(s²₋ᵢ hᵢ (τ²₋ᵢ + vᵢ))
``cook_d``      (θ̂ - θ̂₋ᵢ)² / Var θ̂: Cook's distance
``cov_r``       Var θ̂₋ᵢ / Var θ̂: covariance ratio (< 1: study i makes θ̂ less precise)
``tau2_del``    τ²₋ᵢ, and ``q_del`` Cochran's Q without study i
``hat``         hᵢ = wᵢ / Σw, wᵢ = 1/(vᵢ + τ²); ``weight`` = 100 hᵢ
``dfbetas``     (θ̂ - θ̂₋ᵢ) / sqrt(s²₋ᵢ / Σⱼ 1/(vⱼ + τ²₋ᵢ)), the sum over all k studies
==============  =========================================================================

A study is flagged influential, as metafor's ``influence()`` marks it with ``*``, when any
of |dffits| > 3 sqrt(1/(k-1)), the chi²(1) cdf of cook_d > 0.5, hat > 3/k, or
|dfbetas| > 1 (Viechtbauer & Cheung 2010).

The Baujat plot's coordinates follow metafor's ``baujat.rma`` for a random-effects model:
x = (yᵢ - θ̂)² / (τ² + vᵢ), the squared Pearson residual (Baujat et al. 2002 use each
study's contribution to Q under the common-effect model, which this is when τ² = 0), and
y = (θ̂₋ᵢ - θ̂)² / Var θ̂₋ᵢ, the study's influence on the pooled result.

References
----------
Viechtbauer W, Cheung MW-L (2010). Outlier and influence diagnostics for meta-analysis.
Res Synth Methods 1(2):112-125. doi:10.1002/jrsm.11
Baujat B, Mahé C, Pignon J-P, Hill C (2002). A graphical method for exploring
heterogeneity in meta-analyses: application to a meta-analysis of 65 trials. Stat Med
21(18):2641-2652. doi:10.1002/sim.1221
Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat
Softw 36(3):1-48 (``leave1out``, ``influence``, ``baujat``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from evsynth.stats._iterate import EPS
from evsynth.stats.refit import SubsetFits, leave_one_out_fits, single_fit

__all__ = ["Influence", "influence", "influence_thresholds", "leave_one_out"]

#: Names of the four rules, in the order metafor applies them.
CRITERIA = ("dffits", "cook_d", "hat", "dfbetas")


def leave_one_out(yi, vi, *, estimator: str = "REML", ci_method: str = "wald", alpha: float = 0.05) -> SubsetFits:
    """Random-effects meta-analysis without each study in turn (metafor ``leave1out``).

    Parameters
    ----------
    yi, vi : array_like
        Estimates on the analysis scale and their sampling variances; k ≥ 2.
    estimator : str
        tau² estimator (REML, ML, DL, HE, PM, SJ, EB), refitted on every subset.
    ci_method : str
        "wald", "hksj" or "hksj-adhoc" (Knapp-Hartung t on k - 2 df per subset).
    alpha : float
        Two-sided level of the confidence intervals.

    Returns
    -------
    SubsetFits
        Row i: the meta-analysis of the k - 1 studies other than study i.
    """
    return leave_one_out_fits(yi, vi, estimator=estimator, ci_method=ci_method, alpha=alpha)


def influence_thresholds(k: int) -> dict[str, float]:
    """Cut-offs of metafor's influence rules for k studies and one coefficient."""
    return {
        "dffits": 3 * np.sqrt(1 / (k - 1)),
        "cook_d": float(stats.chi2.ppf(0.5, 1)),  # pchisq(cook_d, 1) > 0.5
        "hat": 3 / k,
        "dfbetas": 1.0,
    }


@dataclass(frozen=True)
class Influence:
    """Influence diagnostics, one entry per study in input order (see module docstring).

    ``criteria`` names, per study, the rules it meets (``"dffits; hat"``), empty when
    none; ``influential`` is true when any is met. ``loo`` holds the leave-one-out fits
    and ``full`` the fit of all studies.
    """

    rstudent: np.ndarray
    dffits: np.ndarray
    cook_d: np.ndarray
    cov_r: np.ndarray
    tau2_del: np.ndarray
    q_del: np.ndarray
    hat: np.ndarray
    weight: np.ndarray
    dfbetas: np.ndarray
    baujat_x: np.ndarray
    baujat_y: np.ndarray
    influential: np.ndarray
    criteria: tuple[str, ...]
    thresholds: dict[str, float]
    loo: SubsetFits
    full: SubsetFits


def influence(
    yi, vi, *, estimator: str = "REML", ci_method: str = "wald", alpha: float = 0.05
) -> Influence:
    """Influence diagnostics of Viechtbauer & Cheung (2010), as metafor's ``influence()``.

    Parameters
    ----------
    yi, vi : array_like
        Estimates on the analysis scale and their sampling variances; k ≥ 2.
    estimator, ci_method, alpha
        As for :func:`leave_one_out`. Under Knapp-Hartung every variance carries its
        fit's scale factor s², as in metafor.

    Returns
    -------
    Influence
    """
    yi, vi = np.asarray(yi, dtype=float), np.asarray(vi, dtype=float)
    k = len(yi)
    full = single_fit(yi, vi, estimator=estimator, ci_method=ci_method, alpha=alpha)
    loo = leave_one_out(yi, vi, estimator=estimator, ci_method=ci_method, alpha=alpha)
    theta, tau2 = full.theta[0], full.tau2[0]
    var_theta = full.se[0] ** 2
    hat = (1 / (vi + tau2)) / full.sum_w[0]
    delta = theta - loo.theta
    var_del = loo.se**2  # s²₋ᵢ / Σ₋ᵢ w
    s2 = loo.s2w
    with np.errstate(divide="ignore", invalid="ignore"):
        resid = yi - loo.theta
        resid[np.abs(resid) < 100 * EPS] = 0.0
        rstudent = resid / np.sqrt(vi * s2 + var_del + loo.tau2 * s2)
        dffits = delta / np.sqrt(s2 * hat * (loo.tau2 + vi))
        var_all_del = 1 / (loo.sum_w + 1 / (vi + loo.tau2))  # all k studies at τ²₋ᵢ
        dfbetas = delta / np.sqrt(s2 * var_all_del)
        cook_d = delta**2 / var_theta
        cov_r = var_del / var_theta
        baujat_x = (yi - theta) ** 2 / (tau2 + vi)
        baujat_y = delta**2 / var_del
    limits = influence_thresholds(k)
    rules = np.column_stack(
        (
            np.abs(dffits) > limits["dffits"],
            stats.chi2.cdf(cook_d, 1) > 0.5,
            hat > limits["hat"],
            np.abs(dfbetas) > limits["dfbetas"],
        )
    )
    criteria = tuple("; ".join(name for name, met in zip(CRITERIA, row) if met) for row in rules)
    return Influence(
        rstudent=rstudent,
        dffits=dffits,
        cook_d=cook_d,
        cov_r=cov_r,
        tau2_del=loo.tau2,
        q_del=loo.q,
        hat=hat,
        weight=100 * hat,
        dfbetas=dfbetas,
        baujat_x=baujat_x,
        baujat_y=baujat_y,
        influential=rules.any(axis=1),
        criteria=criteria,
        thresholds=limits,
        loo=loo,
        full=full,
    )
