"""Typed view of ``config.yaml``: delivery modes, outcomes, timepoint windows.

The JSON schema (``workflow/schemas/config.schema.yaml``) checks keys and types; this
module adds the rules a schema cannot express (windows must not overlap) and gives the
rest of the package small frozen objects instead of nested dicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from evsynth.stats.escalc import RATIO_MEASURES

MEASURE_NAMES = {
    "RR": "Risk Ratio",
    "OR": "Odds Ratio",
    "RD": "Risk Difference",
    "MD": "Mean Difference",
    "SMD": "Std. Mean Difference",
}


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
    if problems:
        raise ConfigError("\n".join(problems))
    return windows


def window_of(months: float, windows: list[Window]) -> str | None:
    for window in windows:
        if window.contains(months):
            return window.id
    return None
