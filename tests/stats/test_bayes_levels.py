"""The Bayesian posterior at levels other than the oracle's 95%, in both directions, and the
prior tables and densities, each against an independent computation.

The R oracle (tests/oracle/test_bayes_oracle.py) pins every summary at level 0.95 only, and the
mutation samples (mutation/report.md) found survivors in what only other levels, the other sign
of the effect or an unused table cell reach. Here:

* the posterior of mu, of a new trial's effect and of tau is integrated once more with
  scipy.integrate.quad over tau (flat prior on mu: mu | tau, y is normal with the GLS mean and
  variance 1 / sum w_i; the marginal likelihood of tau is prod sqrt(w_i) / sqrt(W) times
  exp(-Q(tau) / 2)), and each reported limit must sit at its probability: F(central lower) =
  (1 - level) / 2, F(central upper) = (1 + level) / 2, F(b) - F(a) = level with f(a) = f(b) for
  the shortest interval, P(mu > t) = 1 - F(t), at levels 0.90 and 0.99, for dat.bcg's log risk
  ratios (metadat, Colditz et al. 1994) and the same negated, by both bayes_meta and bayes_many;
* every cell of the empirical prior tables is compared with bayesmeta's transcription
  (Röver, R package bayesmeta, R/bayesmeta.R: ``TurnerEtAlParameters``, Turner et al. 2015
  Table IV; ``RhodesEtAlParameters``, Rhodes et al. 2015 Table 3, area "other"), which was
  typed independently of this package;
* each prior density is scipy.stats' density of that distribution, transformed to tau.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy import integrate, stats

from evsynth.stats.bayes import bayes_meta
from evsynth.stats.bayes_batch import bayes_many
from evsynth.stats.bayes_priors import EMPIRICAL, TauPrior, empirical_prior, unit_information_sd

YI = np.array([-0.8893, -1.5854, -1.3481, -1.4416, -0.2175, -0.7861, -1.6209, 0.0120, -0.4694, -1.3713,
               -0.3394, 0.4459, -0.0173])
VI = np.array([0.3256, 0.1946, 0.4154, 0.0200, 0.0512, 0.0069, 0.2230, 0.0040, 0.0564, 0.0730,
               0.0124, 0.5325, 0.0714])
PRIORS = {"half-normal": TauPrior("half-normal", scale=0.5),
          "log-t": TauPrior("log-t", location=-3.44, scale=2.59, df=5.0)}
PROB_TOL = 1e-7  # quad at epsrel 1e-11; the package's limits solve their equations to ~1e-10


class Posterior:
    """The posterior by adaptive quadrature over tau (flat prior on mu)."""

    def __init__(self, y, v, prior: TauPrior):
        self.y, self.v, self.prior = y, v, prior
        self.norm = self._quad(lambda t: 1.0)

    def _pieces(self, tau):
        w = 1 / (self.v + tau * tau)
        W = w.sum()
        m = (w * self.y).sum() / W
        log_lik = 0.5 * np.log(w).sum() - 0.5 * np.log(W) - 0.5 * (w * (self.y - m) ** 2).sum()
        return m, W, np.exp(log_lik + float(self.prior.log_density(tau)))

    def _quad(self, g, upper=np.inf):
        def integrand(tau):
            m, W, dens = self._pieces(tau)
            return dens * g((tau, m, W))
        total = 0.0
        for a, b in ((0.0, 0.5), (0.5, 2.0), (2.0, upper)):
            if a < upper:
                total += integrate.quad(integrand, a, min(b, upper), epsabs=0, epsrel=1e-11, limit=400)[0]
        return total / getattr(self, "norm", 1.0)

    def cdf(self, x, new_trial=False):
        def g(p):
            tau, m, W = p
            return stats.norm.cdf(x, m, np.sqrt(1 / W + (tau * tau if new_trial else 0.0)))
        return self._quad(g)

    def pdf(self, x, new_trial=False):
        def g(p):
            tau, m, W = p
            return stats.norm.pdf(x, m, np.sqrt(1 / W + (tau * tau if new_trial else 0.0)))
        return self._quad(g)

    def mean(self):
        return self._quad(lambda p: p[1])  # a new trial's effect has mu's mean

    def tau_cdf(self, t):
        return self._quad(lambda p: 1.0, upper=t)


@pytest.fixture(scope="module")
def posteriors():
    return {(name, sign): Posterior(sign * YI, VI, prior) for name, prior in PRIORS.items() for sign in (1, -1)}


@pytest.mark.parametrize("level", (0.90, 0.99))
@pytest.mark.parametrize("sign", (1, -1))
@pytest.mark.parametrize("prior", sorted(PRIORS))
def test_posterior_limits_sit_at_their_probabilities(posteriors, prior, sign, level):
    post = posteriors[(prior, sign)]
    thresholds = (0.0, -0.5 * sign)
    single = bayes_meta(sign * YI, VI, PRIORS[prior], level=level, thresholds=thresholds, shrinkage=False)
    (batched,) = bayes_many([sign * YI], [VI], PRIORS[prior], level=level, thresholds=thresholds, shrinkage=False)
    lo_p, hi_p = (1 - level) / 2, (1 + level) / 2
    for fit in (single, batched):
        assert fit.level == level
        for interval, new_trial in ((fit.mu, False), (fit.prediction, True)):
            cdf = functools.partial(post.cdf, new_trial=new_trial)
            assert cdf(interval.median) == pytest.approx(0.5, abs=PROB_TOL)
            assert interval.mean == pytest.approx(post.mean(), abs=1e-8)
            assert cdf(interval.central_lower) == pytest.approx(lo_p, abs=PROB_TOL)
            assert cdf(interval.central_upper) == pytest.approx(hi_p, abs=PROB_TOL)
            a, b = interval.shortest_lower, interval.shortest_upper
            assert cdf(b) - cdf(a) == pytest.approx(level, abs=PROB_TOL)
            assert post.pdf(a, new_trial) == pytest.approx(post.pdf(b, new_trial), rel=1e-5)
            assert b - a <= interval.central_upper - interval.central_lower + 1e-12
        for t, p, p_new in zip(thresholds, fit.prob_above, fit.prob_above_prediction):
            assert p == pytest.approx(1 - post.cdf(t), abs=PROB_TOL)
            assert p_new == pytest.approx(1 - post.cdf(t, True), abs=PROB_TOL)
        assert post.tau_cdf(fit.tau.median) == pytest.approx(0.5, abs=PROB_TOL)
        assert post.tau_cdf(fit.tau.central_lower) == pytest.approx(lo_p, abs=PROB_TOL)
        assert post.tau_cdf(fit.tau.central_upper) == pytest.approx(hi_p, abs=PROB_TOL)
        assert post.tau_cdf(fit.tau.shortest_upper) - post.tau_cdf(fit.tau.shortest_lower) == pytest.approx(
            level, abs=PROB_TOL)


# bayesmeta R/bayesmeta.R, TurnerEtAlParameters (Turner et al. 2015 Table IV): log tau² ~ N(mu, sigma²),
# outcome rows "pain", "quality of life / functioning (dichotomized)", "mental health indicators",
# "subjective outcomes (various)"; columns pharmacological vs placebo / control, vs pharmacological,
# non-pharmacological vs placebo / control, vs pharmacological, vs non-pharmacological.
BAYESMETA_TURNER = {
    "pain": ((-1.83, 1.52), (-2.06, 1.58), (-2.05, 1.71), (-0.80, 1.24), (-1.38, 1.45)),
    "quality of life / functioning": ((-2.54, 1.54), (-2.78, 1.60), (-2.77, 1.73), (-1.51, 1.27), (-2.10, 1.47)),
    "mental health indicators": ((-2.12, 1.53), (-2.35, 1.60), (-2.34, 1.72), (-1.09, 1.27), (-1.67, 1.47)),
    "subjective outcomes": ((-2.70, 1.52), (-2.93, 1.58), (-2.92, 1.71), (-1.67, 1.25), (-2.26, 1.45)),
}
TURNER_COMPARISONS = ("pharma-placebo", "pharma-pharma", "nonpharma-control", "nonpharma-pharma", "nonpharma-nonpharma")
# bayesmeta RhodesEtAlParameters (Rhodes et al. 2015 Table 3, area "other"): log tau² ~ location + scale t_5;
# rows "general physical health and adverse event and pain and quality of life / functioning" and
# "various subjectively measured outcomes"; the marginal ("any") row is RhodesEtAlPrior(outcome = NA).
BAYESMETA_RHODES = {
    "physical health, adverse event, pain, quality of life / functioning": ((-3.16, 2.50), (-3.44, 2.44),
                                                                            (-3.02, 2.27)),
    "subjective outcomes": ((-2.76, 2.58), (-3.03, 2.59), (-2.62, 2.41)),
    "any": ((-3.44, 2.59),),
}
RHODES_COMPARISONS = ("pharma-placebo", "pharma-pharma", "nonpharma")


def test_every_empirical_prior_cell_is_bayesmetas():
    expected = {("turner2015", o, c): cell for o, row in BAYESMETA_TURNER.items()
                for c, cell in zip(TURNER_COMPARISONS, row)}
    expected |= {("rhodes2015", o, c): cell for o, row in BAYESMETA_RHODES.items()
                 for c, cell in zip(RHODES_COMPARISONS if o != "any" else ("any",), row)}
    expected[("turner2015", "any", "any")] = (-2.56, 1.74)  # Turner et al. 2015 p. 993 (not in bayesmeta)
    cells = {(name, o, c) for name, (_, table, _) in EMPIRICAL.items() for o, row in table.items() for c in row}
    assert cells == set(expected)
    for (name, outcome, comparison), (location, scale) in expected.items():
        measure = "SMD" if name == "rhodes2015" else "OR"
        prior = empirical_prior(name, measure, outcome, comparison)
        assert (prior.location, prior.scale) == (location, scale)
        assert prior.family == ("log-t" if name == "rhodes2015" else "log-normal")


@pytest.mark.parametrize("prior, reference", [
    (TauPrior("half-normal", scale=0.5), stats.halfnorm(scale=0.5)),
    (TauPrior("half-cauchy", scale=0.3), stats.halfcauchy(scale=0.3)),
])
def test_half_priors_are_scipys(prior, reference):
    tau = np.array([1e-3, 0.1, 0.5, 1.0, 3.0])
    np.testing.assert_allclose(prior.log_density(tau), reference.logpdf(tau), rtol=1e-12)
    assert prior.median() == pytest.approx(reference.median(), rel=1e-12)


@pytest.mark.parametrize("family, location, scale", [("log-normal", -2.05, 1.71), ("log-t", -3.02, 2.27)])
def test_priors_on_log_tau2_are_scipys_transformed_to_tau(family, location, scale):
    prior = TauPrior(family, location=location, scale=scale, df=5.0)
    tau = np.array([1e-3, 0.05, 0.3, 1.0, 4.0])
    # log tau² = 2 log tau has density g; p(tau) = g(2 log tau) * 2 / tau.
    g = stats.norm(location, scale) if family == "log-normal" else stats.t(5.0, location, scale)
    np.testing.assert_allclose(prior.log_density(tau), g.logpdf(2 * np.log(tau)) + np.log(2 / tau), rtol=1e-12)
    assert np.all(prior.log_density(np.array([0.0, -1.0])) == -np.inf)
    assert prior.median() == pytest.approx(np.sqrt(np.exp(g.median())), rel=1e-12)


def test_unit_information_sd_closed_form():
    n, v = np.array([40.0, 100.0, 60.0]), np.array([0.1, 0.04, 0.07])
    assert unit_information_sd(n, v) == pytest.approx(np.sqrt(200.0 / (10 + 25 + 1 / 0.07)), rel=1e-14)
