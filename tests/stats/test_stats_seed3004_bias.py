"""Statistics-layer behaviour the seed-3004 mutation sample (mutation/report-seed3004.md) found
untested in the heterogeneity and small-study code, pinned by pattern: a batched root search
against the closed form it must reach when one exists (k = 2) on inputs that reach its bracket
safeguard; a maximum-likelihood fit on the tau² boundary against the closed form it reduces to
(a common-effect mean); and normal-mixture quantiles (Bayesian posteriors) against brentq on
well-separated humps, where the triage found a bug."""

from __future__ import annotations

import numpy as np

from evsynth.stats.qprofile import q_profile_ci_rows, q_profile_targets
from evsynth.stats.selection import selection_model


# ------------------------------------------------- batched root searches against a closed form
def test_batched_q_profile_limits_of_two_trials_are_the_closed_form():
    """With k = 2, Q(tau²) = (y₁ - y₂)² / (v₁ + v₂ + 2 tau²), so the limit solving Q = c is
    max(0, ((y₁ - y₂)²/c - v₁ - v₂) / 2) exactly (Viechtbauer 2007). 400 generated pairs, solved
    together by the batched Halley search at three levels: some Halley steps leave the bracket
    (rounding in 1/Q, which is linear here) and are replaced by bisection of it. Every limit
    agrees to 1e-11 relative (measured <= 1.1e-13).

    Kills stats/qprofile.py:176:66:2710 (the bisection 0.5 * (lo + hi) -> 0.5 / (lo + hi)):
    19 of the 2,400 limits then stop at a wrong point (e.g. 9.25e7 -> 5.4e-9)."""
    rng = np.random.default_rng(7)
    v = rng.uniform(0.05, 1.0, (400, 2))
    y = rng.normal(0, 1, (400, 2)) * rng.uniform(0.2, 6, (400, 1))
    d2 = (y[:, 0] - y[:, 1]) ** 2
    for alpha in (0.5, 0.05, 0.001):
        limits = q_profile_ci_rows(y, v, alpha)
        for got, c in zip(limits, q_profile_targets(1, alpha)):
            exact = np.maximum(0.0, (d2 / c - v.sum(1)) / 2)
            np.testing.assert_allclose(got, exact, rtol=1e-11, atol=1e-300, err_msg=f"alpha {alpha}, Q = {c}")


# ------------------------------------------------- ML fits on the tau² boundary
def test_selection_model_with_unit_weights_at_tau2_zero_is_the_common_effect_mean():
    """With every weight fixed at 1 the step-function model is the ML random-effects model
    (Vevea & Hedges 1995); on homogeneous data its tau² is 0 and theta must be the
    inverse-variance mean Σy/v / Σ1/v. Twelve generated data sets (k 6-19, under-dispersed):
    tau² is exactly 0 and theta within 2e-9 of the mean (the Newton polish of mu on the
    boundary reaches ~1e-9, where the log-likelihood's rounding hides any further change;
    measured <= 8.7e-10). metafor's ``selmodel`` is pinned at 5e-5 (its optim() limit) in
    tests/oracle/test_small_study_adjusted.py, too loose to see this.

    Kills stats/selection.py:125:21:1319 (mu left out of the boundary polish: theta is
    L-BFGS-B's, 3.7e-9 to 5.1e-9 from the mean on these sets)."""
    for seed in range(12):
        rng = np.random.default_rng(seed)
        k = int(rng.integers(6, 20))
        v = rng.uniform(0.01, 0.08, k)
        y = 0.2 + 0.5 * np.sqrt(v) * rng.normal(size=k)
        fit = selection_model(y, v, steps=(0.025,), delta=(1.0, 1.0))
        assert fit.tau2 == 0.0, seed
        assert abs(fit.theta - np.sum(y / v) / np.sum(1 / v)) < 2e-9, seed


# ------------------------------------------------- normal-mixture quantiles between separated humps
def _separated_mixtures(count: int, seed: int):
    """2-5 components with means spread over sd 0.2, 2 or 10 and sds e^-3..e^1: unimodal
    scale mixtures as well as humps so far apart that the cdf is flat (0 or 1 in floating
    point) between them."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        n = int(rng.integers(2, 6))
        yield rng.dirichlet(np.ones(n)), rng.normal(0, rng.choice([0.2, 2, 10]), n), np.exp(rng.uniform(-3, 1, n))


def test_mixture_quantiles_between_separated_humps_are_brentq_roots():
    """The posterior of mu is a normal mixture; its quantiles (single and batched path) equal
    scipy's brentq root of F(x) = p to 1e-10 (measured <= 1.1e-13) at levels 1e-6 ... 0.9995,
    on 80 generated mixtures, most of them with well-separated humps.

    A bug this triage found: the Halley steps started at mean + sd Φ⁻¹(p) with an open
    bracket; landing where the cdf is saturated, Halley's correction shrank each step to the
    tail's scale s²/(x - m), and after 100 such steps the quantile was returned far from the
    root (e.g. 14.97 for 2.64: 96 of these 800 quantiles wrong on either path, and shortest
    intervals with lower > upper). Fixed by bracketing from the components' own quantiles and
    keeping the Halley factor within [1/2, 2]."""
    from scipy import optimize, stats

    from evsynth.stats import bayes, bayes_batch

    ps = np.array([1e-6, 0.0005, 0.025, 0.1, 0.3, 0.5, 0.7, 0.9, 0.975, 0.9995])
    for wts, m, s in _separated_mixtures(80, 12):
        with np.errstate(all="ignore"):
            single = bayes._mixture_quantile(ps, wts, m, s)
            batched = bayes_batch._mixture_quantile(ps, wts[None], m[None, None], s[None, None])[0]
        def excess(t, p, wts=wts, m=m, s=s):
            return float(wts @ stats.norm.cdf((t - m) / s)) - p

        for p, x, xb in zip(ps, single, batched):
            ref = optimize.brentq(excess, -500, 500, args=(p,), xtol=1e-14)
            assert abs(x - ref) <= 1e-10 * max(1.0, abs(ref)), (p, x, ref)
            assert abs(xb - ref) <= 1e-10 * max(1.0, abs(ref)), (p, xb, ref)


def test_shortest_intervals_of_separated_mixtures_hold_their_level():
    """The shortest interval of the same kind of mixtures (Newton pair, or the width
    minimisation over p when the humps make it two-humped) has lower < upper, holds level
    to 1e-9 and is no wider than the central interval (before the quantile fix, 37 of
    these 180 intervals failed: lower > upper, or a coverage far from level)."""
    from scipy import stats

    from evsynth.stats import bayes

    for wts, m, s in _separated_mixtures(60, 13):
        for level in (0.5, 0.8, 0.95):
            with np.errstate(all="ignore"):
                iv = bayes._mixture_interval(level, wts, m, s)
            covered = wts @ (stats.norm.cdf((iv.shortest_upper - m) / s) - stats.norm.cdf((iv.shortest_lower - m) / s))
            assert iv.shortest_lower < iv.shortest_upper
            assert abs(covered - level) < 1e-9, (level, covered)
            assert iv.shortest_upper - iv.shortest_lower <= (iv.central_upper - iv.central_lower) * (1 + 1e-9)
