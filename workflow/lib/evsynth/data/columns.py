"""Study-table fields each kind of job reads: the parse-time plan projects rows onto these
lists, so editing a column no job reads re-runs nothing."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from evsynth.data.studies import ROB_COLUMNS

# What a pooling job needs from a study row: editing any other column re-runs nothing.
ROW_FIELDS = (
    "study",
    "year",
    "treatment",
    "comparator",
    "outcome",
    "timepoint",
    "window",
    "form",
    "effect_measure",
    "effect",
    "ci_lower",
    "ci_upper",
    "ci_level",
    "se",
    "effect_direction",
    "events_treat",
    "n_treat",
    "events_ctrl",
    "n_ctrl",
    "mean_treat",
    "sd_treat",
    "mean_ctrl",
    "sd_ctrl",
    "timepoint_months",
    "arm",
    "arm_measure",
    "arm_estimate",
    "arm_ci_lower",
    "arm_ci_upper",
    "arm_se",
    "n_arm",
)


#: Fields a job needs from a study-table row to place its judgements.
ROB_ROW_FIELDS = ("study", "year", "treatment", "comparator", "form", "arm", *ROB_COLUMNS)


def has_judgements(records: Iterable[Mapping[str, Any]]) -> bool:
    """True when any record gives any RoB 2 judgement."""
    return any(str(r.get(c) or "") for r in records for c in ROB_COLUMNS)


#: Fields of a study-table row needed for control risks.
CONTROL_RISK_FIELDS = ("study", "outcome", "window", "treatment", "comparator", "form", "arm", "arm_measure",
                       "arm_estimate", "events_ctrl", "n_ctrl")


#: Study-table fields the study-table page shows (``notes`` left out: editing them re-runs nothing).
STUDY_TABLE_FIELDS = (
    "study", "year", "treatment", "comparator", "outcome", "timepoint", "include", "exclusion_reason", "form",
    "effect_measure", "effect", "ci_lower", "ci_upper", "ci_level", "se", "events_treat", "n_treat", "events_ctrl",
    "n_ctrl", "mean_treat", "sd_treat", "mean_ctrl", "sd_ctrl", "arm", "arm_measure", "arm_estimate",
    "arm_ci_lower", "arm_ci_upper", "arm_se", "n_arm", "source", *ROB_COLUMNS,
)
