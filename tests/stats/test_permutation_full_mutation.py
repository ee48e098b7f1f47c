"""The permutation test of a meta-regression (``evsynth.stats.metaregression.permutation_test``,
metafor's ``permutest``; Higgins & Thompson 2004, Viechtbauer et al. 2015) where the full
mutation run of the module (mutation/report-multiarm-metaregression.md) found it untested, by
pattern: the intercept-only sign flips, enumerated and random, against metafor where every sign
pattern counts; random draws against the exact p-value they estimate; when it enumerates and
when it samples; the inputs it refuses at their boundaries; the observed data counting as
extreme as themselves however large the statistic; its defaults against the pipeline's.

Expected values: tests/oracle/data/metaregression_permutest.json, written by
tests/oracle/reference/metaregression_permutest.R (R 4.2.2, metafor 3.8-1): ``permutest(rma(yi,
vi, method = "REML", test), exact = TRUE)`` on dat.normand1999 (mean difference, 9 trials) and
dat.raudenbush1985 (the 11 studies with more than a week of prior contact); closed forms where
stated.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from evsynth.data.config import dependent_config
from evsynth.stats.metaregression import permutation_test
from oracle._oracle import load

CASES = load("metaregression_permutest")


def _inputs(name: str) -> tuple[list[float], list[float]]:
    case = CASES[name]
    return case["inputs"]["yi"], case["inputs"]["vi"]


# --------------------------------------------------------------- intercept-only: the sign flips
@pytest.mark.parametrize("name", sorted(CASES))
def test_enumerated_sign_flips_equal_permutest(name):
    """permutest(rma(yi, vi, method = "REML", test), exact = TRUE) (the case's r_call): all 2^k
    sign patterns refitted, p = the share with |z| >= |z_obs| - sqrt(eps); identical p-values
    (each is a count over 512 or 2048 refits, so a wrong pattern moves it by >= 1/2048)."""
    case, out = CASES[name], CASES[name]["outputs"]
    result = permutation_test(*_inputs(name), method=case["method"], test=case["test"], exact=True)
    assert result.exact and result.seed is None and result.iterations == out["iterations"]
    assert list(result.p_values) == out["pval"] and result.qm_p == out["QMp"]
    assert 0.1 < out["pval"][0] < 0.9  # every sign pattern, not only the observed one, decides


@pytest.mark.parametrize("name", sorted(CASES))
def test_random_sign_flips_estimate_the_exact_p_value(name):
    """exact=False: the observed data then 3,999 random sign patterns (each of the 2^k equally
    likely, signs +-1) estimate permutest's exact p-value (the case's r_call): within 4 Monte
    Carlo SEs, sqrt(p (1 - p) / 4000), of it (measured: within 1.6); a count of exactly 4,000
    refits. Signs other than +-1 rescale effects, which moves the Raudenbush z-test's p by 19 SEs."""
    case, out = CASES[name], CASES[name]["outputs"]
    n = 4000
    result = permutation_test(*_inputs(name), method=case["method"], test=case["test"], exact=False,
                              iterations=n, seed=7)
    assert not result.exact and result.seed == 7 and result.iterations == n
    p = out["pval"][0]
    assert abs(result.p_values[0] - p) <= 4 * math.sqrt(p * (1 - p) / n)
    assert result.p_values[0] * n == pytest.approx(round(result.p_values[0] * n), abs=1e-9)
    assert result.qm_p == result.p_values[0]  # QM = z² ranks the refits as |z| does


# ------------------------------------------------------------------- enumerate or sample
def test_more_sign_patterns_than_iterations_are_sampled():
    """metafor's rule: exact when the distinct permutations (2^11 = 2048 sign patterns for the
    11 Raudenbush studies) number at most ``iter``, else ``iter`` random ones; with exact=None
    and 100 iterations: 100 refits."""
    result = permutation_test(*_inputs("raudenbush_weeks_gt1_z"), test="z", iterations=100)
    assert not result.exact and result.iterations == 100 and result.seed is not None
    enumerated = permutation_test(*_inputs("raudenbush_weeks_gt1_z"), test="z", iterations=2048)
    assert enumerated.exact and enumerated.iterations == 2048


def test_exact_false_samples_even_when_enumeration_is_possible():
    """exact=False draws ``iterations`` random sign patterns even where the 2^9 = 512 of the
    Normand trials could be enumerated (the way to check random draws against the exact value)."""
    result = permutation_test(*_inputs("normand_md_z"), test="z", exact=False, iterations=1000)
    assert not result.exact and result.iterations == 1000 and result.seed is not None


def test_orderings_beyond_a_float_are_sampled_not_counted_in_floats():
    """180 effects with distinct moderator values: 180! distinct orderings (> 1e308, more than a
    float holds), so the test samples ``iterations`` of them (metafor: exact only when
    enumerable) instead of failing to compare that count with ``iterations``."""
    rng = np.random.default_rng(21)
    k = 180
    x = np.sort(rng.uniform(0, 10, k))
    vi = rng.uniform(0.02, 0.2, k)
    yi = 0.2 + 0.02 * x + rng.normal(0, np.sqrt(vi + 0.01))
    X = np.column_stack((np.ones(k), x))
    assert math.factorial(k) > 1e308
    result = permutation_test(yi, vi, X, test="knha", iterations=20, seed=1)
    assert not result.exact and result.iterations == 20
    assert all(1 / 20 <= p <= 1 for p in (*result.p_values, result.qm_p))


# ----------------------------------------------------------------------- refused inputs
@pytest.mark.parametrize("method, test", [("DL", "knha"), ("REML", "adhoc"), ("HE", "z"), ("PM", "t")])
def test_fits_other_than_reml_ml_with_z_or_knha_are_refused(method, test):
    """Batched refits exist for REML/ML with test 'z' or 'knha'; a wrong method *or* a wrong
    test is refused by name (not refitted under the other one's rules)."""
    with pytest.raises(ValueError, match=r"permutation tests are for REML/ML fits with test 'z' or 'knha'"):
        permutation_test(*_inputs("normand_md_z"), method=method, test=test)


def test_two_iterations_are_the_fewest():
    """metafor permutest: "Argument 'iter' must be >= 2" (the observed data and one permutation);
    2 is accepted, 1 refused with that rule."""
    yi, vi = _inputs("raudenbush_weeks_gt1_z")
    result = permutation_test(yi, vi, test="z", iterations=2, seed=3)
    assert not result.exact and result.iterations == 2
    assert result.p_values[0] in (0.5, 1.0)  # the observed data, and one draw as extreme or not
    with pytest.raises(ValueError, match=r"iterations must be >= 2"):
        permutation_test(yi, vi, test="z", iterations=1)


# -------------------------------------------- the observed data count, however large the statistic
def test_a_perfect_fit_counts_itself_when_the_tolerance_vanishes():
    """Effects exactly on a line in x = 1, 2, 4, 7, 11 from very precise trials (v = 1e-20, z ~ 1e9,
    QM ~ 1e18): sqrt(eps) is below the statistics' rounding, so only the inclusive comparison
    (metafor's >=) counts the observed ordering as extreme as itself. Closed form: only the
    observed ordering of the unevenly spaced x fits perfectly, so p = 1/5! for each coefficient
    and QM (metafor 3.8.1's permutest gives 0.008333 too); drawn at random, p >= 1/iterations."""
    x = np.array([1.0, 2.0, 4.0, 7.0, 11.0])
    yi, vi = 0.1 + 0.05 * x, np.full(5, 1e-20)
    X = np.column_stack((np.ones(5), x))
    exact = permutation_test(yi, vi, X, test="z")
    assert exact.exact and exact.iterations == 120
    assert exact.p_values == (1 / 120, 1 / 120) and exact.qm_p == 1 / 120
    drawn = permutation_test(yi, vi, X, test="z", exact=False, iterations=50, seed=5)
    assert min(*drawn.p_values, drawn.qm_p) >= 1 / 50


def test_identical_precise_effects_count_themselves_and_their_mirror_image():
    """Six identical effects from very precise trials (z ~ 1e10): of the 2^6 sign patterns only
    the observed one and its mirror image (all signs flipped) give |z| as large, so p = 2/64
    (closed form; metafor 3.8.1's permutest gives 0.03125 too)."""
    result = permutation_test(np.full(6, 0.5), np.full(6, 1e-20), test="z")
    assert result.exact and result.iterations == 64
    assert result.p_values == (2 / 64,) and result.qm_p == 2 / 64


# ------------------------------------------------------------------------------- defaults
def test_defaults_reproduce_the_pipelines_default_permutation_test():
    """Called bare, permutation_test runs what a config without ``dependent_effects.permutations``
    or ``seed`` runs (their defaults, which are metafor permutest's ``iter = 1000``): the same
    refits from the same seed, hence the same p-values, as the dependent-effects table reports."""
    config, problems = dependent_config({})
    assert not problems
    yi, vi = _inputs("raudenbush_weeks_gt1_knha")  # 2^11 sign patterns > 1000: drawn at random
    bare = permutation_test(yi, vi)
    assert bare == permutation_test(yi, vi, test="knha", iterations=config.permutations, seed=config.seed)
    assert bare.iterations == 1000 and not bare.exact
