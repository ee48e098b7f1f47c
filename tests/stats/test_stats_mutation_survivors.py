"""Small rules of the statistics layer that mutants of mutation/run.py slipped past
(mutation/report.md): each test names the rule it pins."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from statistics import NormalDist

import numpy as np
import pytest

import evsynth.data
import evsynth.stats
from evsynth.stats._summary import i2_test_based_ci
from evsynth.stats.multivariate import BlockCovariance, rma_mv
from evsynth.stats.qprofile import _halley_one
from evsynth.stats.smallstudy import trim_and_fill
from evsynth.stats.subgroups import separate_tau2_test
from evsynth.stats.tau2 import own_tau2_rows
from oracle._oracle import TOL, load

SENSITIVITY = load("metafor_sensitivity")
REFERENCE = load("metafor_reference")


def _public_dataclasses():
    for package in (evsynth.stats, evsynth.data):
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            module = importlib.import_module(info.name)
            for name, obj in sorted(vars(module).items()):
                if isinstance(obj, type) and dataclasses.is_dataclass(obj) and obj.__module__ == module.__name__:
                    if not name.startswith("_"):
                        yield f"{info.name}.{name}", obj


DATACLASSES = list(_public_dataclasses())


def test_there_are_result_types_to_check():
    assert len(DATACLASSES) >= 30


@pytest.mark.parametrize("name,cls", DATACLASSES, ids=[n for n, _ in DATACLASSES])
def test_results_and_settings_are_frozen_dataclasses(name, cls):
    """The project's rule (results as frozen dataclasses): a result can be shared between
    tables and plots without one of them changing what the other shows."""
    assert cls.__dataclass_params__.frozen, name


def test_block_covariance_of_variances_alone_is_diagonal_and_may_be_empty():
    empty = BlockCovariance.from_variances([])
    assert empty.k == 0 and empty.index == () and empty.to_dense().shape == (0, 0)
    three = BlockCovariance.from_variances([0.1, 0.2, 0.3])
    assert three.k == 3
    np.testing.assert_array_equal(three.to_dense(), np.diag([0.1, 0.2, 0.3]))
    np.testing.assert_array_equal(BlockCovariance.from_dense(np.array([0.1, 0.2])).to_dense(), np.diag([0.1, 0.2]))


@pytest.mark.parametrize("case_id,k0,iterations", [("bcg3_rr_reml_z", 0, 1), ("bcg_rr_dl_z", 1, 2)])
def test_trim_and_fill_counts_its_l0_iterations(case_id, k0, iterations):
    """One pass per L0 estimate until k0 repeats (0 at once: 1 pass; 0 then 1 then 1: 2 passes,
    the first estimate starting from k0 = 0); ``max_iter`` allows exactly that many."""
    case = SENSITIVITY[case_id]
    yi, vi, method = case["inputs"]["yi"], case["inputs"]["vi"], case["method"]
    fit = trim_and_fill(yi, vi, estimator=method, max_iter=iterations)
    assert (fit.k0, fit.iterations) == (k0, iterations) and fit.k0 == case["outputs"]["trimfill"]["k0"]
    if iterations > 1:
        with pytest.raises(ArithmeticError, match="did not converge"):
            trim_and_fill(yi, vi, estimator=method, max_iter=iterations - 1)


def test_q_profile_root_search_stops_converged_on_an_exact_hit():
    """Q(τ²) equal to its target in floating point is the root itself: converged, no step taken."""
    sums = {"q": 2.0, "s2": 1.0, "w3r2": 1.0, "w2r": 1.0, "sw": 1.0}
    assert _halley_one(lambda tau2: sums, 2.0, 0.5) == (0.5, True)
    assert _halley_one(lambda tau2: sums, 2.0, 0.0, at_start=sums) == (0.0, True)


@pytest.mark.parametrize("case_id", ["bcg_rr_he_z", "bcg_rr_sj_z", "bcg_rr_pm_z", "bcg_rr_eb_z", "bcg_rr_reml_z",
                                     "bcg_rr_ml_z", "k2_reml_z"])
def test_own_tau2_rows_match_metafor(case_id):
    """evsynth.stats.tau2.own_tau2_rows, every estimator it implements (HE is not on the pooling
    path, which uses PyMARE's), on dat.bcg: rma(yi, vi, method=) of metafor_reference.json."""
    case = REFERENCE[case_id]
    yi, vi = np.array([case["inputs"]["yi"]], float), np.array([case["inputs"]["vi"]], float)
    tau2, converged = own_tau2_rows(np.vstack([yi, yi]), np.vstack([vi, vi]), case["method"])
    assert converged.all()
    np.testing.assert_allclose(tau2, case["outputs"]["tau2"], rtol=TOL["rel"])


def test_block_covariance_refuses_an_asymmetric_or_non_square_matrix():
    with pytest.raises(ValueError, match="symmetric square"):
        BlockCovariance.from_dense(np.array([[1.0, 0.2], [0.1, 1.0]]))
    with pytest.raises(ValueError, match="symmetric square"):
        BlockCovariance.from_dense(np.ones((2, 3)))


@pytest.mark.parametrize("alpha", [0.05, 0.1])
def test_each_subgroup_has_its_wald_interval(alpha):
    """Per-subgroup estimates carry theta ± z(1 - alpha/2) se (the across-modes lines print them)."""
    yi, vi = [0.1, 0.3, 0.2, 0.6, 0.5], [0.04, 0.05, 0.03, 0.06, 0.05]
    test = separate_tau2_test(yi, vi, ["a", "a", "a", "b", "b"], alpha=alpha)
    z = NormalDist().inv_cdf(1 - alpha / 2)
    for s in test.subgroups:
        assert s.ci_lower == pytest.approx(s.theta - z * s.se, rel=1e-12)
        assert s.ci_upper == pytest.approx(s.theta + z * s.se, rel=1e-12)


@pytest.mark.parametrize("k", [3, 5, 10])
@pytest.mark.parametrize("above", [-0.5, 0.0, 0.5])
def test_i2_test_based_ci_takes_the_large_q_se_only_strictly_above_k(k, above):
    # Higgins & Thompson (2002, Stat Med 21:1539, appendix) and R meta's isquared: the se of
    # ln H is the large-Q formula when Q > k, the small-Q one otherwise (at Q = k too).
    q = k + above
    df = k - 1
    if q > k:
        se = 0.5 * (np.log(q) - np.log(df)) / (np.sqrt(2 * q) - np.sqrt(2 * k - 3))
    else:
        se = np.sqrt(1 / (2 * (k - 2)) * (1 - 1 / (3 * (k - 2) ** 2)))
    z = NormalDist().inv_cdf(0.975)
    h = np.sqrt(q / df)
    lower, upper = max(np.exp(np.log(h) - z * se), 1.0), max(np.exp(np.log(h) + z * se), 1.0)
    i2_lo, i2_hi, h2_lo, h2_hi = i2_test_based_ci(np.array([q]), k, 0.05)
    assert h2_lo[0] == pytest.approx(lower**2, rel=1e-12) and h2_hi[0] == pytest.approx(upper**2, rel=1e-12)
    assert i2_hi[0] == pytest.approx(100 * (upper**2 - 1) / upper**2, rel=1e-12, abs=1e-12)


def test_knapp_hartung_with_zero_residuals_falls_back_to_the_unscaled_variance():
    """Identical estimates: the Knapp-Hartung scale rss / (k - p) is 0; rma_mv uses the ad hoc
    floor s² = 1, as evsynth.stats.pooling does, so the SE is the model-based (z-test) one."""
    yi, vi = [0.3, 0.3, 0.3], [0.1, 0.2, 0.4]
    knha, z = rma_mv(yi, vi, test="knha"), rma_mv(yi, vi, test="z")
    np.testing.assert_allclose(knha.se, z.se, rtol=1e-12)
    assert "ad hoc floor used" in knha.note
