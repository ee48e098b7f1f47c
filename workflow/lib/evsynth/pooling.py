"""Inverse-variance random-effects and common-effect meta-analysis through PyMARE.

PyMARE fits the model with every setting passed explicitly (its defaults differ from
metafor's: Knapp-Hartung on by default, ML in ``meta_regression``). Where PyMARE is known
to be wrong, silent or missing, this module guards or adds:

* REML/ML tau² is polished and checked by Fisher scoring (:mod:`evsynth.tau2`); PM, SJ
  and EB, which PyMARE lacks, come from :mod:`evsynth.heterogeneity`.
* I² and H² follow metafor's tau²-based definitions (Higgins & Thompson 2002, Stat Med
  21:1539, §3.2, with ṽ = (k-1)/tr(P)); the Q-based I² of RevMan 5 is kept beside it.
* Under HKSJ the statistic is t = θ/SE on k-1 df, not PyMARE's normal-equivalent "z";
  a plain HKSJ interval narrower than Wald's is flagged (Röver et al. 2015).
* Prediction intervals (Higgins, Thompson & Spiegelhalter 2009) and the Q-profile CI
  for tau² (Viechtbauer 2007), which PyMARE lacks or limits.

References
----------
DerSimonian R, Laird N (1986). Control Clin Trials 7:177-188 (DL).
Hartung J, Knapp G (2001). Stat Med 20:3875-3889; Sidik K, Jonkman JN (2002). Stat Med
21:3153-3159 (HKSJ). Knapp G, Hartung J (2003). Stat Med 22:2693-2710 (ad hoc floor).
Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat
Softw 36(3) (numerical reference).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from evsynth.heterogeneity import own_tau2, q_profile_ci, typical_variance
from evsynth.profiles import CI_METHODS, ESTIMATORS, PREDICTION_INTERVALS, MethodSettings
from evsynth.results import PooledEstimate
from evsynth.tau2 import fisher_scoring_tau2

_PYMARE_CORRECTION = {"wald": "wald", "hksj": "knapp-hartung", "hksj-adhoc": "knapp-hartung-conservative"}
# PyMARE's bounded REML/ML search is accurate to ~1e-8 in tau²; beyond this it has failed.
_TAU2_AGREEMENT = 1e-6


def _pymare_tau2(yi: np.ndarray, vi: np.ndarray, estimator: str) -> float:
    from pymare import Dataset
    from pymare.estimators import DerSimonianLaird, Hedges, VarianceBasedLikelihoodEstimator

    # small_sample_correction does not affect tau²; pass it anyway so no default is relied on.
    if estimator == "DL":
        model = DerSimonianLaird(small_sample_correction="wald")
    elif estimator == "HE":
        model = Hedges(small_sample_correction="wald")
    else:
        model = VarianceBasedLikelihoodEstimator(method=estimator, small_sample_correction="wald")
    model.fit_dataset(Dataset(y=yi, v=vi))
    return float(np.ravel(model.params_["tau2"])[0])


def _pymare_fixed_tau2_fit(yi, vi, tau2: float, ci_method: str, alpha: float) -> dict[str, float]:
    from pymare import Dataset
    from pymare.estimators import WeightedLeastSquares

    model = WeightedLeastSquares(tau2=tau2, small_sample_correction=_PYMARE_CORRECTION[ci_method])
    model.fit_dataset(Dataset(y=yi, v=vi))
    fe = model.summary().get_fe_stats(alpha=alpha)
    return {key: float(np.ravel(fe[key])[0]) for key in ("est", "se", "ci_l", "ci_u", "p")}


def estimate_tau2(yi, vi, estimator: str) -> tuple[float, str]:
    """tau² by ``estimator``; returns ``(tau2, note)``.

    PM, SJ and EB (absent from PyMARE) come from :mod:`evsynth.heterogeneity`. DL and HE
    come from PyMARE as they are (exact to ~1e-14 against metafor). For REML
    and ML, PyMARE's bounded search (accurate to ~1e-7) is polished by Fisher scoring to
    |Δτ²| < 1e-12, metafor's algorithm at ``threshold=1e-12``. Fisher scoring is also
    run from metafor's own start; when PyMARE's value is far from it (the silent failure
    with one huge variance), the Fisher-scoring value is used and the note says so.
    """
    if estimator in ("PM", "SJ", "EB"):
        tau2, converged = own_tau2(yi, vi, estimator)
        return tau2, "" if converged else f"{estimator} iteration did not converge"
    tau2 = _pymare_tau2(yi, vi, estimator)
    if estimator not in ("REML", "ML"):
        return tau2, ""
    polished, polished_ok = fisher_scoring_tau2(yi, vi, estimator, start=tau2)
    reference, reference_ok = fisher_scoring_tau2(yi, vi, estimator)
    if reference_ok and abs(tau2 - reference) > _TAU2_AGREEMENT * max(1.0, reference):
        note = (
            f"PyMARE {estimator} tau² ({tau2:.6g}) failed the Fisher-scoring check; "
            f"Fisher scoring used ({reference:.6g})"
        )
        return reference, note
    if not polished_ok:
        return tau2, f"{estimator} Fisher scoring did not converge; PyMARE's tau² used"
    return polished, ""


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
    k = len(yi)
    if k < 2:
        raise ValueError("pooling needs at least two studies")
    if estimator not in ESTIMATORS or ci_method not in CI_METHODS or prediction_interval not in PREDICTION_INTERVALS:
        raise ValueError(f"unknown estimator {estimator!r}, CI method {ci_method!r} or PI {prediction_interval!r}")
    if not (np.all(np.isfinite(yi)) and np.all(np.isfinite(vi)) and np.all(vi > 0)):
        raise ValueError("every estimate must be finite and every variance positive")

    tau2, note = estimate_tau2(yi, vi, estimator)
    notes = [note] if note else []
    random = _pymare_fixed_tau2_fit(yi, vi, tau2, ci_method, alpha)
    if ci_method == "hksj" and not random["se"] > 0:
        # All estimates identical (Q = 0): the HKSJ variance is exactly 0 and metafor returns a
        # zero-width CI with p = 0. The ad hoc floor (Wald variance) keeps the interval meaningful.
        random = _pymare_fixed_tau2_fit(yi, vi, tau2, "hksj-adhoc", alpha)
        notes.append("HKSJ variance is 0 (identical estimates): ad hoc floor used")
    common = _pymare_fixed_tau2_fit(yi, vi, 0.0, "wald", alpha)

    w_fixed = 1 / vi
    q = float(np.sum(w_fixed * (yi - np.sum(w_fixed * yi) / w_fixed.sum()) ** 2))
    q_df = k - 1
    typical_v = typical_variance(vi)
    w_random = 1 / (vi + tau2)
    i2_tau2 = 100 * tau2 / (tau2 + typical_v)
    i2_q = max(0.0, 100 * (q - q_df) / q) if q > 0 else 0.0
    stat_df = None if ci_method == "wald" else float(q_df)

    hksj_narrower = False
    if ci_method == "hksj":
        wald_width = 2 * stats.norm.ppf(1 - alpha / 2) / np.sqrt(w_random.sum())
        hksj_narrower = bool(random["ci_u"] - random["ci_l"] < wald_width)
        if hksj_narrower:
            notes.append("HKSJ CI narrower than the Wald CI (Q < k-1); the ad hoc floor (hksj-adhoc) widens it")

    pi_lower = pi_upper = pi_df = None
    if prediction_interval != "none":
        pi_df = {"normal": None, "t_k-1": k - 1.0, "t_k-2": k - 2.0}[prediction_interval]
        if pi_df is not None and pi_df < 1:
            notes.append("prediction interval needs at least 3 studies on t(k-2)")
        else:
            crit = stats.norm.ppf(1 - alpha / 2) if pi_df is None else stats.t.ppf(1 - alpha / 2, pi_df)
            half = crit * np.sqrt(tau2 + random["se"] ** 2)
            pi_lower, pi_upper = random["est"] - half, random["est"] + half

    ci_fields: dict[str, float | None] = {}
    if tau2_ci == "qprofile":
        low, high = q_profile_ci(yi, vi, alpha)
        ci_fields = {
            "tau2_ci_lower": low,
            "tau2_ci_upper": high,
            "i2_ci_lower": 100 * low / (low + typical_v),
            "i2_ci_upper": 100 * high / (high + typical_v),
            "h2_ci_lower": (low + typical_v) / typical_v,
            "h2_ci_upper": (high + typical_v) / typical_v,
        }
    return PooledEstimate(
        k=k,
        theta=random["est"],
        se=random["se"],
        ci_lower=random["ci_l"],
        ci_upper=random["ci_u"],
        stat=random["est"] / random["se"],
        stat_df=stat_df,
        p_value=random["p"],
        tau2=tau2,
        i2=i2_tau2 if i2 == "tau2" else i2_q,
        i2_q=i2_q,
        h2=(tau2 + typical_v) / typical_v,
        q=q,
        q_df=q_df,
        q_p=float(stats.chi2.sf(q, q_df)),
        common_theta=common["est"],
        common_se=common["se"],
        common_ci_lower=common["ci_l"],
        common_ci_upper=common["ci_u"],
        common_p_value=common["p"],
        weights=tuple(float(x) for x in 100 * w_random / w_random.sum()),
        estimator=estimator,
        ci_method=ci_method,
        alpha=alpha,
        note="; ".join(notes),
        i2_tau2=i2_tau2,
        i2_method=i2,
        pi_lower=None if pi_lower is None else float(pi_lower),
        pi_upper=None if pi_upper is None else float(pi_upper),
        pi_method=prediction_interval,
        pi_df=pi_df,
        hksj_narrower_than_wald=hksj_narrower,
        profile=profile,
        **ci_fields,
    )


def pool_with(yi, vi, settings: MethodSettings) -> PooledEstimate:
    """:func:`pool` under a resolved method profile."""
    return pool(
        yi,
        vi,
        estimator=settings.estimator,
        ci_method=settings.ci_method,
        alpha=settings.alpha,
        prediction_interval=settings.prediction_interval,
        i2=settings.i2,
        tau2_ci=settings.tau2_ci,
        profile=settings.label,
    )
