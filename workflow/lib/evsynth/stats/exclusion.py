"""Re-runs without outlying or influential trials (metapsyTools' "outliers" and "influence").

Two exclusion rules, each followed by a random-effects re-run under the same settings:

* **Outliers** (Harrer et al. 2021, *Doing Meta-Analysis in R*, ch. 5.4.1; metapsyTools'
  ``metapsyFindOutliers``, as dmetar's ``find.outliers``): a trial is an outlier when its own
  Wald CI, ``yᵢ ± z₁₋α/₂ √vᵢ``, lies entirely outside the pooled estimate's CI, i.e.
  ``upperᵢ < pooled lower`` or ``lowerᵢ > pooled upper`` (strict: touching intervals
  overlap). The pooled CI is the configured one (Knapp-Hartung when configured, as
  metapsyTools takes ``ci.lb``/``ci.ub`` of the fitted model). metapsyTools writes 1.96 for
  z; here z is the normal quantile at the configured alpha (1.959964 at 0.05), the CI that
  ``studies.tsv`` shows for each trial.
* **Influential trials** (Viechtbauer & Cheung 2010): the trials metafor 3.8's
  ``influence()`` marks with ``*`` (``is.infl``), as :func:`evsynth.stats.influence.influence`
  computes them: |DFFITS| > 3√(1/(k-1)), the χ²(1) cdf of Cook's distance > 0.5, hat > 3/k
  or |DFBETAS| > 1.

The re-run is :func:`evsynth.stats.pooling.pool_with` on the trials left, exactly the
main analysis's code (metafor ``rma(yi, vi, subset = !excluded, ...)``); it is not done when
no trial is excluded (nothing changes) or fewer than 2 are left.

References
----------
Harrer M, Cuijpers P, Furukawa TA, Ebert DD (2021). Doing Meta-Analysis with R: A Hands-On
Guide. Boca Raton: Chapman & Hall/CRC. doi:10.1201/9781003107347 (ch. 5.4.1, "Basic outlier
removal").
Viechtbauer W, Cheung MW-L (2010). Outlier and influence diagnostics for meta-analysis.
Res Synth Methods 1(2):112-125. doi:10.1002/jrsm.11
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from evsynth.stats.influence import Influence, influence
from evsynth.stats.pooling import pool_with
from evsynth.stats.profiles import MethodSettings
from evsynth.stats.results import PooledEstimate

__all__ = ["EXCLUSIONS", "MIN_K_EXCLUSION", "ExclusionRerun", "ci_outliers", "exclusion_reruns"]

#: The two analyses, in the order their rows are written.
EXCLUSIONS = ("outliers", "influential")

#: As leave-one-out: with 2 trials, the influence rules compare a trial with a single other one.
MIN_K_EXCLUSION = 3


@dataclass(frozen=True)
class ExclusionRerun:
    """One exclusion rule applied to one comparison, and its re-run.

    ``excluded`` flags the trials left out (input order); ``side`` says, per trial, why:
    for outliers "above" or "below" the pooled CI, for influential trials the influence
    criteria met ("dffits; hat"), "" for a trial kept. ``pooled`` is the re-run without
    the excluded trials, ``None`` when none is excluded or fewer than 2 are left.
    """

    analysis: str
    excluded: np.ndarray
    side: tuple[str, ...]
    pooled: PooledEstimate | None


def ci_outliers(yi, vi, pooled_lower: float, pooled_upper: float, alpha: float = 0.05) -> tuple[str, ...]:
    """Which trials' CIs do not overlap the pooled CI (Harrer et al. 2021, ch. 5.4.1).

    Parameters
    ----------
    yi, vi : array_like
        Estimates on the analysis scale and their sampling variances.
    pooled_lower, pooled_upper : float
        The pooled estimate's CI on the analysis scale.
    alpha : float
        Two-sided level of the trials' Wald CIs.

    Returns
    -------
    tuple of str
        Per trial: "above" (its CI lies above the pooled CI), "below", or "" (overlap).
    """
    yi, se = np.asarray(yi, dtype=float), np.sqrt(np.asarray(vi, dtype=float))
    z = float(stats.norm.ppf(1 - alpha / 2))
    lower, upper = yi - z * se, yi + z * se
    return tuple("above" if lo > pooled_upper else "below" if hi < pooled_lower else "" for lo, hi in zip(lower, upper))


def exclusion_reruns(
    yi, vi, settings: MethodSettings, *, full: PooledEstimate | None = None, infl: Influence | None = None
) -> tuple[ExclusionRerun, ExclusionRerun]:
    """The outlier and influence exclusion re-runs of one comparison (k ≥ 3).

    Parameters
    ----------
    yi, vi : array_like
        Estimates on the analysis scale and their sampling variances.
    settings : MethodSettings
        The main analysis's settings; the full fit, the influence diagnostics and the re-runs
        all use them.
    full, infl : optional
        The fit of all trials and its influence diagnostics, when the caller has them.

    Returns
    -------
    tuple of ExclusionRerun
        Outliers first, then influential trials (:data:`EXCLUSIONS`).
    """
    yi, vi = np.asarray(yi, dtype=float), np.asarray(vi, dtype=float)
    if len(yi) < MIN_K_EXCLUSION:
        raise ValueError(f"exclusion re-runs need at least {MIN_K_EXCLUSION} trials, got {len(yi)}")
    full = full if full is not None else pool_with(yi, vi, settings)
    if infl is None:
        infl = influence(yi, vi, estimator=settings.estimator, ci_method=settings.ci_method, alpha=settings.alpha)
    sides = {
        "outliers": ci_outliers(yi, vi, full.ci_lower, full.ci_upper, settings.alpha),
        "influential": tuple(c if flag else "" for c, flag in zip(infl.criteria, infl.influential)),
    }
    reruns = []
    for analysis in EXCLUSIONS:
        excluded = np.array([bool(s) for s in sides[analysis]])
        keep = ~excluded
        pooled = pool_with(yi[keep], vi[keep], settings) if excluded.any() and keep.sum() >= 2 else None
        reruns.append(ExclusionRerun(analysis=analysis, excluded=excluded, side=sides[analysis], pooled=pooled))
    return reruns[0], reruns[1]
