"""Small-study tests pinned to metafor's regtest(), ranktest() and trimfill()
(tests/oracle/data/metafor_sensitivity.json; R calls in each case).

Tolerance 1e-6 relative (tau² near 0: _oracle.TOL["tau2_abs"]); measured agreement
is better than 1e-10. The rank test's normal approximation for k = 102, where metafor's
exact p is not computed here, is compared at 2e-3: the two p-values differ by 1.2e-3.
"""

import numpy as np
import pytest
from scipy import stats

from evsynth.stats.pooling import pool
from evsynth.stats.refit import ESTIMATORS
from evsynth.stats.smallstudy import egger_test, kendall_exact_cdf, meta_regression, rank_test, trim_and_fill
from oracle._oracle import TOL, load, max_rel_error, rma_inputs

CASES = load("metafor_sensitivity")
CASE_IDS = sorted(CASES)
RANK_CASES = load("metafor_sensitivity", "rank_cases")


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_classical_egger_matches_regtest_lm(case_id):
    yi, vi, settings = rma_inputs(CASES[case_id])
    ours = egger_test(yi, vi, model="lm", **settings)
    r = CASES[case_id]["outputs"]["regtest_lm"]
    pairs = {"stat": ours.stat, "pval": ours.p_value, "df": ours.stat_df, "est": ours.limit,
             "ci_lb": ours.limit_ci_lower, "ci_ub": ours.limit_ci_upper, "slope": ours.slope}
    for name, value in pairs.items():
        assert max_rel_error(value, r[name]) < TOL["rel"], name


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_mixed_effects_egger_matches_regtest_rma(case_id):
    yi, vi, settings = rma_inputs(CASES[case_id])
    ours = egger_test(yi, vi, model="rma", **settings)
    r = CASES[case_id]["outputs"]["regtest_rma"]
    pairs = {"stat": ours.stat, "pval": ours.p_value, "est": ours.limit, "ci_lb": ours.limit_ci_lower,
             "ci_ub": ours.limit_ci_upper, "slope": ours.slope, "slope_se": ours.slope_se}
    for name, value in pairs.items():
        assert max_rel_error(value, r[name]) < TOL["rel"], name
    assert max_rel_error(ours.tau2, r["tau2"], TOL["tau2_abs"]) < TOL["rel"]
    assert (ours.stat_df is None) == (r["df"] is None)
    if r["df"] is not None:
        assert ours.stat_df == r["df"]


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_rank_test_matches_ranktest(case_id):
    yi, vi, _ = rma_inputs(CASES[case_id])
    ours = rank_test(yi, vi)
    r = CASES[case_id]["outputs"]["ranktest"]
    assert ours.exact == (len(np.unique(vi)) == len(vi))  # raudenbush1985 has tied variances
    assert max_rel_error(ours.tau, r["tau"]) < TOL["rel"]
    assert max_rel_error(ours.p_value, r["pval"]) < TOL["rel"]


def test_rank_test_exact_for_k_102_and_normal_with_ties():
    case = RANK_CASES["curtis_rom_k102"]
    ours = rank_test(case["inputs"]["yi"], case["inputs"]["vi"])
    assert ours.exact
    assert ours.tau == pytest.approx(case["outputs"]["tau"], rel=TOL["rel"])
    assert ours.p_value == pytest.approx(case["outputs"]["pval"], rel=TOL["rel"])
    ties = RANK_CASES["bcg_rounded_vi_ties"]
    ours = rank_test(ties["inputs"]["yi"], ties["inputs"]["vi"])
    assert not ours.exact
    assert ours.tau == pytest.approx(ties["outputs"]["tau"], rel=TOL["rel"])
    assert ours.p_value == pytest.approx(ties["outputs"]["pval"], rel=TOL["rel"])


def test_rank_test_normal_approximation_beyond_300_studies():
    """No ties, k = 400: R's untied normal approximation, as scipy's asymptotic Kendall test."""
    rng = np.random.default_rng(8)
    vi = rng.uniform(0.01, 0.3, 400)
    yi = rng.normal(0.0, np.sqrt(vi)) + 0.4 * np.sqrt(vi)
    ours = rank_test(yi, vi)
    assert not ours.exact
    w = 1 / vi
    deviates = (yi - np.sum(w * yi) / w.sum()) / np.sqrt(vi - 1 / w.sum())
    scipy_result = stats.kendalltau(deviates, vi, method="asymptotic")
    assert ours.p_value == pytest.approx(scipy_result.pvalue, rel=1e-10)
    # metafor's exact p (not computed here) would differ by < 1e-3 relative: see the k = 102 case.
    normal = RANK_CASES["curtis_rom_k102"]["outputs"]["pval_normal"]
    assert normal == pytest.approx(RANK_CASES["curtis_rom_k102"]["outputs"]["pval"], rel=2e-3)


def test_kendall_exact_distribution():
    assert np.allclose(kendall_exact_cdf(3) * 6, [1, 3, 5, 6])  # 1 2 2 1 permutations
    assert np.allclose(kendall_exact_cdf(4) * 24, np.cumsum([1, 3, 5, 6, 5, 3, 1]))
    cdf = kendall_exact_cdf(40)
    assert cdf[-1] == pytest.approx(1.0) and np.all(np.diff(cdf) >= 0)


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_trim_and_fill_matches_trimfill(case_id):
    yi, vi, settings = rma_inputs(CASES[case_id])
    ours = trim_and_fill(yi, vi, **settings)
    r = CASES[case_id]["outputs"]["trimfill"]
    assert (ours.side, ours.k0) == (r["side"], r["k0"])
    p = ours.pooled
    pairs = {"se_k0": ours.se_k0, "beta": p.theta, "se": p.se, "pval": p.p_value, "ci_lb": p.ci_lower,
             "ci_ub": p.ci_upper, "k": p.k}
    for name, value in pairs.items():
        assert max_rel_error(value, r[name]) < TOL["rel"], name
    assert max_rel_error(p.tau2, r["tau2"], TOL["tau2_abs"]) < TOL["rel"]
    if ours.k0:
        assert max_rel_error(ours.filled_yi, r["fill_yi"]) < TOL["rel"]
        assert max_rel_error(ours.filled_vi, r["fill_vi"]) < TOL["rel"]


def test_trim_and_fill_fills_mirror_images_on_the_chosen_side():
    """raudenbush1985 REML: 3 studies missing on the left, mirrored about the trimmed estimate."""
    yi, vi, settings = rma_inputs(CASES["raudenbush_smd_reml_z"])
    result = trim_and_fill(yi, vi, **settings)
    assert result.side == "left" and result.k0 == 3
    assert (result.filled_yi < result.pooled.theta).all()
    forced = trim_and_fill(yi, vi, side="right", **settings)
    assert forced.side == "right"
    with pytest.raises(ValueError, match="side"):
        trim_and_fill(yi, vi, side="up")


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("ci_method", ["wald", "hksj", "hksj-adhoc"])
def test_intercept_only_meta_regression_is_the_pipelines_pool(estimator, ci_method):
    yi, vi, _ = rma_inputs(CASES["normand_smd_reml_z"])
    fit = meta_regression(yi, vi, np.ones((len(yi), 1)), estimator=estimator, ci_method=ci_method)
    p = pool(yi, vi, estimator=estimator, ci_method=ci_method, alpha=0.05)
    assert fit.tau2 == pytest.approx(p.tau2, rel=1e-8, abs=TOL["tau2_abs"])
    np.testing.assert_allclose((fit.beta[0], fit.se[0], fit.ci_lower[0], fit.p_value[0]),
                               (p.theta, p.se, p.ci_lower, p.p_value), rtol=1e-8)


def test_too_few_studies_are_refused():
    with pytest.raises(ValueError, match="at least 3"):
        egger_test([0.1, 0.2], [0.01, 0.02])
    with pytest.raises(ValueError, match="at least 3"):
        rank_test([0.1, 0.2], [0.01, 0.02])
    with pytest.raises(ValueError, match="at least 3"):
        trim_and_fill([0.1, 0.2], [0.01, 0.02])
    with pytest.raises(ValueError, match="'lm' or 'rma'"):
        egger_test([0.1, 0.2, 0.3], [0.01, 0.02, 0.03], model="glm")
