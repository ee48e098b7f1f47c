"""Method profiles: named, published sets of meta-analysis conventions.

The same data give different answers under DL vs REML, Wald vs HKSJ, Q- vs tau²-based
I², and different prediction-interval df; with few trials per delivery mode the
conclusion can flip. A profile fixes all of these at once, and any single setting can be
overridden on top of it in ``config.yaml: pooling``
(read by :func:`evsynth.data.config.resolve_settings`).

* ``cochrane-2025``: RevMan Web since January 2025 (Cochrane Statistical Methods Group,
  endorsed 2022, addendum May 2024): REML tau², HKSJ CI, Q-profile CI for tau², I² from
  tau², prediction interval on t(k-1) (Veroniki et al. 2019, R meta >= 8 default; equals
  metafor's ``predict()`` under ``test="knha"``).
* ``revman5``: legacy RevMan 5: DL tau², Wald CI, Q-based I², no prediction interval or
  tau² CI, RevMan's SMD (approximate J, variance with N - 3.94).
* ``metafor``: metafor's ``rma()`` defaults: REML, Wald (z) CI, I² from tau², prediction
  interval on the normal distribution, Q-profile tau² CI (``confint``).
* ``metapsy``: metapsyTools' ``runMetaAnalysis`` (Harrer et al., doi:10.5281/zenodo.6566632),
  which pools with R meta's ``metagen`` (Balduzzi et al. 2019): REML, Hartung-Knapp CI, I² from
  Q with the test-based CI of Higgins & Thompson (2002, Stat Med 21:1539, appendix; meta's
  ``isquared``), prediction interval on t(k-2) with the SE of the non-HK model (meta < 7's
  ``metagen`` default, Higgins et al. 2009), Q-profile tau² CI, and metapsyTools' g: J = 1 -
  3/(4N - 9), SE that of the uncorrected d, ``sqrt(N/(n1 n2) + d²/(2N))``
  (``calculateEffectSizes``; binary rows by Chinn's d times the same J, as its ``esc_2x2``),
  and the test for subgroup differences on the subgroups' Hartung-Knapp SEs (meta's
  ``update(..., subgroup = )`` under ``hakn = TRUE``, which metapsyTools' ``subgroupAnalysis``
  calls). The other profiles test on the plain random-effects SEs (RevMan). Its trim-and-fill
  estimates the number of missing studies under the common-effect model and pools the filled-in
  studies under REML with Hartung-Knapp (R meta's ``trimfill`` defaults, which metapsyTools'
  ``correctPublicationBias`` calls); the other profiles trim under their own estimator (metafor).
* ``bayes``: the Bayesian random-effects model is the primary analysis (Röver 2020, J Stat Softw
  93(6); docs/bayes.md): pooled estimates, intervals and prediction intervals are the posterior
  median, the central credible interval and the posterior predictive interval
  (:func:`evsynth.tables.bayes.bayes_primary`). Its frequentist settings are cochrane-2025's;
  they give the heterogeneity and common-effect columns and every analysis that has no
  Bayesian version (sensitivity, subgroups, networks), and the frequentist profiles are the
  alternatives in robustness.tsv.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

ESTIMATORS = ("REML", "ML", "DL", "HE", "PM", "SJ", "EB")
CI_METHODS = ("wald", "hksj", "hksj-adhoc")
PREDICTION_INTERVALS = ("none", "normal", "t_k-1", "t_k-2", "t_k-2-wald")
I2_METHODS = ("tau2", "q", "q-ht")
TAU2_CIS = ("qprofile", "none")
SMD_VARIANCES = ("metafor", "revman", "metapsy")
SUBGROUP_SES = ("wald", "hksj")
#: Model under which trim-and-fill estimates the number of missing studies (and their side):
#: the analysis's own tau² estimator (metafor's ``trimfill``) or the common-effect model (R
#: meta's ``trimfill`` default, which metapsyTools calls).
TRIMFILL_TRIM_MODELS = ("analysis", "common")
#: The profile whose primary numbers are Bayesian (evsynth.tables.bayes).
BAYES = "bayes"
SETTING_KEYS = (
    "estimator", "ci_method", "prediction_interval", "i2", "tau2_ci", "smd_variance", "subgroup_se",
    "trimfill_trim_model",
)


@dataclass(frozen=True)
class MethodSettings:
    """Every choice that changes a pooled number, with the profile it came from."""

    profile: str
    estimator: str
    ci_method: str
    prediction_interval: str
    i2: str
    tau2_ci: str
    smd_variance: str
    #: SE of each subgroup's estimate in the separate-tau² test for subgroup differences.
    subgroup_se: str = "wald"
    #: Model trim-and-fill trims under (TRIMFILL_TRIM_MODELS); the filled-in pooling always
    #: uses the analysis's estimator and CI.
    trimfill_trim_model: str = "analysis"
    alpha: float = 0.05
    overridden: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """Profile name plus any overrides, e.g. ``cochrane-2025 (estimator=DL)``."""
        if not self.overridden:
            return self.profile
        changes = ", ".join(f"{key}={getattr(self, key)}" for key in self.overridden)
        return f"{self.profile} ({changes})"

    @property
    def bayesian(self) -> bool:
        """Whether the Bayesian posterior is the primary analysis (profile ``bayes``)."""
        return self.profile == BAYES

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


PROFILES: dict[str, MethodSettings] = {
    "cochrane-2025": MethodSettings("cochrane-2025", "REML", "hksj", "t_k-1", "tau2", "qprofile", "metafor"),
    "revman5": MethodSettings("revman5", "DL", "wald", "none", "q", "none", "revman"),
    "metafor": MethodSettings("metafor", "REML", "wald", "normal", "tau2", "qprofile", "metafor"),
    "metapsy": MethodSettings(
        "metapsy", "REML", "hksj", "t_k-2-wald", "q-ht", "qprofile", "metapsy", "hksj", trimfill_trim_model="common"
    ),
    BAYES: MethodSettings(BAYES, "REML", "hksj", "t_k-1", "tau2", "qprofile", "metafor"),
}
#: Profiles robustness.tsv re-runs every comparison under (under ``bayes``, the frequentist
#: alternatives to the posterior). Not ``metapsy``: it shares
#: cochrane-2025's estimator and CI (REML, Hartung-Knapp), so its conclusion (does the CI
#: exclude no effect?) differs from cochrane-2025's only through its approximate SMD
#: formula; a row that repeats another adds nothing to the comparison of conclusions.
ROBUSTNESS_PROFILES = ("cochrane-2025", "revman5", "metafor")


def settings_from_dict(values: Mapping[str, Any]) -> MethodSettings:
    """Inverse of :meth:`MethodSettings.as_dict` (params travel through Snakemake as dicts)."""
    values = dict(values)
    values["overridden"] = tuple(values.get("overridden", ()))
    return MethodSettings(**values)
