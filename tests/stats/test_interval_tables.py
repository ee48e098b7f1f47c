"""Every result that turns an estimate and its SE into a CI and a P-value does so at the stated
level, on the stated distribution, in both directions of the effect.

The pattern the mutation samples found (mutation/report.md): a CI or P-value derived from an
SE that an oracle pins survives a changed quantile, level or sign, because the oracles check
the default 95% only and effects of one sign. Here each function's CI and P are recomputed
with scipy.stats from its own estimate and SE (z, or t on the df it reports) at levels 0.90,
0.95 and 0.99, and the mirrored data (every yi negated) must give the mirrored CI and the same
P. The pairwise data are the log risk ratios of the 13 BCG vaccine trials (metadat ``dat.bcg``,
Colditz et al. 1994, JAMA 271:698; escalc(measure="RR") yi and vi to 4 decimals). The network
league and node-splitting tables are checked the same way, each pair against its reverse, on
dat.hasselblad1998 (tests/oracle/data/metafor_network.json).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evsynth.data.network import fit_network
from evsynth.stats.bias_adjusted import limit_meta, pet_peese, waap_wls, wls
from evsynth.stats.pooling import pool
from evsynth.stats.selection import selection_model
from evsynth.stats.smallstudy import egger_test, meta_regression
from evsynth.stats.subgroups import common_tau2_test, overall_estimate, separate_tau2_test
from oracle._oracle import load

YI = np.array([-0.8893, -1.5854, -1.3481, -1.4416, -0.2175, -0.7861, -1.6209, 0.0120, -0.4694, -1.3713,
               -0.3394, 0.4459, -0.0173])
VI = np.array([0.3256, 0.1946, 0.4154, 0.0200, 0.0512, 0.0069, 0.2230, 0.0040, 0.0564, 0.0730,
               0.0124, 0.5325, 0.0714])
GROUPS = ["a", "b", "a", "b", "a", "b", "a", "b", "a", "b", "a", "b", "a"]
LEVELS = (0.90, 0.95, 0.99)
TOL = 1e-9  # the same scipy quantile in another spelling: rounding only


def _crit(level, df):
    return stats.norm.ppf(0.5 + level / 2) if df is None else stats.t.ppf(0.5 + level / 2, df)


def _p(est, se, df):
    z = abs(est / se)
    return 2 * (stats.norm.sf(z) if df is None else stats.t.sf(z, df))


def check(est, se, lower, upper, p, df, level):
    """CI = est -/+ crit * se and P = 2 P(|Z| > |est / se|) at ``level`` on z or t(df)."""
    crit = _crit(level, df)
    assert lower == pytest.approx(est - crit * se, rel=TOL, abs=TOL)
    assert upper == pytest.approx(est + crit * se, rel=TOL, abs=TOL)
    if p is not None:
        assert p == pytest.approx(_p(est, se, df), rel=1e-7, abs=1e-15)


def mirrored(one, other, fields):
    """Negating every yi negates the estimate, swaps and negates the limits, keeps SE and P."""
    theta, se, lower, upper, *rest = fields
    assert getattr(other, theta) == pytest.approx(-getattr(one, theta), rel=1e-6, abs=1e-9)
    assert getattr(other, se) == pytest.approx(getattr(one, se), rel=1e-6)
    assert getattr(other, lower) == pytest.approx(-getattr(one, upper), rel=1e-6, abs=1e-9)
    assert getattr(other, upper) == pytest.approx(-getattr(one, lower), rel=1e-6, abs=1e-9)
    for name in rest:
        assert getattr(other, name) == pytest.approx(getattr(one, name), rel=1e-5, abs=1e-12)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("sign", (1, -1))
@pytest.mark.parametrize("ci_method", ("wald", "hksj"))
def test_pooled_and_common_effect(level, sign, ci_method):
    fit = pool(sign * YI, VI, estimator="REML", ci_method=ci_method, alpha=1 - level, prediction_interval="normal")
    assert (fit.stat_df is None) == (ci_method == "wald")
    assert fit.stat_df in (None, len(YI) - 1)
    check(fit.theta, fit.se, fit.ci_lower, fit.ci_upper, fit.p_value, fit.stat_df, level)
    check(fit.common_theta, fit.common_se, fit.common_ci_lower, fit.common_ci_upper, fit.common_p_value, None, level)
    half = _crit(level, None) * np.sqrt(fit.tau2 + fit.se**2)
    assert (fit.pi_lower, fit.pi_upper) == pytest.approx((fit.theta - half, fit.theta + half), rel=TOL)
    if sign == -1:
        mirrored(pool(YI, VI, estimator="REML", ci_method=ci_method, alpha=1 - level), fit,
                 ("theta", "se", "ci_lower", "ci_upper", "p_value", "common_p_value"))


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("sign", (1, -1))
def test_bias_adjusted_estimates(level, sign):
    y = sign * YI
    tau2 = pool(y, VI, estimator="REML", alpha=1 - level).tau2
    fits = [*pet_peese(y, VI, alpha=1 - level), limit_meta(y, VI, tau2, alpha=1 - level)[0],
            wls(y, VI, alpha=1 - level), waap_wls(y, VI, alpha=1 - level)]
    for fit in fits:
        check(fit.theta, fit.se, fit.ci_lower, fit.ci_upper, fit.p_value, fit.stat_df, level)
    if sign == -1:
        again = [*pet_peese(YI, VI, alpha=1 - level), limit_meta(YI, VI, tau2, alpha=1 - level)[0],
                 wls(YI, VI, alpha=1 - level), waap_wls(YI, VI, alpha=1 - level)]
        for one, other in zip(again, fits):
            mirrored(one, other, ("theta", "se", "ci_lower", "ci_upper", "p_value"))


@pytest.mark.parametrize("level", LEVELS)
def test_selection_model(level):
    # One-sided selection favours positive effects, so it is not symmetric: the BCG effects
    # negated (positive = benefit) give trials on both sides of p = 0.025.
    fit = selection_model(-YI, VI, steps=(0.025,), alpha=1 - level)
    check(fit.theta, fit.se, fit.ci_lower, fit.ci_upper, fit.p_value, None, level)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("sign", (1, -1))
@pytest.mark.parametrize("ci_method", ("wald", "hksj"))
def test_meta_regression_and_egger(level, sign, ci_method):
    X = np.column_stack([np.ones(len(YI)), np.sqrt(VI)])
    fit = meta_regression(sign * YI, VI, X, estimator="REML", ci_method=ci_method, alpha=1 - level)
    for j in range(2):
        check(fit.beta[j], fit.se[j], fit.ci_lower[j], fit.ci_upper[j], fit.p_value[j], fit.stat_df, level)
    egger = egger_test(sign * YI, VI, model="rma", estimator="REML", ci_method=ci_method, alpha=1 - level)
    assert egger.p_value == pytest.approx(_p(egger.slope, egger.slope_se, egger.stat_df), rel=1e-7)
    check(egger.limit, egger.limit_se, egger.limit_ci_lower, egger.limit_ci_upper, None, egger.stat_df, level)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("sign", (1, -1))
@pytest.mark.parametrize("test", ("z", "t"))
def test_subgroup_estimates(level, sign, test):
    y = sign * YI
    separate = separate_tau2_test(y, VI, GROUPS, estimator="REML", alpha=1 - level)
    for sub in separate.subgroups:
        check(sub.theta, sub.se, sub.ci_lower, sub.ci_upper, None, None, level)
    common = common_tau2_test(y, VI, GROUPS, method="REML", test=test, alpha=1 - level)
    df = None if test == "z" else len(YI) - 2
    for sub in common.subgroups:
        check(sub.theta, sub.se, sub.ci_lower, sub.ci_upper, None, df, level)
    overall = overall_estimate(y, VI, method="REML", test=test, alpha=1 - level)
    assert overall.stat_df == (None if test == "z" else len(YI) - 1)
    check(overall.theta, overall.se, overall.ci_lower, overall.ci_upper, overall.p_value, overall.stat_df, level)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("test", ("z", "t"))
@pytest.mark.parametrize("prediction", ("normal", "t_k-1"))
def test_network_league_and_nodesplits(level, test, prediction):
    case = load("metafor_network")["hasselblad1998_reml"]
    frame = pd.DataFrame(case["inputs"]).assign(arm_group=lambda f: f["study"])
    fit = fit_network(frame, treatments=case["outputs"]["treatments"], reference=case["outputs"]["reference"],
                      alpha=1 - level, test=test, prediction=prediction, nodesplit=True)
    model = fit.random
    assert model.stat_df == (None if test == "z" else fit.q_df)
    assert model.pi_df == (None if prediction == "normal" else fit.q_df)
    pi_crit = _crit(level, model.pi_df)
    for e in model.league:
        check(e.theta, e.se, e.ci_lower, e.ci_upper, e.p_value, model.stat_df, level)
        assert e.stat == pytest.approx(e.theta / e.se, rel=TOL)
        half = pi_crit * np.sqrt(e.se**2 + model.tau2)
        assert (e.pi_lower, e.pi_upper) == pytest.approx((e.theta - half, e.theta + half), rel=TOL)
        mirrored(model.effect(e.comparator, e.treatment), e,
                 ("theta", "se", "ci_lower", "ci_upper", "p_value"))
    for e in fit.common.league:
        check(e.theta, e.se, e.ci_lower, e.ci_upper, e.p_value, None, level)
    assert model.nodesplit
    for split in model.nodesplit:
        assert split.separate_p_value == pytest.approx(2 * stats.norm.sf(abs(split.separate_z)), rel=1e-9)
        if split.z is not None:
            assert split.z == pytest.approx(split.difference / split.difference_se, rel=1e-9)
            assert split.p_value == pytest.approx(2 * stats.norm.sf(abs(split.z)), rel=1e-9)
