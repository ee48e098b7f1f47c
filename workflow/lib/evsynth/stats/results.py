"""Result types shared by pooling, tables and plots.

Everything here is a frozen dataclass of plain Python values, so results can be
compared in tests, hashed, and written to TSV without pandas.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PooledEstimate:
    """One inverse-variance meta-analysis on the analysis scale (log scale for ratios).

    ``stat`` is ``z`` under the Wald method and ``t`` (on ``stat_df`` degrees of
    freedom) under Hartung-Knapp-Sidik-Jonkman. ``i2`` is the I² of ``i2_method``:
    ``tau2`` (metafor, RevMan Web; Higgins & Thompson 2002, §3.2) or ``q`` (RevMan 5);
    ``i2_tau2`` and ``i2_q`` hold both. ``h2`` is tau²-based. ``weights`` are
    random-effects weights in percent, in the order of the input studies. Interval
    limits are ``None`` where the settings ask for none or k is too small.
    """

    k: int
    theta: float
    se: float
    ci_lower: float
    ci_upper: float
    stat: float
    stat_df: float | None
    p_value: float
    tau2: float
    i2: float
    i2_q: float
    h2: float
    q: float
    q_df: int
    q_p: float
    common_theta: float
    common_se: float
    common_ci_lower: float
    common_ci_upper: float
    common_p_value: float
    weights: tuple[float, ...]
    estimator: str
    ci_method: str
    alpha: float
    note: str = ""
    i2_tau2: float | None = None
    i2_method: str = "tau2"
    pi_lower: float | None = None
    pi_upper: float | None = None
    pi_method: str = "none"
    pi_df: float | None = None
    tau2_ci_lower: float | None = None
    tau2_ci_upper: float | None = None
    i2_ci_lower: float | None = None
    i2_ci_upper: float | None = None
    h2_ci_lower: float | None = None
    h2_ci_upper: float | None = None
    hksj_narrower_than_wald: bool = False
    profile: str = ""
