"""Inverse-variance random-effects and common-effect meta-analysis through PyMARE.

PyMARE fits the model with every setting passed explicitly (its defaults differ from
metafor's: Knapp-Hartung on by default, ML in ``meta_regression``). Where PyMARE is known
to be wrong or silent, this module guards or adds:

* REML/ML tau² is checked against Fisher scoring (:mod:`evsynth.tau2`); on disagreement
  the Fisher-scoring value is used and the result's ``note`` says so.
* I² and H² are metafor's tau²-based versions (Higgins & Thompson 2002, Stat Med
  21:1539, §3.2, with ṽ = (k-1)/tr(P)); PyMARE's Q-based I² is kept as ``i2_q``.
* Under HKSJ the statistic is t = θ/SE on k-1 df, not PyMARE's normal-equivalent "z".

References
----------
DerSimonian R, Laird N (1986). Control Clin Trials 7:177-188 (DL).
Hartung J, Knapp G (2001). Stat Med 20:3875-3889; Sidik K, Jonkman JN (2002). Stat Med
21:3153-3159 (HKSJ).
Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat
Softw 36(3) (numerical reference).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from evsynth.results import PooledEstimate
from evsynth.tau2 import fisher_scoring_tau2

ESTIMATORS = ("REML", "ML", "DL", "HE")
CI_METHODS = ("wald", "hksj")
_PYMARE_CORRECTION = {"wald": "wald", "hksj": "knapp-hartung"}
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

    DL and HE come from PyMARE as they are (exact to ~1e-14 against metafor). For REML
    and ML, PyMARE's bounded search (accurate to ~1e-7) is polished by Fisher scoring to
    |Δτ²| < 1e-12, metafor's algorithm at ``threshold=1e-12``. Fisher scoring is also
    run from metafor's own start; when PyMARE's value is far from it (the silent failure
    with one huge variance), the Fisher-scoring value is used and the note says so.
    """
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
) -> PooledEstimate:
    """Random-effects meta-analysis of ``k >= 2`` estimates, plus the common-effect model.

    Parameters
    ----------
    yi, vi
        Estimates on the analysis scale and their sampling variances (all > 0).
    estimator
        tau² estimator: "REML", "ML", "DL" or "HE" (metafor's ``method=``).
    ci_method
        "wald" (metafor ``test="z"``) or "hksj" (``test="knha"``).
    alpha
        Two-sided level: 0.05 gives 95% intervals.
    """
    yi, vi = np.asarray(yi, dtype=float), np.asarray(vi, dtype=float)
    k = len(yi)
    if k < 2:
        raise ValueError("pooling needs at least two studies")
    if estimator not in ESTIMATORS or ci_method not in CI_METHODS:
        raise ValueError(f"unknown estimator {estimator!r} or CI method {ci_method!r}")
    if not (np.all(np.isfinite(yi)) and np.all(np.isfinite(vi)) and np.all(vi > 0)):
        raise ValueError("every estimate must be finite and every variance positive")

    tau2, note = estimate_tau2(yi, vi, estimator)
    random = _pymare_fixed_tau2_fit(yi, vi, tau2, ci_method, alpha)
    common = _pymare_fixed_tau2_fit(yi, vi, 0.0, "wald", alpha)

    w_fixed = 1 / vi
    q = float(np.sum(w_fixed * (yi - np.sum(w_fixed * yi) / w_fixed.sum()) ** 2))
    q_df = k - 1
    typical_v = q_df / (w_fixed.sum() - (w_fixed**2).sum() / w_fixed.sum())
    w_random = 1 / (vi + tau2)
    stat_df = float(q_df) if ci_method == "hksj" else None
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
        i2=100 * tau2 / (tau2 + typical_v),
        i2_q=max(0.0, 100 * (q - q_df) / q) if q > 0 else 0.0,
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
        note=note,
    )
