"""The between-study variance tau²: every estimator of :func:`evsynth.stats.pooling.pool`
that PyMARE lacks or gets wrong, as sums over studies (no k x k matrix).

All formulas are metafor's ``rma.uni`` for the intercept-only model (Viechtbauer 2010):

* REML and ML: Fisher scoring (Viechtbauer 2005, J Educ Behav Stat 30:261): ``tau² +=
  (score) / (information)`` with step halving at the boundary (:mod:`evsynth.stats._iterate`),
  written for the intercept-only model where ``P = W - w wᵀ / Σw`` so every trace is a sum
  over studies. Used to check PyMARE's bounded search, which silently returns tau² = 0 when
  one sampling variance is huge (docs/methods.md, guards for PyMARE 0.0.13).
* PM, Paule & Mandel (1982): the tau² solving the generalised Q(tau²) = k - 1, 0 if
  Q(0) < k - 1 (DerSimonian & Kacker 2007); solved by :mod:`evsynth.stats.qprofile`.
* SJ, Sidik & Jonkman (2005): tau²₀ = Σ(yᵢ - ȳ)²/k, then tau²₀ · Q_w(tau²₀) / (k - 1).
* EB, Morris (1983): metafor iterates tau² += (Q(tau²)·k/(k-1) - k) / Σwᵢ; its fixed
  point solves Q(tau²) = k - 1, the PM equation, for the intercept-only model. That
  iteration can oscillate (found by our property tests), so the equation is solved by
  Brent's method: the same root wherever metafor's iteration converges.
* HE, Hedges (1983): (Σ(yᵢ - ȳ)² - (1 - 1/k)Σvᵢ) / (k - 1), truncated at 0.
* DL comes from PyMARE (:mod:`evsynth.stats.pooling`).

Three forms of the same Fisher scoring (same start, steps, halving and stopping rule):

* :func:`fisher_scoring_tau2`: one data set (the reference implementation);
* :func:`fisher_scoring_tau2_rows`: D data sets of equal k at once, as ``(D, k)`` arrays
  (used by :mod:`evsynth.stats.pooling` for one analysis, D = 1, and for batches); row by row
  it gives exactly the result of :func:`fisher_scoring_tau2`;
* :func:`fisher_scoring_tau2_large`: one data set of large k, with the sums of
  :class:`~evsynth.stats.qprofile.WeightedPass` (in-place, O(k) memory) for
  ``evsynth.stats.large_k.pool_large_k``.

References
----------
Viechtbauer W (2005). Bias and efficiency of meta-analytic variance estimators in the
random-effects model. J Educ Behav Stat 30(3):261-293.
Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat Softw 36(3).
"""

from __future__ import annotations

import numpy as np

from evsynth.stats._iterate import MAX_ITER, THRESHOLD, fisher_scoring, fisher_scoring_rows
from evsynth.stats.qprofile import WeightedPass, _q_and_slope_rows, _solve_q, generalised_q, solve_q_rows


def fisher_scoring_tau2(
    yi: np.ndarray,
    vi: np.ndarray,
    method: str = "REML",
    start: float | None = None,
    tol: float = THRESHOLD,
    max_iter: int = MAX_ITER,
) -> tuple[float, bool]:
    """Return ``(tau2, converged)`` for ``method`` in {"REML", "ML"}.

    ``start`` defaults to metafor's starting value, the Hedges (HE) estimate floored at 0.

    References
    ----------
    Viechtbauer W (2005). Bias and efficiency of meta-analytic variance estimators in the
    random-effects model. J Educ Behav Stat 30(3):261-293.
    """
    yi, vi = np.asarray(yi, dtype=float), np.asarray(vi, dtype=float)
    if start is None:
        start = max(0.0, float(np.var(yi, ddof=1) - np.mean(vi))) if len(yi) > 1 else 0.0

    def step_at(tau2: float) -> float:
        w = 1.0 / (vi + tau2)
        sw = w.sum()
        resid = yi - (w * yi).sum() / sw
        py = w * resid  # P y
        if method == "REML":
            sw2, sw3 = (w**2).sum(), (w**3).sum()
            trace_p = sw - sw2 / sw
            trace_pp = sw2 - 2 * sw3 / sw + (sw2 / sw) ** 2
            return ((py**2).sum() - trace_p) / trace_pp
        if method == "ML":
            return ((py**2).sum() - sw) / (w**2).sum()
        raise ValueError(f"Fisher scoring is for ML and REML, not {method}")

    return fisher_scoring(step_at, max(0.0, float(start)), tol, max_iter)


def he_start(yi: np.ndarray, vi: np.ndarray) -> np.ndarray:
    """metafor's start for ML/REML, row by row: the Hedges (HE) estimate floored at 0.

    ``yi`` and ``vi`` are ``(D, k)`` arrays, one data set per row.
    """
    if yi.shape[1] < 2:
        return np.zeros(yi.shape[0])
    return np.maximum(0.0, np.var(yi, axis=1, ddof=1) - np.mean(vi, axis=1))


def fisher_scoring_tau2_rows(
    yi: np.ndarray,
    vi: np.ndarray,
    method: str = "REML",
    start: np.ndarray | None = None,
    tol: float = THRESHOLD,
    max_iter: int = MAX_ITER,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`fisher_scoring_tau2` for many data sets of equal k at once.

    ``yi`` and ``vi`` are ``(D, k)`` arrays, one data set per row; returns ``(tau2,
    converged)``, both of shape ``(D,)``. Every row takes exactly the steps the scalar
    function takes (same sums in the same order, same step halving at 0), so a row's
    result is the scalar result; a row leaves the iteration as soon as it has converged.
    """
    if method not in ("REML", "ML"):
        raise ValueError(f"Fisher scoring is for ML and REML, not {method}")
    yi, vi = np.asarray(yi, dtype=float), np.asarray(vi, dtype=float)
    start = he_start(yi, vi) if start is None else np.asarray(start, dtype=float)
    tau2 = np.maximum(0.0, start)
    converged = np.zeros(len(tau2), dtype=bool)

    def step_of(active: np.ndarray, t: np.ndarray) -> np.ndarray:
        y, v = yi[active], vi[active]
        w = 1.0 / (v + t[:, None])
        sw = w.sum(axis=1)
        resid = y - ((w * y).sum(axis=1) / sw)[:, None]
        py = w * resid
        if method == "REML":
            sw2, sw3 = (w**2).sum(axis=1), (w**3).sum(axis=1)
            trace_p = sw - sw2 / sw
            trace_pp = sw2 - 2 * sw3 / sw + (sw2 / sw) ** 2
            return ((py**2).sum(axis=1) - trace_p) / trace_pp
        return ((py**2).sum(axis=1) - sw) / (w**2).sum(axis=1)

    fisher_scoring_rows(step_of, tau2, np.arange(len(tau2)), converged, tol, max_iter)
    return tau2, converged


def fisher_scoring_tau2_large(
    yi: np.ndarray,
    vi: np.ndarray,
    method: str = "REML",
    start: float | None = None,
    tol: float = THRESHOLD,
    max_iter: int = MAX_ITER,
    passes: WeightedPass | None = None,
) -> tuple[float, bool]:
    """:func:`fisher_scoring_tau2` for large k (same iteration, start, halving and stop).

    The sums come from :class:`WeightedPass` (in place, no temporaries) instead of fresh
    temporaries, about 3x faster per iteration at k = 10⁶; the iterates agree with
    :func:`fisher_scoring_tau2` to rounding (~1e-15 relative).
    """
    if method not in ("REML", "ML"):
        raise ValueError(f"Fisher scoring is for ML and REML, not {method}")
    yi, vi = np.asarray(yi, dtype=float), np.asarray(vi, dtype=float)
    passes = passes or WeightedPass(yi, vi)
    if start is None:
        start = max(0.0, float(np.var(yi, ddof=1) - np.mean(vi))) if len(yi) > 1 else 0.0

    def step_at(tau2: float) -> float:
        s = passes.at(tau2, "sw3" if method == "REML" else "sw2")
        if method == "REML":
            sw, sw2 = s["sw"], s["sw2"]
            trace_p = sw - sw2 / sw
            trace_pp = sw2 - 2 * s["sw3"] / sw + (sw2 / sw) ** 2
            return (s["s2"] - trace_p) / trace_pp
        return (s["s2"] - s["sw"]) / s["sw2"]

    return fisher_scoring(step_at, max(0.0, float(start)), tol, max_iter)


def tau2_paule_mandel(yi, vi) -> float:
    yi, vi = np.asarray(yi, float), np.asarray(vi, float)
    return _solve_q(yi, vi, len(yi) - 1.0)


def tau2_hedges(yi, vi) -> float:
    yi, vi = np.asarray(yi, float), np.asarray(vi, float)
    k = len(yi)
    return max(0.0, float((np.sum((yi - yi.mean()) ** 2) - (1 - 1 / k) * np.sum(vi)) / (k - 1)))


def tau2_sidik_jonkman(yi, vi) -> float:
    yi, vi = np.asarray(yi, float), np.asarray(vi, float)
    k = len(yi)
    start = float(np.sum((yi - yi.mean()) ** 2) / k)
    return start * generalised_q(start, yi, vi) / (k - 1)


def tau2_empirical_bayes(yi, vi) -> tuple[float, bool]:
    """EB tau²: the root of its estimating equation Q(tau²) = k - 1 (see module notes)."""
    return tau2_paule_mandel(yi, vi), True


def own_tau2(yi, vi, estimator: str) -> tuple[float, bool]:
    """tau² by our own code, for estimators PyMARE lacks (and as a cross-check)."""
    if estimator == "PM":
        return tau2_paule_mandel(yi, vi), True
    if estimator == "SJ":
        return tau2_sidik_jonkman(yi, vi), True
    if estimator == "EB":
        return tau2_empirical_bayes(yi, vi)
    if estimator == "HE":
        return tau2_hedges(yi, vi), True
    if estimator in ("REML", "ML"):
        return fisher_scoring_tau2(yi, vi, estimator)
    raise ValueError(f"no own implementation for {estimator}")


def own_tau2_rows(yi: np.ndarray, vi: np.ndarray, estimator: str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`own_tau2` for each row of ``(D, k)`` arrays: ``(tau2, converged)``."""
    d, k = yi.shape
    if estimator in ("PM", "EB"):
        return solve_q_rows(yi, vi, np.full(d, k - 1.0)), np.ones(d, dtype=bool)
    if estimator == "SJ":
        start = ((yi - yi.mean(axis=1)[:, None]) ** 2).sum(axis=1) / k
        q, _ = _q_and_slope_rows(yi, vi, start)
        return start * q / (k - 1), np.ones(d, dtype=bool)
    if estimator == "HE":
        tau2 = (((yi - yi.mean(axis=1)[:, None]) ** 2).sum(axis=1) - (1 - 1 / k) * vi.sum(axis=1)) / (k - 1)
        return np.maximum(0.0, tau2), np.ones(d, dtype=bool)
    if estimator in ("REML", "ML"):
        return fisher_scoring_tau2_rows(yi, vi, estimator)
    raise ValueError(f"no own implementation for {estimator}")
