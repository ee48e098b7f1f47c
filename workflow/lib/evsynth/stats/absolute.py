"""GRADE arithmetic: anticipated absolute effects, NNT and re-expressed SMDs.

Numbers in, numbers out: the summary-of-findings rows (:mod:`evsynth.reports.sof`) word them.

* Anticipated absolute effects from a relative effect and an assumed comparator (control)
  risk ACR: Cochrane Handbook v6.5, ch. 14.1.5 (SoF tables: "risk with comparator", "risk with
  intervention", per 1000) and ch. 15.4.4 (= v5.1 §12.5.4.2-3), with the Handbook's worked
  examples used as unit tests:

  - RR: risk with intervention = ACR x RR                        (RR 0.92, ACR 0.3: 24 fewer per 1000)
  - OR: risk with intervention = OR x ACR / (1 - ACR + OR x ACR)  (OR 0.73, ACR 0.3: 62 fewer per 1000)
  - RD: risk with intervention = ACR + RD
  - difference = risk with intervention - ACR; its CI from the relative effect's CI limits
    (the transformation is monotone), as GRADEpro does.

* NNT = 1 / |difference| where the difference is in the beneficial direction, rounded up to the
  next whole number (Handbook 15.4.4: RR 0.92 at ACR 0.3 gives NNT 42; OR 0.73 gives 17). Its
  CI is the reciprocal of the difference's CI; when that CI includes no effect, the NNT's CI
  runs through infinity, written "NNTB a to infinity to NNTH b" (Altman 1998, BMJ 317:1309).

* Default ACR: the median comparator-group risk of the trials in the comparison, the usual
  single assumed risk of Cochrane SoF tables ("when only one control group risk is provided,
  it is normally the median control group risk across studies": Cochrane Library's guide to
  SoF tables; Handbook v5.1 11.5.6.3, v6.5 14.1.5.1; Guyatt et al. 2013, J Clin Epidemiol
  66:158, "GRADE guidelines 12"); ``config.yaml: summary_of_findings.control_risk`` overrides
  it per outcome (e.g. with a population risk from an observational study).

* SMD re-expressed on a familiar scale: SMD x a typical among-person SD of that scale
  (Cochrane Handbook v5.1 §12.6.4 "Re-expressing SMDs using a familiar instrument", v6.5
  §15.5.3; Guyatt et al. 2013, J Clin Epidemiol 66:173, "GRADE guidelines 13"), SD from
  ``summary_of_findings.reference_sd``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "NNT",
    "AbsoluteEffect",
    "absolute_effect",
    "assumed_control_risk",
    "number_needed_to_treat",
    "per_1000",
    "reexpress_smd",
    "risk_with_intervention",
]


def risk_with_intervention(acr: float, effect: float, measure: str) -> float:
    """Risk with the intervention from an assumed control risk (Handbook 15.4.4).

    Parameters
    ----------
    acr : float
        Assumed control (comparator) risk, a proportion in [0, 1].
    effect : float
        RR or OR (ratio scale), or RD (proportion).
    measure : {"RR", "OR", "RD"}

    Risks are capped to [0, 1]: ACR x RR exceeds 1 for a wide CI at a high control risk.
    """
    if measure == "RR":
        return min(acr * effect, 1.0)  # a risk ratio can imply a "risk" above 1: capped
    if measure == "OR":
        return effect * acr / (1 - acr + effect * acr)
    if measure == "RD":
        return min(max(acr + effect, 0.0), 1.0)
    raise ValueError(f"no absolute risk for measure {measure!r}")


def per_1000(proportion: float) -> int:
    """A proportion as a whole number per 1000, rounded half away from zero."""
    value = abs(proportion) * 1000
    return int(math.copysign(math.floor(value + 0.5), proportion)) if value else 0


@dataclass(frozen=True)
class AbsoluteEffect:
    """Risks per 1000 with the comparator and the intervention, and their difference (with CIs)."""

    acr: float
    risk_treatment: float
    risk_treatment_ci: tuple[float, float]
    difference: float
    difference_ci: tuple[float, float]


def absolute_effect(acr: float, estimate: float, ci_lower: float, ci_upper: float, measure: str) -> AbsoluteEffect:
    """Anticipated absolute effect of a relative effect at ``acr`` (GRADE SoF, Handbook 14.1.5)."""
    treat = risk_with_intervention(acr, estimate, measure)
    limits = sorted(risk_with_intervention(acr, x, measure) for x in (ci_lower, ci_upper))
    return AbsoluteEffect(acr, treat, (limits[0], limits[1]), treat - acr, (limits[0] - acr, limits[1] - acr))


@dataclass(frozen=True)
class NNT:
    """Number needed to treat for one more beneficial outcome (rounded up), with Altman's CI."""

    value: int | None
    ci_lower: int | None
    ci_upper: int | None
    text: str


def number_needed_to_treat(difference: float, ci: tuple[float, float], higher_is_better: bool) -> NNT:
    """NNT from a risk difference (intervention minus comparator, proportions).

    For an outcome where more events are better (responders), a positive difference is a
    benefit; where fewer are better, a negative one. No NNT is given for a difference that is
    not beneficial. The CI is the reciprocal of the difference's CI (Altman 1998); when the
    CI includes no effect it passes through infinity.
    """
    sign = 1.0 if higher_is_better else -1.0
    benefit = sign * difference
    if not benefit > 0:
        return NNT(None, None, None, "no NNT: the effect is not beneficial")
    value = math.ceil(1 / benefit - 1e-9)
    low, high = sorted(sign * x for x in ci)
    if low > 0:
        lo, hi = math.ceil(1 / high - 1e-9), math.ceil(1 / low - 1e-9)
        return NNT(value, lo, hi, f"{value} ({lo} to {hi})")
    nntb = math.ceil(1 / high - 1e-9)
    if low == 0:
        return NNT(value, nntb, None, f"{value} (NNTB {nntb} to infinity)")
    nnth = math.ceil(1 / -low - 1e-9)
    return NNT(value, nntb, None, f"{value} (NNTB {nntb} to infinity to NNTH {nnth})")


def reexpress_smd(smd: float, ci_lower: float, ci_upper: float, reference_sd: float) -> tuple[float, float, float]:
    """An SMD and its CI as differences on a familiar scale: SMD x reference SD (Handbook v5.1 12.6.4)."""
    return smd * reference_sd, ci_lower * reference_sd, ci_upper * reference_sd


def assumed_control_risk(configured: float | None, trial_risks: Mapping[str, float]) -> tuple[float | None, str]:
    """The ACR and where it came from: ``config.yaml`` if set, else the trials' median control risk."""
    if configured is not None:
        return float(configured), "config.yaml (summary_of_findings.control_risk)"
    if not trial_risks:
        return None, ("no trial reports the comparator arm's risk; set summary_of_findings.control_risk in "
                      "config.yaml")
    risks = [trial_risks[s] for s in sorted(trial_risks)]
    detail = ", ".join(f"{s} {100 * trial_risks[s]:.1f}%" for s in sorted(trial_risks))
    what = "the trial's" if len(risks) == 1 else f"median of {len(risks)} trials'"
    return float(statistics.median(risks)), f"{what} comparator-arm risk ({detail})"
