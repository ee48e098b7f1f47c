"""Fisher scoring of the AR / HAR model across follow-ups (evsynth.stats.timepoints) where the
expected information is much flatter than the likelihood, and the line search it shares with the
multilevel model (evsynth.stats._iterate.halve_overshoot)."""

from __future__ import annotations

import numpy as np
import pytest

from evsynth.stats._iterate import halve_overshoot
from evsynth.stats.dependent import ClusteredCovariance
from evsynth.stats.timepoints import _edge, fit_timepoints
from oracle._oracle import TOL, expected, load, max_rel_error

FLAT = load("metafor_timepoints_flat_information")
EDGE = load("metafor_timepoints_flat_information", "edge_cases")


@pytest.mark.parametrize("name", sorted(FLAT))
def test_timepoint_fit_converges_where_the_information_is_flat(name):
    """Generated data sets (tests/oracle/reference/metafor_timepoints_flat_information.R) on which
    plain Fisher scoring overshot the REML maximum and oscillated for 1,000 steps: the fit was
    reported "did not converge: last values" with tau² or rho 36% to 1,100% off. Now it converges
    to metafor's ``rma.mv(yi, V, mods = ~ factor(time) - 1, random = ~ time | trial, struct)``
    (nlminb; ``V <- vcalc(vi, cluster = trial, time1 = time, phi = 0.97)``): tau², rho and the
    window means to TOL["nlminb_rel"], and a log-likelihood at least as high (to 1e-9: nlminb
    stops a little short of the maximum)."""
    case = FLAT[name]
    want = case["outputs"]
    yi, V, time = _inputs(case)
    fit = fit_timepoints(yi, V, time, structure=case["struct"], method="REML", test="z", alpha=0.05)
    assert fit.converged
    assert max_rel_error(fit.tau2, expected(want["tau2"])) <= TOL["nlminb_rel"]
    assert max_rel_error(fit.rho, want["rho"]) <= TOL["nlminb_rel"]
    assert max_rel_error(fit.beta, expected(want["beta"])) <= TOL["nlminb_rel"]
    assert fit.loglik >= want["loglik"] - 1e-9


def _inputs(case):
    i = case["inputs"]
    V = ClusteredCovariance.autoregressive(i["vi"], i["trial"], np.asarray(i["time"], float), 0.97)
    return i["yi"], V, i["time"]


@pytest.mark.parametrize("name", sorted(EDGE))
def test_timepoint_fit_at_the_edge_names_the_parameter(name):
    """Generated data sets (same R script, ``edge_cases``) whose REML maximum is on the boundary:
    metafor's rma.mv (nlminb on transformed parameters) returns |rho| within 2e-7 of 1. The
    fit is not "fixed" into a value there; it stops with an error naming the parameter that
    reached the edge (rho at that sign), which the timepoint table reports as "not fitted: ..."."""
    case = EDGE[name]
    rho = case["outputs"]["rho"]
    assert abs(rho) > 1 - 2e-7  # metafor's maximum is on the boundary too
    yi, V, time = _inputs(case)
    with pytest.raises(ValueError, match=rf"edge of the parameter space \(rho at {'[+]' if rho > 0 else '-'}1\)"):
        fit_timepoints(yi, V, time, structure=case["struct"], method="REML", test="z", alpha=0.05)


def test_edge_names_every_parameter_past_it():
    """HAR windows are counted in time order (the table passes window positions, not names)."""
    assert _edge(np.array([0.2, -1e-13, 0.0, 0.99])) == "tau² of window 2 of 3 at 0, tau² of window 3 of 3 at 0"
    assert _edge(np.array([-1e-13, -1.0])) == "tau² at 0, rho at -1"
    assert _edge(np.array([0.3, 0.2, 1.0])) == "rho at +1"


def _quadratic(curvature):
    """Score and (flat) information of ``-x·H·x / 2`` with H = ``curvature``: the information
    understates H by a factor 5 along the first axis, so its Fisher step overshoots 5 times over
    there."""
    H = np.asarray(curvature, float)

    def at(x):
        return -H @ x, np.diag(np.diag(H) / np.array([5.0, 1.0]))

    return at


def _plain(x, step):
    return x + step, "note"


def test_overshooting_step_is_halved_until_the_end_slope_is_no_steeper_than_minus_the_start():
    """From x = (1, 0) on ``-x·H·x / 2`` (H = diag(1, 1)) the Fisher step with the information
    H / 5 is (-5, 0): it ends at -4, slope 4 against -1 at the start. Halved to -2.5 (end -1.5,
    slope 1.5) still overshoots more than twice over; -1.25 (end -0.25) does not, and is taken."""
    at = _quadratic(np.eye(2))
    x = np.array([1.0, 0.0])
    score, info = at(x)
    step, moved, note, (new_score, _) = halve_overshoot(x, np.linalg.solve(info, score), score, _plain, at)
    np.testing.assert_array_equal(step, [-1.25, 0.0])
    np.testing.assert_array_equal(moved, [-0.25, 0.0])
    np.testing.assert_array_equal(new_score, [0.25, 0.0])
    assert note == "note"


def test_step_overshooting_at_most_twice_over_is_kept():
    """A step to exactly the mirror image of the start (slope at its end = minus the slope at the
    start; on a quadratic the likelihood is unchanged) is kept whole, as is one short of the
    maximum."""
    at = _quadratic(np.eye(2))
    x = np.array([1.0, 0.5])
    score, _ = at(x)
    for step in (np.array([-2.0, -1.0]), np.array([-0.5, -0.25])):
        kept, moved, _, _ = halve_overshoot(x, step, score, _plain, at)
        np.testing.assert_array_equal(kept, step)
        np.testing.assert_array_equal(moved, x + step)
