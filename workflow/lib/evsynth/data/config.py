"""Typed view of ``config.yaml``: one :class:`ReviewConfig`, read and checked once.

The JSON schema (``workflow/schemas/config.schema.yaml``) checks keys and types; this
module adds the rules a schema cannot express (windows must not overlap, summary-of-findings
keys name outcomes of the right measure, a baseline exists, ...) and gives the rest of the
package small frozen objects instead of nested dicts. :func:`load_config` reports every
problem at once, in one :class:`ConfigError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from evsynth.data.bayes_config import bayes_problems
from evsynth.stats.escalc import RATIO_MEASURES
from evsynth.stats.profiles import PROFILES, SETTING_KEYS, MethodSettings

MEASURE_NAMES = {
    "RR": "Risk Ratio",
    "OR": "Odds Ratio",
    "RD": "Risk Difference",
    "MD": "Mean Difference",
    "SMD": "Std. Mean Difference",
}


#: Figure formats the plotting rules can draw, in the order tried for the Snakemake report's
#: copy (SVG, else PNG, else PDF): config.yaml figures.formats picks among them.
FIGURE_FORMATS = ("svg", "png", "pdf")
#: Drawn when config.yaml has no figures.formats: SVG (the HTML report and the web) and PNG
#: (word processors, slides); PDF, the costliest to write, on request for journals.
DEFAULT_FIGURE_FORMATS = ("svg", "png")


class ConfigError(ValueError):
    """The configuration breaks a rule the schema cannot express."""


@dataclass(frozen=True)
class Outcome:
    """One outcome as configured: how it is analysed and which direction is good."""

    id: str
    label: str
    measure: str
    higher_is_better: bool
    scale: str = ""

    @property
    def ratio(self) -> bool:
        return self.measure in RATIO_MEASURES

    def to_reporting(self, value: Any) -> Any:
        """From the analysis scale (log for RR and OR) to the reporting scale, elementwise."""
        return np.exp(value) if self.ratio else value

    def as_dict(self) -> dict[str, Any]:
        """Plain fields, as jobs receive an outcome in params (``Outcome(**d)`` inverts it)."""
        return asdict(self)


@dataclass(frozen=True)
class Window:
    """A timepoint window ``(start, end]`` in months; a window starting at 0 includes 0."""

    id: str
    start: float
    end: float

    def contains(self, months: float) -> bool:
        return self.start < months <= self.end or (self.start == 0 and months == 0)


def outcomes_from_config(config: Mapping[str, Any]) -> dict[str, Outcome]:
    return {
        oid: Outcome(
            id=oid,
            label=spec["label"],
            measure=spec["measure"],
            higher_is_better=bool(spec["higher_is_better"]),
            scale=spec.get("scale", ""),
        )
        for oid, spec in config["outcomes"].items()
    }


def windows_from_config(config: Mapping[str, Any]) -> list[Window]:
    """Windows in config order; raises ConfigError when a window is empty or they overlap."""
    windows, problems = _windows(config)
    if problems:
        raise ConfigError("\n".join(problems))
    return windows


def _windows(config: Mapping[str, Any]) -> tuple[list[Window], list[str]]:
    windows = [Window(wid, float(a), float(b)) for wid, (a, b) in config["timepoints"].items()]
    problems = [
        f"config.yaml: timepoints.{w.id} = [{w.start:g}, {w.end:g}]: the start must be below the end"
        for w in windows
        if not w.start < w.end
    ]
    ordered = sorted(windows, key=lambda w: w.start)
    for left, right in zip(ordered, ordered[1:]):
        if right.start < left.end:
            problems.append(
                f"config.yaml: timepoints.{left.id} [{left.start:g}, {left.end:g}] and "
                f"timepoints.{right.id} [{right.start:g}, {right.end:g}] overlap: a row would "
                "belong to both"
            )
    return windows, problems


def window_of(months: float, windows: list[Window]) -> str | None:
    for window in windows:
        if window.contains(months):
            return window.id
    return None


def resolve_settings(pooling: Mapping[str, Any]) -> MethodSettings:
    """The profile named in ``pooling['profile']`` with any per-setting overrides applied."""
    base = PROFILES[pooling.get("profile", "cochrane-2025")]
    overrides = {key: pooling[key] for key in SETTING_KEYS if key in pooling and pooling[key] != getattr(base, key)}
    return replace(
        base,
        alpha=float(pooling.get("alpha", 0.05)),
        overridden=tuple(key for key in SETTING_KEYS if key in overrides),
        **overrides,
    )


DEFAULT_SMALL_STUDY_MIN_K = 10


@dataclass(frozen=True)
class SensitivityConfig:
    """``config.yaml: sensitivity``: subsets to exclude, extra cumulative orders, test k."""

    exclude_if: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    cumulative_order_by: tuple[str, ...] = ()
    small_study_min_k: int = DEFAULT_SMALL_STUDY_MIN_K
    #: One-sided p cut points of the user's step-function selection model (the 3PSM at 0.025
    #: always runs); empty for none.
    selection_cut_points: tuple[float, ...] = ()

    @property
    def columns(self) -> list[str]:
        """Study-table columns the sensitivity analyses read, in config order, once each."""
        columns = [col for col, _ in self.exclude_if] + list(self.cumulative_order_by)
        return list(dict.fromkeys(col for col in columns if col != "year"))

    def as_dict(self) -> dict[str, Any]:
        """The section as plain values (params); :func:`sensitivity_config` reads it back."""
        return {
            "exclude_if": {col: list(values) for col, values in self.exclude_if},
            "cumulative_order_by": list(self.cumulative_order_by),
            "small_study_min_k": self.small_study_min_k,
            "selection_cut_points": list(self.selection_cut_points),
        }


def sensitivity_config(section: Mapping[str, Any] | None) -> SensitivityConfig:
    """Read ``config.yaml: sensitivity`` (absent keys take their defaults)."""
    section = section or {}
    return SensitivityConfig(
        exclude_if=tuple((str(col), tuple(values)) for col, values in (section.get("exclude_if") or {}).items()),
        cumulative_order_by=tuple(section.get("cumulative_order_by") or ()),
        small_study_min_k=int(section.get("small_study_min_k", DEFAULT_SMALL_STUDY_MIN_K)),
        selection_cut_points=tuple(float(c) for c in section.get("selection_cut_points") or ()),
    )


def _cut_point_problems(section: Mapping[str, Any]) -> list[str]:
    cuts = list(section.get("selection_cut_points") or [])
    key = "config.yaml: sensitivity.selection_cut_points"
    if any(isinstance(c, bool) or not isinstance(c, int | float) or not 0 < c < 1 for c in cuts):
        return [f"{key} = {cuts}: every cut point is a one-sided p-value strictly between 0 and 1"]
    if any(b <= a for a, b in zip(cuts, cuts[1:])):
        return [f"{key} = {cuts}: give the cut points in increasing order, each once, e.g. [0.025, 0.5]"]
    return []


@dataclass(frozen=True)
class Moderator:
    """A study-table column meta-regressed on (``config.yaml: dependent_effects.moderators``)."""

    column: str
    kind: str


CHE_VARIANCES = ("as-given", "trial-mean")


@dataclass(frozen=True)
class DependentConfig:
    """``config.yaml: dependent_effects``: the within-trial working correlation, the moderators
    and the permutation test's size and seed."""

    rho: float = 0.6
    moderators: tuple[Moderator, ...] = ()
    permutations: int = 1000
    seed: int = 20240101
    #: Variances in the CHE model's V: "as-given" (each effect's own, metafor ``vcalc``) or
    #: "trial-mean" (each trial's mean, clubSandwich ``impute_covariance_matrix(smooth_vi =
    #: TRUE)``, as metapsyTools' ``runMetaAnalysis`` builds it).
    che_variances: str = "as-given"
    #: Correlation structure of the model across timepoint windows (AR or HAR, Ishak 2007).
    timepoint_structure: str = "AR"

    def as_dict(self) -> dict[str, Any]:
        """The section as written in config.yaml (params); :func:`dependent_config` reads it back."""
        section = {
            "rho": self.rho,
            "moderators": [{"column": m.column, "kind": m.kind} for m in self.moderators],
            "permutations": self.permutations,
            "seed": self.seed,
        }
        if self.che_variances != "as-given":  # the params of configs without the key stay as they were
            section["che_variances"] = self.che_variances
        if self.timepoint_structure != "AR":
            section["timepoint_structure"] = self.timepoint_structure
        return section


def dependent_config(section: Mapping[str, Any] | None) -> tuple[DependentConfig | None, list[str]]:
    """Read ``config.yaml: dependent_effects`` (None when absent) and the problems the schema
    cannot see (a moderator listed twice, rho outside [0, 1) in a config not yet validated)."""
    if section is None:
        return None, []
    problems = []
    rho = float(section.get("rho", 0.6))
    if not 0 <= rho < 1:
        problems.append(f"config.yaml: dependent_effects.rho = {rho}: the within-trial correlation must lie in [0, 1)")
    moderators = tuple(Moderator(str(m["column"]), str(m["kind"])) for m in section.get("moderators") or ())
    seen = [m.column for m in moderators]
    for column in sorted({c for c in seen if seen.count(c) > 1}):
        problems.append(f"config.yaml: dependent_effects.moderators: column '{column}' is listed more than once")
    permutations, seed = int(section.get("permutations", 1000)), int(section.get("seed", 20240101))
    che_variances = str(section.get("che_variances", "as-given"))
    if che_variances not in CHE_VARIANCES:
        problems.append(f"config.yaml: dependent_effects.che_variances = {che_variances!r}: one of "
                        f"{', '.join(CHE_VARIANCES)}")
        che_variances = "as-given"
    structure = str(section.get("timepoint_structure", "AR"))
    if structure not in ("AR", "HAR"):
        problems.append(f"config.yaml: dependent_effects.timepoint_structure = {structure}: must be AR or HAR")
        structure = "AR"
    config = DependentConfig(rho, moderators, permutations, seed, che_variances, structure)
    return config, problems


@dataclass(frozen=True)
class ChangesConfig:
    """``config.yaml: changes``: the baseline snapshot ("" for none) and the I² band cut points."""

    baseline: str = ""
    i2_bands: tuple[float, ...] = (25, 50, 75)


@dataclass(frozen=True)
class ReviewConfig:
    """``config.yaml``, checked and typed (:func:`load_config`).

    ``sof`` and ``extraction`` stay the checked sections as written: the summary-of-findings
    code and the reconciliation read them by key. ``raw`` is the whole mapping, for the
    study-table reader, which checks rows against it.
    """

    studies: str
    modes: dict[str, str]
    outcomes: dict[str, Outcome]
    windows: tuple[Window, ...]
    method: MethodSettings
    continuity_correction: float
    sensitivity: SensitivityConfig
    sof: dict[str, Any]
    changes: ChangesConfig
    extraction: dict[str, Any]
    raw: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)
    #: ``config.yaml: dependent_effects``; None (the default) runs none of those analyses.
    dependent: DependentConfig | None = None
    #: ``config.yaml: figures.formats`` in :data:`FIGURE_FORMATS` order (listing order moves nothing).
    figure_formats: tuple[str, ...] = DEFAULT_FIGURE_FORMATS

    @property
    def report_format(self) -> str:
        """The format the Snakemake report embeds: the first drawn of SVG, PNG, PDF."""
        return self.figure_formats[0]

    @property
    def mode_ids(self) -> list[str]:
        """Delivery-mode ids in config order (the order of comparisons everywhere)."""
        return list(self.modes)

    @property
    def window_ids(self) -> list[str]:
        return [w.id for w in self.windows]

    @property
    def judgements(self) -> str:
        """Path of the reviewers' GRADE ratings, "" for none."""
        return self.sof.get("judgements") or ""


def check_sof_settings(settings: Mapping[str, Any], outcomes: Mapping[str, Outcome]) -> list[str]:
    """Rules ``config.yaml: summary_of_findings`` must follow that its schema cannot express:
    known outcome ids, each key for outcomes of the right measure, ratio MIDs above 1."""
    problems = []
    needs = {"control_risk": ("RR", "OR", "RD"), "reference_sd": ("SMD",), "mid": ("RR", "OR", "RD", "MD", "SMD")}
    for key, measures in needs.items():
        for oid, value in (settings.get(key) or {}).items():
            where = f"config.yaml: summary_of_findings.{key}.{oid}"
            if oid not in outcomes:
                problems.append(f"{where}: unknown outcome; config.yaml outcomes are: {', '.join(outcomes)}")
            elif outcomes[oid].measure not in measures:
                problems.append(f"{where}: outcome '{oid}' is analysed as {outcomes[oid].measure}; "
                                f"{key} applies to {', '.join(measures)} outcomes only")
            elif key == "mid" and outcomes[oid].ratio and not float(value) > 1:
                problems.append(f"{where} = {value}: for a ratio measure give the MID as a ratio above 1 "
                                "(1.25 for a 25% relative change)")
            elif key == "mid" and outcomes[oid].measure == "RD" and not float(value) < 1:
                problems.append(f"{where} = {value}: a risk difference MID is a proportion below 1")
    return problems


def _changes_problems(changes: ChangesConfig) -> list[str]:
    problems = []
    cuts = list(changes.i2_bands)
    if cuts != sorted(set(cuts)):
        problems.append(f"config.yaml: changes.i2_bands = {cuts}: give increasing cut points, e.g. [25, 50, 75]")
    baseline = changes.baseline
    if baseline and not (Path(baseline) / "pooled.tsv").is_file():
        problems.append(
            f"config.yaml: changes.baseline = '{baseline}': {baseline}/pooled.tsv not found. A baseline "
            "is a copy of an earlier results/ made with: python -m evsynth.freeze results "
            "baselines/<name>"
        )
    return problems


def figure_formats(raw: Mapping[str, Any]) -> tuple[tuple[str, ...], list[str]]:
    """``config.yaml: figures.formats`` in :data:`FIGURE_FORMATS` order, and its problems (the
    schema's rules again, for configurations read without Snakemake)."""
    given = (raw.get("figures") or {}).get("formats", list(DEFAULT_FIGURE_FORMATS))
    where = f"config.yaml: figures.formats = {given!r}"
    if not isinstance(given, (list, tuple)) or not given:
        return DEFAULT_FIGURE_FORMATS, [f"{where}: give a list of one or more of {', '.join(FIGURE_FORMATS)}"]
    problems = [f"{where}: unknown format {f!r}; figures can be drawn as {', '.join(FIGURE_FORMATS)}"
                for f in given if f not in FIGURE_FORMATS]
    if len({repr(f) for f in given}) < len(given):
        problems.append(f"{where}: a format is listed twice")
    return tuple(f for f in FIGURE_FORMATS if f in given), problems


def load_config(raw: Mapping[str, Any]) -> ReviewConfig:
    """Type ``config.yaml`` (already checked against its schema) and check the rules the schema
    cannot express. Relative paths (baseline) are read from the working directory.

    Raises
    ------
    ConfigError
        Listing every problem, one per line.
    """
    windows, problems = _windows(raw)
    outcomes = outcomes_from_config(raw)
    extraction = dict(raw.get("extraction") or {})
    section = raw.get("sensitivity") or {}
    problems += _cut_point_problems(section)
    problems += bayes_problems(raw.get("bayes"), outcomes)
    sof = raw.get("summary_of_findings", {})
    problems += check_sof_settings(sof, outcomes)
    changes = {"baseline": "", "i2_bands": [25, 50, 75], **raw.get("changes", {})}
    changes = ChangesConfig(changes["baseline"], tuple(changes["i2_bands"]))
    problems += _changes_problems(changes)
    dependent, dependent_problems = dependent_config(raw.get("dependent_effects"))
    problems += dependent_problems
    formats, format_problems = figure_formats(raw)
    problems += format_problems
    if problems:
        raise ConfigError("\n".join(problems))
    return ReviewConfig(
        studies=raw["studies"],
        modes=dict(raw["modes"]),
        outcomes=outcomes,
        windows=tuple(windows),
        method=resolve_settings(raw["pooling"]),
        continuity_correction=raw["effects"]["continuity_correction"],
        sensitivity=sensitivity_config(section),
        sof=sof,
        changes=changes,
        extraction=extraction,
        raw=raw,
        dependent=dependent,
        figure_formats=formats,
    )
