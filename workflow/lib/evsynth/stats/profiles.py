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
PREDICTION_INTERVALS = ("none", "normal", "t_k-1", "t_k-2")
I2_METHODS = ("tau2", "q")
TAU2_CIS = ("qprofile", "none")
SMD_VARIANCES = ("metafor", "revman")
#: The profile whose primary numbers are Bayesian (evsynth.tables.bayes).
BAYES = "bayes"
SETTING_KEYS = ("estimator", "ci_method", "prediction_interval", "i2", "tau2_ci", "smd_variance")


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
    BAYES: MethodSettings(BAYES, "REML", "hksj", "t_k-1", "tau2", "qprofile", "metafor"),
}
#: The profiles whose primary numbers are frequentist: the alternatives robustness.tsv re-runs.
FREQUENTIST = tuple(name for name in PROFILES if name != BAYES)


def settings_from_dict(values: Mapping[str, Any]) -> MethodSettings:
    """Inverse of :meth:`MethodSettings.as_dict` (params travel through Snakemake as dicts)."""
    values = dict(values)
    values["overridden"] = tuple(values.get("overridden", ()))
    return MethodSettings(**values)
