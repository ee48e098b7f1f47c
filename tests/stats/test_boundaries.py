"""Both sides of the boundaries in the statistics layer that the seed-3001 mutation sample
(mutation/report.md) found unpinned: a rule tested only on one side of its threshold, or a
case (an unfitted network, a Q below 1, a zero covariance in a block) no test reached.
Each test names the boundary and checks both sides against an independent value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evsynth.data.network import fit_network
from evsynth.stats.large_k import pool_large_k
from evsynth.stats.multivariate import BlockCovariance
from evsynth.stats.pooling import pool
from evsynth.stats.refit import cumulative_fits, leave_one_out_fits, single_fit
from evsynth.stats.smallstudy import EXACT_RANK_TEST_MAX_K, rank_test
from evsynth.stats.subgroups import common_tau2_test, overall_estimate


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.05, 1.05])
@pytest.mark.parametrize("fits", [leave_one_out_fits, cumulative_fits, single_fit])
def test_refits_refuse_an_alpha_on_or_beyond_0_and_1(fits, alpha):
    yi, vi = [0.1, 0.4, -0.2, 0.3], [0.04, 0.05, 0.06, 0.03]
    with pytest.raises(ValueError, match="alpha must be in"):
        fits(yi, vi, alpha=alpha)
    inside = fits(yi, vi, alpha=min(max(alpha, 1e-6), 1 - 1e-6))  # just inside: fitted
    assert np.all(np.isfinite(inside.ci_lower))


@pytest.mark.parametrize("ci_method", ["hksj", "hksj-adhoc"])
def test_identical_estimates_floor_the_hksj_scale_in_the_large_k_path_as_pool_does(ci_method):
    """Identical estimates: HKSJ's scale Q / (k - 1) is 0; both paths fall back to the ad hoc
    floor 1 (the Wald SE, t intervals), which metafor's test = "adhoc" also gives."""
    yi, vi = np.full(6, 0.3), np.array([0.02, 0.05, 0.03, 0.08, 0.04, 0.06])
    large = pool_large_k(yi, vi, estimator="DL", ci_method=ci_method, alpha=0.05)
    small = pool(yi, vi, estimator="DL", ci_method=ci_method, alpha=0.05)
    wald_se = 1 / np.sqrt(np.sum(1 / vi))
    for fit in (large, small):
        assert fit.se == pytest.approx(wald_se, rel=1e-12)
        assert fit.ci_upper - fit.theta == pytest.approx(stats.t.ppf(0.975, 5) * wald_se, rel=1e-10)
    assert ("ad hoc floor" in large.note) == (ci_method == "hksj")


@pytest.mark.parametrize("k, exact", [(EXACT_RANK_TEST_MAX_K, True), (EXACT_RANK_TEST_MAX_K + 1, False)])
def test_rank_test_is_exact_up_to_and_including_its_largest_k(k, exact):
    """Begg's test: the exact Kendall distribution up to k = EXACT_RANK_TEST_MAX_K (no ties), the
    normal approximation from the next k on; scipy's kendalltau with the same method agrees."""
    rng = np.random.default_rng(k)
    yi, vi = rng.normal(size=k), rng.uniform(0.01, 0.5, size=k)
    result = rank_test(yi, vi)
    assert result.exact is exact
    w = 1 / vi
    theta = np.sum(w * yi) / w.sum()
    deviates = (yi - theta) / np.sqrt(vi - 1 / w.sum())
    ref = stats.kendalltau(deviates, vi, method="exact" if exact else "asymptotic")
    assert result.p_value == pytest.approx(ref.pvalue, rel=1e-6)


def test_covariance_used_only_when_a_block_has_a_nonzero_covariance():
    """A two-row block whose covariance is 0 is the independent case (same fit, flag off); a
    non-zero covariance in it switches the flag on."""
    yi, vi, groups = [0.1, 0.3, 0.5, 0.2, 0.6], [0.04, 0.05, 0.03, 0.06, 0.05], ["a", "a", "b", "b", "b"]
    zero = BlockCovariance.from_pairs(vi, [(2, 3)], [0.0])
    some = BlockCovariance.from_pairs(vi, [(2, 3)], [0.01])
    assert any(block.shape[1] == 2 for block in zero.blocks)
    independent = common_tau2_test(yi, vi, groups, method="REML")
    with_zero = common_tau2_test(yi, zero, groups, method="REML")
    assert not independent.covariance_used and not with_zero.covariance_used
    assert with_zero.stat == pytest.approx(independent.stat, rel=1e-10)
    assert common_tau2_test(yi, some, groups, method="REML").covariance_used
    assert not overall_estimate(yi, zero, method="REML").covariance_used
    assert overall_estimate(yi, some, method="REML").covariance_used


def _network(rows):
    return pd.DataFrame(rows, columns=["study", "treatment", "comparator", "yi", "vi"])


def test_network_q_p_below_and_above_1():
    """Q's p-value is chi²'s upper tail at Q on its df, for a nearly consistent loop (Q < 1) and an
    inconsistent one (Q > 1)."""
    for ac, small in ((0.79, True), (2.0, False)):
        fit = fit_network(_network([("s1", "A", "B", 0.5, 0.1), ("s2", "B", "C", 0.3, 0.1),
                                    ("s3", "A", "C", ac, 0.1)]), method="REML")
        assert fit.q_df == 1 and (fit.q < 1) is small
        assert fit.q_p == pytest.approx(stats.chi2.sf(fit.q, 1), rel=1e-10)


def test_an_unfitted_network_reports_no_contrasts_fitted():
    """A disconnected network is not fitted: nothing counted as fitted, no models."""
    fit = fit_network(_network([("s1", "A", "B", 0.5, 0.1), ("s2", "C", "D", 0.3, 0.1)]))
    assert fit.status == "disconnected"
    assert (fit.k_contrasts, fit.k_multiarm, fit.designs, fit.edges) == (0, 0, (), ())
    assert fit.random is None and fit.common is None and fit.q is None and fit.q_p is None
