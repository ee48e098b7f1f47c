"""Effect sizes on the analysis scale (log for RR and OR) from each form of study data.

Formulas follow metafor's ``escalc`` (Viechtbauer 2010, J Stat Softw 36(3)) so the
results can be pinned to it:

* RR, OR, RD from counts; ``add`` is added to every cell of a table with a zero cell
  (``to="only0"``). Tables with no events (or only events) in both arms are not estimable
  for RR and OR (RevMan and ``drop00=TRUE``), and are kept for RD.
* MD from arm means: ``yi = m1 - m2``, ``vi = sd1²/n1 + sd2²/n2``.
* SMD from arm means: Hedges' g with the exact correction
  ``J = Γ(m/2) / (sqrt(m/2) Γ((m-1)/2))``, ``m = n1 + n2 - 2`` (Hedges 1981), and the
  large-sample variance ``1/n1 + 1/n2 + g²/(2(n1+n2))`` (metafor ``vtype="LS"``).
* A reported estimate with a CI at level L: ``se = (upper - lower) / (2 z)``,
  ``z = Φ⁻¹(1/2 + L/200)``, on the log scale for ratio measures (Higgins et al.,
  Cochrane Handbook §6.3); a reported SE is used as given.
* A reported SMD with arm sizes but neither CI nor SE: the same large-sample variance.

``smd_variance="revman"`` switches SMDs to RevMan 5's formulas (Deeks & Higgins 2010,
RevMan statistical algorithms): ``J = 1 - 3/(4N - 9)`` and
``var = N/(n1 n2) + g²/(2(N - 3.94))``, ``N = n1 + n2``. ``smd_variance="metapsy"`` uses
metapsyTools' (``calculateEffectSizes``, Harrer et al., doi:10.5281/zenodo.6566632): the same
J, and the variance of the *uncorrected* d, ``N/(n1 n2) + d²/(2N)``.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
from scipy.special import gammaln

RATIO_MEASURES = ("RR", "OR")
BINARY_MEASURES = ("RR", "OR", "RD")
CONTINUOUS_MEASURES = ("MD", "SMD")


def hedges_correction(df: np.ndarray) -> np.ndarray:
    """Exact small-sample correction factor J(df) of Hedges (1981)."""
    df = np.asarray(df, dtype=float)
    return np.exp(gammaln(df / 2) - 0.5 * np.log(df / 2) - gammaln((df - 1) / 2))


def from_counts(measure: str, a, n1, c, n2, add: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(yi, vi, corrected)`` for 2x2 tables given events and totals per arm.

    Rows whose RR/OR is not estimable (double-zero tables) get NaN.
    """
    a, n1, c, n2 = (np.asarray(x, dtype=float) for x in (a, n1, c, n2))
    b, d = n1 - a, n2 - c
    double_zero = ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))
    corrected = ((a == 0) | (b == 0) | (c == 0) | (d == 0)) & (add > 0)
    a, b, c, d = (np.where(corrected, x + add, x) for x in (a, b, c, d))
    n1, n2 = a + b, c + d
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "RR":
            yi = np.log(a / n1) - np.log(c / n2)
            vi = 1 / a - 1 / n1 + 1 / c - 1 / n2
        elif measure == "OR":
            yi = np.log(a * d / (b * c))
            vi = 1 / a + 1 / b + 1 / c + 1 / d
        elif measure == "RD":
            p1, p2 = a / n1, c / n2
            yi = p1 - p2
            vi = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
        else:
            raise ValueError(f"{measure} cannot be computed from counts")
    if measure in RATIO_MEASURES:
        yi = np.where(double_zero, np.nan, yi)
    bad = ~np.isfinite(yi) | ~np.isfinite(vi) | (vi <= 0)
    return np.where(bad, np.nan, yi), np.where(bad, np.nan, vi), corrected


def from_means(
    measure: str, m1, sd1, n1, m2, sd2, n2, smd_variance: str = "metafor"
) -> tuple[np.ndarray, np.ndarray]:
    """MD or SMD (Hedges' g, exact J and ``vtype="LS"``, or RevMan's) from arm summaries."""
    m1, sd1, n1, m2, sd2, n2 = (np.asarray(x, dtype=float) for x in (m1, sd1, n1, m2, sd2, n2))
    if measure == "MD":
        return m1 - m2, sd1**2 / n1 + sd2**2 / n2
    if measure == "SMD":
        df = n1 + n2 - 2
        pooled_sd = np.sqrt(((n1 - 1) * sd1**2 + (n2 - 1) * sd2**2) / df)
        d = (m1 - m2) / pooled_sd
        if smd_variance in ("revman", "metapsy"):
            g = approximate_j(n1 + n2) * d
        else:
            g = hedges_correction(df) * d
        if smd_variance == "metapsy":  # metapsyTools: the variance of d, not of g
            return g, smd_sampling_variance(d, n1, n2, smd_variance)
        return g, smd_sampling_variance(g, n1, n2, smd_variance)
    raise ValueError(f"{measure} cannot be computed from arm means")


def approximate_j(total) -> np.ndarray:
    """Hedges' approximate small-sample correction ``1 - 3/(4N - 9)`` (RevMan 5, metapsyTools)."""
    return 1 - 3 / (4 * np.asarray(total, dtype=float) - 9)


def smd_sampling_variance(g, n1, n2, convention: str = "metafor") -> np.ndarray:
    """Large-sample variance of an SMD: metafor ``vtype="LS"``, RevMan 5's or metapsyTools'."""
    g, n1, n2 = (np.asarray(x, dtype=float) for x in (g, n1, n2))
    total = n1 + n2
    if convention == "revman":
        return total / (n1 * n2) + g**2 / (2 * (total - 3.94))
    if convention == "metapsy":
        return total / (n1 * n2) + g**2 / (2 * total)
    return 1 / n1 + 1 / n2 + g**2 / (2 * (n1 + n2))


def z_for_level(level_percent: float) -> float:
    return NormalDist().inv_cdf(0.5 + level_percent / 200)

