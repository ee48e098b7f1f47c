"""What every pooling path computes after tau² and the two fits: CI and p of a fitted
coefficient as PyMARE forms them (:func:`fe_stats`), Q, I², H², p(Q), the HKSJ-vs-Wald check,
the prediction interval and the Q-profile limits, into one :class:`PooledEstimate` per data set;
and the input checks the paths share.

References
----------
Higgins JPT, Thompson SG (2002). Quantifying heterogeneity in a meta-analysis. Stat Med
21:1539-1558 (I², H²).
Higgins JPT, Thompson SG, Spiegelhalter DJ (2009). A re-evaluation of random-effects
meta-analysis. J R Stat Soc A 172:137-159 (prediction interval).
Röver C, Knapp G, Friede T (2015). Hartung-Knapp-Sidik-Jonkman approach and its
modification for random-effects meta-analysis with few studies. BMC Med Res Methodol 15:99.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import special

from evsynth.stats.profiles import CI_METHODS, ESTIMATORS, PREDICTION_INTERVALS
from evsynth.stats.results import PooledEstimate


def fe_stats(est: np.ndarray, se: np.ndarray, dof: np.ndarray | None, alpha: float) -> dict[str, np.ndarray]:
    """CI and p of PyMARE's fitted coefficient, exactly as PyMARE 0.0.13's
    ``MetaRegressionResults.get_fe_stats`` forms them (z, or t on ``dof``; the tail in
    logs; NaN where the SE is 0 or not finite), with scipy.special in place of
    scipy.stats (the same functions, ~50x less call overhead). Equality with
    ``get_fe_stats`` is pinned in ``tests/unit/test_pooling_batch.py``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        stat = est / se
        if dof is None:
            crit = special.ndtri(1 - alpha / 2)
            log_tail = special.log_ndtr(-np.abs(stat))
        else:
            crit = special.stdtrit(dof, 1 - alpha / 2)
            log_tail = np.log(special.stdtr(dof, -np.abs(stat)))
        p = np.exp(np.minimum(log_tail + math.log(2.0), 0.0))
    undefined = ~np.isfinite(se) | (se <= 0)
    return {
        "est": est,
        "se": se,
        "ci_l": np.where(undefined, np.nan, est - crit * se),
        "ci_u": np.where(undefined, np.nan, est + crit * se),
        "p": np.where(undefined, np.nan, p),
    }


def _check_settings(estimator: str, ci_method: str, prediction_interval: str) -> None:
    if estimator not in ESTIMATORS or ci_method not in CI_METHODS or prediction_interval not in PREDICTION_INTERVALS:
        raise ValueError(f"unknown estimator {estimator!r}, CI method {ci_method!r} or PI {prediction_interval!r}")


def _check_data(yi: np.ndarray, vi: np.ndarray) -> None:
    if yi.shape[-1] < 2:
        raise ValueError("pooling needs at least two studies")
    if not (np.all(np.isfinite(yi)) and np.all(np.isfinite(vi)) and np.all(vi > 0)):
        raise ValueError("every estimate must be finite and every variance positive")


def i2_test_based_ci(q: np.ndarray, k: int, alpha: float) -> tuple[np.ndarray, ...]:
    """I² and H² CIs from Q by the test-based method of Higgins & Thompson (2002, Stat Med
    21:1539, appendix), as R meta's ``isquared`` computes them: ``H = sqrt(Q / (k - 1))``,
    ``se(ln H) = (ln Q - ln(k - 1)) / (2 (sqrt(2Q) - sqrt(2k - 3)))`` when ``Q > k``, else
    ``sqrt(1 / (2 (k - 2)) (1 - 1 / (3 (k - 2)²)))``; ``ln H ± z se``, H floored at 1,
    ``I² = 100 (H² - 1) / H²``. Needs k >= 3.

    Returns ``(i2_lower, i2_upper, h2_lower, h2_upper)``.
    """
    q = np.asarray(q, dtype=float)
    df = k - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.sqrt(np.maximum(q, 0) / df)
        se_big = 0.5 * (np.log(q) - np.log(df)) / (np.sqrt(2 * q) - np.sqrt(2 * k - 3))
    se_small = np.sqrt(1 / (2 * (k - 2)) * (1 - 1 / (3 * (k - 2) ** 2))) if k > 2 else np.nan
    se = np.where(q > k, se_big, se_small)
    z = special.ndtri(1 - alpha / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        lower = np.maximum(np.exp(np.log(h) - z * se), 1.0)
        upper = np.maximum(np.exp(np.log(h) + z * se), 1.0)
    to_i2 = lambda hh: 100 * (hh**2 - 1) / hh**2  # noqa: E731
    return to_i2(lower), to_i2(upper), lower**2, upper**2


def _summaries(
    k: int,
    tau2: np.ndarray,
    random: dict[str, np.ndarray],
    common: dict[str, np.ndarray],
    q: np.ndarray,
    typical_v: np.ndarray,
    sum_w_random: np.ndarray,
    weights: Sequence[tuple[float, ...]],
    tau2_limits: tuple[np.ndarray, np.ndarray] | None,
    notes: list[list[str]],
    *,
    estimator: str,
    ci_method: str,
    alpha: float,
    prediction_interval: str,
    i2: str,
    profile: str,
) -> list[PooledEstimate]:
    """Everything after tau² and the two fits, for D data sets of ``k`` studies at once.

    Q, I², H², p(Q), the HKSJ-vs-Wald check and the prediction interval are arithmetic
    on the arrays given (scipy.special gives the same quantiles as scipy.stats).
    """
    q_df = k - 1
    i2_tau2 = 100 * tau2 / (tau2 + typical_v)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        i2_q = np.where(q > 0, np.maximum(0.0, 100 * (q - q_df) / q), 0.0)
    h2 = (tau2 + typical_v) / typical_v
    q_p = special.chdtrc(q_df, q)
    stat = random["est"] / random["se"]
    z_crit = special.ndtri(1 - alpha / 2)

    hksj_narrower = np.zeros(len(tau2), dtype=bool)
    if ci_method == "hksj":
        wald_width = 2 * z_crit / np.sqrt(sum_w_random)
        hksj_narrower = random["ci_u"] - random["ci_l"] < wald_width

    pi_df = None
    pi = None
    if prediction_interval != "none":
        pi_df = {"normal": None, "t_k-1": k - 1.0, "t_k-2": k - 2.0, "t_k-2-wald": k - 2.0}[prediction_interval]
        if pi_df is None or pi_df >= 1:
            crit = z_crit if pi_df is None else special.stdtrit(pi_df, 1 - alpha / 2)
            # t_k-2-wald: the SE of the model without the Hartung-Knapp scaling (R meta < 7).
            se = 1 / np.sqrt(sum_w_random) if prediction_interval == "t_k-2-wald" else random["se"]
            half = crit * np.sqrt(tau2 + se**2)
            pi = (random["est"] - half, random["est"] + half)

    # Python floats from here on (one tolist() per array, not a float() per element).
    col = {
        "theta": random["est"], "se": random["se"], "ci_lower": random["ci_l"], "ci_upper": random["ci_u"],
        "stat": stat, "p_value": random["p"], "tau2": tau2, "i2": i2_tau2 if i2 == "tau2" else i2_q,
        "i2_q": i2_q, "h2": h2, "q": q, "q_p": q_p, "common_theta": common["est"], "common_se": common["se"],
        "common_ci_lower": common["ci_l"], "common_ci_upper": common["ci_u"], "common_p_value": common["p"],
        "i2_tau2": i2_tau2,
    }
    col = {name: np.broadcast_to(values, tau2.shape).tolist() for name, values in col.items()}
    pi_lists = None if pi is None else (pi[0].tolist(), pi[1].tolist())
    limits = None if tau2_limits is None else (tau2_limits[0].tolist(), tau2_limits[1].tolist(), typical_v.tolist())
    narrower = hksj_narrower.tolist()
    ht = None if i2 != "q-ht" else [h.tolist() for h in i2_test_based_ci(np.broadcast_to(q, tau2.shape), k, alpha)]
    stat_df = None if ci_method == "wald" else float(q_df)
    results = []
    for i in range(len(tau2)):
        row_notes = list(notes[i])
        if narrower[i]:
            row_notes.append("HKSJ CI narrower than the Wald CI (Q < k-1); the ad hoc floor (hksj-adhoc) widens it")
        if prediction_interval != "none" and pi is None:
            row_notes.append("prediction interval needs at least 3 studies on t(k-2)")
        ci_fields: dict[str, float | None] = {}
        if limits is not None:
            low, high, tv = limits[0][i], limits[1][i], limits[2][i]
            ci_fields = {
                "tau2_ci_lower": low,
                "tau2_ci_upper": high,
                "i2_ci_lower": 100 * low / (low + tv),
                "i2_ci_upper": 100 * high / (high + tv),
                "h2_ci_lower": (low + tv) / tv,
                "h2_ci_upper": (high + tv) / tv,
            }
        if ht is not None and k >= 3:  # I² (and H²) CI from Q, replacing the tau²-based one
            ci_fields.update({"i2_ci_lower": ht[0][i], "i2_ci_upper": ht[1][i],
                              "h2_ci_lower": ht[2][i], "h2_ci_upper": ht[3][i]})
        results.append(
            PooledEstimate(
                k=k,
                **{name: values[i] for name, values in col.items()},
                stat_df=stat_df,
                q_df=q_df,
                weights=weights[i],
                estimator=estimator,
                ci_method=ci_method,
                alpha=alpha,
                note="; ".join(row_notes),
                i2_method=i2,
                pi_lower=None if pi_lists is None else pi_lists[0][i],
                pi_upper=None if pi_lists is None else pi_lists[1][i],
                pi_method=prediction_interval,
                pi_df=pi_df,
                hksj_narrower_than_wald=narrower[i],
                profile=profile,
                **ci_fields,
            )
        )
    return results
