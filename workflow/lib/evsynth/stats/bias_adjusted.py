"""Small-study-adjusted estimates: PET-PEESE, limit meta-analysis and WAAP-WLS.

* **PET-PEESE** (Stanley & Doucouliagos 2014, Res Synth Methods 5:60): PET is the
  meta-regression yᵢ = b₀ + b₁ SEᵢ, PEESE yᵢ = b₀ + b₁ vᵢ; b₀ estimates the effect of a trial
  with SE → 0. Both are fitted as metafor's ``rma(yi, vi, mods = ~ sqrt(vi))`` and
  ``~ vi`` under the configured tau² estimator and test
  (:func:`evsynth.stats.smallstudy.meta_regression`). The conditional rule: PET-PEESE
  reports PEESE's intercept when PET's intercept differs from 0 at two-sided p < 0.10
  (Stanley & Doucouliagos's one-sided 5% test, made two-sided so that it does not depend
  on which direction is beneficial), and PET's otherwise.
* **Limit meta-analysis** (Rücker et al. 2011, Biostatistics 12:122): the extended
  random-effects model yᵢ = beta + sᵢ(εᵢ + alpha), sᵢ = √(vᵢ + tau²), εᵢ ~ N(0, 1). Dividing
  by sᵢ, yᵢ/sᵢ = alpha + beta/sᵢ + εᵢ is a linear regression with unit residual variance,
  fitted by least squares (covariance (XᵀX)⁻¹); the limit estimate for a trial of infinite
  precision is beta + tau alpha, with variance Var(beta) + tau² Var(alpha) + 2 tau
  Cov(alpha, beta) (tau held fixed), and a Wald CI. tau² is the configured estimator's.
  This is metasens ``limitmeta(method.adjust = "beta0")`` from metasens 1.0-1 on (before it,
  metasens's SE left out tau and the covariance).
* **WAAP-WLS** (Stanley, Doucouliagos & Ioannidis 2017, Stat Med 36:1580): the
  unrestricted weighted least squares estimate (Stanley & Doucouliagos 2015, Stat Med
  34:2116) is the common-effect estimate with SE √(φ/Σwᵢ), φ = Q/(k - 1) (not floored at
  1), t on k - 1 df; WAAP is WLS over the "adequately powered" trials, SEᵢ ≤ |WLS|/2.8
  (80% power at two-sided 5% for a true effect equal to WLS). With fewer than two such
  trials WAAP-WLS is WLS over all trials, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from evsynth.stats.smallstudy import meta_regression

__all__ = ["Adjusted", "limit_meta", "pet_peese", "waap_wls", "wls"]

#: PET's intercept test level that switches PET-PEESE to PEESE (two-sided).
PET_PEESE_ALPHA = 0.10
#: SEᵢ ≤ |estimate| / 2.8: the trial has 80% power at two-sided 5% (1.96 + 0.84 = 2.8).
WAAP_POWER_DIVISOR = 2.8


@dataclass(frozen=True)
class Adjusted:
    """An adjusted estimate (analysis scale) with its SE, CI and test of no effect.

    ``method`` names what was reported (e.g. ``PEESE`` under the PET-PEESE rule); ``k_used``
    the trials it used; ``detail`` a short statement of how it was chosen or computed.
    """

    method: str
    theta: float
    se: float
    ci_lower: float
    ci_upper: float
    p_value: float
    stat_df: float | None
    k_used: int
    detail: str = ""


def _from_regression(method, fit, k, detail) -> Adjusted:
    return Adjusted(
        method, float(fit.beta[0]), float(fit.se[0]), float(fit.ci_lower[0]), float(fit.ci_upper[0]),
        float(fit.p_value[0]), fit.stat_df, k, detail,
    )  # fmt: skip


def pet_peese(yi, vi, *, estimator="REML", ci_method="wald", alpha=0.05) -> tuple[Adjusted, Adjusted, Adjusted]:
    """PET, PEESE and the conditional PET-PEESE estimate (Stanley & Doucouliagos 2014)."""
    y, v = np.asarray(yi, float), np.asarray(vi, float)
    k = y.size
    if k < 3:
        raise ValueError("PET-PEESE needs at least 3 trials")
    settings = {"estimator": estimator, "ci_method": ci_method, "alpha": alpha}
    pet_fit = meta_regression(y, v, np.column_stack([np.ones(k), np.sqrt(v)]), **settings)
    peese_fit = meta_regression(y, v, np.column_stack([np.ones(k), v]), **settings)
    pet = _from_regression("PET", pet_fit, k, "intercept of rma(yi, vi, mods = ~ sqrt(vi))")
    peese = _from_regression("PEESE", peese_fit, k, "intercept of rma(yi, vi, mods = ~ vi)")
    use_peese = pet.p_value < PET_PEESE_ALPHA
    rule = f"PET intercept p = {pet.p_value:.3g} {'<' if use_peese else '>='} {PET_PEESE_ALPHA:g}: "
    chosen = peese if use_peese else pet
    combined = Adjusted(
        "PET-PEESE", chosen.theta, chosen.se, chosen.ci_lower, chosen.ci_upper, chosen.p_value,
        chosen.stat_df, k, rule + ("PEESE reported" if use_peese else "PET reported"),
    )  # fmt: skip
    return pet, peese, combined


def limit_meta(yi, vi, tau2: float, *, alpha=0.05) -> tuple[Adjusted, float, float]:
    """Rücker et al. (2011) limit estimate beta + tau alpha, with alpha and its p-value.

    Returns the limit estimate, alpha (the small-study effect in SD units) and the Wald
    p-value of alpha = 0.
    """
    y, v = np.asarray(yi, float), np.asarray(vi, float)
    k = y.size
    if k < 3:
        raise ValueError("limit meta-analysis needs at least 3 trials")
    s = np.sqrt(v + tau2)
    X = np.column_stack([np.ones(k), 1 / s])
    cov = np.linalg.inv(X.T @ X)
    a, b = cov @ (X.T @ (y / s))
    tau = float(np.sqrt(tau2))
    theta = b + tau * a
    se = float(np.sqrt(cov[1, 1] + tau2 * cov[0, 0] + 2 * tau * cov[0, 1]))
    z = stats.norm.ppf(1 - alpha / 2)
    p_alpha = float(2 * stats.norm.sf(abs(a) / np.sqrt(cov[0, 0])))
    est = Adjusted(
        "limit meta-analysis", float(theta), se, float(theta - z * se), float(theta + z * se),
        float(2 * stats.norm.sf(abs(theta) / se)), None, k,
        f"beta + tau * alpha, tau² = {tau2:.4g}",
    )  # fmt: skip
    return est, float(a), p_alpha


def wls(yi, vi, *, alpha=0.05) -> Adjusted:
    """Unrestricted weighted least squares (Stanley & Doucouliagos 2015): ``lm(y ~ 1, weights = 1/v)``."""
    y, v = np.asarray(yi, float), np.asarray(vi, float)
    k = y.size
    if k < 2:
        raise ValueError("WLS needs at least 2 trials")
    w = 1 / v
    theta = float(np.sum(w * y) / np.sum(w))
    phi = float(np.sum(w * (y - theta) ** 2) / (k - 1))
    se = float(np.sqrt(phi / np.sum(w)))
    df = float(k - 1)
    crit = stats.t.ppf(1 - alpha / 2, df)
    p = float(2 * stats.t.sf(abs(theta) / se, df)) if se > 0 else 0.0
    return Adjusted("WLS", theta, se, theta - crit * se, theta + crit * se, p, df, k, f"phi = {phi:.4g}")


def waap_wls(yi, vi, *, alpha=0.05) -> Adjusted:
    """WAAP-WLS (Stanley et al. 2017): WLS over the adequately powered trials."""
    y, v = np.asarray(yi, float), np.asarray(vi, float)
    overall = wls(y, v, alpha=alpha)
    powered = np.sqrt(v) <= abs(overall.theta) / WAAP_POWER_DIVISOR
    n = int(powered.sum())
    if n < 2:
        return Adjusted(
            "WAAP-WLS", overall.theta, overall.se, overall.ci_lower, overall.ci_upper, overall.p_value,
            overall.stat_df, overall.k_used, f"{n} adequately powered trial(s), fewer than 2: WLS of all trials",
        )  # fmt: skip
    fit = wls(y[powered], v[powered], alpha=alpha)
    return Adjusted(
        "WAAP-WLS", fit.theta, fit.se, fit.ci_lower, fit.ci_upper, fit.p_value, fit.stat_df, n,
        f"WLS of the {n} trials with SE <= |WLS| / 2.8 = {abs(overall.theta) / WAAP_POWER_DIVISOR:.4g}",
    )  # fmt: skip
