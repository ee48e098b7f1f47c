"""Statistics-layer behaviour the seed-3003 mutation sample (mutation/report-seed3003.md) found
untested, pinned by pattern: every interval checked against the SE it is built from (normal as
well as t critical values, H² as well as I² bounds, the Egger limit's SE as well as its CI); a
rule's boundary at metafor's strict inequality; the smallest input a function accepts (2 trials);
a covariance's sign checked against its formula, not only against reversal; every entry point of
an iteration (a given start, a root exactly at 0, enumerated or batched refits, the start of a
fit that may not converge) against a reference; internal batched routines against scipy or the
single path on inputs that reach their safeguards (heavy tails, two humps)."""

from __future__ import annotations

from itertools import permutations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from evsynth.data.network import fit_network
from evsynth.stats import bayes, bayes_batch
from evsynth.stats._summary import i2_test_based_ci
from evsynth.stats.dependent import ClusteredCovariance
from evsynth.stats.influence import influence
from evsynth.stats.metaregression import _batched_fits, moderator_design, permutation_test, predict
from evsynth.stats.multilevel import fit_multilevel
from evsynth.stats.multivariate import rma_mv
from evsynth.stats.qprofile import WeightedPass, generalised_q, solve_q_large, solve_q_rows
from evsynth.stats.robust import cr2, linear_contrasts
from evsynth.stats.smallstudy import egger_test
from evsynth.stats.timepoints import fit_timepoints
from oracle._oracle import load
from stats.test_network_invariance import assert_same_fit, fit, reverse, table

BUBBLE = load("metaregression_bubble")
CASES_NETWORK = load("metafor_network")


# ------------------------------------------------- intervals agree with the SE they are built from
def test_fitted_values_under_a_z_test_use_the_normal_critical_value():
    """dat.bcg, rma(yi, vi, mods = ~ ablat) with test="z" (no df): predict() at C = I is the
    coefficients' own Wald CI, estimate ± qnorm(0.975) SE (metafor's predict.rma)."""
    i = BUBBLE["bcg_ablat_knha"]["inputs"]
    X, names = moderator_design([("ablat", i["ablat"], "continuous")])
    for alpha in (0.05, 0.1):
        fit = rma_mv(np.array(i["yi"]), np.array(i["vi"]), X, names=names, test="z", alpha=alpha)
        assert fit.stat_df is None
        pred = predict(fit, np.eye(2))
        z = stats.norm.ppf(1 - alpha / 2)
        np.testing.assert_allclose(pred.ci_lower, np.array(fit.beta) - z * np.array(fit.se), rtol=1e-12)
        np.testing.assert_allclose(pred.ci_upper, np.array(fit.beta) + z * np.array(fit.se), rtol=1e-12)
        np.testing.assert_allclose(pred.ci_lower, fit.ci_lower, rtol=1e-12)
        np.testing.assert_allclose(pred.ci_upper, fit.ci_upper, rtol=1e-12)


@pytest.mark.parametrize("k", [3, 10, 40])
def test_h2_bounds_are_the_i2_bounds_on_the_h2_scale(k):
    """Higgins & Thompson (2002): I² = (H² - 1) / H², so each H² bound is 1 / (1 - I²/100) of the
    matching I² bound; Q below, at and above k - 1 (both SE formulas, H² clipped at 1)."""
    q = np.array([0.5, k - 1.0, k + 0.5, 3.0 * k, 10.0 * k])
    i2_lo, i2_hi, h2_lo, h2_hi = i2_test_based_ci(q, k, 0.05)
    np.testing.assert_allclose(h2_lo, 1 / (1 - i2_lo / 100), rtol=1e-12)
    np.testing.assert_allclose(h2_hi, 1 / (1 - i2_hi / 100), rtol=1e-12)
    assert np.all(h2_hi >= h2_lo) and np.all(h2_lo >= 1.0) and h2_lo[-1] > 1.0


def test_egger_limit_se_is_the_intercepts():
    """regtest(model = "lm"): the limit estimate (intercept) has CI limit ± qt(0.975, k - 2) SE,
    so the reported limit SE is the intercept's, not the slope's (metafor regtest's ``fit``)."""
    rng = np.random.default_rng(3003)
    vi = rng.uniform(0.01, 0.2, 12)
    yi = 0.2 + 1.5 * np.sqrt(vi) + rng.normal(0, np.sqrt(vi))
    res = egger_test(yi, vi, model="lm")
    crit = stats.t.ppf(0.975, 10)
    assert res.limit_se != pytest.approx(res.slope_se, rel=1e-3)
    assert res.limit_ci_upper - res.limit == pytest.approx(crit * res.limit_se, rel=1e-12)
    assert res.limit - res.limit_ci_lower == pytest.approx(crit * res.limit_se, rel=1e-12)


# ------------------------------------------------------------- boundaries and smallest inputs
def test_hat_exactly_three_over_k_is_not_influential():
    """metafor's influence.rma.uni flags ``hat > 3 * p / k`` (strictly). k = 9, vi = 1 and eight of 4:
    DL gives tau² = 0 here, so the first study's hat is 1 / (1 + 8/4) = 1/3 = 3/k exactly."""
    vi = np.array([1.0] + [4.0] * 8)
    yi = np.array([0.1, 0.2, 0.0, 0.1, 0.15, 0.05, 0.1, 0.12, 0.08])
    res = influence(yi, vi, estimator="DL")
    assert res.full.tau2[0] == 0.0 and res.hat[0] == res.thresholds["hat"]
    assert "hat" not in res.criteria[0]
    vi[0] = 0.9  # a little more weight crosses the boundary
    assert "hat" in influence(yi, vi, estimator="DL").criteria[0]


def test_cluster_robust_contrasts_accept_two_trials():
    """linear_contrasts promises at least 2 trials (as cr2 does): with exactly 2 it gives cr2's
    per-coefficient SEs and Satterthwaite df (C = I)."""
    yi = np.array([0.3, 0.5, 0.4, 0.1, 0.2])
    vi = np.array([0.04, 0.05, 0.03, 0.06, 0.05])
    trial = ["a", "a", "a", "b", "b"]
    fit = fit_multilevel(yi, ClusteredCovariance.constant_correlation(vi, trial, 0.6), test="t")
    got, robust = linear_contrasts(fit, np.eye(1)), cr2(fit)
    assert robust.n_clusters == 2
    np.testing.assert_allclose(got.se, robust.se, rtol=1e-13)
    np.testing.assert_allclose(got.df, robust.df, rtol=1e-13)


# ------------------------------------------- the network's shared-arm covariance from arm sizes
def test_shared_arm_covariance_from_sizes_has_the_sign_of_the_shared_arms_side():
    """dat.hasselblad1998 with one contrast of each three-arm trial dropped (no arm variances, not
    every pair: the arm-size fallback). With equal SDs the shared arm's part of var(y_a) is
    v_a (1/n_shared) / (1/n_t + 1/n_c), and the covariance of two contrasts is + sqrt(part_a part_b)
    when the shared arm is on the same side of both, - when on opposite sides (the arm-size rule
    of evsynth.stats.network.structure's docstring); the fit must equal the one given that
    covariance explicitly.
    Reversal invariance cannot catch a sign error made on both sides, this does."""
    frame = table("hasselblad1998_reml", "sizes")
    for flip in (np.zeros(len(frame), bool), np.arange(len(frame)) % 2 == 1):
        rows = reverse(frame, flip)
        V = np.diag(rows["vi"].to_numpy(float))
        t, c = rows["treatment"].to_numpy(), rows["comparator"].to_numpy()
        nt, nc, vi = (rows[x].to_numpy(float) for x in ("n_treat", "n_ctrl", "vi"))
        part = {}
        for r in range(len(rows)):
            for arm, n in ((t[r], nt[r]), (c[r], nc[r])):
                part[r, arm] = vi[r] * (1 / n) / (1 / nt[r] + 1 / nc[r])
        multi = 0
        for a in range(len(rows)):
            for b in range(a + 1, len(rows)):
                shared = {t[a], c[a]} & {t[b], c[b]}
                if rows["study"][a] == rows["study"][b] and shared:
                    (arm,) = shared
                    same_side = (arm == t[a]) == (arm == t[b])
                    V[a, b] = V[b, a] = (1 if same_side else -1) * np.sqrt(part[a, arm] * part[b, arm])
                    multi += 1
        assert multi == 2  # one covariance in each of the two three-arm trials
        out = CASES_NETWORK["hasselblad1998_reml"]["outputs"]
        explicit = fit_network(rows, treatments=out["treatments"], reference=out["reference"], covariance=V)
        assert_same_fit(explicit, fit("hasselblad1998_reml", rows, "sizes"))


# --------------------------------------------------------------- Q-profile roots: every entry point
def test_q_roots_do_not_depend_on_a_given_start():
    """solve_q_rows with a start (any, below or above the root) finds the roots it finds from 0
    (Halley with its bracket, Brent as fallback); rows with Q(0) <= target stay exactly 0."""
    rng = np.random.default_rng(3003)
    yi, vi = rng.normal(0, 0.5, (4, 9)), rng.uniform(0.02, 0.2, (4, 9))
    q0 = np.array([generalised_q(0.0, y, v) for y, v in zip(yi, vi)])
    targets = q0 * np.array([0.2, 0.5, 0.9, 1.5])  # the last above Q(0): root 0
    base = solve_q_rows(yi, vi, targets)
    assert base[-1] == 0.0 and np.all(base[:-1] > 0)
    for start in (np.zeros(4), np.full(4, 0.05), base * 3 + 1.0):
        np.testing.assert_allclose(solve_q_rows(yi, vi, targets, start=start), base, rtol=1e-10)
    for row in range(3):
        assert generalised_q(base[row], yi[row], vi[row]) == pytest.approx(targets[row], rel=1e-10)


def test_q_root_is_exactly_zero_when_q0_equals_the_target():
    """solve_q_large: Q(0) <= target means tau² = 0 (the Q-profile bound at the boundary, as
    metafor's confint reports it), not a number that Halley's search leaves near 0."""
    rng = np.random.default_rng(7)
    for _ in range(20):
        k = int(rng.integers(3, 60))
        vi = rng.uniform(0.01, 0.3, k)
        yi = rng.normal(0, np.sqrt(vi + 0.05))
        q0 = WeightedPass(yi, vi).at(0.0, "q")["q"]
        for start in (None, 0.0, 0.05, 1.0):
            assert solve_q_large(yi, vi, [q0], start=start)[0] == 0.0


# ------------------------------------------------------------------------ permutation tests
def _permuted_fits(yi, vi, x, method, test):
    """|z or t| of the slope and QM of rma(yi, vi, mods = x[perm], method, test) for every
    ordering of x (k distinct values): the reference permutest(exact = TRUE) enumerates."""
    stat, qm = [], []
    for perm in permutations(range(len(x))):
        X = np.column_stack((np.ones(len(x)), x[list(perm)]))
        fit = rma_mv(yi, vi, X, method=method, test=test)
        stat.append(abs(fit.stat[1]))
        qm.append(fit.qm)
    return np.array(stat), np.array(qm)


@pytest.mark.parametrize("method", ["ML", "REML"])
def test_exact_permutation_p_values_are_the_share_of_refits(method):
    """metafor permutest(exact = TRUE) with k = 5 distinct moderator values: 120 refits, each one
    rma_mv fit with the same method, p = share with |stat| >= observed - 1.5e-8; enumerated when
    the distinct permutations number at most ``iterations`` (here exactly as many)."""
    rng = np.random.default_rng(5)
    x = np.array([1.0, 2.5, 3.0, 4.2, 6.0])
    vi = rng.uniform(0.02, 0.1, 5)
    yi = 0.1 + 0.08 * x + rng.normal(0, np.sqrt(vi + 0.03))
    X = np.column_stack((np.ones(5), x))
    stat, qm = _permuted_fits(yi, vi, x, method, "z")
    res = permutation_test(yi, vi, X, method=method, test="z", iterations=120)
    assert res.exact and res.seed is None and res.iterations == 120
    assert res.p_values[1] == pytest.approx(np.mean(stat >= stat[0] - 1.5e-8), abs=1e-12)
    assert res.qm_p == pytest.approx(np.mean(qm >= qm[0] - 1.5e-8), abs=1e-12)
    assert not permutation_test(yi, vi, X, method=method, test="z", iterations=119).exact


@pytest.mark.parametrize("method", ["ML", "REML"])
@pytest.mark.parametrize("test", ["z", "knha"])
@pytest.mark.parametrize("het", [0.2, 0.02])
def test_batched_refits_are_rma_fits(method, test, het):
    """The permutation refits, all at once, equal one rma_mv fit each (tau² by Fisher scoring
    from metafor's moment start; the coefficient statistics and QM) to 1e-8; precise studies
    (weights up to ~500) so that a wrong information matrix fails to converge in time."""
    rng = np.random.default_rng(11)
    k = 12
    x = rng.uniform(0, 10, k)
    vi = rng.uniform(0.002, 0.01, k)
    yi = 0.2 + 0.05 * x + rng.normal(0, np.sqrt(vi + het))
    perms = np.vstack([np.arange(k)] + [rng.permutation(k) for _ in range(7)])
    X = np.stack([np.column_stack((np.ones(k), x[p])) for p in perms])
    stat, qm = _batched_fits(np.broadcast_to(yi, (8, k)).copy(), np.broadcast_to(vi, (8, k)).copy(), X, method,
                             test, [1])
    for d in range(8):
        fit = rma_mv(yi, vi, X[d], method=method, test=test)
        assert fit.tau2 > 0.002
        np.testing.assert_allclose(stat[d], fit.stat, rtol=1e-8)
        assert qm[d] == pytest.approx(fit.qm, rel=1e-8)


def test_network_i2_is_zero_not_missing_when_q_is_zero_on_one_df():
    """A consistent triangle (C - A = (B - A) + (C - B) exactly, equal variances): Q = 0 on
    1 df, so I² = max(0, (Q - df) / Q) is taken as 0 (there is a df to measure heterogeneity on);
    None is kept for networks without any (df 0, a tree)."""
    frame = pd.DataFrame({"study": ["s1", "s2", "s3"], "treatment": ["B", "C", "C"], "comparator": ["A", "B", "A"],
                          "yi": [0.5, 0.25, 0.75], "vi": [1.0, 1.0, 1.0]})
    res = fit_network(frame, treatments=["A", "B", "C"], reference="A")
    assert res.q == 0.0 and res.q_df == 1 and res.i2 == 0.0
    tree = fit_network(frame.iloc[:2], treatments=["A", "B", "C"], reference="A")
    assert tree.q_df == 0 and tree.i2 is None


# --------------------------------------------------- Bayesian posteriors: mixture quantiles
def test_batched_mixture_quantiles_on_heavy_tailed_mixtures():
    """The posterior of mu is a normal mixture over the tau grid; its quantiles (batched Halley
    steps with a bracket, bisected when a step leaves it) equal scipy's brentq root of
    F(x) = p to 1e-10, on scale mixtures (sds over e^-3..e^2, nearly equal means: unimodal,
    heavy tails) at tail levels down to 0.0005, where Halley steps do leave the bracket."""

    rng = np.random.default_rng(1)
    ps = np.array([0.0005, 0.025, 0.3, 0.5, 0.975, 0.9995])
    for _ in range(60):
        n = int(rng.integers(2, 8))
        wts = rng.dirichlet(np.ones(n))
        m, s = rng.normal(0, 0.2, n), np.exp(rng.uniform(-3, 2, n))
        got = bayes_batch._mixture_quantile(ps, wts[None], m[None, None], s[None, None])[0]
        for p, x in zip(ps, got):
            def excess(t, p=p, wts=wts, m=m, s=s):
                return float(wts @ stats.norm.cdf((t - m) / s)) - p

            ref = optimize.brentq(excess, -500, 500, xtol=1e-14)
            assert x == pytest.approx(ref, rel=1e-10, abs=1e-10)


def test_batched_equal_density_intervals_are_the_single_paths():
    """The shortest (equal-density) interval of the same heavy-tailed mixtures at levels 0.5,
    0.95 and 0.99: the batched Newton pair (its own Jacobian) gives the single path's
    ``bayes._mixture_interval`` to 1e-12 (they agree to ~1e-14; a wrong Jacobian still
    converges nearby, to ~1e-9)."""
    rng = np.random.default_rng(2)
    for _ in range(300):
        n = int(rng.integers(2, 8))
        wts = rng.dirichlet(np.ones(n))
        m, s = rng.normal(0, 0.2, n), np.exp(rng.uniform(-3, 2, n))
        for level in (0.95, 0.5, 0.99):
            with np.errstate(all="ignore"):  # far tails of the sharpest components underflow
                got = bayes_batch._mixture_intervals(level, wts[None], m[None], s[None])[0]
                ref = bayes._mixture_interval(level, wts, m, s)
            for name in ("median", "mean", "central_lower", "central_upper", "shortest_lower", "shortest_upper"):
                assert getattr(got, name) == pytest.approx(getattr(ref, name), rel=1e-12, abs=1e-12), name


@pytest.mark.parametrize(("level", "wts", "m", "s"), [
    (0.8, [0.113, 0.85, 0.037], [-2.4621, -0.0078, -0.9352], [0.3396, 0.8973, 0.6352]),
    (0.5, [0.3427, 0.5943, 0.063], [-3.1771, -0.5155, 0.3153], [0.9513, 0.6656, 0.4143]),
    (0.5, [0.3832, 0.4355, 0.1813], [3.0872, -0.7596, -0.4331], [0.6297, 0.8562, 0.4208]),
])
def test_shortest_interval_of_a_two_humped_mixture(level, wts, m, s):
    """Mixtures with a second hump, where the equal-density Newton pair is not the shortest
    interval and the fallback minimises the width over the lower tail probability p in
    (0, 1 - level): the interval holds ``level`` and is no wider than the narrowest of a fine
    grid of p (brentq quantiles)."""

    wts, m, s = (np.array(x) for x in (wts, m, s))
    wts = wts / wts.sum()
    with np.errstate(all="ignore"):
        got = bayes._mixture_interval(level, wts, m, s)

    def quantile(p):
        return optimize.brentq(lambda t: float(wts @ stats.norm.cdf((t - m) / s)) - p, -50, 50, xtol=1e-13)

    narrowest = min(quantile(p + level) - quantile(p) for p in np.linspace(1e-4, 1 - level - 1e-4, 400))
    covered = wts @ (stats.norm.cdf((got.shortest_upper - m) / s) - stats.norm.cdf((got.shortest_lower - m) / s))
    assert covered == pytest.approx(level, abs=1e-9)
    assert got.shortest_upper - got.shortest_lower <= narrowest + 1e-9
    assert got.shortest_upper - got.shortest_lower < got.central_upper - got.central_lower


@pytest.mark.parametrize("yi", [[0.3, 0.5, 0.1, 0.2, 0.6, 0.4, 0.45, 0.2], [1.3, 0.5, -0.9, 0.2, 1.6, 0.4, -0.45, 0.2]])
@pytest.mark.parametrize("structure", ["HAR", "AR"])
def test_timepoint_fit_starts_from_the_moment_estimate(yi, structure):
    """A fit that does not converge reports its last values ("fitted (REML did not converge: last
    values)"), so where Fisher scoring starts is output: with no iteration allowed the fit is at
    the start, tau² = max(r'r / (k - p) - mean(v), 0.1 mean(v)) in every window (r: deviations
    from the window means, p windows) and rho = 0.5; both branches of the max."""
    trial, time = ["a", "a", "b", "b", "c", "d", "d", "e"], [0, 1, 0, 1, 1, 0, 1, 0]
    yi, vi = np.array(yi), np.array([0.02, 0.03, 0.05, 0.04, 0.02, 0.06, 0.03, 0.04])
    means = {t: yi[np.array(time) == t].mean() for t in (0, 1)}
    r = yi - np.array([means[t] for t in time])
    start = max(r @ r / (8 - 2) - vi.mean(), 0.1 * vi.mean())
    fit = fit_timepoints(yi, ClusteredCovariance.constant_correlation(vi, trial, 0.5), time, structure=structure,
                         max_iter=0)
    assert not fit.converged and fit.rho == 0.5
    np.testing.assert_allclose(fit.tau2, start, rtol=1e-12)
