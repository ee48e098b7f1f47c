"""Rows of results/sensitivity/small_study.tsv for the adjusted estimates: selection models,
PET-PEESE, limit meta-analysis and WAAP-WLS (beside Egger, the rank test and trim-and-fill
of :mod:`evsynth.tables.sensitivity`, in the same columns).

Each method has a minimum number of trials, stated in :data:`MINIMUM` and applied; below it,
or when the method cannot run (a p-value interval of a selection model without trials), the
row says why. Selection is assumed to favour results in the beneficial direction
(``higher_is_better``): the one-sided p-values test for benefit, so for outcomes where lower
is better the estimates are mirrored before fitting and mirrored back.

Column use: ``theta``/``se``/``estimate``/``ci_*`` the adjusted effect; ``stat``, ``stat_df``,
``p_value`` the method's own test (selection models: the likelihood-ratio test of no
selection; PET, PEESE, PET-PEESE, limit: the test of no effect of the reported estimate);
``coefficient`` the selection weight of the second interval (3PSM), the SE or variance slope
(PET, PEESE) or alpha (limit meta-analysis); ``k_filled`` the trials used (WAAP-WLS).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from evsynth.data.config import Outcome, SensitivityConfig
from evsynth.stats.bias_adjusted import limit_meta, pet_peese, waap_wls
from evsynth.stats.pooling import estimate_tau2
from evsynth.stats.profiles import MethodSettings
from evsynth.stats.selection import VEVEA_WOODS, VEVEA_WOODS_STEPS, interval_counts, selection_model

__all__ = ["ADJUSTED_TESTS", "MINIMUM", "adjusted_records"]

ADJUSTED_TESTS = (
    "selection_3psm",
    "selection_user",
    *(f"vevea_woods_{name.replace(' ', '_').replace('-', '_')}" for name in VEVEA_WOODS),
    "pet",
    "peese",
    "pet_peese",
    "limit_meta",
    "waap_wls",
)

#: Fewest trials per method and why; "small_study_min_k" means config.yaml's value (10 by default).
MINIMUM = {
    "selection": ("small_study_min_k", "a selection model estimates tau² and the selection weights from "
                  "the trials' p-values, which few trials cannot inform"),
    "pet_peese": ("small_study_min_k", "a regression on the SE or variance, like Egger's test (Cochrane "
                  "Handbook 13.3.5.4)"),
    "limit_meta": ("small_study_min_k", "a regression on the SE, like Egger's test"),
    "waap_wls": (3, "WLS's residual variance needs k - 1 >= 2 degrees of freedom"),
}  # fmt: skip

_NOTES = {
    "selection_3psm": "3PSM (Vevea & Hedges 1995; metafor selmodel stepfun, steps = 0.025, ML): "
    "coefficient = weight of one-sided p > 0.025; stat = LRT of no selection",
    "selection_user": "step-function selection model at sensitivity.selection_cut_points (ML); "
    "coefficient = weight of the second interval; stat = LRT of no selection",
    "vevea_woods": "Vevea & Woods 2005 fixed weights ({name}): mu and tau² by ML with the weights held",
    "pet": "PET (Stanley & Doucouliagos 2014): intercept of rma(yi, vi, mods = ~ sqrt(vi)); coefficient = SE slope",
    "peese": "PEESE: intercept of rma(yi, vi, mods = ~ vi); coefficient = variance slope",
    "pet_peese": "conditional rule: PEESE when PET's intercept has two-sided p < 0.10, else PET",
    "limit_meta": "limit meta-analysis (Rücker et al. 2011): beta + tau alpha for a trial of infinite "
    "precision; coefficient = alpha (small-study effect), its Wald p in the note",
    "waap_wls": "WAAP-WLS (Stanley et al. 2017): unrestricted WLS of the trials with SE <= |WLS|/2.8",
}


_EQUAL_SE = "not run: every trial has the same SE, so a slope on the SE cannot be estimated"


def _minimum(method: str, config: SensitivityConfig) -> int:
    value = MINIMUM[method][0]
    return config.small_study_min_k if value == "small_study_min_k" else int(value)


def _skip(test: str, method: str, k: int, config: SensitivityConfig) -> dict[str, Any]:
    minimum = _minimum(method, config)
    return {"test": test, "k": k, "status": f"skipped: {k} trial{'s' if k != 1 else ''}; needs at least "
            f"{minimum} ({MINIMUM[method][1]})"}  # fmt: skip


def adjusted_records(
    yi: np.ndarray, vi: np.ndarray, settings: MethodSettings, outcome: Outcome, config: SensitivityConfig
) -> list[dict[str, Any]]:
    """The small_study.tsv rows of every adjusted-estimate method for one comparison."""
    k = len(yi)
    back = math.exp if outcome.ratio else float
    sign = 1.0 if outcome.higher_is_better else -1.0
    kw = {"estimator": settings.estimator, "ci_method": settings.ci_method, "alpha": settings.alpha}
    records: list[dict[str, Any]] = []

    def estimate(theta, se, lo, hi) -> dict[str, Any]:
        return {"theta": theta, "se": se, "estimate": back(theta), "ci_lower": back(lo), "ci_upper": back(hi)}

    # Selection models, on estimates oriented so that benefit is positive.
    selection_tests = ["selection_3psm", "selection_user", *ADJUSTED_TESTS[2:6]]
    if k < _minimum("selection", config):
        records += [_skip(t, "selection", k, config) for t in selection_tests]
    else:
        y = sign * yi
        fits = [("selection_3psm", (0.025,), None)]
        if config.selection_cut_points:
            fits.append(("selection_user", config.selection_cut_points, None))
        else:
            records.append({"test": "selection_user", "k": k, "status": "not run: no "
                            "sensitivity.selection_cut_points configured"})  # fmt: skip
        fits += [(t, VEVEA_WOODS_STEPS, d) for t, d in zip(ADJUSTED_TESTS[2:6], VEVEA_WOODS.values())]
        for test, steps, delta in fits:
            if delta is None and (interval_counts(y, vi, steps) == 0).any():
                counts = ", ".join(str(int(c)) for c in interval_counts(y, vi, steps))
                records.append({"test": test, "k": k, "status": "not run: a one-sided p-value interval has no "
                                f"trial (trials per interval: {counts}); the weights are not identifiable"})
                continue
            fit = selection_model(y, vi, steps, delta=delta, alpha=settings.alpha)
            lo, hi = sorted((sign * fit.ci_lower, sign * fit.ci_upper))
            name = next((n for n, d in VEVEA_WOODS.items() if d == delta), "")
            records.append({
                "test": test, "k": k, "stat": fit.lrt, "stat_df": fit.lrt_df, "p_value": fit.lrt_p,
                "coefficient": None if delta is not None else fit.delta[1],
                "coefficient_se": None if delta is not None else fit.delta_se[1],
                **estimate(sign * fit.theta, fit.se, lo, hi), "tau2": fit.tau2, "status": "computed",
                "note": (_NOTES["vevea_woods"].format(name=name) if delta is not None else _NOTES[test])
                + f"; estimate p = {fit.p_value:.4g}",
            })  # fmt: skip
    # PET, PEESE and the conditional rule.
    if k < _minimum("pet_peese", config):
        records += [_skip(t, "pet_peese", k, config) for t in ("pet", "peese", "pet_peese")]
    elif np.ptp(vi) == 0:
        records += [{"test": t, "k": k, "status": _EQUAL_SE} for t in ("pet", "peese", "pet_peese")]
    else:
        for test, r in zip(("pet", "peese", "pet_peese"), pet_peese(yi, vi, **kw)):
            records.append({
                "test": test, "k": k, "stat": r.theta / r.se, "stat_df": r.stat_df, "p_value": r.p_value,
                **estimate(r.theta, r.se, r.ci_lower, r.ci_upper), "status": "computed",
                "note": _NOTES[test] + (f"; {r.detail}" if test == "pet_peese" else ""),
            })  # fmt: skip
    # Limit meta-analysis at the configured tau² estimator.
    if k < _minimum("limit_meta", config):
        records.append(_skip("limit_meta", "limit_meta", k, config))
    elif np.ptp(vi) == 0:
        records.append({"test": "limit_meta", "k": k, "status": _EQUAL_SE})
    else:
        tau2, _ = estimate_tau2(yi, vi, settings.estimator)
        r, alpha_, alpha_p = limit_meta(yi, vi, tau2, alpha=settings.alpha)
        records.append({
            "test": "limit_meta", "k": k, "stat": r.theta / r.se, "p_value": r.p_value, "coefficient": alpha_,
            **estimate(r.theta, r.se, r.ci_lower, r.ci_upper), "tau2": tau2, "status": "computed",
            "note": _NOTES["limit_meta"] + f"; alpha p = {alpha_p:.4g}; {settings.estimator} tau²",
        })  # fmt: skip
    if k < _minimum("waap_wls", config):
        records.append(_skip("waap_wls", "waap_wls", k, config))
    else:
        r = waap_wls(yi, vi, alpha=settings.alpha)
        records.append({
            "test": "waap_wls", "k": k, "stat": r.theta / r.se if r.se > 0 else None, "stat_df": r.stat_df,
            "p_value": r.p_value, **estimate(r.theta, r.se, r.ci_lower, r.ci_upper), "k_filled": r.k_used,
            "status": "computed", "note": f"{_NOTES['waap_wls']}; {r.detail}",
        })  # fmt: skip
    return records
