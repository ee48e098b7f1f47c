"""Statistics-layer rules that mutants of mutation/run.py slipped past (seed 3002 and the working
samples of issue 21): each test pins a whole pattern, not one mutant: every condition of a
validator alone, an internal routine against the numpy / single-path routine it reproduces on
inputs hitting each branch (below, on and above a grid; exactly on a panel edge), defaults that
only unusual inputs reach (a pair without direct trials), the flag of every estimator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evsynth.data.network import fit_network
from evsynth.stats import bayes as single
from evsynth.stats import bayes_batch as batch
from evsynth.stats.batch import pool_many
from evsynth.stats.bayes import MuPrior, bayes_meta
from evsynth.stats.bayes_priors import TauPrior
from evsynth.stats.dependent import ClusteredCovariance
from evsynth.stats.multiarm import combined_arm_estimates
from evsynth.stats.multivariate import rma_mv
from evsynth.stats.tau2 import own_tau2
from evsynth.stats.timepoints import fit_timepoints
from oracle._oracle import TOL, load
from stats.test_bayes_batch import assert_same

REFERENCE = load("metafor_reference")


# ---------------------------------------------------------------- validators: each condition alone


def test_pool_many_refuses_a_2d_analysis_and_unequal_lengths_each_alone():
    with pytest.raises(ValueError, match="analysis 0: yi and vi must be 1-d"):
        pool_many([[[0.1, 0.2], [0.3, 0.4]]], [[[0.1, 0.1], [0.1, 0.1]]])  # 2-d, equal shapes
    with pytest.raises(ValueError, match="analysis 1: yi and vi must be 1-d"):
        pool_many([[0.1, 0.2], [0.1, 0.2, 0.3]], [[0.1, 0.1], [0.1, 0.1]])  # 1-d, unequal lengths


def test_rma_mv_refuses_a_wrong_sized_v_and_a_non_finite_estimate_each_alone():
    with pytest.raises(ValueError, match="V must be k x k"):
        rma_mv([0.1, 0.2, 0.3], np.eye(4) * 0.1)  # finite yi, V of 4
    with pytest.raises(ValueError, match="yi must be finite"):
        rma_mv([0.1, np.nan, 0.3], np.eye(3) * 0.1)  # V right, yi not finite


# ---------------------------------------------------------------- bayes_batch internals


@pytest.mark.parametrize("shape", ["vector", "per_row"])
def test_batched_interp_is_numpy_interp_row_by_row(shape):
    """_interp equals np.interp on every branch: below the grid, on its first and last points,
    between its first two points (the lowest interval), inside, on a repeated x, above it."""
    xp = np.array([[0.0, 0.1, 0.4, 0.4, 0.9, 1.0], [-2.0, -1.0, 0.0, 1.0, 2.0, 3.0]])
    fp = np.array([[1.0, 2.0, 4.0, 5.0, 7.0, 11.0], [3.0, -1.0, 0.5, 0.25, 8.0, 9.0]])
    points = np.array([-5.0, -2.0, -1.5, 0.0, 0.05, 0.1, 0.25, 0.4, 0.5, 0.9, 1.0, 2.5, 3.0, 4.0])
    p = points if shape == "vector" else np.stack([points, points[::-1] * 0.5])
    got = batch._interp(p, xp, fp)
    rows = np.broadcast_to(p, (2, points.size))
    want = np.stack([np.interp(rows[j], xp[j], fp[j]) for j in range(2)])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-15)


def test_batched_tau_rule_equals_the_single_rule_on_and_between_panel_edges():
    """The batched rule evaluates cdf, density and its derivative in u exactly as the single
    path's _TauRule, including exactly on an interior panel edge (searchsorted side="right": the
    panel starting there) and at u = 0 and 1."""
    rng = np.random.default_rng(8)
    ys = [rng.normal(0.3, 0.5, 6) for _ in range(3)]
    vs = [rng.uniform(0.02, 0.4, 6) for _ in range(3)]
    prior, mu = TauPrior("half-normal", 0.5), MuPrior()
    rules = batch._TauRules(np.stack(ys), np.stack(vs), prior, mu)
    for j, (y, v) in enumerate(zip(ys, vs)):
        one = single._TauRule(y, v, prior, mu)
        np.testing.assert_allclose(rules.edges[j], one.edges, rtol=1e-13)
        mid = 0.5 * (one.edges[1:] + one.edges[:-1])
        # each rule on its own edges (equal to ~1e-16), so that every point is exactly on an edge
        got = rules.evaluate(np.concatenate([rules.edges, np.tile(mid, (3, 1))], axis=1))
        want = one.evaluate(np.concatenate([one.edges, mid]))
        # cdf and density to 1e-11; the derivative (divided by panels' half-widths, ~1e-5 near
        # u = 0) to 1e-8 relative, far below a jump to the neighbouring panel's polynomial
        for a, b, rtol in zip(got, want, (1e-11, 1e-11, 1e-8)):
            np.testing.assert_allclose(a[j], b, rtol=rtol, atol=1e-11)


@pytest.mark.parametrize("level", [0.2, 0.5, 0.99])
@pytest.mark.parametrize("prior", [TauPrior("half-cauchy", 0.5), TauPrior("log-normal", 1.71, -2.05)],
                         ids=["half-cauchy", "log-normal"])
def test_bayes_many_equals_bayes_meta_at_low_and_high_levels(level, prior):
    """Levels far from 0.95 move tau's equal-density Newton start (the central interval's ends)
    away from the shortest interval, and a log-normal prior (Turner et al. 2015) keeps tau's
    posterior off 0 for small k: the batched path must start, and end, where the single one does."""
    rng = np.random.default_rng(1)
    yis = [rng.normal(0.3, rng.uniform(0.05, 1.2), k) for k in (2, 3, 4, 6) for _ in range(6)]
    vis = [rng.uniform(0.005, 0.8, y.size) for y in yis]
    got = batch.bayes_many(yis, vis, prior, MuPrior(), level=level)
    assert_same(got, [bayes_meta(y, v, prior, MuPrior(), level=level) for y, v in zip(yis, vis)])
    if level < 0.9:
        assert any(f.tau.shortest_lower > 0 for f in got)  # an interior shortest interval is compared


# ---------------------------------------------------------------- multiarm: delta method per measure


@pytest.mark.parametrize("measure", ["RR", "OR", "RD"])
def test_combined_arms_have_the_binomial_variance_of_the_pooled_proportion(measure):
    """Two CBT arms with 12/40 and 30/60 events, each given with its binomial variance on the
    analysis scale: the pooled proportion 42/100 has Var = sum e(n - e)/n / N² (events summed),
    carried to the analysis scale by the delta method (dlog p = dp/p, dlogit p = dp/(p(1-p)))."""
    n, e = np.array([40.0, 60.0]), np.array([12.0, 30.0])
    p = e / n
    scale = {"RR": (np.log(p), (1 - p) / (n * p)), "OR": (np.log(p / (1 - p)), 1 / (n * p * (1 - p))),
             "RD": (p, p * (1 - p) / n)}[measure]  # fmt: skip
    got = combined_arm_estimates(measure, n, scale[0], scale[1], f_ctrl=0.0, var_ctrl=0.0)
    pc, var_p = 0.42, float(np.sum(e * (n - e) / n)) / 100**2
    slope = {"RR": pc, "OR": pc * (1 - pc), "RD": 1.0}[measure]
    f = {"RR": np.log(pc), "OR": np.log(pc / (1 - pc)), "RD": pc}[measure]
    assert got.yi == pytest.approx(f, rel=1e-14)
    assert got.vi == pytest.approx(var_p / slope**2, rel=1e-13)


# ---------------------------------------------------------------- network: pairs without direct trials


def test_league_counts_no_direct_trials_for_an_indirect_pair():
    """A-B and B-C trials only: A vs C is estimated through B and has k_direct = 0 (both orders)."""
    frame = {"study": ["s1", "s2", "s3", "s4"], "treatment": ["B", "B", "C", "C"], "comparator": ["A", "A", "B", "B"],
             "yi": [0.3, 0.4, 0.1, 0.2], "vi": [0.04, 0.05, 0.03, 0.06]}  # fmt: skip
    fit = fit_network(pd.DataFrame(frame), treatments=["A", "B", "C"], reference="A")
    for model in (fit.common, fit.random):
        k = {(e.treatment, e.comparator): e.k_direct for e in model.league}
        assert k == {("A", "B"): 2, ("B", "A"): 2, ("B", "C"): 2, ("C", "B"): 2, ("A", "C"): 0, ("C", "A"): 0}


# ---------------------------------------------------------------- tau2: every estimator of own_tau2


@pytest.mark.parametrize("case_id", ["bcg_rr_he_z", "bcg_rr_sj_z", "bcg_rr_pm_z", "bcg_rr_eb_z", "bcg_rr_reml_z",
                                     "bcg_rr_ml_z"])
def test_own_tau2_matches_metafor_and_says_converged(case_id):
    """own_tau2, the scalar dispatcher, for every estimator it implements, on dat.bcg (log RR):
    metafor's rma(yi, vi, method=) of metafor_reference.json at TOL["rel"], flagged converged."""
    case = REFERENCE[case_id]
    yi, vi = np.array(case["inputs"]["yi"], float), np.array(case["inputs"]["vi"], float)
    tau2, converged = own_tau2(yi, vi, case["method"])
    assert converged is True
    assert tau2 == pytest.approx(case["outputs"]["tau2"], rel=TOL["rel"])


def test_own_tau2_refuses_an_estimator_it_does_not_implement():
    with pytest.raises(ValueError, match="no own implementation for DL"):
        own_tau2([0.1, 0.2, 0.4], [0.1, 0.1, 0.1], "DL")


# ---------------------------------------------------------------- timepoints: a NaN never hangs


def test_timepoints_refuse_a_non_finite_estimate_instead_of_halving_a_nan_step_forever():
    """A NaN effect used to give a NaN Fisher-scoring step, which the step-halving loop (while
    not valid: step /= 2) never left; now it is refused up front (and a non-finite step stops)."""
    case = load("metafor_dependent")["ishak_har_reml_z"]["inputs"]
    V = ClusteredCovariance.autoregressive(case["vi"], case["study"], case["time"], 0.97)
    y = np.array(case["yi"], float)
    y[2] = np.nan
    with pytest.raises(ValueError, match="yi must be finite"):
        fit_timepoints(y, V, case["time"])



# ---------------------------------------------------------------- bayes_many's validators, each alone


@pytest.mark.parametrize(
    "yis, vis, message",
    [
        ([[[0.1, 0.2], [0.3, 0.4]]], [[[0.1, 0.1], [0.1, 0.1]]], "analysis 0: yi and vi must be 1-d"),  # 2-d alone
        ([[0.1], [0.1, 0.2]], [[0.1], [0.1]], "analysis 1: yi and vi must be 1-d"),  # lengths alone
        ([[0.1], []], [[0.1], []], "analysis 1: yi and vi must be 1-d arrays of the same length >= 1"),  # empty
        ([[0.1, np.inf]], [[0.1, 0.1]], "analysis 0: yi must be finite"),  # yi alone
        ([[0.1, 0.2]], [[0.1, np.nan]], "analysis 0: yi must be finite"),  # vi not finite alone
        ([[0.1, 0.2]], [[0.1, -0.1]], "analysis 0: yi must be finite"),  # vi negative alone
    ],
)
def test_bayes_many_refuses_each_bad_analysis_alone(yis, vis, message):
    with pytest.raises(ValueError, match=message):
        batch.bayes_many(yis, vis, TauPrior("half-normal", 0.5))


@pytest.mark.parametrize("level", [0.0, 1.0, -0.5, 1.5])
def test_bayes_many_refuses_a_level_outside_0_1(level):
    with pytest.raises(ValueError, match="level must be in"):
        batch.bayes_many([[0.1, 0.2]], [[0.1, 0.1]], TauPrior("half-normal", 0.5), level=level)


@pytest.mark.parametrize("level", [0.5, 0.95])
def test_batched_newton_finds_every_mixture_shortest_interval_itself(monkeypatch, level):
    """On ordinary data the single path's Newton finds mu's and the prediction's shortest
    intervals without its scalar fallback, and so must the batched Newton: the per-analysis
    routine (bayes._mixture_shortest) is never called, so a batched Newton that stops early, steps
    wrongly or rejects a good pair fails here instead of hiding behind the fallback."""
    from stats.test_bayes_batch import PRIORS, _datasets

    def no_fallback(*args, **kwargs):
        raise AssertionError("bayes_many fell back to the per-analysis shortest interval")

    yis, vis = _datasets(16)
    yis, vis = yis[::2], vis[::2]  # every k, half the draws: well under a second
    for tau_prior, mu_prior in (PRIORS[1], PRIORS[2]):  # half-Cauchy with a normal mu prior; log-normal
        expected = [bayes_meta(y, v, tau_prior, mu_prior, level=level) for y, v in zip(yis, vis)]
        with monkeypatch.context() as patch:
            patch.setattr(single, "_mixture_shortest", no_fallback)
            got = batch.bayes_many(yis, vis, tau_prior, mu_prior, level=level)
        assert_same(got, expected)


# ---------------------------------------------------------------- other validators, each condition alone


@pytest.mark.parametrize("steps", [(), (0.0, 0.5), (0.025, 1.5), (0.5, 0.5), (0.5, 0.025)],
                         ids=["empty", "zero", "above-1", "repeated", "decreasing"])
def test_selection_cut_points_refuse_each_bad_rule_alone(steps):
    from evsynth.stats.selection import selection_model

    with pytest.raises(ValueError, match="cut points must be increasing and in"):
        selection_model([0.1, 0.3, 0.5, 0.2], [0.04, 0.05, 0.06, 0.03], steps=steps)


def test_selection_cut_points_accept_their_boundaries_and_fixed_weights_are_checked_alone():
    from evsynth.stats.selection import interval_counts, selection_model

    y, v = [0.1, 0.3, 0.5, 0.2, 0.6], [0.04, 0.05, 0.06, 0.03, 0.05]
    # 1 is a valid last cut (appended when absent): the same intervals either way
    assert list(interval_counts(y, v, (0.025, 1.0))) == list(interval_counts(y, v, (0.025,)))
    with pytest.raises(ValueError, match="need 2 positive fixed weights"):
        selection_model(y, v, steps=(0.025,), delta=(1.0, 0.5, 0.2))  # wrong count alone
    with pytest.raises(ValueError, match="need 2 positive fixed weights"):
        selection_model(y, v, steps=(0.025,), delta=(1.0, 0.0))  # a zero weight alone


def test_split_shared_group_rules_each_alone_and_at_their_boundaries():
    from evsynth.stats.subgroups import split_shared_group

    for n, parts in ((100, 1), (2, 3)):  # too few parts alone; fewer participants than parts alone
        with pytest.raises(ValueError, match="two or more parts"):
            split_shared_group(n, parts)
    assert [s.n for s in split_shared_group(3, 3)] == [1, 1, 1]  # n = parts: one each
    assert [s.events for s in split_shared_group(10, 2, events=0)] == [0, 0]
    assert [s.events for s in split_shared_group(10, 2, events=10)] == [5, 5]
    for events in (-1, 11):
        with pytest.raises(ValueError, match="events must lie between 0 and n"):
            split_shared_group(10, 2, events=events)


def test_rma_mv_settings_and_saturation_rules_each_alone():
    y, V = [0.1, 0.4], np.diag([0.05, 0.08])
    with pytest.raises(ValueError, match="unknown method 'DL'"):
        rma_mv(y, V, method="DL", test="z")  # method alone
    with pytest.raises(ValueError, match="or test 'F'"):
        rma_mv(y, V, method="REML", test="F")  # test alone
    X = np.eye(2)
    fit = rma_mv(y, V, X, test="z")  # k = p: estimable with z, tau² not estimable (metafor: 0)
    assert fit.tau2 == 0.0 and "saturated" in fit.note
    np.testing.assert_allclose(fit.beta, y, rtol=1e-14)
    with pytest.raises(ValueError, match="2 coefficients cannot be estimated and tested from 2"):
        rma_mv(y, V, X, test="t")  # k = p with a t test alone


def test_block_covariance_refuses_a_non_square_and_an_asymmetric_matrix_each_alone():
    from evsynth.stats.multivariate import BlockCovariance

    with pytest.raises(ValueError, match="symmetric square"):
        BlockCovariance.from_dense(np.full((2, 3), 0.1))
    with pytest.raises(ValueError, match="symmetric square"):
        BlockCovariance.from_dense(np.array([[0.1, 0.02], [0.03, 0.1]]))
    assert BlockCovariance.from_dense(np.array([[0.1, 0.02], [0.02, 0.1]])).k == 2


@pytest.mark.parametrize("method", ["DL", "PM", "reml"])
def test_fisher_scoring_refuses_every_estimator_but_ml_and_reml(method):
    from evsynth.stats import tau2

    y, v = np.array([0.1, 0.4, 0.3]), np.array([0.05, 0.06, 0.04])
    with pytest.raises(ValueError, match=f"Fisher scoring is for ML and REML, not {method}"):
        tau2.fisher_scoring_tau2(y, v, method)
    with pytest.raises(ValueError, match=f"Fisher scoring is for ML and REML, not {method}"):
        tau2.fisher_scoring_tau2_rows(y[None, :], v[None, :], method)
    with pytest.raises(ValueError, match=f"Fisher scoring is for ML and REML, not {method}"):
        tau2.fisher_scoring_tau2_large(y, v, method)


def test_he_start_is_the_hedges_estimate_floored_at_zero_row_by_row():
    """metafor's ML/REML start: var(y) (ddof 1) - mean(v), floored at 0; 0 for k = 1."""
    from evsynth.stats.tau2 import he_start

    y = np.array([[0.0, 1.0, 2.0], [0.1, 0.1, 0.2]])
    v = np.array([[0.1, 0.2, 0.3], [0.1, 0.1, 0.1]])
    np.testing.assert_allclose(he_start(y, v), [1.0 - 0.2, 0.0], rtol=1e-15, atol=0)
    np.testing.assert_array_equal(he_start(np.array([[0.3], [0.5]]), np.array([[0.1], [0.2]])), [0.0, 0.0])


def test_subgroup_tests_need_two_subgroups_and_a_known_se_method():
    from evsynth.stats.subgroups import separate_tau2_test

    y, v = [0.1, 0.4, 0.3, 0.2], [0.05, 0.06, 0.04, 0.05]
    with pytest.raises(ValueError, match="at least two subgroups"):
        separate_tau2_test(y, v, ["a"] * 4)
    with pytest.raises(ValueError, match="at least two subgroups"):  # levels keep only those present
        separate_tau2_test(y, v, ["a", "a", "b", "b"], levels=["a", "c"])
    with pytest.raises(ValueError, match="se_method must be 'wald' or 'hksj', not 'knha'"):
        separate_tau2_test(y, v, ["a", "a", "b", "b"], se_method="knha")
    ordered = separate_tau2_test(y, v, ["a", "a", "b", "b"], levels=["b", "c", "a"])
    assert [s.label for s in ordered.subgroups] == ["b", "a"]


def test_meta_regression_paule_mandel_is_zero_below_the_expected_q_and_refuses_bad_input():
    """PM meta-regression: generalised Q(0) < k - p gives tau² = 0 exactly (metafor's PM floor),
    so the fit is the common-effect one; k < p and an unknown estimator are refused."""
    from evsynth.stats.smallstudy import meta_regression

    y = np.array([0.10, 0.12, 0.15, 0.16, 0.20])
    v = np.full(5, 0.05)
    X = np.column_stack([np.ones(5), np.arange(5.0)])
    pm, fe = meta_regression(y, v, X, estimator="PM"), meta_regression(y, v, X, estimator="FE")
    assert pm.tau2 == 0.0
    np.testing.assert_allclose(pm.beta, fe.beta, rtol=1e-14)
    np.testing.assert_allclose(pm.se, fe.se, rtol=1e-14)
    with pytest.raises(ValueError, match="2 studies cannot estimate 3 coefficients"):
        meta_regression(y[:2], v[:2], np.column_stack([np.ones(2), [0.0, 1.0], [1.0, 3.0]]))
    with pytest.raises(ValueError, match="unknown tau² estimator 'XX'"):
        meta_regression(y, v, X, estimator="XX")


def test_selection_model_with_a_singular_hessian_has_nan_ses_one_per_parameter(monkeypatch):
    """Where the Hessian cannot be inverted every SE is NaN, and with tau² at 0 (not a parameter
    of the Hessian) the δ SEs still number one per interval (the first, the reference, NaN)."""
    from evsynth.stats import selection

    rng = np.random.default_rng(3)
    v = rng.uniform(0.01, 0.05, 10)
    y = 0.3 * np.sqrt(v) * rng.normal(size=10)  # homogeneous around 0: both p-value intervals used

    def singular(*args, **kwargs):
        raise np.linalg.LinAlgError("singular")

    monkeypatch.setattr(selection.np.linalg, "inv", singular)
    again = selection.selection_model(y, v, steps=(0.5,))
    assert again.tau2 == 0.0 and np.isfinite(again.theta) and np.isnan(again.se)
    assert len(again.delta_se) == 2 and all(np.isnan(again.delta_se))


def test_selection_polish_and_hessian_are_exact_on_a_quadratic():
    """The Newton polish after L-BFGS-B and the central-difference Hessian, on a function they
    must get exactly (up to rounding): a convex quadratic with cross terms, minimum away from 0,
    started far from it (the line search must accept full steps; one step lands on it)."""
    from evsynth.stats.selection import _hessian, _newton

    A = np.array([[3.0, 0.8, -0.4], [0.8, 2.0, 0.3], [-0.4, 0.3, 1.5]])
    a = np.array([0.7, -1.3, 2.1])

    def f(x):
        d = x - a
        return float(d @ A @ d) + 5.0

    np.testing.assert_allclose(_hessian(f, np.array([0.2, 0.5, -0.3])), 2 * A, rtol=1e-5)
    np.testing.assert_allclose(_newton(f, np.array([3.0, 2.0, -4.0])), a, rtol=0, atol=1e-7)


def test_every_default_level_of_the_statistics_layer_is_the_conventional_95_percent():
    """A default alpha is 0.05 and a default level 0.95 (or 95 where levels are percentages):
    callers that rely on the default get the 95% intervals the reports and metafor state."""
    import importlib
    import inspect
    import pkgutil

    import evsynth.stats

    seen = 0
    for info in pkgutil.walk_packages(evsynth.stats.__path__, "evsynth.stats."):
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if inspect.isfunction(obj) and obj.__module__ == module.__name__:
                for p in inspect.signature(obj).parameters.values():
                    if p.name in ("alpha", "level") and p.default not in (inspect.Parameter.empty, None):
                        assert p.default in {"alpha": (0.05,), "level": (0.95, 95.0)}[p.name], (info.name, name)
                        seen += 1
    assert seen >= 30


def test_dummies_code_every_level_and_symmetry_is_checked_at_its_tolerance():
    """dummies(): with an intercept, the first level is the reference and every other level has
    its column; BlockCovariance.from_dense accepts an asymmetry up to 1e-14 x max|V| and no more."""
    from evsynth.stats.multivariate import BlockCovariance, dummies

    X, names = dummies(["a", "b", "c", "b"], intercept=True)
    np.testing.assert_array_equal(X, [[1, 0, 0], [1, 1, 0], [1, 0, 1], [1, 1, 0]])
    assert names == ("intrcpt", "b", "c")
    X, names = dummies(["a", "b", "c"], levels=["c", "a", "b"], intercept=False)
    np.testing.assert_array_equal(X, [[0, 1, 0], [0, 0, 1], [1, 0, 0]])
    assert names == ("c", "a", "b")
    near = np.array([[1.0, 0.2], [0.2 + 0.5e-14, 1.0]])
    assert BlockCovariance.from_dense(near).k == 2
    with pytest.raises(ValueError, match="symmetric square"):
        BlockCovariance.from_dense(np.array([[1.0, 0.2], [0.2 + 1.5e-14, 1.0]]))


def test_unequal_subgroups_count_their_own_trials_and_k2_regression_takes_knha():
    """Subgroups of unequal size (3 and 2) report their own k in both subgroup tests; a k = 2
    intercept-only meta-regression with Knapp-Hartung has a t test on k - p = 1 df (metafor)."""
    from evsynth.stats.smallstudy import meta_regression
    from evsynth.stats.subgroups import common_tau2_test, separate_tau2_test

    y, v, groups = [0.1, 0.4, 0.3, 0.6, 0.5], [0.05, 0.06, 0.04, 0.05, 0.07], ["a", "a", "a", "b", "b"]
    for result in (common_tau2_test(y, v, groups), separate_tau2_test(y, v, groups)):
        assert [(s.label, s.k) for s in result.subgroups] == [("a", 3), ("b", 2)]
    fit = meta_regression([0.1, 0.5], [0.04, 0.05], np.ones((2, 1)), estimator="DL", ci_method="hksj")
    assert fit.stat_df == 1.0
