"""Properties every random-effects meta-analysis must have, checked on random data (hypothesis).

These complement the metafor oracle tests: an oracle pins a few datasets exactly, a
property holds for every dataset hypothesis can think of.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from evsynth.stats.pooling import pool

ESTIMATORS = ["REML", "ML", "DL", "HE", "PM", "SJ", "EB"]


@st.composite
def meta_data(draw, min_k=2, max_k=12):
    k = draw(st.integers(min_k, max_k))
    yi = draw(st.lists(st.floats(-3, 3, allow_nan=False), min_size=k, max_size=k))
    vi = draw(st.lists(st.floats(0.005, 2.0, allow_nan=False), min_size=k, max_size=k))
    return np.array(yi), np.array(vi)


@st.composite
def homogeneous_data(draw):
    """Deviations of at most 0.1 SE from a common value: Q <= 0.01 k < k - 1, so tau² = 0."""
    k = draw(st.integers(2, 12))
    centre = draw(st.floats(-3, 3))
    vi = np.array(draw(st.lists(st.floats(0.005, 2.0), min_size=k, max_size=k)))
    shifts = np.array(draw(st.lists(st.floats(-0.1, 0.1), min_size=k, max_size=k)))
    return centre + shifts * np.sqrt(vi) / np.sqrt(k), vi


COMMON = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@COMMON
@given(data=meta_data(), estimator=st.sampled_from(ESTIMATORS), seed=st.integers(0, 2**16))
def test_row_order_does_not_matter(data, estimator, seed):
    yi, vi = data
    order = np.random.default_rng(seed).permutation(len(yi))
    a = pool(yi, vi, estimator, "hksj", prediction_interval="t_k-1")
    b = pool(yi[order], vi[order], estimator, "hksj", prediction_interval="t_k-1")
    for field in ("theta", "se", "tau2", "q", "i2", "ci_lower", "ci_upper", "pi_lower", "pi_upper"):
        assert getattr(a, field) == pytest.approx(getattr(b, field), rel=1e-7, abs=1e-9), field


@COMMON
@given(data=meta_data(), estimator=st.sampled_from(ESTIMATORS), scale=st.floats(0.1, 10))
def test_scaling_effects_scales_the_estimate(data, estimator, scale):
    """y -> c·y, v -> c²·v: estimate and CI scale by c, tau² by c², Q and I² unchanged."""
    yi, vi = data
    a = pool(yi, vi, estimator, "wald")
    b = pool(scale * yi, scale**2 * vi, estimator, "wald")
    assert b.theta == pytest.approx(scale * a.theta, rel=1e-6, abs=1e-9)
    assert b.se == pytest.approx(scale * a.se, rel=1e-6)
    assert b.tau2 == pytest.approx(scale**2 * a.tau2, rel=1e-5, abs=1e-9)
    assert b.q == pytest.approx(a.q, rel=1e-9)
    assert b.i2 == pytest.approx(a.i2, rel=1e-5, abs=1e-7)


@COMMON
@given(data=homogeneous_data(), estimator=st.sampled_from(["REML", "DL", "PM", "EB"]))
def test_zero_tau2_gives_the_common_effect(data, estimator):
    yi, vi = data
    result = pool(yi, vi, estimator, "wald")
    assert result.tau2 == 0
    assert result.theta == pytest.approx(result.common_theta, rel=1e-12, abs=1e-12)
    assert result.se == pytest.approx(result.common_se, rel=1e-12)


@COMMON
@given(data=meta_data(min_k=3), estimator=st.sampled_from(ESTIMATORS),
       ci=st.sampled_from(["wald", "hksj", "hksj-adhoc"]), pi=st.sampled_from(["normal", "t_k-1", "t_k-2"]))
def test_prediction_interval_contains_the_confidence_interval(data, estimator, ci, pi):
    """With the same SE, the PI adds tau² and uses an equal or larger quantile (t(k-2) >= t(k-1) >= z);
    it can only be narrower when the CI uses a t quantile and the PI the normal one."""
    yi, vi = data
    assume(not (pi == "normal" and ci != "wald"))
    result = pool(yi, vi, estimator, ci, prediction_interval=pi)
    assert result.pi_lower <= result.ci_lower + 1e-12
    assert result.pi_upper >= result.ci_upper - 1e-12


@COMMON
@given(data=meta_data(), estimator=st.sampled_from(["DL", "REML", "PM"]))
def test_duplicating_the_data_halves_the_common_effect_variance(data, estimator):
    """Two identical copies of every study: the common-effect variance halves exactly, the
    estimate is unchanged, and Q doubles."""
    yi, vi = data
    once = pool(yi, vi, estimator, "wald")
    twice = pool(np.tile(yi, 2), np.tile(vi, 2), estimator, "wald")
    assert twice.common_theta == pytest.approx(once.common_theta, rel=1e-9, abs=1e-12)
    assert twice.common_se**2 == pytest.approx(once.common_se**2 / 2, rel=1e-9)
    assert twice.q == pytest.approx(2 * once.q, rel=1e-9, abs=1e-12)


@COMMON
@given(data=meta_data(), estimator=st.sampled_from(ESTIMATORS))
def test_q_profile_interval_brackets_a_sensible_tau2(data, estimator):
    yi, vi = data
    result = pool(yi, vi, estimator, "wald")
    assert 0 <= result.tau2_ci_lower <= result.tau2_ci_upper
    assert 0 <= result.i2_ci_lower <= result.i2_ci_upper <= 100
    assert np.isfinite([result.theta, result.se, result.p_value, result.i2, result.h2]).all()
