"""Properties of the Bayesian random-effects posterior (evsynth.stats.bayes).

The oracle (tests/oracle/test_bayes_oracle.py) pins a few datasets to an independent R
computation; these hold for every dataset: the common-effect limit (tau fixed at 0), the
frequentist limit (wide priors, many trials), the k = 1 prior-only posterior of tau, and
the internal consistency of the summaries.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from evsynth.stats.bayes import MuPrior, bayes_meta
from evsynth.stats.bayes_priors import TauPrior, empirical_prior
from evsynth.stats.pooling import pool

PRIORS = [
    TauPrior("half-normal", 0.5),
    TauPrior("half-cauchy", 0.5),
    TauPrior("log-normal", 1.74, -2.56),
    TauPrior("log-t", 2.59, -3.44),
]
COMMON = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def meta_data(draw, min_k=1, max_k=12):
    k = draw(st.integers(min_k, max_k))
    yi = draw(st.lists(st.floats(-3, 3, allow_nan=False), min_size=k, max_size=k))
    vi = draw(st.lists(st.floats(0.005, 2.0, allow_nan=False), min_size=k, max_size=k))
    return np.array(yi), np.array(vi)


@COMMON
@given(data=meta_data())
def test_tau_fixed_at_zero_is_the_common_effect_model(data):
    yi, vi = data
    fit = bayes_meta(yi, vi, TauPrior("fixed", value=0.0), thresholds=(0.0,))
    w = 1 / vi
    theta, se = np.sum(w * yi) / np.sum(w), np.sqrt(1 / np.sum(w))
    z = stats.norm.ppf(0.975)
    assert fit.mu.median == pytest.approx(theta, abs=1e-9)
    assert fit.mu.central_lower == pytest.approx(theta - z * se, abs=1e-9)
    assert fit.mu.shortest_upper == pytest.approx(theta + z * se, abs=1e-9)
    assert fit.prob_above[0] == pytest.approx(stats.norm.sf(-theta / se), abs=1e-9)
    if len(yi) > 1:
        ce = pool(yi, vi, "DL", "wald")
        assert fit.mu.median == pytest.approx(ce.common_theta, abs=1e-9)
        assert fit.mu.central_upper == pytest.approx(ce.common_ci_upper, abs=1e-9)


def test_wide_priors_approach_reml_as_k_grows():
    rng = np.random.default_rng(20260312)
    gaps = []
    for k in (10, 100, 1000):
        vi = rng.uniform(0.02, 0.3, k)
        yi = rng.normal(0.3 + rng.normal(0, 0.2, k), np.sqrt(vi))
        reml = pool(yi, vi, "REML", "wald")
        fit = bayes_meta(yi, vi, TauPrior("half-normal", 100.0), MuPrior(0.0, 1e4))
        gaps.append(abs(fit.mu.mean - reml.theta) / reml.se)
        if k >= 100:  # and the posterior of tau concentrates at the REML estimate
            assert fit.tau.median == pytest.approx(np.sqrt(reml.tau2), rel=2.0 / np.sqrt(k))
    assert gaps[-1] < gaps[0] and gaps[-1] < 0.02


@pytest.mark.parametrize("prior", PRIORS, ids=lambda p: p.family)
def test_one_trial_leaves_tau_at_its_prior_and_centres_mu_on_the_trial(prior):
    fit = bayes_meta([0.4], [0.09], prior, thresholds=(0.4,))
    # flat prior on mu: p(y | tau) is constant for k = 1, so the posterior of tau is the prior
    draws = {"half-normal": stats.halfnorm(scale=0.5), "half-cauchy": stats.halfcauchy(scale=0.5)}
    if prior.family in draws:
        assert fit.tau.median == pytest.approx(draws[prior.family].median(), rel=1e-9)
        assert fit.tau.central_upper == pytest.approx(draws[prior.family].ppf(0.975), rel=1e-8)
    elif prior.family == "log-normal":
        assert fit.tau.median == pytest.approx(np.exp(-2.56 / 2), rel=1e-9)
    assert fit.mu.median == pytest.approx(0.4, abs=1e-12)
    assert fit.prob_above[0] == pytest.approx(0.5, abs=1e-12)
    assert fit.shrunken_median[0] == pytest.approx(0.4, abs=1e-12)


@COMMON
@given(data=meta_data(), prior=st.sampled_from(PRIORS))
def test_summaries_are_consistent(data, prior):
    yi, vi = data
    fit = bayes_meta(yi, vi, prior, thresholds=(-1.0, 0.0, 1.0))
    for s in (fit.mu, fit.tau, fit.prediction):
        assert s.central_lower < s.median < s.central_upper
        assert s.shortest_upper - s.shortest_lower <= s.central_upper - s.central_lower + 1e-9
    assert fit.tau.central_lower >= 0 and fit.tau.shortest_lower >= 0
    # a new trial is more uncertain than the mean effect
    assert fit.prediction.central_upper - fit.prediction.central_lower >= fit.mu.central_upper - fit.mu.central_lower
    assert fit.prob_above[0] >= fit.prob_above[1] >= fit.prob_above[2]
    assert all(lo <= m <= hi for lo, m, hi in zip(fit.shrunken_lower, fit.shrunken_median, fit.shrunken_upper))


@COMMON
@given(data=meta_data(), prior=st.sampled_from(PRIORS))
def test_mirroring_the_data_mirrors_mu(data, prior):
    yi, vi = data
    a, b = bayes_meta(yi, vi, prior), bayes_meta(-yi, vi, prior)
    assert a.mu.median == pytest.approx(-b.mu.median, abs=1e-9)
    assert a.mu.shortest_lower == pytest.approx(-b.mu.shortest_upper, abs=1e-8)
    assert a.tau.median == pytest.approx(b.tau.median, rel=1e-9)


def test_a_tight_normal_prior_on_mu_dominates():
    fit = bayes_meta([1.0, 1.2], [0.1, 0.2], TauPrior("half-normal", 0.5), MuPrior(-0.5, 1e-4))
    assert fit.mu.median == pytest.approx(-0.5, abs=1e-6)


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ("half-normal",),
            {"scale": 0.0},
        ),
        (
            ("half-cauchy",),
            {"scale": -1.0},
        ),
        (
            ("gamma",),
            {},
        ),
    ],
)
def test_bad_priors_are_refused(args, message):
    with pytest.raises(ValueError):
        TauPrior(*args, **message)


def test_empirical_priors_are_refused_for_other_measures():
    with pytest.raises(ValueError, match="defined for SMD only, not MD"):
        empirical_prior("rhodes2015", "MD", "any", "any")
    with pytest.raises(ValueError, match="unknown empirical prior"):
        empirical_prior("turner2012", "OR", "any", "any")
    prior = empirical_prior("turner2015", "RR", "pain", "nonpharma-control")
    assert (prior.location, prior.scale) == (-2.05, 1.71)
