"""Inverse-variance random-effects and common-effect meta-analysis through PyMARE.

PyMARE fits the model with every setting passed explicitly (its defaults differ from
metafor's: Knapp-Hartung on by default, ML in ``meta_regression``). Where PyMARE is known
to be wrong, silent or missing, this module guards or adds:

* REML/ML tau² comes from Fisher scoring from metafor's start (:mod:`evsynth.stats.tau2`),
  not PyMARE's bounded search (slower, accurate to ~1e-7, and silently wrong with one
  huge variance), which is kept only as a fallback start; PM, SJ and EB, which PyMARE
  lacks, come from :mod:`evsynth.stats.heterogeneity`.
* I² and H² follow metafor's tau²-based definitions (Higgins & Thompson 2002, Stat Med
  21:1539, §3.2, with ṽ = (k-1)/tr(P)); the Q-based I² of RevMan 5 is kept beside it.
* Under HKSJ the statistic is t = θ/SE on k-1 df, not PyMARE's normal-equivalent "z";
  a plain HKSJ interval narrower than Wald's is flagged (Röver et al. 2015).
* Prediction intervals (Higgins, Thompson & Spiegelhalter 2009) and the Q-profile CI
  for tau² (Viechtbauer 2007), which PyMARE lacks or limits.

Three entry points share that code:

* :func:`pool`: one analysis. Below :data:`LARGE_K` studies, PyMARE fits it: tau² for
  DL and HE; the estimate, its SE (Knapp-Hartung-scaled under HKSJ) and df from
  ``WeightedLeastSquares``, with CI and p formed from them by :func:`fe_stats` exactly as
  PyMARE's ``get_fe_stats`` forms them. PyMARE is called with ``fit`` on arrays rather
  than through pandas' ``Dataset`` (0.1 ms a call).
* :func:`pool_many`: many analyses in one call. Analyses of equal k are one PyMARE fit
  on "parallel datasets" (k x D arrays), everything else vectorised over analyses; each
  result equals :func:`pool`'s.
* :func:`pool_large_k`: numpy only, memory O(k), no PyMARE (its REML search alone takes
  ~0.5 s at k = 10⁶); :func:`pool` hands over to it from :data:`LARGE_K` studies on.

References
----------
DerSimonian R, Laird N (1986). Control Clin Trials 7:177-188 (DL).
Hartung J, Knapp G (2001). Stat Med 20:3875-3889; Sidik K, Jonkman JN (2002). Stat Med
21:3153-3159 (HKSJ). Knapp G, Hartung J (2003). Stat Med 22:2693-2710 (ad hoc floor).
Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat
Softw 36(3) (numerical reference).
"""

from __future__ import annotations

import math
import struct
from typing import Sequence

import numpy as np
from scipy import special

from evsynth.stats.heterogeneity import (
    own_tau2_rows,
    q_profile_ci_large,
    q_profile_ci_rows,
    tau2_hedges,
    tau2_sidik_jonkman,
    solve_q_large,
    typical_variance_rows,
)
from evsynth.stats.profiles import CI_METHODS, ESTIMATORS, PREDICTION_INTERVALS, MethodSettings
from evsynth.stats.results import PooledEstimate
from evsynth.stats.tau2 import WeightedPass, fisher_scoring_tau2, fisher_scoring_tau2_large, fisher_scoring_tau2_rows

_PYMARE_CORRECTION = {"wald": "wald", "hksj": "knapp-hartung", "hksj-adhoc": "knapp-hartung-conservative"}
#: From this many studies on, :func:`pool` uses :func:`pool_large_k` (numpy only):
#: PyMARE's REML search costs ~0.5 s at k = 10⁶ and no real meta-analysis is this large.
LARGE_K = 100_000
#: :func:`pool_many` fits at most this many (study x data set) cells per PyMARE call.
BATCH_CELLS = 1 << 20


# ---------------------------------------------------------------------------------------
# PyMARE, on D data sets of equal k at once ("parallel datasets": y and v as k x D).
# ---------------------------------------------------------------------------------------


def _design(k: int) -> np.ndarray:
    return np.ones((k, 1))


def _pymare_tau2_rows(yi: np.ndarray, vi: np.ndarray, estimator: str) -> np.ndarray:
    """tau² of each row of ``(D, k)`` arrays from one PyMARE fit on D parallel data sets."""
    from pymare.estimators import DerSimonianLaird, Hedges, VarianceBasedLikelihoodEstimator

    # small_sample_correction does not affect tau²; pass it anyway so no default is relied on.
    if estimator == "DL":
        model = DerSimonianLaird(small_sample_correction="wald")
    elif estimator == "HE":
        model = Hedges(small_sample_correction="wald")
    else:
        model = VarianceBasedLikelihoodEstimator(method=estimator, small_sample_correction="wald")
    model.fit(y=yi.T, v=vi.T, X=_design(yi.shape[1]))
    return np.ravel(model.params_["tau2"]).astype(float)


def _pymare_tau2(yi: np.ndarray, vi: np.ndarray, estimator: str) -> float:
    return float(_pymare_tau2_rows(np.asarray(yi, float)[None], np.asarray(vi, float)[None], estimator)[0])


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


def _pymare_fixed_tau2_rows(yi, vi, tau2, ci_method: str, alpha: float) -> dict[str, np.ndarray]:
    """PyMARE ``WeightedLeastSquares`` at the given tau² (a float or one per row): its
    estimate, SE (Knapp-Hartung-scaled under HKSJ) and df, then :func:`fe_stats`:
    est, se, ci_l, ci_u, p, each of shape ``(D,)``."""
    from pymare.estimators import WeightedLeastSquares

    model = WeightedLeastSquares(tau2=tau2, small_sample_correction=_PYMARE_CORRECTION[ci_method])
    model.fit(y=yi.T, X=_design(yi.shape[1]), v=vi.T)
    params = model.params_
    est = np.ravel(params["fe_params"][0]).astype(float)
    se = np.sqrt(np.ravel(params["inv_cov"][0, 0]).astype(float))  # PyMARE's fe_se
    dof = params.get("dof")
    return fe_stats(est, se, None if dof is None else np.ravel(np.asarray(dof, dtype=float)), alpha)


def _pymare_fixed_tau2_fit(yi, vi, tau2: float, ci_method: str, alpha: float) -> dict[str, float]:
    fit = _pymare_fixed_tau2_rows(np.asarray(yi, float)[None], np.asarray(vi, float)[None], tau2, ci_method, alpha)
    return {key: float(value[0]) for key, value in fit.items()}


def _estimate_tau2_rows(yi: np.ndarray, vi: np.ndarray, estimator: str) -> tuple[np.ndarray, list[str]]:
    """:func:`estimate_tau2` for each row of ``(D, k)`` arrays: ``(tau2, notes)``."""
    d = yi.shape[0]
    notes = [""] * d
    if estimator in ("PM", "SJ", "EB"):
        tau2, converged = own_tau2_rows(yi, vi, estimator)
        for i in np.flatnonzero(~converged):
            notes[i] = f"{estimator} iteration did not converge"
        return tau2, notes
    if estimator not in ("REML", "ML"):
        return _pymare_tau2_rows(yi, vi, estimator), notes
    # metafor's algorithm first: PyMARE's bounded search was ~70% of a k = 10 fit and its
    # answer was always replaced by this one, so it now runs only where Fisher scoring
    # from metafor's start does not converge, to give it another start.
    if d == 1:  # the scalar loop takes the same steps with less overhead
        one, one_ok = fisher_scoring_tau2(yi[0], vi[0], estimator)
        result, converged = np.array([one]), np.array([one_ok])
    else:
        result, converged = fisher_scoring_tau2_rows(yi, vi, estimator)
    retry = np.flatnonzero(~converged)
    if retry.size:
        searched = _pymare_tau2_rows(yi[retry], vi[retry], estimator)
        polished, polished_ok = fisher_scoring_tau2_rows(yi[retry], vi[retry], estimator, start=searched)
        for j, i in enumerate(retry):
            if polished_ok[j]:
                result[i] = polished[j]
            else:
                result[i] = searched[j]
                notes[i] = f"{estimator} Fisher scoring did not converge; PyMARE's tau² used"
    return result, notes


def estimate_tau2(yi, vi, estimator: str) -> tuple[float, str]:
    """tau² by ``estimator``; returns ``(tau2, note)``.

    PM, SJ and EB (absent from PyMARE) come from :mod:`evsynth.stats.heterogeneity`. DL and HE
    come from PyMARE as they are (exact to ~1e-14 against metafor). REML and ML come from
    Fisher scoring from metafor's own start to |Δτ²| < 1e-12 (metafor's algorithm at
    ``threshold=1e-12``; :mod:`evsynth.stats.tau2`). PyMARE's bounded search (accurate to
    ~1e-7, and silently wrong with one huge variance: 2.49 where metafor gives 0.336) is
    used only where Fisher scoring does not converge: as a new start, and as the answer,
    with a note, if that fails too.
    """
    tau2, notes = _estimate_tau2_rows(np.asarray(yi, float)[None], np.asarray(vi, float)[None], estimator)
    return float(tau2[0]), notes[0]


# ---------------------------------------------------------------------------------------
# The summary shared by every path.
# ---------------------------------------------------------------------------------------


def _check_settings(estimator: str, ci_method: str, prediction_interval: str) -> None:
    if estimator not in ESTIMATORS or ci_method not in CI_METHODS or prediction_interval not in PREDICTION_INTERVALS:
        raise ValueError(f"unknown estimator {estimator!r}, CI method {ci_method!r} or PI {prediction_interval!r}")


def _check_data(yi: np.ndarray, vi: np.ndarray) -> None:
    if yi.shape[-1] < 2:
        raise ValueError("pooling needs at least two studies")
    if not (np.all(np.isfinite(yi)) and np.all(np.isfinite(vi)) and np.all(vi > 0)):
        raise ValueError("every estimate must be finite and every variance positive")


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
        pi_df = {"normal": None, "t_k-1": k - 1.0, "t_k-2": k - 2.0}[prediction_interval]
        if pi_df is None or pi_df >= 1:
            crit = z_crit if pi_df is None else special.stdtrit(pi_df, 1 - alpha / 2)
            half = crit * np.sqrt(tau2 + random["se"] ** 2)
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


def _pool_rows(
    yi: np.ndarray,
    vi: np.ndarray,
    *,
    estimator: str,
    ci_method: str,
    alpha: float,
    prediction_interval: str,
    i2: str,
    tau2_ci: str,
    profile: str,
) -> list[PooledEstimate]:
    """The PyMARE path for each row of ``(D, k)`` arrays (D = 1 for :func:`pool`)."""
    d, k = yi.shape
    tau2, tau2_notes = _estimate_tau2_rows(yi, vi, estimator)
    notes = [[n] if n else [] for n in tau2_notes]
    tau2_arg = float(tau2[0]) if d == 1 else tau2
    random = _pymare_fixed_tau2_rows(yi, vi, tau2_arg, ci_method, alpha)
    if ci_method == "hksj":
        # All estimates identical (Q = 0): the HKSJ variance is exactly 0 and metafor returns a
        # zero-width CI with p = 0. The ad hoc floor (Wald variance) keeps the interval meaningful.
        zero = np.flatnonzero(~(random["se"] > 0))
        if zero.size:
            floor = _pymare_fixed_tau2_rows(yi[zero], vi[zero], tau2[zero], "hksj-adhoc", alpha)
            for key in random:
                random[key][zero] = floor[key]
            for i in zero:
                notes[i].append("HKSJ variance is 0 (identical estimates): ad hoc floor used")
    common = _pymare_fixed_tau2_rows(yi, vi, 0.0, "wald", alpha)

    w_fixed = 1 / vi
    q = np.sum(w_fixed * (yi - (np.sum(w_fixed * yi, axis=1) / w_fixed.sum(axis=1))[:, None]) ** 2, axis=1)
    w_random = 1 / (vi + tau2[:, None])
    sum_w_random = w_random.sum(axis=1)
    weights = (100 * w_random / sum_w_random[:, None]).tolist()
    limits = q_profile_ci_rows(yi, vi, alpha) if tau2_ci == "qprofile" else None
    return _summaries(
        k, tau2, random, common, q, typical_variance_rows(vi), sum_w_random, [tuple(w) for w in weights], limits,
        notes, estimator=estimator, ci_method=ci_method, alpha=alpha, prediction_interval=prediction_interval,
        i2=i2, profile=profile,
    )


def pool(
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
    """Random-effects meta-analysis of ``k >= 2`` estimates, plus the common-effect model.

    Below :data:`LARGE_K` studies the model is fitted by PyMARE (see the module notes for
    which code computes what); from :data:`LARGE_K` on, by :func:`pool_large_k`.

    Parameters
    ----------
    yi, vi
        Estimates on the analysis scale and their sampling variances (all > 0).
    estimator
        tau² estimator, metafor's ``method=``: REML, ML, DL, HE, PM, SJ or EB.
    ci_method
        "wald" (metafor ``test="z"``), "hksj" (``test="knha"``) or "hksj-adhoc"
        (``test="adhoc"``: the HKSJ variance never below Wald's).
    alpha
        Two-sided level: 0.05 gives 95% intervals.
    prediction_interval
        "none", "normal", "t_k-1" or "t_k-2": θ ± crit·sqrt(tau² + SE²), with the SE of
        ``ci_method`` (Higgins, Thompson & Spiegelhalter 2009).
    i2
        Which I² goes in ``i2``: "tau2" (metafor, RevMan Web) or "q" (RevMan 5).
    tau2_ci
        "qprofile" (Viechtbauer 2007; also gives the I² and H² CIs) or "none".
    """
    yi, vi = np.asarray(yi, dtype=float), np.asarray(vi, dtype=float)
    _check_data(yi, vi)
    _check_settings(estimator, ci_method, prediction_interval)
    settings = dict(
        estimator=estimator, ci_method=ci_method, alpha=alpha, prediction_interval=prediction_interval, i2=i2,
        tau2_ci=tau2_ci, profile=profile,
    )
    if len(yi) >= LARGE_K:
        return pool_large_k(yi, vi, **settings)
    return _pool_rows(yi[None], vi[None], **settings)[0]


def _settings_kwargs(settings: MethodSettings) -> dict:
    """The keyword arguments of :func:`pool` / :func:`pool_many` for a resolved profile."""
    return dict(
        estimator=settings.estimator,
        ci_method=settings.ci_method,
        alpha=settings.alpha,
        prediction_interval=settings.prediction_interval,
        i2=settings.i2,
        tau2_ci=settings.tau2_ci,
        profile=settings.label,
    )


def pool_with(yi, vi, settings: MethodSettings) -> PooledEstimate:
    """:func:`pool` under a resolved method profile."""
    return pool(yi, vi, **_settings_kwargs(settings))


# ---------------------------------------------------------------------------------------
# Many analyses at once.
# ---------------------------------------------------------------------------------------


def pool_many(
    yis: Sequence,
    vis: Sequence,
    estimator: str = "REML",
    ci_method: str = "wald",
    alpha: float = 0.05,
    prediction_interval: str = "normal",
    i2: str = "tau2",
    tau2_ci: str = "qprofile",
    profile: str = "",
) -> list[PooledEstimate]:
    """:func:`pool` of many separate meta-analyses, one :class:`PooledEstimate` each, in order.

    ``yis[j]``, ``vis[j]`` are the estimates and variances of analysis j (k may differ).
    The result for each analysis equals ``pool(yis[j], vis[j], ...)`` (to rounding,
    ~1e-15; pinned in ``tests/unit/test_pooling_batch.py``): the same code computes the
    same quantities, but analyses of equal k below :data:`LARGE_K` are fitted together,
    as PyMARE "parallel datasets" (y and v as k x D arrays; one ``fit`` per estimator
    and CI method for up to :data:`BATCH_CELLS` cells), with Fisher scoring, Q, I², H²,
    prediction intervals and the Q-profile CI vectorised over analyses in
    :mod:`evsynth.stats.tau2` and :mod:`evsynth.stats.heterogeneity`. Analyses of k >= LARGE_K go
    through :func:`pool_large_k` one at a time.
    """
    _check_settings(estimator, ci_method, prediction_interval)
    if len(yis) != len(vis):
        raise ValueError("yis and vis must hold the same number of analyses")
    settings = dict(
        estimator=estimator, ci_method=ci_method, alpha=alpha, prediction_interval=prediction_interval, i2=i2,
        tau2_ci=tau2_ci, profile=profile,
    )
    data = [(np.asarray(y, dtype=float), np.asarray(v, dtype=float)) for y, v in zip(yis, vis)]
    by_k: dict[int, list[int]] = {}
    for j, (y, v) in enumerate(data):
        if y.ndim != 1 or y.shape != v.shape:
            raise ValueError(f"analysis {j}: yi and vi must be 1-d and of equal length")
        _check_data(y, v)
        by_k.setdefault(len(y), []).append(j)
    results: list[PooledEstimate | None] = [None] * len(data)
    for k, members in by_k.items():
        if k >= LARGE_K:
            for j in members:
                results[j] = pool_large_k(*data[j], **settings)
            continue
        per_call = max(1, BATCH_CELLS // k)
        for start in range(0, len(members), per_call):
            chunk = members[start : start + per_call]
            yi = np.stack([data[j][0] for j in chunk])
            vi = np.stack([data[j][1] for j in chunk])
            for j, result in zip(chunk, _pool_rows(yi, vi, **settings)):
                results[j] = result
    return results  # type: ignore[return-value]


def pool_many_with(yis: Sequence, vis: Sequence, settings: MethodSettings) -> list[PooledEstimate]:
    """:func:`pool_many` under a resolved method profile."""
    return pool_many(yis, vis, **_settings_kwargs(settings))


# ---------------------------------------------------------------------------------------
# Large k: numpy only, O(k) memory.
# ---------------------------------------------------------------------------------------


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
    """:func:`pool` for very many studies, in numpy alone, with memory O(k).

    :func:`pool` calls this from :data:`LARGE_K` studies on; it can be called at any
    k >= 2, and is pinned to metafor on the same reference cases as :func:`pool`
    (``tests/unit/test_pooling_batch.py``). Which code computes what:

    * tau²: DL as PyMARE and metafor compute it, ``(Q - (k-1)) / (Σw - Σw²/Σw)`` floored
      at 0 with w = 1/v; HE and SJ by :mod:`evsynth.stats.heterogeneity`; REML and ML by
      :func:`evsynth.stats.tau2.fisher_scoring_tau2_large` (metafor's Fisher scoring from its HE
      start, |Δτ²| < 1e-12; no PyMARE search to check); PM and EB by
      :func:`evsynth.stats.heterogeneity.solve_q_large`.
    * estimate, SE, CI, p: weighted least squares at tau² in closed form, θ = Σwy/Σw,
      Var = s²/Σw with s² = 1 (Wald), Q(tau²)/(k-1) (HKSJ, on t(k-1); 0 below machine
      epsilon, as PyMARE and metafor) or max(1, Q(tau²)/(k-1)) (HKSJ ad hoc); the common
      effect the same at tau² = 0.
    * Q, I², H², prediction interval: as in :func:`pool`.
    * Q-profile CI: :func:`evsynth.stats.heterogeneity.q_profile_ci_large` (Newton from tau²).

    Every pass over the data reuses the buffers of one
    :class:`evsynth.stats.tau2.WeightedPass`: about 3 arrays of k floats besides the input.
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
        scale = at_tau2["q"] / (k - 1) if at_tau2["q"] > np.finfo(float).eps else 0.0
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
