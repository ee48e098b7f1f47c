"""Statistics-layer inputs the seed-3004 mutation sample (mutation/report-seed3004.md) found
untested: the smallest value each documented input range allows, at and across its bound (an
arm or trial of one participant, an AR(1) correlation of 0 and of 1), and the wording of the
assumed control risk's source for one trial and for two."""

from __future__ import annotations

import numpy as np
import pytest

from evsynth.stats.absolute import assumed_control_risk
from evsynth.stats.bayes_priors import unit_information_sd
from evsynth.stats.dependent import ClusteredCovariance
from evsynth.stats.multiarm import NotCombinable, combined_arm_estimates
from oracle._oracle import load

ISHAK = load("metafor_dependent")["ishak_ar_reml_z"]["inputs"]


# --------------------------------------------------- the smallest sample size a function accepts is 1
@pytest.mark.parametrize(("n", "vi"), [([1.0], [0.25]), ([1.0, 3.0], [0.25, 0.04]), ([0.5], [0.25])])
def test_unit_information_sd_accepts_any_positive_sample_size(n, vi):
    """Kills stats/bayes_priors.py:217:50:1027 (``n > 0`` -> ``n > 1``, which refuses a trial of
    one). Röver et al. (2021, eq. 6; bayesmeta ``uisd()``): UISD = sqrt(sum n / sum 1/v), so one
    trial of n participants has UISD = sqrt(n v), the SD of one participant's contribution; the
    docstring promises every n > 0, and only n <= 0 is refused."""
    n, vi = np.array(n), np.array(vi)
    assert unit_information_sd(n, vi) == pytest.approx(np.sqrt(n.sum() / (1 / vi).sum()), rel=1e-15)
    if len(n) == 1:
        assert unit_information_sd(n, vi) == pytest.approx(np.sqrt(n[0] * vi[0]), rel=1e-15)
    with pytest.raises(ValueError, match="sample sizes and variances must be finite and above 0"):
        unit_information_sd(np.r_[n[:-1], 0.0], vi)


def test_an_arm_of_one_participant_is_combined_and_an_arm_of_none_is_not():
    """Kills stats/multiarm.py:136:50:1144 (``n > 0`` -> ``n > 1``). The study-table check
    accepts an arm of n_arm = 1 (evsynth.data.validate: "must be at least 1"), so combining arm
    estimates must too: proportions 0.4 (n = 1) and 0.2 (n = 3) give p = (0.4 + 0.6) / 4 = 0.25
    with var(p) = (1/4)² 0.01 + (3/4)² 0.02 (module docstring: Cochrane Handbook v6.5 §6.5.2.10,
    size-weighted arm proportions, delta method); an arm of 0 has no weight and is refused."""
    got = combined_arm_estimates("RD", [1.0, 3.0], [0.4, 0.2], [0.01, 0.02], f_ctrl=0.3, var_ctrl=0.005)
    assert got.yi == pytest.approx(0.25 - 0.3, rel=1e-14)
    assert got.vi == pytest.approx(0.01 / 16 + 9 * 0.02 / 16 + 0.005, rel=1e-14)
    assert got.n_treat == 4.0
    with pytest.raises(NotCombinable, match="the CBT arms' sizes are needed to combine them"):
        combined_arm_estimates("RD", [0.0, 3.0], [0.4, 0.2], [0.01, 0.02], f_ctrl=0.3, var_ctrl=0.005)


# ------------------------------------------- AR(1) within-trial correlation: phi in [0, 1), both ends
def test_an_autoregressive_correlation_of_0_gives_independent_follow_ups():
    """Kills stats/dependent.py:101:37:898 as ``0 <= phi`` -> ``0 < phi``. dat.ishak2007 (Ishak
    et al. 2007, Clin Trials 4:525-539), in the long format of
    tests/oracle/reference/metafor_dependent.R: 82 follow-ups of 46 trials, each at distinct
    times. With phi = 0, phi^|t_i - t_j| = 0 between two follow-ups: the covariance is diag(vi),
    the constant-correlation model with rho = 0, as metafor ``vcalc(vi, cluster = study,
    time1 = time, phi = 0)`` gives it (to 6e-14, checked with metafor 3.8.1). Every covariance is
    exactly 0, the variances vi to rounding (sqrt(v)², 1e-15)."""
    V = ClusteredCovariance.autoregressive(ISHAK["vi"], ISHAK["study"], ISHAK["time"], 0.0)
    dense = V.to_dense()
    np.testing.assert_array_equal(dense - np.diag(np.diagonal(dense)), 0.0)
    np.testing.assert_allclose(np.diagonal(dense), ISHAK["vi"], rtol=1e-15, atol=0)
    independent = ClusteredCovariance.constant_correlation(ISHAK["vi"], ISHAK["study"], 0.0)
    np.testing.assert_array_equal(V.to_dense(), independent.to_dense())


@pytest.mark.parametrize("phi", [1.0, 1.5, -0.1, float("nan")])
def test_an_autoregressive_correlation_of_1_or_outside_is_refused(phi):
    """Kills the same id's other operator (``phi < 1`` -> ``phi <= 1``; mutation/run.py gives both
    operators of the chained comparison one id). phi = 1 makes every follow-up of a trial
    perfectly correlated, a singular block that no model can invert: refused with the range."""
    with pytest.raises(ValueError, match=rf"phi must lie in \[0, 1\); got {phi!r}$"):
        ClusteredCovariance.autoregressive(ISHAK["vi"], ISHAK["study"], ISHAK["time"], phi)


# --------------------------------------------------- the assumed control risk names one trial or the median
def test_the_assumed_control_risk_says_one_trial_or_the_median_of_several():
    """Kills stats/absolute.py:147:42:519 (``len(risks) == 1`` -> ``== 2``). The summary-of-
    findings table prints where its ACR comes from: one trial's own comparator risk (RESOLVE,
    DeBar 2025, JAMA, doi:10.1001/jama.2025.11178, Table 2: 20.8% of usual care), or the median of
    two trials' (the mean of the middle two)."""
    assert assumed_control_risk(None, {"DeBar 2025": 0.208}) == (
        0.208, "the trial's comparator-arm risk (DeBar 2025 20.8%)")
    assert assumed_control_risk(None, {"B 2021": 0.3, "A 2020": 0.2}) == (
        pytest.approx(0.25), "median of 2 trials' comparator-arm risk (A 2020 20.0%, B 2021 30.0%)")
