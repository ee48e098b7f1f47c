"""The vectorised refits (evsynth.stats.refit) equal the reference path (evsynth.stats.pooling.pool)
on random data, subset by subset (hypothesis): the oracle tests pin a few datasets, this pins
every dataset hypothesis draws (a mutant of the REML Fisher information slipped past the former)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evsynth.stats.pooling import pool
from evsynth.stats.refit import cumulative_fits, leave_one_out_fits

ESTIMATORS = ["REML", "ML", "DL", "HE", "PM", "SJ", "EB"]


@st.composite
def meta_data(draw):
    k = draw(st.integers(3, 10))
    yi = draw(st.lists(st.floats(-2, 2), min_size=k, max_size=k))
    vi = draw(st.lists(st.floats(0.01, 1.0), min_size=k, max_size=k))
    return np.array(yi), np.array(vi)


def check(fits, i, yi, vi, estimator, ci_method):
    p = pool(yi, vi, estimator, ci_method, 0.05, prediction_interval="none", tau2_ci="none")
    if not fits.converged[i]:  # where REML scoring fails (metafor stops with an error), the paths may differ
        return
    assert fits.tau2[i] == pytest.approx(p.tau2, rel=1e-6, abs=1e-8)
    assert fits.theta[i] == pytest.approx(p.theta, rel=1e-6, abs=1e-8)
    assert fits.se[i] == pytest.approx(p.se, rel=1e-6)
    assert fits.ci_lower[i] == pytest.approx(p.ci_lower, rel=1e-6, abs=1e-8)
    assert fits.q[i] == pytest.approx(p.q, rel=1e-9, abs=1e-12)


@settings(max_examples=20, deadline=None, derandomize=True)
@given(data=meta_data(), estimator=st.sampled_from(ESTIMATORS), ci_method=st.sampled_from(["wald", "hksj"]))
def test_leave_one_out_and_cumulative_fits_equal_pool(data, estimator, ci_method):
    yi, vi = data
    loo = leave_one_out_fits(yi, vi, estimator=estimator, ci_method=ci_method)
    for i in range(len(yi)):
        keep = np.arange(len(yi)) != i
        check(loo, i, yi[keep], vi[keep], estimator, ci_method)
    cum = cumulative_fits(yi, vi, estimator=estimator, ci_method=ci_method)
    for i in range(1, len(yi)):
        check(cum, i, yi[: i + 1], vi[: i + 1], estimator, ci_method)


def test_refits_converge_wherever_pool_does():
    """40 seeded datasets (yi ~ N(0, 1), vi ~ U(0.01, 1), k = 3..9): every REML leave-one-out and
    cumulative subset that pool() fits without a note converges in the refit too, to the same tau²."""
    rng = np.random.default_rng(21)
    for _ in range(40):
        k = int(rng.integers(3, 10))
        yi, vi = rng.normal(0, 1, k), rng.uniform(0.01, 1, k)
        for fits, subsets in ((leave_one_out_fits(yi, vi, estimator="REML"), [np.arange(k) != i for i in range(k)]),
                              (cumulative_fits(yi, vi, estimator="REML"), [np.arange(k) <= i for i in range(k)])):
            for i, keep in enumerate(subsets):
                if keep.sum() < 2:
                    continue
                p = pool(yi[keep], vi[keep], "REML", "wald", 0.05, prediction_interval="none", tau2_ci="none")
                if not p.note:
                    assert fits.converged[i], (yi, vi, i)
                    assert fits.tau2[i] == pytest.approx(p.tau2, rel=1e-6, abs=1e-8)
