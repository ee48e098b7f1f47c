"""Cumulative meta-analysis: the pooled result as studies accumulate in a chosen order.

Studies are sorted by a key (publication year by default; any study-table column can be
used) and the random-effects model is refitted on the first 1, 2, ..., k studies, as
metafor's ``cumul(res, order=key)``. All k fits come from one vectorised refit
(:func:`evsynth.stats.refit.cumulative_fits`): fixed-weight quantities are prefix sums, and
quantities at each prefix's own tau² are computed in bounded chunks. The first step is
a single study: its own estimate, a Wald interval, and no heterogeneity (metafor's
k = 1 fit). The last step is the full meta-analysis.

The sort is stable, as R's ``order()``: studies with the same key keep their input
order (in the pipeline, study-label order). Missing keys sort last.

References
----------
Lau J, Antman EM, Jimenez-Silva J, Kupelnick B, Mosteller F, Chalmers TC (1992).
Cumulative meta-analysis of therapeutic trials for myocardial infarction. N Engl J Med
327(4):248-254. doi:10.1056/NEJM199207233270406
Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat
Softw 36(3):1-48 (``cumul``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evsynth._values import is_missing
from evsynth.stats.refit import SubsetFits, cumulative_fits

__all__ = ["Cumulative", "cumulative", "sort_order"]


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def sort_order(keys: Sequence[Any]) -> np.ndarray:
    """Indices that sort ``keys`` ascending, stably, missing keys (None, NaN, "") last.

    Keys are compared as numbers when every present key is a number (or numeric text such
    as ``"2013"``), else as text.

    Parameters
    ----------
    keys : sequence
        One sort key per study.

    Returns
    -------
    numpy.ndarray
        Positions of the studies in the order they enter the cumulative analysis.
    """
    keys = list(keys)
    present = [i for i, key in enumerate(keys) if not is_missing(key)]
    numbers = [_as_number(keys[i]) for i in present]
    if all(x is not None for x in numbers):
        ranked = sorted(range(len(present)), key=lambda j: numbers[j])
    else:
        ranked = sorted(range(len(present)), key=lambda j: str(keys[present[j]]))
    missing = [i for i, key in enumerate(keys) if is_missing(key)]
    return np.array([present[j] for j in ranked] + missing, dtype=int)


@dataclass(frozen=True)
class Cumulative:
    """``order[r]`` is the study added at step r; ``fits`` row r pools ``order[:r+1]``."""

    order: np.ndarray
    fits: SubsetFits


def cumulative(
    yi,
    vi,
    *,
    order: Sequence[Any] | None = None,
    estimator: str = "REML",
    ci_method: str = "wald",
    alpha: float = 0.05,
) -> Cumulative:
    """Cumulative random-effects meta-analysis (Lau et al. 1992; metafor ``cumul``).

    Parameters
    ----------
    yi, vi : array_like
        Estimates on the analysis scale and their sampling variances; k ≥ 1.
    order : sequence, optional
        Sort key per study (e.g. publication year); by default the input order.
    estimator : str
        tau² estimator (REML, ML, DL, HE, PM, SJ, EB), refitted at every step.
    ci_method : str
        "wald", "hksj" or "hksj-adhoc"; a one-study step always uses Wald (metafor).
    alpha : float
        Two-sided level of the confidence intervals.

    Returns
    -------
    Cumulative
    """
    yi, vi = np.asarray(yi, dtype=float), np.asarray(vi, dtype=float)
    if order is None:
        index = np.arange(len(yi))
    else:
        if len(order) != len(yi):
            raise ValueError(f"order has {len(order)} keys for {len(yi)} studies")
        index = sort_order(order)
    fits = cumulative_fits(yi[index], vi[index], estimator=estimator, ci_method=ci_method, alpha=alpha)
    return Cumulative(order=index, fits=fits)
