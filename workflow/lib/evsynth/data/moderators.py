"""The study-table cells a meta-regression reads (``config.yaml: dependent_effects.moderators``).

Parse-time helper of :class:`evsynth.pipeline.plan.Plan`, like
:mod:`evsynth.data.sensitivity_cells`: one record per row of an analysis, with each moderator
column as text, so a job's params carry exactly the cells it uses (editing another column
re-runs nothing). :func:`moderator_values` turns them into one value per trial for the table
builders, refusing a trial whose rows disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from evsynth._values import text
from evsynth.data.config import DependentConfig
from evsynth.data.sensitivity_cells import raw_cells


def moderator_records(
    studies: pd.DataFrame, table: str | pd.DataFrame, config: DependentConfig, outcome: str, window: str
) -> list[dict[str, str]]:
    """Study, treatment, comparator, arm and each moderator column (text) of one analysis's rows,
    sorted; [] without moderators. ``table`` is the study table's path, or under dual extraction
    the reconciled table as text cells (row ``i`` is line ``i + 2``), as for
    :func:`evsynth.data.sensitivity_cells.sensitivity_records`.

    Raises
    ------
    ValueError
        Naming every moderator column the study table lacks.
    """
    columns = list(dict.fromkeys(m.column for m in config.moderators))
    if not columns:
        return []
    raw, name = raw_cells(table)
    missing = [col for col in columns if col not in raw.columns]
    if missing:
        raise ValueError(
            f"config.yaml: dependent_effects.moderators names column(s) {', '.join(missing)} that {name} does not "
            f"have; its columns are: {', '.join(raw.columns)}"
        )
    rows = studies[(studies["outcome"] == outcome) & (studies["window"] == window)]
    records = [
        {
            "study": str(row["study"]),
            "treatment": text(row.get("treatment")),
            "comparator": text(row.get("comparator")),
            "arm": text(row.get("arm")),
            **{col: text(raw.at[int(row["line"]) - 2, col]).strip() for col in columns},
        }
        for row in rows.to_dict("records")
    ]
    return sorted(records, key=lambda r: (r["study"], r["treatment"], r["comparator"], r["arm"]))


def moderator_values(
    records: Sequence[Mapping[str, Any]], column: str, studies: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Each study's value of ``column`` (its rows' one non-empty value) in the order of
    ``studies``, and the problems: a study whose rows hold different values, or none. (Records
    carry no line numbers, so that re-sorting the table re-runs nothing; problems name the
    study, the column and the values.)"""
    by_study: dict[str, list[str]] = {}
    for r in records:
        by_study.setdefault(r["study"], []).append(r[column])
    values, problems = [], []
    for study in studies:
        distinct = sorted({v for v in by_study.get(study, []) if v != ""})
        if len(distinct) == 1:
            values.append(distinct[0])
            continue
        values.append("")
        if not distinct:
            problems.append(f"{column}: study '{study}' has no value in the study table")
        else:
            problems.append(f"{column}: study '{study}' has different values on its rows: {', '.join(distinct)}")
    return values, problems
