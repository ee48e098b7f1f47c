"""The REML refits (evsynth.stats.refit) against the restricted score's root found by bracketing,
independently of Fisher scoring: the hypothesis test in test_refit_properties.py skips subsets
whose iteration did not converge, so an iteration that crawls (a wrong expected information, a
surviving mutant of the seed-3001 sample, mutation/report.md) passed it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq

from evsynth.stats.refit import cumulative_fits, leave_one_out_fits


def _score(t, yi, vi):
    """The restricted (REML) score in tau², up to a factor 1/2 (Viechtbauer 2005, J Educ Behav
    Stat 30:261, eq. 14 with the P-matrix trace written out for one intercept)."""
    w = 1 / (vi + t)
    mu = np.sum(w * yi) / w.sum()
    return np.sum(w**2 * (yi - mu) ** 2) - w.sum() + np.sum(w**2) / w.sum()


def _reml_root(yi, vi):
    """The REML tau² where the score has one sign change on [0, 100] (0 if it is negative at 0)."""
    return 0.0 if _score(0.0, yi, vi) <= 0 else brentq(_score, 0.0, 100.0, args=(yi, vi), xtol=1e-15, rtol=1e-13)


# A small tau² near the boundary (generated data, not a trial table).
NEAR_ZERO = (np.array([0.48707034, 0.52661836, 0.73053064, 1.31116658]),
             np.array([0.00842073, 0.2698365, 0.12909088, 0.39777176]))


@pytest.mark.parametrize("refits", [leave_one_out_fits, cumulative_fits])
def test_reml_refits_converge_to_the_root_of_the_restricted_score(refits):
    yi, vi = NEAR_ZERO
    fits = refits(yi, vi, estimator="REML")
    subsets = ([np.delete(np.arange(4), i) for i in range(4)] if refits is leave_one_out_fits
               else [np.arange(i + 1) for i in range(4)])
    for i, rows in enumerate(subsets):
        if len(rows) < 2:
            continue
        assert fits.converged[i]
        assert fits.tau2[i] == pytest.approx(_reml_root(yi[rows], vi[rows]), rel=1e-8, abs=1e-12)


# Found by the hypothesis test of test_refit_properties.py once its examples changed: without
# study 1 the restricted likelihood has two maxima, at tau² = 0 and at 0.1851. metafor 3.8-1,
# rma(yi, vi, method = "REML", control = list(threshold = 1e-12)) |> leave1out(), gives 0.1850751582
# for that subset (each refit from metafor's HE start), as evsynth.stats.pooling.pool does; a
# warm start at the full data's tau² (0 here) stayed at the boundary maximum.
def test_leave_one_out_reml_finds_metafors_maximum_on_a_bimodal_likelihood():
    yi = np.array([1.0, 2.0, 2.0, -0.25, 1.0, 2.0, -0.75])
    vi = np.array([1.0, 1.0, 1.0, 0.75, 0.0625, 1.0, 1.0])
    assert _score(0.0, yi[1:], vi[1:]) < 0 < _score(0.1, yi[1:], vi[1:])  # two maxima: 0 and the root above
    fits = leave_one_out_fits(yi, vi, estimator="REML")
    assert fits.tau2[0] == pytest.approx(0.1850751582, rel=1e-8)
    assert _score(fits.tau2[0], yi[1:], vi[1:]) == pytest.approx(0.0, abs=1e-9)
