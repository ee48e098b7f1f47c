"""Several effects per trial: properties and bad input of the dependent-effects statistics.

The numbers themselves are pinned to metafor and clubSandwich in
tests/oracle/test_dependent_metafor.py; these tests check what no single fixture shows:
agreement between the package's own models where they coincide, invariance to row order, the
boundary of the variance components, determinism of the permutation test, and the errors.
"""

import numpy as np
import pytest

from evsynth.stats.dependent import ClusteredCovariance, aggregate_within, extreme_per_trial
from evsynth.stats.metaregression import moderator_design, permutation_test, r2
from evsynth.stats.multilevel import fit_multilevel
from evsynth.stats.multivariate import rma_mv
from evsynth.stats.robust import cr2
from evsynth.stats.timepoints import fit_timepoints


def _data(trials=12, seed=1, sigma2=(0.05, 0.02)):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 5, trials)
    trial = np.repeat([f"t{i}" for i in range(trials)], sizes)
    code = np.repeat(np.arange(trials), sizes)
    vi = rng.uniform(0.02, 0.2, len(trial))
    yi = 0.3 + rng.normal(0, np.sqrt(sigma2[0]), trials)[code] + rng.normal(0, np.sqrt(sigma2[1] + vi))
    return yi, vi, trial


def test_one_effect_per_trial_without_within_level_is_rma():
    """random = ~ 1 | trial with one effect per trial is rma(yi, vi): same tau², estimate, SE."""
    yi, vi, _ = _data()
    trial = np.arange(len(yi))
    fit = fit_multilevel(yi, ClusteredCovariance.constant_correlation(vi, trial), within=False, test="t")
    ref = rma_mv(yi, vi, test="t")
    assert fit.sigma2[0] == pytest.approx(ref.tau2, rel=1e-9)
    assert fit.beta[0] == pytest.approx(ref.beta[0], rel=1e-10) and fit.se[0] == pytest.approx(ref.se[0], rel=1e-9)
    assert fit.loglik == pytest.approx(ref.loglik, rel=1e-10)


def test_results_do_not_depend_on_row_order():
    yi, vi, trial = _data()
    order = np.random.default_rng(5).permutation(len(yi))
    a = fit_multilevel(yi, ClusteredCovariance.constant_correlation(vi, trial, 0.6))
    b = fit_multilevel(yi[order], ClusteredCovariance.constant_correlation(vi[order], trial[order], 0.6))
    np.testing.assert_allclose(a.sigma2, b.sigma2, rtol=1e-9)
    np.testing.assert_allclose(a.beta + a.se, b.beta + b.se, rtol=1e-10)
    ra, rb = cr2(a), cr2(b)
    np.testing.assert_allclose(ra.se + ra.df, rb.se + rb.df, rtol=1e-9)


def test_estimate_is_a_maximum_of_the_restricted_likelihood():
    """Moving either variance component away from the estimate lowers the REML log-likelihood."""
    yi, vi, trial = _data(trials=20, seed=3)
    V = ClusteredCovariance.constant_correlation(vi, trial, 0.6)
    fit = fit_multilevel(yi, V)
    moves = 0
    for delta in ((1e-3, 0), (-1e-3, 0), (0, 1e-3), (0, -1e-3)):
        moved = np.add(fit.sigma2, delta)
        if np.all(moved >= 0):  # the maximum may lie on the boundary
            moves += 1
            assert fit_multilevel(yi, V, sigma2=moved).loglik < fit.loglik
    assert moves >= 3


def test_variance_component_at_the_boundary():
    """No within-trial heterogeneity: that component ends at 0 with a non-positive score there,
    and the fit equals the one without the within level."""
    rng = np.random.default_rng(7)
    code = np.repeat(np.arange(15), 3)
    vi = np.full(len(code), 0.1)
    yi = rng.normal(0, 0.4, 15)[code] + 0.01 * rng.normal(size=len(code))  # far less spread than vi
    V = ClusteredCovariance.constant_correlation(vi, code)
    fit = fit_multilevel(yi, V)
    assert fit.converged and fit.sigma2[1] == 0.0 and fit.sigma2[0] > 0
    two_level = fit_multilevel(yi, V, within=False)
    assert fit.sigma2[0] == pytest.approx(two_level.sigma2[0], rel=1e-9)
    assert fit_multilevel(yi, V, sigma2=(fit.sigma2[0], 1e-4)).loglik < fit.loglik


def test_che_with_rho_0_is_the_three_level_model():
    yi, vi, trial = _data()
    a = fit_multilevel(yi, ClusteredCovariance.constant_correlation(vi, trial, 0.0))
    b = fit_multilevel(yi, ClusteredCovariance.from_dense(np.diag(vi), trial))
    assert a.sigma2 == pytest.approx(b.sigma2, rel=1e-12) and a.beta == pytest.approx(b.beta, rel=1e-12)


def test_cr2_of_single_effect_trials_under_the_working_model():
    """With one effect per trial CR2 reduces to the HC2-type sandwich of rma(): SE close to
    the model-based one when the model holds, and df below the number of trials."""
    yi, vi, _ = _data(trials=40)
    fit = fit_multilevel(yi, ClusteredCovariance.constant_correlation(vi, np.arange(len(yi))), within=False)
    robust = cr2(fit)
    assert robust.n_clusters == len(yi) and 0 < robust.df[0] < len(yi)
    assert 0.5 < robust.se[0] / fit.se[0] < 2


def test_cr2_needs_two_trials():
    yi, vi = np.array([0.1, 0.3, 0.2]), np.array([0.1, 0.1, 0.1])
    V = ClusteredCovariance.constant_correlation(vi, ["a", "a", "a"])
    fit = fit_multilevel(yi, V, within=False, sigma2=[0.01])
    with pytest.raises(ValueError, match="at least 2 trials"):
        cr2(fit)


@pytest.mark.parametrize("rho", [-0.1, 1.0, 1.5, float("nan")])
def test_rho_outside_0_1_is_refused(rho):
    with pytest.raises(ValueError, match=r"rho must lie in \[0, 1\)"):
        ClusteredCovariance.constant_correlation([0.1, 0.2], ["a", "a"], rho)


def test_within_level_needs_a_trial_with_several_effects():
    with pytest.raises(ValueError, match="every trial has one effect"):
        fit_multilevel([0.1, 0.2, 0.3], ClusteredCovariance.constant_correlation([0.1, 0.1, 0.1], ["a", "b", "c"]))


def test_one_trial_is_refused():
    V = ClusteredCovariance.constant_correlation([0.1, 0.1, 0.1], ["a", "a", "a"])
    with pytest.raises(ValueError, match="at least 2 trials"):
        fit_multilevel([0.1, 0.2, 0.3], V)


def test_bad_variances_are_refused():
    with pytest.raises(ValueError, match="finite and positive"):
        ClusteredCovariance.constant_correlation([0.1, 0.0], ["a", "a"], 0.5)


def test_aggregation_of_single_effects_is_the_identity_and_rho_raises_the_variance():
    yi, vi, trial = _data()
    single = aggregate_within(yi, ClusteredCovariance.constant_correlation(vi, np.arange(len(yi)), 0.6))
    np.testing.assert_allclose(single.yi, yi, rtol=1e-14)
    np.testing.assert_allclose(single.vi, vi, rtol=1e-14)
    low = aggregate_within(yi, ClusteredCovariance.constant_correlation(vi, trial, 0.0))
    high = aggregate_within(yi, ClusteredCovariance.constant_correlation(vi, trial, 0.6))
    several = np.array(low.n_effects) > 1
    assert np.all(np.array(high.vi)[several] > np.array(low.vi)[several])


def test_lowest_and_highest_effect_per_trial():
    yi = [0.5, 0.1, 0.1, 0.9, -0.2, 0.4]
    trial = ["b", "b", "b", "a", "a", "c"]
    assert extreme_per_trial(yi, trial, "lowest").tolist() == [1, 4, 5]  # tie in b: the first row
    assert extreme_per_trial(yi, trial, "highest").tolist() == [0, 3, 5]
    with pytest.raises(ValueError, match="lowest"):
        extreme_per_trial(yi, trial, "median")


def test_moderator_design_reports_every_problem_at_once():
    with pytest.raises(ValueError) as error:
        moderator_design(
            [
                ("sessions", ["8", "x", "10"], "continuous"),
                ("year", [2020, 2020, 2020], "continuous"),
                ("mode", ["app", "app", "app"], "categorical"),
                ("dose", [1, None, 2], "continuous"),
            ]
        )
    message = str(error.value)
    assert "sessions: declared continuous but 'x' is not a number" in message
    assert "year: constant (2020)" in message
    assert "mode: one level (app)" in message
    assert "dose:" in message


def test_moderator_design_levels_sorted_first_is_reference():
    X, names = moderator_design(
        [("mode", ["web", "app", "phone", "app", "web"], "categorical"), ("year", [1, 2, 3, 4, 6], "continuous")]
    )
    assert names == ("intrcpt", "mode[phone]", "mode[web]", "year")
    assert X[:, 1].tolist() == [0, 0, 1, 0, 0] and X[:, 2].tolist() == [1, 0, 0, 0, 1]


def test_r2():
    assert r2(0.4, 0.1) == pytest.approx(75.0)
    assert r2(0.4, 0.5) == 0.0
    assert np.isnan(r2(0.0, 0.0))


def test_random_permutation_test_is_deterministic_and_bounded():
    yi, vi, _ = _data(trials=30, seed=11)
    X = np.column_stack([np.ones(len(yi)), np.arange(len(yi)) % 7])
    a = permutation_test(yi, vi, X, iterations=200, seed=3)
    b = permutation_test(yi, vi, X, iterations=200, seed=3)
    assert a == b and not a.exact and a.iterations == 200 and a.seed == 3
    assert all(1 / 200 <= p <= 1 for p in (*a.p_values, a.qm_p))  # the observed data count once
    c = permutation_test(yi, vi, X, iterations=200, seed=4)
    assert c.p_values != a.p_values or c.qm_p != a.qm_p


def test_permutation_test_is_exact_when_small_enough():
    yi, vi, _ = _data(trials=6, seed=2)
    k = len(yi)
    X = np.column_stack([np.ones(k), (np.arange(k) < 2).astype(float)])
    result = permutation_test(yi, vi, X, iterations=1000)
    assert result.exact and result.iterations == k * (k - 1) // 2 and result.seed is None


def test_timepoints_refuse_two_effects_in_one_window():
    V = ClusteredCovariance.constant_correlation([0.1] * 4, ["a", "a", "b", "b"])
    with pytest.raises(ValueError, match="two effects in one window"):
        fit_timepoints([0.1, 0.2, 0.3, 0.4], V, [1, 1, 1, 2])
    with pytest.raises(ValueError, match="structure"):
        fit_timepoints([0.1, 0.2, 0.3, 0.4], V, [1, 2, 1, 2], structure="CS")


def test_cr2_gives_a_prediction_interval_only_where_the_model_has_one():
    """A prediction interval belongs to an intercept-only model; a one-column model without an
    intercept (regression through the origin) has none, robust or not (both directions)."""
    yi, vi, trial = _data()
    V = ClusteredCovariance.constant_correlation(vi, trial, 0.6)
    plain = cr2(fit_multilevel(yi, V))
    assert plain.pi_lower is not None and plain.pi_lower < plain.beta[0] < plain.pi_upper
    dose = np.linspace(0.5, 2.0, len(yi))[:, None]
    through_origin = fit_multilevel(yi, V, dose, names=["dose"])
    assert through_origin.pi_lower is None and cr2(through_origin).pi_lower is None
