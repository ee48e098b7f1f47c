"""Cumulative meta-analysis pinned to metafor's cumul(res, order=...)
(tests/oracle/data/metafor_sensitivity.json; R calls in each case).

Tolerance 1e-6 relative, except tau² (and I²) near 0: see _oracle.TOL["tau2_abs"].
Measured agreement is better than 2e-9 (p-values) and 2e-11 otherwise.
"""

import numpy as np
import pytest

from evsynth.stats.cumulative import cumulative, sort_order
from evsynth.stats.pooling import pool
from evsynth.stats.refit import ESTIMATORS, cumulative_fits
from oracle._oracle import TOL, load, max_rel_error, rma_inputs

CASES = load("metafor_sensitivity")
CASE_IDS = sorted(CASES)

FIELDS = {
    "estimate": "theta", "se": "se", "stat": "stat", "pval": "p_value", "ci_lb": "ci_lower",
    "ci_ub": "ci_upper", "Q": "q", "Qp": "q_p", "tau2": "tau2", "I2": "i2", "H2": "h2",
}
ATOL = {"tau2": TOL["tau2_abs"], "I2": TOL["i2_abs"]}


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_cumulative_matches_metafor(case_id):
    yi, vi, settings = rma_inputs(CASES[case_id])
    case = CASES[case_id]
    out = case["outputs"]["cumul"]
    # normand1999 has no year: metafor cumulates in data order there.
    result = cumulative(yi, vi, order=case["inputs"].get("year"), **settings)
    assert list(result.order + 1) == out["order"]
    for name, attr in FIELDS.items():
        assert max_rel_error(getattr(result.fits, attr), out[name], ATOL.get(name, 0.0)) < TOL["rel"], name


def test_first_step_is_the_single_trial_and_last_is_the_full_analysis():
    yi, vi, settings = rma_inputs(CASES["bcg_rr_reml_knha"])
    result = cumulative(yi, vi, order=CASES["bcg_rr_reml_knha"]["inputs"]["year"], **settings)
    first = result.order[0]
    assert result.fits.theta[0] == yi[first] and result.fits.se[0] == np.sqrt(vi[first])
    assert np.isnan(result.fits.stat_df[0])  # k = 1: Wald, as metafor
    assert result.fits.tau2[0] == 0 and result.fits.i2[0] == 0 and result.fits.h2[0] == 1
    full = pool(yi, vi, **settings)
    assert result.fits.theta[-1] == pytest.approx(full.theta, rel=1e-9)
    assert result.fits.se[-1] == pytest.approx(full.se, rel=1e-9)
    assert result.fits.stat_df[-1] == len(yi) - 1


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_each_step_is_the_pipelines_pool(estimator):
    yi, vi, _ = rma_inputs(CASES["raudenbush_smd_reml_z"])
    fits = cumulative_fits(yi, vi, estimator=estimator, ci_method="hksj")
    for r in range(1, len(yi)):
        p = pool(yi[: r + 1], vi[: r + 1], estimator=estimator, ci_method="hksj", alpha=0.05)
        np.testing.assert_allclose((fits.theta[r], fits.se[r], fits.ci_upper[r]), (p.theta, p.se, p.ci_upper),
                                   rtol=1e-8)


def test_chunking_does_not_change_the_result():
    rng = np.random.default_rng(2)
    vi = rng.uniform(0.01, 0.5, 60)
    yi = rng.normal(0.1, np.sqrt(vi + 0.2))
    for estimator in ("REML", "PM", "SJ", "EB"):
        a = cumulative_fits(yi, vi, estimator=estimator)
        b = cumulative_fits(yi, vi, estimator=estimator, chunk_elements=50)
        np.testing.assert_allclose(b.theta, a.theta, rtol=1e-12)
        np.testing.assert_allclose(b.tau2, a.tau2, rtol=1e-10, atol=1e-14)


def test_sort_order_is_stable_numeric_and_puts_missing_last():
    assert list(sort_order([2013, 2004, 2013, 2011])) == [1, 3, 0, 2]  # ties keep input order
    assert list(sort_order(["10", "9", "", "100"])) == [1, 0, 3, 2]  # numeric text sorts as numbers
    assert list(sort_order(["b", None, "a", float("nan")])) == [2, 0, 1, 3]
    assert list(sort_order(["low", "2", "high"])) == [1, 2, 0]  # mixed: as text


def test_one_study():
    result = cumulative([0.3], [0.04])
    assert result.fits.k.tolist() == [1] and result.fits.theta[0] == 0.3


def test_order_length_must_match():
    with pytest.raises(ValueError, match="2 keys for 3 studies"):
        cumulative([0.1, 0.2, 0.3], [0.01, 0.02, 0.03], order=[1, 2])


def test_identical_estimates_use_the_hksj_floor_like_pool():
    """Buhrman 2004 and 2011 (shipped table) both report g = 0: the HKSJ variance is 0.
    metafor reports a zero-width CI; evsynth.stats.pooling.pool, and so these fits, the ad hoc floor."""
    yi, vi = [0.0, 0.0, -0.072], [0.077284, 0.071824, 0.054289]
    fits = cumulative_fits(yi, vi, estimator="REML", ci_method="hksj")
    p = pool(yi[:2], vi[:2], estimator="REML", ci_method="hksj", alpha=0.05)
    assert fits.hksj_floored.tolist() == [False, True, False]
    assert (fits.ci_lower[1], fits.ci_upper[1]) == pytest.approx((p.ci_lower, p.ci_upper), rel=1e-9)
