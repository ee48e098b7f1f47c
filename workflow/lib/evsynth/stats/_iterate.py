"""The numeric constants and the Fisher-scoring iteration shared by every tau² estimator.

metafor's ``rma.uni``/``rma.mv`` iteration for REML, ML and EB (Viechtbauer 2005):
``tau² += step`` where the step is the score over the information (EB: Morris's update),
halved while it would make tau² negative and snapped to tau² = 0 once a halved step is
below :data:`THRESHOLD` (metafor keeps halving and stops at ~1e-13); the iteration stops
when ``|step| < THRESHOLD`` and gives up after :data:`MAX_ITER` steps. Each caller supplies
only its step (intercept-only sums, a meta-regression's traces, ...):

* :func:`fisher_scoring`: one data set, scalar tau² (the reference form);
* :func:`fisher_scoring_rows`: many data sets at once, an array of tau², each leaving the
  iteration as soon as it has converged. Row by row it takes exactly the scalar steps.

Models with several covariance parameters (three-level/CHE, AR/HAR) share
:func:`halve_overshoot`, the line search that keeps their Fisher steps from oscillating.

References
----------
Viechtbauer W (2005). Bias and efficiency of meta-analytic variance estimators in the
random-effects model. J Educ Behav Stat 30(3):261-293.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "EPS", "MAX_ITER", "THRESHOLD", "fisher_scoring", "fisher_scoring_rows", "halve", "halve_overshoot", "halve_rows",
]

#: metafor's ``control=list(threshold=1e-12)``: Fisher scoring stops when |Δτ²| < this.
THRESHOLD = 1e-12
#: metafor's ``control=list(maxiter=...)`` for the tau² iterations.
MAX_ITER = 1000
EPS = np.finfo(float).eps


def halve(tau2: float, step: float, tol: float = THRESHOLD) -> float:
    """``step`` halved while ``tau2 + step < 0``; ``-tau2`` (to the boundary) once below ``tol``."""
    while tau2 + step < 0:
        step /= 2
        if abs(step) < tol:
            return -tau2
    return step


def fisher_scoring(
    step_at: Callable[[float], float], tau2: float, tol: float = THRESHOLD, max_iter: int = MAX_ITER
) -> tuple[float, bool]:
    """Iterate ``tau2 += halve(tau2, step_at(tau2))`` from ``tau2``; ``(tau2, converged)``."""
    for _ in range(max_iter):
        step = halve(tau2, step_at(tau2), tol)
        tau2 += step
        if abs(step) < tol:
            return tau2, True
    return tau2, False


def halve_rows(tau2: np.ndarray, step: np.ndarray, tol: float = THRESHOLD) -> np.ndarray:
    """:func:`halve` row by row (a new array; ``step`` is left as it was)."""
    step = step.copy()
    halving = tau2 + step < 0
    # From tau² = 0 every halved step stays negative until it is below tol, when the
    # scalar loop sets step = -tau²: take that end point at once.
    at_zero = halving & (tau2 == 0)
    step[at_zero] = -tau2[at_zero]
    halving &= ~at_zero
    while halving.any():
        step[halving] /= 2
        floor = halving & (np.abs(step) < tol)
        step[floor] = -tau2[floor]
        halving &= ~floor & (tau2 + step < 0)
    return step


def fisher_scoring_rows(
    step_of: Callable[[np.ndarray, np.ndarray], np.ndarray],
    tau2: np.ndarray,
    active: np.ndarray,
    converged: np.ndarray,
    tol: float = THRESHOLD,
    max_iter: int = MAX_ITER,
) -> None:
    """:func:`fisher_scoring` for the rows ``active`` of ``tau2`` at once, in place.

    ``step_of(rows, tau2[rows])`` gives the rows' steps; a row leaves the iteration (and is
    marked in ``converged``) as soon as its step is below ``tol``.
    """
    for _ in range(max_iter):
        if active.size == 0:
            break
        t = tau2[active]
        step = halve_rows(t, step_of(active, t), tol)
        tau2[active] = t + step
        done = np.abs(step) < tol
        converged[active[done]] = True
        active = active[~done]


def halve_overshoot(
    theta: np.ndarray,
    step: np.ndarray,
    score: np.ndarray,
    move: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, Any]],
    score_information_at: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    tol: float = THRESHOLD,
) -> tuple[np.ndarray, np.ndarray, Any, tuple[np.ndarray, np.ndarray]]:
    """A Fisher step of several covariance parameters, halved while it overshoots the maximum.

    The expected information can be far flatter than the likelihood (few trials, one much
    larger than the rest); the Fisher step then overshoots the maximum along its line, and
    when it does so more than twice over the iteration oscillates with growing amplitude. The
    step is halved until the slope at its end is at least minus the slope at its start,
    ``score(theta + d)·d >= -score(theta)·d`` (on a quadratic, exactly "the likelihood does not
    fall"), or until it is below ``tol``.

    Parameters
    ----------
    theta, step, score
        The parameters, their Fisher step and the score at ``theta``.
    move
        ``move(theta, step) -> (end point, note)``: where the step leads (e.g. cut short at the
        boundary of the parameter space); ``note`` is handed back unchanged.
    score_information_at
        ``(score, information)`` at a point.
    tol
        The smallest step halved.

    Returns
    -------
    tuple
        ``(step, end point, note, (score, information) at the end point)``.

    References
    ----------
    Nocedal J, Wright SJ (2006). Numerical Optimization, 2nd ed., ch. 3 (the curvature
    condition of a line search). Springer.
    """
    while True:
        moved, note = move(theta, step)
        at = score_information_at(moved)
        d = moved - theta
        if at[0] @ d >= -(score @ d) or np.max(np.abs(step)) < tol:
            return step, moved, note, at
        step = step / 2
