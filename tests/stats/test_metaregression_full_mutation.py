"""Meta-regression behaviour the full mutation run of stats/metaregression.py
(mutation/report-multiarm-metaregression.md) found untested, by pattern: the design's refusals at
their boundaries (as many effects as coefficients, a two-level factor, a single effect), the omnibus
statistic of several moderators under both tests, and the permutation refits on data whose
likelihood in tau² has two maxima, where metafor's answer depends on the starting value (the
moment estimate), the step (the expected information) and rma's ll0check, so every one of them
is pinned to permutest."""

from __future__ import annotations

import numpy as np
import pytest

from evsynth.stats.metaregression import _batched_fits, moderator_design, permutation_test
from evsynth.stats.multivariate import rma_mv
from oracle._oracle import TOL, load


# ------------------------------------------------------------- the design's refusals at their boundary
def test_as_many_effects_as_coefficients_is_refused_one_more_is_not():
    """k = p leaves no residual df (tau² and the Knapp-Hartung scale are not estimable; metafor's
    rma stops with 'Number of parameters to be estimated is larger than the number of
    observations'): refused, naming both counts; k = p + 1 is the smallest design accepted."""
    with pytest.raises(ValueError, match=r"^moderators: 2 coefficients cannot be estimated from 2 effects$"):
        moderator_design([("year", [2001, 2005], "continuous")])
    with pytest.raises(ValueError, match="3 coefficients cannot be estimated from 3 effects"):
        moderator_design([("mode", ["app", "web", "phone"], "categorical")])
    X, names = moderator_design([("year", [2001, 2005, 2010], "continuous")])
    assert names == ("intrcpt", "year") and X.shape == (3, 2)


def test_a_two_level_factor_is_one_dummy():
    """R's model.matrix(~ factor(mode)) with two levels: the intercept and one dummy for the
    second level in sorted order (the smallest factor a moderator can be)."""
    X, names = moderator_design([("mode", ["web", "app", "web", "app", "app"], "categorical")])
    assert names == ("intrcpt", "mode[web]")
    assert X.tolist() == [[1, 1], [1, 0], [1, 1], [1, 0], [1, 0]]


def test_a_single_effect_names_every_moderator_it_cannot_vary():
    """With one effect every moderator is constant: a ValueError naming each (its value, the one
    level), not a crash, so the analysis is reported as not estimable."""
    with pytest.raises(ValueError) as error:
        moderator_design([("year", [2020], "continuous"), ("mode", ["app"], "categorical")])
    assert str(error.value) == (
        "moderators: year: constant (2020) in this analysis, so it explains nothing; "
        "mode: one level (app) in this analysis"
    )


# ------------------------------------------------------ the omnibus statistic of several moderators
@pytest.mark.parametrize("test", ["z", "knha"])
def test_refits_omnibus_statistic_is_metafors_qm_for_two_moderators(test):
    """metafor's QM over m = 2 coefficients: the Wald chi² under test="z", the F statistic
    (chi² / m) under "knha" (Knapp & Hartung 2003), as rma_mv gives it; the permutation test
    compares refits with the observed QM on that scale (permutest's comptol is absolute)."""
    rng = np.random.default_rng(21)
    k = 10
    x1, x2 = rng.uniform(0, 10, k), rng.normal(size=k)
    vi = rng.uniform(0.02, 0.2, k)
    yi = 0.1 + 0.04 * x1 - 0.1 * x2 + rng.normal(0, np.sqrt(vi + 0.05))
    perms = np.vstack([np.arange(k)] + [rng.permutation(k) for _ in range(3)])
    X = np.stack([np.column_stack((np.ones(k), x1[p], x2[p])) for p in perms])
    _, qm = _batched_fits(np.tile(yi, (4, 1)), np.tile(vi, (4, 1)), X, "REML", test, [1, 2])
    for d in range(4):
        fit = rma_mv(yi, vi, X[d], method="REML", test=test)
        assert fit.qm_df[0] == 2
        assert qm[d] == pytest.approx(fit.qm, rel=1e-8)


# ------------------------------------ refits where the likelihood has two maxima (metafor permutest)
MODES = load("metaregression_permutest_modes")


@pytest.mark.parametrize("case_id", sorted(MODES))
def test_permutation_refits_on_a_likelihood_with_two_maxima_are_metafors(case_id):
    """tests/oracle/reference/metaregression_permutest_modes.R: constructed six-effect data sets
    whose ML or REML log-likelihood in tau² has a maximum at 0 and another inside, so the answer
    depends on where Fisher scoring starts (rma: the moment estimate of the regression, floored
    at 0), how it steps (the expected information, trace of P P), and on rma's ll0check (a
    converged tau² whose likelihood is below that at 0 becomes 0); the first again on a 10 times
    larger scale (weights 100 times smaller). R: rma(yi, vi, mods = ~ x, method, test,
    control = list(threshold = 1e-12, maxiter = 1000)) and permutest(res, exact = TRUE), 720
    refits. The observed fit (tau², z or t, QM) at TOL["rel"]; the permutation p-values, shares
    of 720, exactly (to 1e-12)."""
    case = MODES[case_id]
    i, out = case["inputs"], case["outputs"]
    yi, vi = np.array(i["yi"]), np.array(i["vi"])
    X = np.column_stack((np.ones(6), i["x"]))
    stat, qm = _batched_fits(yi[None], vi[None], X[None], case["method"], case["test"], [1])
    fit = rma_mv(yi, vi, X, method=case["method"], test=case["test"])
    assert fit.tau2 == pytest.approx(out["tau2"], rel=TOL["rel"], abs=TOL["tau2_abs"])
    np.testing.assert_allclose(stat[0], out["zval"], rtol=TOL["rel"])
    assert qm[0] == pytest.approx(out["QM"], rel=TOL["rel"])
    res = permutation_test(yi, vi, X, method=case["method"], test=case["test"], exact=True)
    assert res.exact and res.iterations == out["iterations"] == 720
    np.testing.assert_allclose(res.p_values, out["pval"], rtol=0, atol=1e-12)
    assert res.qm_p == pytest.approx(out["QMp"], abs=1e-12)
