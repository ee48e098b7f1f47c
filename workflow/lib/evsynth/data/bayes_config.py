"""``config.yaml: bayes``: the heterogeneity prior of each outcome, read and checked once.

The schema checks keys and types; this module checks what it cannot (a prior defined for
the outcome's measure, scales above 0, known outcome and comparison types), names the config
key of each problem, and turns a prior spec into a :class:`~evsynth.stats.bayes_priors.TauPrior`.

A prior spec is a mapping ``{prior: <name>, scale: <number>, outcome_type: <str>,
comparison: <str>}``:

* ``half-normal`` / ``half-cauchy``: ``scale`` on the analysis scale (log RR, log OR, SMD,
  RD, MD); 0.5 by default for log RR, log OR and SMD (Röver et al. 2021, Res Synth Methods
  12:448). An MD is in the outcome's own units: without a ``scale`` its prior scale is
  UISD / 4, the unit information standard deviation of the analysis's trials
  (:func:`evsynth.stats.bayes_priors.unit_information_sd`, ``uisd_multiple``), resolved when
  the analysis runs. An RD has no default: the spec must give a scale, else the Bayesian
  analysis is not run and its rows say why.
* ``turner2015`` (RR, OR) / ``rhodes2015`` (SMD): the empirical predictive priors, chosen by
  ``outcome_type`` and ``comparison`` (both "any" for the papers' marginal distributions).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from evsynth.stats.bayes_priors import EMPIRICAL, UISD_MULTIPLE, TauPrior, empirical_prior

__all__ = ["DEFAULT_PRIOR", "DEFAULT_SENSITIVITY", "PRIOR_NAMES", "BayesSettings", "bayes_problems", "bayes_settings"]

PRIOR_NAMES = ("half-normal", "half-cauchy", *EMPIRICAL)
#: Röver et al. (2021): half-normal(0.5) on the log-ratio and SMD scales.
DEFAULT_SCALE = {"RR": 0.5, "OR": 0.5, "SMD": 0.5}
#: Measures on an arbitrary scale, whose default prior scale is a multiple of the trials' UISD.
UISD_SCALED = ("MD",)
NO_SCALE = "no prior scale"
DEFAULT_PRIOR = {"prior": "half-normal"}
#: The priors set beside the configured one in the prior-sensitivity table.
DEFAULT_SENSITIVITY = (
    {"prior": "half-normal", "scale": 0.5},
    {"prior": "half-normal", "scale": 1.0},
    {"prior": "half-cauchy", "scale": 0.5},
    {"prior": "turner2015", "outcome_type": "any", "comparison": "any"},
    {"prior": "rhodes2015", "outcome_type": "any", "comparison": "any"},
)


@dataclass(frozen=True)
class BayesSettings:
    """One outcome's Bayesian settings, as plain values (they travel through params).

    ``prior`` is the TauPrior's fields, or None with ``reason`` when no prior applies; when
    ``uisd_multiple`` is set, the prior's scale is that multiple of the analysis's UISD, and
    ``prior["scale"]`` is None until :func:`evsynth.tables.bayes.resolved_prior` fills it in;
    ``sensitivity`` is a list of (label, fields or None, reason); ``mid`` the outcome's minimal
    important difference on the reporting scale (``summary_of_findings.mid``), or None.
    """

    prior: dict[str, Any] | None
    reason: str
    mu_prior_sd: float | None
    sensitivity: tuple[tuple[str, dict[str, Any] | None, str], ...]
    mid: float | None
    forest_row: bool
    uisd_multiple: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "prior": self.prior,
            "reason": self.reason,
            "mu_prior_sd": self.mu_prior_sd,
            "sensitivity": [list(s) for s in self.sensitivity],
            "mid": self.mid,
            "forest_row": self.forest_row,
            "uisd_multiple": self.uisd_multiple,
        }


def _prior(spec: Mapping[str, Any], measure: str, key: str, scale_key: str = "") -> tuple[TauPrior | None, str]:
    """The TauPrior of one spec, or None and why; ValueError (naming ``key``) for a bad spec."""
    name = spec.get("prior")
    if name not in PRIOR_NAMES:
        raise ValueError(f"{key}.prior = {name!r}: unknown prior; one of {', '.join(PRIOR_NAMES)}")
    if name in EMPIRICAL:
        try:
            return empirical_prior(
                name, measure, str(spec.get("outcome_type", "any")), str(spec.get("comparison", "any"))
            ), ""
        except ValueError as err:
            raise ValueError(f"{key}: {err}") from None
    scale = spec.get("scale", DEFAULT_SCALE.get(measure))
    if scale is None:
        return None, f"{NO_SCALE} for a {measure} outcome: set {scale_key or key + '.scale'} (analysis scale)"
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not scale > 0:
        raise ValueError(f"{key}.scale = {scale!r}: a prior scale must be a number above 0")
    return TauPrior(name, scale=float(scale)), ""


def _fields(prior: TauPrior) -> dict[str, Any]:
    return {"family": prior.family, "scale": prior.scale, "location": prior.location, "df": prior.df,
            "source": prior.source}  # fmt: skip


def bayes_problems(section: Mapping[str, Any] | None, outcomes: Mapping[str, Any]) -> list[str]:
    """Every problem of ``config.yaml: bayes``, each naming its key."""
    section = section or {}
    problems = []
    for oid, spec in (section.get("priors") or {}).items():
        if oid not in outcomes:
            problems.append(f"config.yaml: bayes.priors.{oid}: unknown outcome; outcomes are: {', '.join(outcomes)}")
            continue
        try:
            _prior(spec, outcomes[oid].measure, f"config.yaml: bayes.priors.{oid}")
        except ValueError as err:
            problems.append(str(err))
    default = section.get("default") or DEFAULT_PRIOR
    for i, spec in enumerate(section.get("sensitivity_priors") or ()):
        problems += _spec_problems(spec, f"config.yaml: bayes.sensitivity_priors[{i}]")
    problems += _spec_problems(default, "config.yaml: bayes.default")
    sd = section.get("mu_prior_sd")
    if sd is not None and (isinstance(sd, bool) or not isinstance(sd, int | float) or not sd > 0):
        problems.append(f"config.yaml: bayes.mu_prior_sd = {sd!r}: give a number above 0, or null for a flat prior")
    return problems


def _spec_problems(spec: Mapping[str, Any], key: str) -> list[str]:
    """Checks that do not depend on the measure (the default and sensitivity specs apply to all)."""
    name = spec.get("prior")
    if name not in PRIOR_NAMES:
        return [f"{key}.prior = {name!r}: unknown prior; one of {', '.join(PRIOR_NAMES)}"]
    scale = spec.get("scale")
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, int | float) or not scale > 0):
        return [f"{key}.scale = {scale!r}: a prior scale must be a number above 0"]
    if name in EMPIRICAL:
        table = EMPIRICAL[name][1]
        otype, comp = str(spec.get("outcome_type", "any")), str(spec.get("comparison", "any"))
        if otype not in table or comp not in table[otype]:
            return [f"{key}: {name} has no outcome type {otype!r} with comparison {comp!r}; "
                    + "; ".join(f"{t}: {', '.join(c)}" for t, c in table.items())]  # fmt: skip
    return []


def bayes_settings(raw: Mapping[str, Any], outcome_id: str, measure: str) -> BayesSettings:
    """The Bayesian settings of one outcome from the whole (checked) config mapping."""
    section = raw.get("bayes") or {}
    spec = (section.get("priors") or {}).get(outcome_id)
    key = f"config.yaml: bayes.priors.{outcome_id}" if spec else "config.yaml: bayes.default"
    spec = spec or section.get("default") or DEFAULT_PRIOR
    scale_key = f"config.yaml: bayes.priors.{outcome_id}: {{prior: ..., scale: ...}}"
    uisd_multiple = None
    try:
        prior, reason = _prior(spec, measure, key, scale_key)
    except ValueError as err:  # a default empirical prior for another measure: not run, says why
        prior, reason = None, str(err)
    if prior is None and measure in UISD_SCALED and reason.startswith(NO_SCALE):
        # an MD without a scale: UISD-relative (Röver et al. 2021), resolved from the trials
        prior, reason, uisd_multiple = TauPrior(str(spec["prior"]), scale=1.0), "", UISD_MULTIPLE
    sensitivity = []
    listed = "sensitivity_priors" in section
    for i, s in enumerate(section.get("sensitivity_priors", DEFAULT_SENSITIVITY)):
        if not listed and measure not in DEFAULT_SCALE:
            # the default set's scales are for log ratios and SMDs, not an MD's or RD's units
            why = (f"the default sensitivity priors are for RR, OR and SMD; list {measure} priors in "
                   "config.yaml: bayes.sensitivity_priors")
            sensitivity.append((str(s.get("prior")), None, why))
            continue
        try:
            p, why = _prior(s, measure, f"config.yaml: bayes.sensitivity_priors[{i}]")
        except ValueError as err:
            p, why = None, f"not defined for {measure}: {err}"
        label = p.label if p else str(s.get("prior"))
        sensitivity.append((label, _fields(p) if p else None, why))
    mid = (raw.get("summary_of_findings") or {}).get("mid", {}).get(outcome_id)
    sd = section.get("mu_prior_sd")
    fields = _fields(prior) if prior else None
    if uisd_multiple is not None:
        fields["scale"] = None
    return BayesSettings(
        prior=fields,
        reason=reason,
        mu_prior_sd=None if sd is None else float(sd),
        sensitivity=tuple(sensitivity),
        mid=None if mid is None else float(mid),
        forest_row=bool(section.get("forest_row", True)),
        uisd_multiple=uisd_multiple,
    )


def tau_prior_from(fields: Mapping[str, Any]) -> TauPrior:
    """Inverse of the plain fields in :class:`BayesSettings`."""
    return TauPrior(**fields)
