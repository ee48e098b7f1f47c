"""The fast paths of evsynth.stats.pooling pinned to metafor and to pool().

* ``pool_many`` (many analyses in one call, PyMARE "parallel datasets") and
  ``pool_large_k`` (numpy only, for k in the hundreds of thousands) are checked against
  every case of tests/oracle/data/metafor_reference.json (metafor 3.8-1, threshold 1e-12) at the
  tolerance of oracle/test_pooling_metafor.py: 1e-6 relative, 1e-9 absolute where the target is 0.
* ``pool_many`` returns, analysis by analysis, what ``pool`` returns (to rounding), and
  ``pool_large_k`` agrees with ``pool``'s PyMARE path where both can run.
* The solvers behind them (vectorised Fisher scoring, Newton/Halley on the generalised Q,
  the CI/p arithmetic that mirrors PyMARE's ``get_fe_stats``) agree with the scalar
  reference implementations, and the large-k path allocates O(k) memory, never k x k.
"""

import dataclasses
import tracemalloc

import numpy as np
import pytest

from conftest import as_array
from evsynth.stats import batch, pooling
from evsynth.stats._summary import fe_stats
from evsynth.stats.batch import pool_many
from evsynth.stats.large_k import pool_large_k
from evsynth.stats.pooling import pool
from evsynth.stats.qprofile import _brent_q, solve_q_large, solve_q_rows
from evsynth.stats.tau2 import fisher_scoring_tau2, fisher_scoring_tau2_large, fisher_scoring_tau2_rows
from oracle._oracle import DEFAULT_PI, POOLING_CASES, TESTS, TOL, rma_pairs

ESTIMATORS = ["REML", "ML", "DL", "HE", "PM", "SJ", "EB"]
CI = ["wald", "hksj", "hksj-adhoc"]


def _inputs(case):
    yi, vi = as_array(case["inputs"]["yi"]), as_array(case["inputs"]["vi"])
    keep = np.isfinite(yi)  # metafor omits studies with NA (double-zero tables)
    return yi[keep], vi[keep]


def _settings(case):
    return dict(
        estimator=case["method"],
        ci_method=TESTS[case["test"]],
        alpha=0.05,
        prediction_interval=DEFAULT_PI[case["test"]],
    )


def _assert_matches_metafor(result, expected):
    pairs = {
        **rma_pairs(result, expected),
        "tau2_ci_lb": (result.tau2_ci_lower, expected["tau2_ci_lb"]),
        "tau2_ci_ub": (result.tau2_ci_upper, expected["tau2_ci_ub"]),
        "I2_ci_lb": (result.i2_ci_lower, expected["I2_ci_lb"]),
        "I2_ci_ub": (result.i2_ci_upper, expected["I2_ci_ub"]),
        "H2_ci_lb": (result.h2_ci_lower, expected["H2_ci_lb"]),
        "H2_ci_ub": (result.h2_ci_upper, expected["H2_ci_ub"]),
    }
    for name, (ours, theirs) in pairs.items():
        assert ours == pytest.approx(theirs, rel=TOL["rel"], abs=TOL["abs"]), name
    assert result.k == expected["k"]
    assert result.stat_df == (None if expected["df"] is None else pytest.approx(expected["df"]))
    weights = [w for w in expected["weights"] if w is not None]
    np.testing.assert_allclose(result.weights, weights, rtol=TOL["rel"], atol=TOL["abs"])
    common = expected.get("common_effect")
    if common:
        assert result.common_theta == pytest.approx(common["beta"], rel=TOL["rel"])
        assert result.common_se == pytest.approx(common["se"], rel=TOL["rel"])
        assert result.common_ci_lower == pytest.approx(common["ci_lb"], rel=TOL["rel"])
        assert result.common_ci_upper == pytest.approx(common["ci_ub"], rel=TOL["rel"])
        assert result.common_p_value == pytest.approx(common["pval"], rel=TOL["rel"], abs=1e-300)


@pytest.mark.parametrize("case_id", POOLING_CASES)
def test_pool_large_k_matches_metafor(metafor, case_id):
    """The numpy large-k path on the small reference data (it runs at any k >= 2)."""
    case = metafor[case_id]
    result = pool_large_k(*_inputs(case), **_settings(case))
    _assert_matches_metafor(result, case["outputs"])


def test_pool_many_matches_metafor(metafor):
    """Every reference case through pool_many: one call per (method, test) setting, analyses
    of different k (and of equal k, fitted as PyMARE parallel datasets) mixed in each."""
    groups: dict[tuple[str, str], list[str]] = {}
    for case_id in POOLING_CASES:
        groups.setdefault((metafor[case_id]["method"], metafor[case_id]["test"]), []).append(case_id)
    # Repeat each case so every k appears at least twice in a batch (D > 1).
    for ids in groups.values():
        batch = ids + ids
        data = [_inputs(metafor[c]) for c in batch]
        results = pool_many([y for y, _ in data], [v for _, v in data], **_settings(metafor[batch[0]]))
        for case_id, result in zip(batch, results):
            _assert_matches_metafor(result, metafor[case_id]["outputs"])


def test_huge_variance_guard_in_batch(metafor):
    """Where PyMARE's REML search fails (one huge variance), the batch gives metafor's tau²
    analysis by analysis, as pool() does: Fisher scoring, no PyMARE search, no note."""
    case = metafor["huge_variance_reml"]
    yi, vi = _inputs(case)
    bcg = _inputs(metafor["bcg_rr_reml_z"])
    results = pool_many([yi, bcg[0], yi], [vi, bcg[1], vi], estimator="REML")
    single = pool(yi, vi, estimator="REML")
    for result in (results[0], results[2]):
        assert result.tau2 == pytest.approx(case["outputs"]["tau2"], rel=TOL["rel"])
        assert result.note == single.note == ""
    assert results[1].note == ""


def _random_analyses(seed, n, k_max=14):
    rng = np.random.default_rng(seed)
    yis, vis = [], []
    for j in range(n):
        k = int(rng.integers(2, k_max + 1))
        vi = rng.uniform(0.01, 1, k) * 10 ** rng.uniform(-2, 2)
        yi = rng.normal(0, 1, k) * np.sqrt(vi * (1 + rng.uniform(0, 3)))
        if j % 17 == 0:
            yi = np.full(k, 0.1)  # Q = 0: HKSJ variance 0
        if j % 19 == 0:
            vi[0] = 1e10  # PyMARE's REML search fails
        yis.append(yi)
        vis.append(vi)
    return yis, vis


def _assert_same(a, b, rel=1e-12, abs_=1e-14):
    for field in dataclasses.fields(a):
        x, y = getattr(a, field.name), getattr(b, field.name)
        if x is None or isinstance(x, (str, bool, int)):
            assert x == y, field.name
        else:
            np.testing.assert_allclose(np.asarray(y, float), np.asarray(x, float), rtol=rel, atol=abs_,
                                       err_msg=field.name)


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("ci_method", CI)
def test_pool_many_equals_pool(estimator, ci_method):
    yis, vis = _random_analyses(11, 60)
    batch = pool_many(yis, vis, estimator, ci_method, prediction_interval="t_k-2", i2="q")
    for yi, vi, result in zip(yis, vis, batch):
        _assert_same(pool(yi, vi, estimator, ci_method, prediction_interval="t_k-2", i2="q"), result)


def test_pool_many_splits_large_batches(monkeypatch):
    monkeypatch.setattr(batch, "BATCH_CELLS", 40)
    yis, vis = _random_analyses(5, 30, k_max=6)
    expected = [pool(y, v, "REML", "hksj") for y, v in zip(yis, vis)]
    for a, b in zip(expected, pool_many(yis, vis, "REML", "hksj")):
        _assert_same(a, b)


def test_pool_many_rejects_bad_input():
    with pytest.raises(ValueError, match="at least two"):
        pool_many([[0.1, 0.2], [0.1]], [[0.01, 0.02], [0.01]])
    with pytest.raises(ValueError, match="variance positive"):
        pool_many([[0.1, 0.2]], [[0.01, 0.0]])
    with pytest.raises(ValueError, match="same number"):
        pool_many([[0.1, 0.2]], [])
    assert pool_many([], []) == []


def test_pool_hands_over_to_large_k_path(metafor, monkeypatch):
    case = metafor["bcg_rr_reml_knha"]
    yi, vi = _inputs(case)
    monkeypatch.setattr(pooling, "LARGE_K", len(yi))
    assert pool(yi, vi, **_settings(case)) == pool_large_k(yi, vi, **_settings(case))


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("ci_method", CI)
def test_large_k_path_agrees_with_pymare_path(estimator, ci_method):
    """k = 3,000 simulated studies (metafor cannot go much higher): both paths, 1e-9."""
    rng = np.random.default_rng(3)
    vi = rng.uniform(0.01, 1, 3000)
    yi = rng.normal(0.2, np.sqrt(vi + 0.05))
    a = pool(yi, vi, estimator, ci_method, prediction_interval="t_k-1")
    b = pool_large_k(yi, vi, estimator, ci_method, prediction_interval="t_k-1")
    _assert_same(a, b, rel=1e-9, abs_=1e-12)


def test_large_k_memory_is_linear():
    """No k x k matrix: the whole large-k fit stays within a few arrays of k floats."""
    k = 200_000
    rng = np.random.default_rng(1)
    vi = rng.uniform(0.01, 1, k)
    yi = rng.normal(0.2, np.sqrt(vi + 0.05))
    tracemalloc.start()
    result = pool(yi, vi, "REML", "hksj", prediction_interval="t_k-1")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result.k == k
    # the weights tuple (k floats, ~32 bytes each) plus ~5 arrays of 8k bytes
    assert peak < 90 * k


def test_fisher_scoring_rows_equals_scalar():
    yis, vis = _random_analyses(2, 80, k_max=9)
    by_k: dict[int, list[int]] = {}
    for j, y in enumerate(yis):
        by_k.setdefault(len(y), []).append(j)
    for method in ("REML", "ML"):
        for members in by_k.values():
            tau2, ok = fisher_scoring_tau2_rows(np.stack([yis[j] for j in members]),
                                                np.stack([vis[j] for j in members]), method)
            for j, t, c in zip(members, tau2, ok):
                assert (t, c) == fisher_scoring_tau2(yis[j], vis[j], method)
                large, large_ok = fisher_scoring_tau2_large(yis[j], vis[j], method)
                assert large_ok == c and large == pytest.approx(t, rel=1e-9, abs=1e-13)


def test_q_equation_solvers_agree_with_brent():
    yis, vis = _random_analyses(4, 80)
    for yi, vi in zip(yis, vis):
        k = len(yi)
        targets = np.array([0.3, k - 1.0, 2.0 * k])
        rows = solve_q_rows(np.tile(yi, (3, 1)), np.tile(vi, (3, 1)), targets)
        large = solve_q_large(yi, vi, targets)
        for target, a, b in zip(targets, rows, large):
            brent = _brent_q(yi, vi, float(target))
            assert a == pytest.approx(brent, rel=1e-10, abs=1e-13 * max(1.0, vi.max()))
            assert b == pytest.approx(brent, rel=1e-10, abs=1e-13 * max(1.0, vi.max()))


@pytest.mark.parametrize("ci_method", CI)
def test_fe_stats_reproduces_pymare_get_fe_stats(ci_method):
    from pymare import Dataset
    from pymare.estimators import WeightedLeastSquares

    yis, vis = _random_analyses(8, 25)
    for yi, vi in zip(yis, vis):
        for tau2 in (0.0, 0.37 * vi.mean()):
            model = WeightedLeastSquares(tau2=tau2, small_sample_correction=pooling._PYMARE_CORRECTION[ci_method])
            expected = model.fit_dataset(Dataset(y=yi, v=vi)).summary().get_fe_stats(alpha=0.05)
            ours = pooling._pymare_fixed_tau2_rows(yi[None], vi[None], tau2, ci_method, 0.05)
            for key in ("est", "se", "ci_l", "ci_u", "p"):
                np.testing.assert_array_equal(ours[key], np.ravel(expected[key]), err_msg=key)
    assert np.isnan(fe_stats(np.array([1.0]), np.array([0.0]), None, 0.05)["p"][0])
