"""Statistics-layer inputs the seed-3005 mutation sample (mutation/report-seed3005.md) found
untested: PET-PEESE at the fewest trials the config allows (sensitivity.small_study_min_k = 3),
and the studentized residual of a trial whose estimate is exactly the mean of the others.

Expected values: tests/oracle/data/seed3005_inputs.json, written by
tests/oracle/reference/seed3005_inputs.R (metafor 3.8.1)."""

from __future__ import annotations

import numpy as np
import pytest

from evsynth.stats.bias_adjusted import pet_peese
from evsynth.stats.influence import influence
from oracle._oracle import TOL, load

CASES = load("seed3005_inputs")


def test_pet_peese_runs_at_three_trials_as_metafor():
    """Kills stats/bias_adjusted.py:74:7:149 (``k < 3`` -> ``k <= 3``, which refuses three trials).
    The config schema lets sensitivity.small_study_min_k be 3, and a regression on the SE with an
    intercept and a slope has one residual degree of freedom there. dat.bcg trials 1-3 (Colditz et
    al. 1994; metadat), log RR: the intercepts of metafor ``rma(yi, vi, mods = ~ sqrt(vi))`` and
    ``~ vi`` (REML, z test), to TOL["rel"] (1e-6 relative)."""
    pet_case, peese_case = CASES["pet_k3"], CASES["peese_k3"]
    yi, vi = np.array(pet_case["yi"]), np.array(pet_case["vi"])
    pet, peese, combined = pet_peese(yi, vi, estimator="REML", ci_method="wald", alpha=0.05)
    for got, case in ((pet, pet_case), (peese, peese_case)):
        assert got.k_used == 3
        for field in ("theta", "se", "ci_lower", "ci_upper", "p_value"):
            assert getattr(got, field) == pytest.approx(case[field], rel=TOL["rel"]), field
    assert combined.theta == pet.theta  # PET's p = 0.198 >= 0.10: PET is reported
    with pytest.raises(ValueError, match="PET-PEESE needs at least 3 trials"):
        pet_peese(yi[:2], vi[:2], estimator="REML", ci_method="wald", alpha=0.05)


def test_a_trial_at_the_mean_of_the_others_has_a_studentized_residual_of_zero():
    """Kills stats/influence.py:142:43:310 (the rounding-noise residual |yᵢ - θ̂₋ᵢ| < 100 eps set
    to 1.0 instead of 0.0). yi = (0.1, 0.2, 0.3), vi = 0.01 each (hand-made): trial 2 is exactly
    the mean of the others, so metafor ``rstudent(rma(yi, vi, method = "REML"))`` gives z = 0 for
    it and ±1.2247 for the outer two; ours agrees to TOL["rel"], and trial 2's z is 0 to
    TOL["zero_abs"] (1e-12), not noise and not a residual of 1."""
    case = CASES["rstudent_mid"]
    got = influence(np.array(case["yi"]), np.array(case["vi"]), estimator="REML", ci_method="wald", alpha=0.05)
    assert got.rstudent[1] == pytest.approx(0.0, abs=TOL["zero_abs"])
    np.testing.assert_allclose(got.rstudent, case["z"], rtol=TOL["rel"], atol=TOL["zero_abs"])
