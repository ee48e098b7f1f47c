"""evsynth.stats.conversions pinned to an independent R computation and to the Handbook.

Reference values: tests/oracle/data/conversions.json, written by
``Rscript tests/oracle/reference/conversions.R`` (base R, the papers' formulas; metafor 3.8 has
no conv.* functions). Tolerance: 1e-12 relative (closed forms; R's qnorm/qt vs Python's).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evsynth.stats.conversions import (
    change_sd,
    correlation_from_sds,
    mean_ci_quantile,
    mean_sd_from_fivenum,
    sd_from_mean_ci,
    sd_from_se,
    se_from_mean_ci,
    se_from_p_value,
    se_from_t_statistic,
    smd_from_log_odds_ratio,
)
from evsynth.stats.escalc import from_counts

REFERENCE = json.loads((Path(__file__).resolve().parents[1] / "oracle" / "data" / "conversions.json").read_text())
REL = 1e-12


@pytest.mark.parametrize("case", sorted(REFERENCE["fivenum"]))
def test_fivenum_matches_r(case):
    ref = REFERENCE["fivenum"][case]
    x = ref["inputs"]
    got = mean_sd_from_fivenum(x["n"], x["median"], x["min"], x["q1"], x["q3"], x["max"])
    assert got.scenario == ref["scenario"]
    assert got.mean == pytest.approx(ref["mean"], rel=REL)
    assert got.sd == pytest.approx(ref["sd"], rel=REL)
    assert got.skew_statistic == pytest.approx(ref["skew_statistic"], rel=REL, abs=1e-15)
    assert got.skew_critical == pytest.approx(ref["skew_critical"], rel=REL)
    assert got.skewed == ref["skewed"]


def test_reference_covers_skewed_and_symmetric_summaries():
    flags = {case: ref["skewed"] for case, ref in REFERENCE["fivenum"].items()}
    assert {c for c, f in flags.items() if f} == {"s1_skewed", "s2_skewed", "s3_skewed"}


@pytest.mark.parametrize("case", sorted(REFERENCE["mean_ci"]))
def test_sd_from_mean_ci_matches_r(case):
    ref = REFERENCE["mean_ci"][case]
    got = sd_from_mean_ci(ref["lower"], ref["upper"], ref["n"], ref["level"])
    assert float(got) == pytest.approx(ref["sd"], rel=REL)


def test_small_arm_ci_uses_t_and_large_arm_z():
    # Handbook 6.5.2.3: n = 25 -> t(24) = 2.0639, divisor 4.128 instead of 3.92.
    assert float(sd_from_mean_ci(0, 4.128, 25)) == pytest.approx(5.0, rel=1e-4)
    assert float(sd_from_mean_ci(0, 3.92, 100)) == pytest.approx(10.0, rel=1e-3)
    assert float(se_from_mean_ci(0, 3.92, 100)) == pytest.approx(1.0, rel=1e-3)


def test_sd_from_se_matches_r():
    ref = REFERENCE["sd_from_se"]
    np.testing.assert_allclose(sd_from_se(ref["se"], ref["n"]), ref["sd"], rtol=REL)


@pytest.mark.parametrize("case", sorted(REFERENCE["p_values"]))
def test_se_from_p_value_matches_r(case):
    ref = REFERENCE["p_values"][case]
    got = se_from_p_value(ref["estimate"], ref["p"], ref["df"])
    assert float(got) == pytest.approx(ref["se"], rel=1e-10)


def test_handbook_p_value_example():
    # Handbook 6.5.2.3: MD 3.8 with p = 0.008 from a t test on 25 + 22 - 2 = 45 df gives
    # t = 2.78 and SE = 3.8 / 2.78 = 1.37.
    assert float(se_from_p_value(3.8, 0.008, 45)) == pytest.approx(1.37, abs=0.005)
    assert float(se_from_t_statistic(3.8, 2.78)) == pytest.approx(1.37, abs=0.005)


def test_se_from_t_matches_r():
    ref = REFERENCE["t_stats"]
    np.testing.assert_allclose(se_from_t_statistic(ref["estimate"], ref["t"]), ref["se"], rtol=REL)


def test_no_se_from_p_of_one_or_t_of_zero():
    assert not np.isfinite(se_from_p_value(0.5, 1.0)) and not np.isfinite(se_from_t_statistic(0.5, 0.0))


# Property tests: a perfectly normal sample (its order statistics at their expected positions,
# Blom's (i - 0.375)/(n + 0.25), the plotting positions Wan et al. derive xi(n) and eta(n) from)
# has mean mu and SD sigma; its exact median, quartiles and range must give them back. The mean
# is exact (a symmetric sample); the SD within 2.5%: the sample quartiles (numpy's linear
# interpolation) fall between order statistics when n is not 4k + 1 (at most 2.1%, n = 7).
_NORMAL = NormalDist()


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(5, 3000),
    mu=st.floats(-100, 100, allow_nan=False),
    sigma=st.floats(0.01, 50, allow_nan=False),
)
def test_normal_summaries_recover_mean_and_sd(n, mu, sigma):
    x = mu + sigma * np.array([_NORMAL.inv_cdf((i - 0.375) / (n + 0.25)) for i in range(1, n + 1)])
    q1, m, q3 = np.quantile(x, [0.25, 0.5, 0.75])
    for given_ in (
        dict(minimum=x[0], maximum=x[-1]),
        dict(q1=q1, q3=q3),
        dict(minimum=x[0], q1=q1, q3=q3, maximum=x[-1]),
    ):
        est = mean_sd_from_fivenum(n, m, **given_)
        assert est.mean == pytest.approx(mu, abs=1e-9 * max(sigma, abs(mu)))
        assert est.sd == pytest.approx(sigma, rel=0.025)
        assert not est.skewed


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 5000), sd=st.floats(0.01, 100), level=st.sampled_from([90.0, 95.0, 99.0]))
def test_arm_se_and_ci_round_trip(n, sd, level):
    se = sd / math.sqrt(n)
    assert float(sd_from_se(se, n)) == pytest.approx(sd, rel=1e-12)
    # The CI a trial computes from the same quantile gives the SD back exactly.
    half = float(mean_ci_quantile(n, level)) * se
    assert float(sd_from_mean_ci(10 - half, 10 + half, n, level)) == pytest.approx(sd, rel=1e-9)


def test_change_sd_matches_r():
    ref = REFERENCE["change"]
    np.testing.assert_allclose(change_sd(ref["baseline"], ref["final"], ref["r"]), ref["sd"], rtol=REL)
    implied = correlation_from_sds(ref["baseline"], ref["final"], ref["sd_change_reported"])
    np.testing.assert_allclose(implied, ref["r_implied"], rtol=REL)


@settings(max_examples=60, deadline=None)
@given(b=st.floats(0.1, 50), f=st.floats(0.1, 50), r=st.floats(-1, 1))
def test_change_sd_and_correlation_round_trip(b, f, r):
    assert float(correlation_from_sds(b, f, change_sd(b, f, r))) == pytest.approx(r, abs=1e-9)


def test_chinn_smd_matches_metafor_or2dl():
    # metafor 3.8 escalc(measure="OR2DL") (see conversions.json's r_call); 1e-10 as escalc_rel.
    ref = REFERENCE["chinn"]
    log_or, v, _ = from_counts("OR", ref["ai"], ref["n1i"], ref["ci"], ref["n2i"], 0.5)
    yi, vi = smd_from_log_odds_ratio(log_or, v)
    np.testing.assert_allclose(yi, ref["yi"], rtol=1e-10)
    np.testing.assert_allclose(vi, ref["vi"], rtol=1e-10)


@pytest.mark.parametrize("q", [4.0, 5.0])
def test_equal_quartiles_add_no_skewness_in_s3(q):
    # Shi et al. (2023): the quartile term |q1 + q3 - 2m| / (q3 - q1) is taken as 0 when q3 = q1
    # (no spread to compare with); a symmetric range then leaves the test statistic at 0.
    fit = mean_sd_from_fivenum(50, 5.0, minimum=2.0, q1=q, q3=q, maximum=8.0)
    assert (fit.scenario, fit.skew_statistic, fit.skewed) == ("S3", 0.0, False)


@pytest.mark.parametrize("quartiles", [{}, {"q1": 5.0, "q3": 5.0}], ids=["S1", "S3"])
def test_a_report_with_no_spread_at_all_is_not_skewed(quartiles):
    # Every participant with the same value (min = max): the range term of Shi et al.'s (2023)
    # statistic is taken as 0, as the quartile term is, and the SD estimate is 0.
    fit = mean_sd_from_fivenum(50, 5.0, minimum=5.0, maximum=5.0, **quartiles)
    assert (fit.mean, fit.sd, fit.skew_statistic, fit.skewed) == (5.0, 0.0, 0.0, False)
