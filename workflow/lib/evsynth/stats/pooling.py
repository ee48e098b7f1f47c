"""Inverse-variance random-effects and common-effect meta-analysis through PyMARE.

PyMARE fits the model with every setting passed explicitly (its defaults differ from
metafor's: Knapp-Hartung on by default, ML in ``meta_regression``). Where PyMARE is known
to be wrong, silent or missing, this module guards or adds:

* REML/ML tau² comes from Fisher scoring from metafor's start (:mod:`evsynth.stats.tau2`),
  not PyMARE's bounded search (slower, accurate to ~1e-7, and silently wrong with one
  huge variance), which is kept only as a fallback start; PM, SJ and EB, which PyMARE
  lacks, come from :mod:`evsynth.stats.tau2`.
* I² and H² follow metafor's tau²-based definitions (Higgins & Thompson 2002, Stat Med
  21:1539, §3.2, with ṽ = (k-1)/tr(P)); the Q-based I² of RevMan 5 is kept beside it.
* Under HKSJ the statistic is t = θ/SE on k-1 df, not PyMARE's normal-equivalent "z";
  a plain HKSJ interval narrower than Wald's is flagged (Röver et al. 2015).
* Prediction intervals (Higgins, Thompson & Spiegelhalter 2009) and the Q-profile CI
  for tau² (Viechtbauer 2007), which PyMARE lacks or limits.

Three entry points share that code (the summary after tau² and the fits is
:mod:`evsynth.stats._summary`):

* :func:`pool`: one analysis. Below :data:`LARGE_K` studies, PyMARE fits it: tau² for
  DL and HE; the estimate, its SE (Knapp-Hartung-scaled under HKSJ) and df from
  ``WeightedLeastSquares``, with CI and p formed from them by :func:`fe_stats` exactly as
  PyMARE's ``get_fe_stats`` forms them. PyMARE is called with ``fit`` on arrays rather
  than through pandas' ``Dataset`` (0.1 ms a call).
* :func:`~evsynth.stats.batch.pool_many`: many analyses in one call. Analyses of equal k
  are one PyMARE fit on "parallel datasets" (k x D arrays), everything else vectorised over
  analyses; each result equals :func:`pool`'s.
* :func:`~evsynth.stats.large_k.pool_large_k`: numpy only, memory O(k), no PyMARE (its REML
  search alone takes ~0.5 s at k = 10⁶); :func:`pool` hands over to it from :data:`LARGE_K`
  studies on.

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

from evsynth.stats._summary import _check_data, _check_settings, _summaries, fe_stats
from evsynth.stats.large_k import pool_large_k
from evsynth.stats.profiles import MethodSettings
from evsynth.stats.qprofile import q_profile_ci_rows, typical_variance_rows
from evsynth.stats.results import PooledEstimate
from evsynth.stats.tau2 import fisher_scoring_tau2, fisher_scoring_tau2_rows, own_tau2_rows

_PYMARE_CORRECTION = {"wald": "wald", "hksj": "knapp-hartung", "hksj-adhoc": "knapp-hartung-conservative"}
#: From this many studies on, :func:`pool` (and ``pool_many``) use ``pool_large_k`` (numpy only):
#: PyMARE's REML search costs ~0.5 s at k = 10⁶ and no real meta-analysis is this large.
LARGE_K = 100_000


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

    PM, SJ and EB (absent from PyMARE) come from :mod:`evsynth.stats.tau2`. DL and HE
    come from PyMARE as they are (exact to ~1e-14 against metafor). REML and ML come from
    Fisher scoring from metafor's own start to |Δτ²| < 1e-12 (metafor's algorithm at
    ``threshold=1e-12``; :mod:`evsynth.stats.tau2`). PyMARE's bounded search (accurate to
    ~1e-7, and silently wrong with one huge variance: 2.49 where metafor gives 0.336) is
    used only where Fisher scoring does not converge: as a new start, and as the answer,
    with a note, if that fails too.
    """
    tau2, notes = _estimate_tau2_rows(np.asarray(yi, float)[None], np.asarray(vi, float)[None], estimator)
    return float(tau2[0]), notes[0]


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
    which code computes what); from :data:`LARGE_K` on, by :func:`~evsynth.stats.large_k.pool_large_k`.

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
        ``ci_method`` (Higgins, Thompson & Spiegelhalter 2009); "t_k-2-wald": t(k-2) with the
        SE without the Hartung-Knapp scaling, 1/sqrt(Σw) (R meta before v7; metapsyTools).
    i2
        Which I² goes in ``i2``: "tau2" (metafor, RevMan Web), "q" (RevMan 5) or "q-ht" (from
        Q, with the test-based I² and H² CIs of Higgins & Thompson 2002 in place of the
        Q-profile ones: :func:`evsynth.stats._summary.i2_test_based_ci`).
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
