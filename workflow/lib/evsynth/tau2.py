"""Fisher scoring for the ML and REML heterogeneity variance, without k x k matrices.

Used to check PyMARE's bounded search, which silently returns tau² = 0 when one sampling
variance is huge (``../shared/design/pymare.md`` §3.5). The iteration is metafor's
(Viechtbauer 2005, J Educ Behav Stat 30:261): ``tau² += (score) / (information)`` with
step halving at the boundary, written for the intercept-only model where
``P = W - w wᵀ / Σw`` so every trace is a sum over studies.
"""

from __future__ import annotations

import numpy as np


def fisher_scoring_tau2(
    yi: np.ndarray,
    vi: np.ndarray,
    method: str = "REML",
    start: float | None = None,
    tol: float = 1e-12,
    max_iter: int = 1000,
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
    tau2 = max(0.0, float(start))
    for _ in range(max_iter):
        w = 1.0 / (vi + tau2)
        sw = w.sum()
        resid = yi - (w * yi).sum() / sw
        py = w * resid  # P y
        if method == "REML":
            sw2, sw3 = (w**2).sum(), (w**3).sum()
            trace_p = sw - sw2 / sw
            trace_pp = sw2 - 2 * sw3 / sw + (sw2 / sw) ** 2
            step = ((py**2).sum() - trace_p) / trace_pp
        elif method == "ML":
            step = ((py**2).sum() - sw) / (w**2).sum()
        else:
            raise ValueError(f"Fisher scoring is for ML and REML, not {method}")
        while tau2 + step < 0:
            step /= 2
            if abs(step) < tol:
                step = -tau2
                break
        tau2 += step
        if abs(step) < tol:
            return tau2, True
    return tau2, False
