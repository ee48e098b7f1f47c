"""The study table's schema and the fields each kind of job reads.

The schema (columns, the values they allow, the RoB 2 judgements) is read by the checks in
:mod:`evsynth.data.validate`, by reconciliation and by the risk-of-bias tables and figures,
none of which need the checks themselves. The job field lists are what the parse-time plan
projects rows onto, so editing a column no job reads re-runs nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from evsynth.data.change_scores import CHANGE_COLUMNS
from evsynth.data.clusters import CLUSTER_COLUMNS
from evsynth.data.conversions import CONTRAST_TEST_COLUMNS, FIVENUM_COLUMNS, MEAN_CI_COLUMNS, SEM_COLUMNS
from evsynth.stats.escalc import BINARY_MEASURES

REQUIRED_COLUMNS = ("study", "year", "treatment", "comparator", "outcome", "timepoint", "source")
COUNT_COLUMNS = ("events_treat", "n_treat", "events_ctrl", "n_ctrl")
MEAN_COLUMNS = ("mean_treat", "sd_treat", "n_treat", "mean_ctrl", "sd_ctrl", "n_ctrl")
CONTRAST_COLUMNS = ("effect_measure", "effect", "ci_lower", "ci_upper", "ci_level", "se")
# One arm's own estimate (RESOLVE reports adjusted percentages per arm); contrasts and their
# shared-arm covariance are formed from these rows by evsynth.data.contrasts. `ci_level` applies too.
ARM_COLUMNS = ("arm", "arm_measure", "arm_estimate", "arm_ci_lower", "arm_ci_upper", "arm_se", "n_arm")
# treatment and comparator stay empty on arm rows, so they are required only on other rows.
COMPARISON_COLUMNS = ("treatment", "comparator")
# Which outcome measures each kind of arm estimate can be contrasted on.
ARM_MEASURES = {"percent": BINARY_MEASURES, "proportion": BINARY_MEASURES, "mean": ("MD",)}
ARM_BOUNDS = {"percent": 100.0, "proportion": 1.0}
# Risk of bias, optional: RoB 2 (Sterne et al. 2019, BMJ 366:l4898) judgements of the row's result,
# five domains and the overall judgement, each one of ROB_VALUES (docs/study_table.md).
ROB_DOMAINS = ("rob_d1", "rob_d2", "rob_d3", "rob_d4", "rob_d5")
ROB_COLUMNS = (*ROB_DOMAINS, "rob_overall")
ROB_VALUES = ("low", "some concerns", "high")
# Risk of bias, optional, for results judged with the original Cochrane tool instead (RoB 1:
# Higgins et al. 2011, BMJ 343:d5928; Cochrane Handbook 5.1 ch. 8), as the Metapsy depression
# database rates them: four items, never translated into RoB 2 domains (docs/study_table.md).
ROB1_ITEMS = ("rob1_sg", "rob1_ac", "rob1_ba", "rob1_itt")
ROB1_VALUES = ("low", "unclear", "high")
#: Blinding of outcome assessment may instead record that the outcome is self-reported (the
#: participant is the assessor), which the database notes in place of a judgement.
SELF_REPORT = "self-report"
ROB1_ALLOWED = {column: ROB1_VALUES + ((SELF_REPORT,) if column == "rob1_ba" else ()) for column in ROB1_ITEMS}
#: Derived for the sensitivity analyses (``exclude_if``), never a study-table column:
#: ``yes`` / ``no`` / '' (not assessed), from whichever tool judged the row (:func:`low_risk_of_bias`).
LOW_RISK_COLUMN = "low_risk_of_bias"
OPTIONAL_COLUMNS = (
    "include",
    "exclusion_reason",
    "effect_direction",
    *CONTRAST_COLUMNS,
    "events_treat",
    "events_ctrl",
    "n_treat",
    "n_ctrl",
    "mean_treat",
    "sd_treat",
    "mean_ctrl",
    "sd_ctrl",
    *ARM_COLUMNS,
    *ROB_COLUMNS,
    *ROB1_ITEMS,
    # Data as trials report it (evsynth.data.conversions): converted, and labelled as such.
    *SEM_COLUMNS,
    *MEAN_CI_COLUMNS,
    *FIVENUM_COLUMNS,
    *CONTRAST_TEST_COLUMNS,
    "value_type",
    *CHANGE_COLUMNS,
    *CLUSTER_COLUMNS,
    # Rows of one trial's arms of one mode, combined before pooling (evsynth.data.arm_groups).
    "arm_group",
    # Several effects of one trial per analysis (docs/study_table.md#several-effects-per-trial):
    # 'no' marks a secondary effect, which feeds only the dependent-effects analyses.
    "primary",
    "instrument",
    "notes",
)
KNOWN_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
NUMERIC_COLUMNS = (
    "year",
    "effect",
    "ci_lower",
    "ci_upper",
    "ci_level",
    "se",
    "events_treat",
    "n_treat",
    "events_ctrl",
    "n_ctrl",
    "mean_treat",
    "sd_treat",
    "mean_ctrl",
    "sd_ctrl",
    "arm_estimate",
    "arm_ci_lower",
    "arm_ci_upper",
    "arm_se",
    "n_arm",
    # p_value is read by evsynth.data.conversions, which explains an inequality such as "< 0.05".
    *SEM_COLUMNS,
    *MEAN_CI_COLUMNS,
    *FIVENUM_COLUMNS,
    "t_stat",
    *CHANGE_COLUMNS,
    *CLUSTER_COLUMNS,
)
WHOLE_NUMBER_COLUMNS = ("year", "events_treat", "n_treat", "events_ctrl", "n_ctrl", "n_arm")
EFFECT_DIRECTIONS = ("treatment_minus_control", "benefit_positive")
SOURCE_PATTERN = re.compile(r"(10\.\d{4,9}/\S+|pmid|https?://)", re.IGNORECASE)
TIMEPOINT_PATTERN = re.compile(r"^(?P<value>\d+(\.\d+)?)\s*(?P<unit>m|mo|months?|w|wk|weeks?)?$", re.I)
WEEKS_PER_MONTH = 52 / 12
# Cells the study-table check refuses (docs/study_table.md#text-cells-that-are-refused).
# A text cell starting with one of these is run as a formula by Excel, LibreOffice and Google
# Sheets when a reviewer opens a results table (CSV/formula injection, OWASP, which also lists
# a leading tab or carriage return); numbers such as -0.5 are not formulas. Outputs apply the
# same rule (evsynth.data.io.neutralise_formula).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# Invisible characters that change what a cell shows: C0 and C1 control characters (an escape
# sequence recolours a terminal; a carriage return splits a TSV row) and the Unicode direction
# embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069: "Trojan Source" text that
# reads differently from what it is).
INVISIBLE_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# Only free text may hold line breaks and tabs (a cell written on several lines in a spreadsheet).
MULTILINE_COLUMNS = ("notes",)
# A study label is "Author Year" on every plot and table; anything longer is a paste error.
STUDY_LABEL_MAX = 100


PRIMARY_VALUES = ("yes", "no")
#: The Metapsy importer's column naming each imported row's instrument (the database's own code,
#: which the reconciliation and adjudication files of an import name): read as ``instrument`` when
#: that is empty, so imported tables need no rewrite (docs/study_table.md).
IMPORTED_INSTRUMENT = "extra_metapsy_instrument"


def instrument_of(row: Mapping[str, Any]) -> str:
    """The row's instrument: ``instrument``, else the Metapsy importer's column, else ''."""
    return str(row.get("instrument", "") or row.get(IMPORTED_INSTRUMENT, "") or "").strip()


def is_arm_row(row: Mapping[str, Any]) -> bool:
    """True when the row gives one arm's estimate (any arm column but ``n_arm`` filled)."""
    return any(str(row.get(c, "") or "") != "" for c in ARM_COLUMNS if c != "n_arm")


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
    # What evsynth.data.conversions did to the row ('' = data used as reported).
    "conversion",
    "conversion_detail",
    "skew_check",
    "design_effect",
)


#: Fields a job needs from a study-table row to place its judgements.
ROB_ROW_FIELDS = ("study", "year", "treatment", "comparator", "form", "arm", *ROB_COLUMNS, *ROB1_ITEMS)


def has_judgements(records: Iterable[Mapping[str, Any]]) -> bool:
    """True when any record gives any risk-of-bias judgement (RoB 2 or RoB 1)."""
    return any(str(r.get(c) or "") for r in records for c in (*ROB_COLUMNS, *ROB1_ITEMS))


def rob1_summary(items: Iterable[str]) -> str:
    """A result's summary RoB 1 judgement from its four items ('' when none is given).

    The Cochrane Handbook 5.1's summary across key domains (Table 8.7.a; Higgins et al. 2011):
    ``low`` when every item is low, ``high`` when any is high, otherwise ``unclear``. A
    self-reported outcome (``rob1_ba = self-report``) is not a low-risk assessment: the
    database records it instead of a judgement, and in these unblinded trials the participant
    who reports the outcome knows the allocation (Handbook 8.12), so the summary is at best
    ``unclear`` (Metapsy's own 0-4 score counts it as low; docs/study_table.md).
    """
    values = [str(v or "").strip().lower() for v in items]
    if not any(values):
        return ""
    if "high" in values:
        return "high"
    return "low" if all(v == "low" for v in values) else "unclear"


def low_risk_of_bias(row: Mapping[str, Any]) -> str:
    """:data:`LOW_RISK_COLUMN` of one study-table row: ``yes`` when the RoB 2 overall judgement
    is low or the RoB 1 summary (:func:`rob1_summary`) is low, ``no`` when judged otherwise,
    '' when the row has no judgement of either tool."""
    overall = str(row.get("rob_overall") or "").strip().lower().replace("_", " ")
    summary = rob1_summary(row.get(c) for c in ROB1_ITEMS)
    if not overall and not summary:
        return ""
    return "yes" if "low" in (overall, summary) else "no"


#: Fields of a study-table row needed for control risks.
CONTROL_RISK_FIELDS = ("study", "outcome", "window", "treatment", "comparator", "form", "arm", "arm_measure",
                       "arm_estimate", "events_ctrl", "n_ctrl")


#: Study-table fields the study-table page shows (``notes`` left out: editing them re-runs nothing).
STUDY_TABLE_FIELDS = (
    "study", "year", "treatment", "comparator", "outcome", "timepoint", "include", "exclusion_reason", "form",
    "effect_measure", "effect", "ci_lower", "ci_upper", "ci_level", "se", "events_treat", "n_treat", "events_ctrl",
    "n_ctrl", "mean_treat", "sd_treat", "mean_ctrl", "sd_ctrl", "arm", "arm_measure", "arm_estimate",
    "arm_ci_lower", "arm_ci_upper", "arm_se", "n_arm", "source", *ROB_COLUMNS, *ROB1_ITEMS,
)
