"""One meta-analysis of very many studies in numpy alone, with memory O(k) and no PyMARE
(its REML search alone takes ~0.5 s at k = 10⁶); :func:`evsynth.stats.pooling.pool` hands
over to :func:`pool_large_k` from ``evsynth.stats.pooling.LARGE_K`` studies on.
"""

from __future__ import annotations

import struct

import numpy as np

from evsynth.stats._iterate import EPS
from evsynth.stats._summary import _check_data, _check_settings, _summaries, fe_stats
from evsynth.stats.qprofile import WeightedPass, q_profile_ci_large, solve_q_large
from evsynth.stats.results import PooledEstimate
from evsynth.stats.tau2 import fisher_scoring_tau2_large, tau2_hedges, tau2_sidik_jonkman


def pool_large_k(
    yi,
    vi,
    estimator: str = "REML",
    ci_method: str = "wald",
    alpha: float = 0.05,
    prediction_interval: str = "normal",
    i2: str = "tau2",
    tau2_ci: str = "qprofile",
    profile: str = "",
) -> PooledEstimate:
    """:func:`~evsynth.stats.pooling.pool` for very many studies, in numpy alone, with memory O(k).

    ``pool`` calls this from ``LARGE_K`` studies on; it can be called at any
    k >= 2, and is pinned to metafor on the same reference cases as ``pool``
    (``tests/unit/test_pooling_batch.py``). Which code computes what:

    * tau²: DL as PyMARE and metafor compute it, ``(Q - (k-1)) / (Σw - Σw²/Σw)`` floored
      at 0 with w = 1/v; HE and SJ by :mod:`evsynth.stats.tau2`; REML and ML by
      :func:`evsynth.stats.tau2.fisher_scoring_tau2_large` (metafor's Fisher scoring from its HE
      start, |Δτ²| < 1e-12; no PyMARE search to check); PM and EB by
      :func:`evsynth.stats.qprofile.solve_q_large`.
    * estimate, SE, CI, p: weighted least squares at tau² in closed form, θ = Σwy/Σw,
      Var = s²/Σw with s² = 1 (Wald), Q(tau²)/(k-1) (HKSJ, on t(k-1); 0 below machine
      epsilon, as PyMARE and metafor) or max(1, Q(tau²)/(k-1)) (HKSJ ad hoc); the common
      effect the same at tau² = 0.
    * Q, I², H², prediction interval: as in ``pool``.
    * Q-profile CI: :func:`evsynth.stats.qprofile.q_profile_ci_large` (Newton from tau²).

    Every pass over the data reuses the buffers of one
    :class:`evsynth.stats.qprofile.WeightedPass`: about 3 arrays of k floats besides the input.
    """
    yi, vi = np.ascontiguousarray(yi, dtype=float), np.ascontiguousarray(vi, dtype=float)
    _check_data(yi, vi)
    _check_settings(estimator, ci_method, prediction_interval)
    k = len(yi)
    passes = WeightedPass(yi, vi)
    notes: list[str] = []
    fixed = passes.at(0.0)
    typical_v = (k - 1) / (fixed["sw"] - fixed["sw2"] / fixed["sw"])
    q = fixed["q"]
    if estimator == "DL":
        tau2 = max(0.0, (q - (k - 1)) / (fixed["sw"] - fixed["sw2"] / fixed["sw"]))
    elif estimator in ("REML", "ML"):
        tau2, converged = fisher_scoring_tau2_large(yi, vi, estimator, passes=passes)
        if not converged:
            notes.append(f"{estimator} Fisher scoring did not converge")
    elif estimator in ("PM", "EB"):
        tau2 = float(solve_q_large(yi, vi, k - 1.0, passes=passes, q_zero=q)[0])
    elif estimator == "HE":
        tau2 = tau2_hedges(yi, vi)
    else:
        tau2 = tau2_sidik_jonkman(yi, vi)

    at_tau2 = passes.at(tau2, "halley")
    theta = at_tau2["mu"]
    method = ci_method
    if ci_method == "wald":
        scale = 1.0
    else:
        scale = at_tau2["q"] / (k - 1) if at_tau2["q"] > EPS else 0.0
        if ci_method == "hksj-adhoc":
            scale = max(1.0, scale)
        elif scale == 0.0:
            scale, method = 1.0, "hksj-adhoc"
            notes.append("HKSJ variance is 0 (identical estimates): ad hoc floor used")
    se = float(np.sqrt(scale / at_tau2["sw"]))
    dof = None if method == "wald" else np.array([k - 1.0])
    random = fe_stats(np.array([theta]), np.array([se]), dof, alpha)
    common = fe_stats(np.array([fixed["mu"]]), np.array([np.sqrt(1 / fixed["sw"])]), None, alpha)

    # passes.w is 1/(v + tau²) still; struct builds the tuple of floats without a list.
    percent = 100 * passes.w / at_tau2["sw"]
    weights = struct.unpack_from(f"{k}d", percent)
    limits = None
    if tau2_ci == "qprofile":
        low, high = q_profile_ci_large(
            yi, vi, alpha, start=tau2, passes=passes, q_zero=q, at_start=at_tau2
        )
        limits = (np.array([low]), np.array([high]))
    return _summaries(
        k, np.array([tau2]), random, common, np.array([q]), np.array([typical_v]), np.array([at_tau2["sw"]]),
        [weights], limits, [notes], estimator=estimator, ci_method=ci_method, alpha=alpha,
        prediction_interval=prediction_interval, i2=i2, profile=profile,
    )[0]
