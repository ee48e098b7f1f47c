"""Fisher scoring for the ML and REML heterogeneity variance, without k x k matrices.

Used to check PyMARE's bounded search, which silently returns tau² = 0 when one sampling
variance is huge (``../shared/design/pymare.md`` §3.5). The iteration is metafor's
(Viechtbauer 2005, J Educ Behav Stat 30:261): ``tau² += (score) / (information)`` with
step halving at the boundary, written for the intercept-only model where
``P = W - w wᵀ / Σw`` so every trace is a sum over studies.

Three forms of the same iteration (same start, steps, halving and stopping rule):

* :func:`fisher_scoring_tau2`: one data set (the reference implementation);
* :func:`fisher_scoring_tau2_rows`: D data sets of equal k at once, as ``(D, k)`` arrays
  (used by :mod:`evsynth.stats.pooling` for one analysis, D = 1, and for batches); row by row
  it gives exactly the result of :func:`fisher_scoring_tau2`;
* :func:`fisher_scoring_tau2_large`: one data set of large k, with the sums of
  :class:`WeightedPass` (in-place, O(k) memory) for ``evsynth.stats.pooling.pool_large_k``.
"""

from __future__ import annotations

import numpy as np

from evsynth.stats._iterate import MAX_ITER, THRESHOLD, fisher_scoring, fisher_scoring_rows


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


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """Σ aᵢbᵢ on one thread (BLAS ``dot`` wakes its thread pool, which costs ms under load)."""
    return float(np.einsum("i,i->", a, b))


class WeightedPass:
    """Sums over one large data set at a given tau², in preallocated buffers.

    For k in the hundreds of thousands the cost of a pass is memory traffic, so every
    quantity is formed in place (no temporaries) and reduced with one-thread dot
    products. Nothing is larger than k: the intercept-only model needs no k x k matrix.
    :meth:`at` returns, for wᵢ = 1/(vᵢ + tau²) and rᵢ = yᵢ - μ̂:

    ``sw`` Σw, ``mu`` μ̂ = Σwy/Σw, ``q`` Σw r² (the generalised Q), ``s2`` Σw²r² (the
    REML/ML score's Σ(Py)², and -dQ/dtau²), ``sw2`` Σw², ``sw3`` Σw³ (REML only).
    After a call, :attr:`w` holds the weights at that tau².
    """

    def __init__(self, yi: np.ndarray, vi: np.ndarray):
        self.y, self.v = yi, vi
        self.w = np.empty_like(vi)
        self.r = np.empty_like(vi)
        self.wr = np.empty_like(vi)

    def at(self, tau2: float, want: str = "sw2") -> dict[str, float]:
        """The sums at ``tau2``; ``want`` = "q" (no Σw²), "sw2" (default), "sw3" (both), or
        "halley" (no Σw², plus ``w3r2`` = Σw³r² and ``w2r`` = Σw²r for d²Q/dtau²)."""
        w, r, wr = self.w, self.r, self.wr
        np.add(self.v, tau2, out=w)
        np.divide(1.0, w, out=w)
        sw = float(w.sum())
        mu = _dot(w, self.y) / sw
        np.subtract(self.y, mu, out=r)
        np.multiply(w, r, out=wr)
        out = {"sw": sw, "mu": mu, "q": _dot(wr, r), "s2": _dot(wr, wr)}
        if want == "halley":
            out["w3r2"] = float(np.einsum("i,i,i->", wr, wr, w))
            out["w2r"] = _dot(wr, w)
        elif want != "q":
            out["sw2"] = _dot(w, w)
        if want == "sw3":
            np.multiply(w, w, out=r)  # r is free once q and s2 are formed
            out["sw3"] = _dot(r, w)
        return out


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
