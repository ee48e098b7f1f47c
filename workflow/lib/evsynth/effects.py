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
``var = N/(n1 n2) + g²/(2(N - 3.94))``, ``N = n1 + n2``.
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.special import gammaln

from evsynth.settings import RATIO_MEASURES, Outcome


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
        if smd_variance == "revman":
            g = (1 - 3 / (4 * (n1 + n2) - 9)) * d
        else:
            g = hedges_correction(df) * d
        return g, smd_sampling_variance(g, n1, n2, smd_variance)
    raise ValueError(f"{measure} cannot be computed from arm means")


def smd_sampling_variance(g, n1, n2, convention: str = "metafor") -> np.ndarray:
    """Large-sample variance of an SMD: metafor ``vtype="LS"`` or RevMan 5's."""
    g, n1, n2 = (np.asarray(x, dtype=float) for x in (g, n1, n2))
    if convention == "revman":
        total = n1 + n2
        return total / (n1 * n2) + g**2 / (2 * (total - 3.94))
    return 1 / n1 + 1 / n2 + g**2 / (2 * (n1 + n2))


def z_for_level(level_percent: float) -> float:
    return NormalDist().inv_cdf(0.5 + level_percent / 200)


def compute_effects(
    rows: Sequence[Mapping[str, Any]] | pd.DataFrame,
    outcomes: Mapping[str, Outcome],
    add: float = 0.5,
    smd_variance: str = "metafor",
) -> pd.DataFrame:
    """Compute ``yi``, ``vi`` and a plain-language ``derivation`` for every row.

    Parameters
    ----------
    rows
        Typed study rows as returned by :func:`evsynth.studies.load_studies` (or their
        records). Order is kept.
    outcomes
        Configured outcomes, for each row's measure and direction.
    add
        Continuity correction for 2x2 tables with a zero cell.
    smd_variance
        "metafor" (exact J, ``vtype="LS"``) or "revman" (RevMan 5's SMD formulas).

    Returns
    -------
    pandas.DataFrame
        The input columns plus ``measure``, ``yi``, ``vi``, ``se``, ``estimable`` and
        ``derivation`` (for a non-estimable row, the reason).
    """
    frame = pd.DataFrame(rows).reset_index(drop=True)
    k = len(frame)
    yi, vi = np.full(k, np.nan), np.full(k, np.nan)
    derivation = [""] * k
    measures = [outcomes[o].measure for o in frame["outcome"]]
    for i in range(k):
        row = frame.iloc[i]
        outcome = outcomes[row["outcome"]]
        measure = measures[i]
        if row["form"] == "counts":
            y, v, corrected = from_counts(
                measure, [row["events_treat"]], [row["n_treat"]], [row["events_ctrl"]], [row["n_ctrl"]], add
            )
            yi[i], vi[i] = y[0], v[0]
            name = f"log {measure}" if measure in RATIO_MEASURES else measure
            if np.isnan(yi[i]):
                derivation[i] = "not estimable: no events (or only events) in both arms"
            else:
                extra = f"; {add:g} added to each cell (zero cell)" if corrected[0] else ""
                derivation[i] = f"{name} from counts{extra}"
        elif row["form"] == "means":
            y, v = from_means(
                measure,
                *[[row[c]] for c in ("mean_treat", "sd_treat", "n_treat", "mean_ctrl", "sd_ctrl", "n_ctrl")],
                smd_variance=smd_variance,
            )
            yi[i], vi[i] = y[0], v[0]
            derivation[i] = "MD from arm means and SDs" if measure == "MD" else SMD_DERIVATION[smd_variance]
        else:
            yi[i], vi[i], derivation[i] = _from_contrast(row, outcome, smd_variance)
    frame["measure"] = measures
    frame["yi"], frame["vi"] = yi, vi
    frame["se"] = np.sqrt(vi)
    frame["estimable"] = np.isfinite(yi) & np.isfinite(vi)
    frame["derivation"] = derivation
    return frame


SMD_DERIVATION = {
    "metafor": "Hedges' g (exact J) from arm means and SDs; variance 1/n1+1/n2+g²/(2N)",
    "revman": "Hedges' g (RevMan 5: J = 1-3/(4N-9)) from arm means and SDs; variance N/(n1n2)+g²/(2(N-3.94))",
}


def _from_contrast(row: Mapping[str, Any], outcome: Outcome, smd_variance: str) -> tuple[float, float, str]:
    measure = row["effect_measure"]
    ratio = measure in RATIO_MEASURES
    scale = (lambda x: float(np.log(x))) if ratio else float
    y = scale(row["effect"])
    level = row.get("ci_level")
    level = 95.0 if level is None or pd.isna(level) else float(level)
    name = f"log {measure}" if ratio else measure
    has = lambda col: row.get(col) is not None and not pd.isna(row.get(col))  # noqa: E731
    if has("se"):
        v, how = float(row["se"]) ** 2, f"reported {measure} with SE"
    elif has("ci_lower"):
        z = z_for_level(level)
        se = (scale(row["ci_upper"]) - scale(row["ci_lower"])) / (2 * z)
        v = se**2
        how = f"reported {measure} with {level:g}% CI: se = ({name} upper - lower) / (2 x {z:.4f})"
    elif measure == "SMD" and has("n_treat") and has("n_ctrl"):
        v = float(smd_sampling_variance(y, row["n_treat"], row["n_ctrl"], smd_variance))
        formula = "N/(n1n2)+d²/(2(N-3.94))" if smd_variance == "revman" else "1/n1+1/n2+d²/(2N)"
        how = f"reported SMD without CI or SE: variance {formula} from arm sizes"
    else:
        missing = "arm sizes, CI or SE" if measure == "SMD" else "CI or SE"
        return float("nan"), float("nan"), f"not estimable: reported {measure} without {missing}"
    if row.get("effect_direction") == "benefit_positive" and not outcome.higher_is_better:
        y = -y
        how += "; sign reversed (source: positive favours treatment; lower is better here)"
    return y, v, how


def compute_all_effects(
    rows: Sequence[Mapping[str, Any]] | pd.DataFrame,
    outcomes: Mapping[str, Outcome],
    modes: Sequence[str],
    add: float = 0.5,
    smd_variance: str = "metafor",
) -> pd.DataFrame:
    """:func:`compute_effects` for counts, means and contrasts, plus every contrast formed from
    arm-level rows (:func:`evsynth.arms.arm_contrasts`, with the columns its shared-arm
    covariance is rebuilt from). Input order is kept, derived contrasts follow."""
    from evsynth.arms import arm_contrasts

    frame = pd.DataFrame(rows).reset_index(drop=True)
    is_arm = frame["form"] == "arm" if "form" in frame else pd.Series(False, index=frame.index)
    parts = []
    if (~is_arm).any():
        parts.append(compute_effects(frame[~is_arm], outcomes, add=add, smd_variance=smd_variance))
    if is_arm.any():
        parts.append(arm_contrasts(frame[is_arm], outcomes, modes).effects)
    if not parts:
        return compute_effects(frame, outcomes, add=add, smd_variance=smd_variance)
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
