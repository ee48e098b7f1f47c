"""The building blocks of evsynth.stats.bayes that its outputs only reach through safeguarded
iterations (a wrong derivative there costs iterations, not digits), and the constants of its
priors that no oracle case exercises: each is pinned directly."""

from __future__ import annotations

import numpy as np
import pytest

from evsynth.data.bayes_config import DEFAULT_SCALE
from evsynth.stats.bayes import MuPrior, _legendre, _TauRule
from evsynth.stats.bayes_priors import EMPIRICAL, TauPrior
from oracle._oracle import load

# dat.bcg (metafor's log risk ratios, as tests/oracle/reference wrote them): a real data set with
# heterogeneity; no value of these tests comes from R, they check the rule against itself.
BCG = load("metafor_sensitivity")["bcg_rr_dl_z"]["inputs"]
YI, VI = np.asarray(BCG["yi"], dtype=float), np.asarray(BCG["vi"], dtype=float)


@pytest.mark.parametrize("n", [1, 2, 3, 6, 17])
def test_legendre_basis_is_numpys_legendre_vandermonde(n):
    # Bonnet's recurrence for every number of columns, the first two included.
    x = np.linspace(-1, 1, 9)
    np.testing.assert_allclose(_legendre(x, n), np.polynomial.legendre.legvander(x, n - 1), rtol=0, atol=1e-13)


@pytest.mark.parametrize("prior", [TauPrior("half-normal", 0.5), TauPrior("log-normal", 1.71, -2.05)],
                         ids=["half-normal", "log-normal"])
def test_density_of_tau_and_its_derivative_match_finite_differences(prior):
    rule = _TauRule(YI, VI, prior, MuPrior())
    u = np.array([0.2, 0.35, 0.5, 0.7])
    h = 1e-6
    density, slope = rule.density_tau(u)
    F_hi, F_lo = rule.evaluate(u + h)[0], rule.evaluate(u - h)[0]
    tau_hi, tau_lo = rule.tau_of(u + h), rule.tau_of(u - h)
    np.testing.assert_allclose(density, (F_hi - F_lo) / (tau_hi - tau_lo), rtol=1e-6)
    d_hi, d_lo = rule.density_tau(u + h)[0], rule.density_tau(u - h)[0]
    np.testing.assert_allclose(slope, (d_hi - d_lo) / (2 * h), rtol=1e-5, atol=1e-8 * np.abs(density).max())


@pytest.mark.parametrize("p", [0.025, 0.5, 0.975])
def test_quantile_of_u_solves_the_cdf_equation(p):
    rule = _TauRule(YI, VI, TauPrior("half-normal", 0.5), MuPrior())
    u = rule.quantile_u(np.array([p]))
    assert rule.evaluate(u)[0][0] == pytest.approx(p, abs=1e-12)


@pytest.mark.parametrize("name", sorted(EMPIRICAL))
def test_every_published_predictive_distribution_has_a_median_tau2_below_one(name):
    # Turner et al. 2015 Table IV and Rhodes et al. 2015 Table 3: every location of log tau²
    # is negative (from -1.09 to -3.44) and every scale positive, so a sign typed wrong in the
    # tables is caught (the numbers themselves are checked against the papers in review).
    family, table, _ = EMPIRICAL[name]
    pairs = [pair for comparisons in table.values() for pair in comparisons.values()]
    assert pairs and all(location < 0 < scale for location, scale in pairs), (family, pairs)


def test_the_default_half_normal_scale_is_the_configured_default():
    # Röver et al. 2021: half-normal(0.5) on the log-ratio and SMD scales, in both places that
    # carry the default (the prior's own field and the Bayesian config's default per measure).
    assert {TauPrior("half-normal").scale} == set(DEFAULT_SCALE.values()) == {0.5}


def test_the_marginal_predictive_distributions_are_the_published_ones():
    # Turner et al. 2015, p. 993: log tau² ~ N(-2.56, 1.74²) for any outcome and comparison;
    # Rhodes et al. 2015, section 3.3: log tau² ~ -3.44 + 2.59 t5 (a typo in either is a
    # different prior for every review that uses the default "any" row).
    assert EMPIRICAL["turner2015"][1]["any"]["any"] == (-2.56, 1.74)
    assert EMPIRICAL["rhodes2015"][1]["any"]["any"] == (-3.44, 2.59)
