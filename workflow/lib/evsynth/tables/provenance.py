"""Provenance: short hashes of what an output was made from, and the study-table rows
behind every number of ``results/pooled.tsv``.

Hashes are the first 12 hex digits of a SHA-256 of canonical JSON:

* **table hash**: the whole study table (or the reconciled table under dual extraction)
  as text, ``notes`` and all-empty columns left out, columns and rows sorted, so that
  re-sorting or re-saving the table, or editing notes, keeps it;
* **rows hash**: one analysis's own rows, exactly as its pooling job receives them
  (only the columns pooling uses, in a fixed order): it changes only when that analysis's
  input changes, so printing it in a forest plot's footer re-runs no other plot;
* **method hash**: the resolved method settings (profile with its overrides, alpha) and
  the continuity correction.

The hashes are computed when Snakemake parses the workflow; the trace is written by the
rule trace_provenance (workflow/rules/living.smk).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from evsynth._values import is_missing, text
from evsynth.data.vocabulary import OVERALL_TREATMENT

__all__ = [
    "PROVENANCE_COLUMNS",
    "PROVENANCE_ROW_COLUMNS",
    "trace_analysis",
]


PROVENANCE_COLUMNS = (
    "outcome",
    "timepoint",
    "treatment",
    "comparator",
    "k",
    "studies",
    "table_rows",
    "sources",
    "rows_hash",
    "method_hash",
    "table_hash",
    "profile",
    "table",
    "evsynth",
    "pymare",
    "numpy",
    "scipy",
)
PROVENANCE_ROW_COLUMNS = (
    "outcome",
    "timepoint",
    "treatment",
    "comparator",
    "study",
    "used",
    "table_timepoint",
    "table_treatment",
    "table_comparator",
    "table_arm",
    "source",
    "settled",
)


def _table_rows_of(effect: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The study-table rows one per-study effect (a line of an analysis's studies.tsv) came from:
    its contrast row, or, for a contrast formed from arm-level rows, the rows of its two arms."""
    study, pair = str(effect["study"]), {str(effect["treatment"]), str(effect["comparator"])}
    if not is_missing(effect.get("arm_group")):
        found = [r for r in rows if r["study"] == study and r["form"] == "arm" and r["arm"] in pair]
    else:
        found = [r for r in rows
                 if r["study"] == study and r["form"] != "arm" and {r["treatment"], r["comparator"]} == pair]
    if not found:
        raise ValueError(f"no study-table row found for {study}, {effect['treatment']} vs {effect['comparator']}")
    return found


def trace_analysis(
    pooled: pd.DataFrame,
    effects: pd.DataFrame,
    rows: Sequence[Mapping[str, Any]],
    common: Mapping[str, Any],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Trace each ``pooled.tsv`` row of one analysis to its study-table rows.

    Parameters
    ----------
    pooled, effects : pandas.DataFrame
        The analysis's ``pooled.tsv`` and ``studies.tsv`` (per-study effects).
    rows : sequence of dict
        The analysis's included study-table rows: study, form, treatment, comparator,
        arm, timepoint (as written), source and settled (how dual extraction settled it).
    common : mapping
        Columns shared by every provenance row: rows_hash, method_hash, table_hash,
        profile, table and the package versions.

    Returns
    -------
    (provenance, provenance_rows)
        One record per pooled row (``PROVENANCE_COLUMNS``) and one per pooled row x
        study-table row (``PROVENANCE_ROW_COLUMNS``), in ``pooled.tsv`` order.
    """
    summary, traced = [], []
    for rec in pooled.to_dict("records"):
        treatment, comparator = str(rec["treatment"]), str(rec["comparator"])
        if treatment == OVERALL_TREATMENT:
            block = effects[(effects["comparator"] == comparator) & effects["estimable"].astype(bool)]
        else:
            block = effects[(effects["treatment"] == treatment) & (effects["comparator"] == comparator)]
        status = str(rec["status"])
        seen: dict[tuple, dict[str, Any]] = {}
        for effect in block.to_dict("records"):
            if not bool(effect["estimable"]):
                used = "not estimable"
            elif treatment == OVERALL_TREATMENT:
                used = "arms combined (single trial)" if status.startswith("single") else "pooled across modes"
            elif status == "pooled":
                used = "pooled"
            else:
                used = "shown, not pooled"
            for row in _table_rows_of(effect, rows):
                key = (row["study"], row["timepoint"], row["treatment"], row["comparator"], row["arm"])
                if key in seen:
                    continue
                seen[key] = {
                    "outcome": rec["outcome"], "timepoint": rec["timepoint"], "treatment": treatment,
                    "comparator": comparator, "study": row["study"], "used": used,
                    "table_timepoint": row["timepoint"], "table_treatment": row["treatment"],
                    "table_comparator": row["comparator"], "table_arm": row["arm"], "source": row["source"],
                    "settled": row.get("settled", ""),
                }
        traced += list(seen.values())
        sources = list(dict.fromkeys(r["source"] for r in seen.values()))
        summary.append({
            **common,
            "outcome": rec["outcome"], "timepoint": rec["timepoint"], "treatment": treatment,
            "comparator": comparator, "k": rec["k"], "studies": text(rec.get("studies")),
            "table_rows": len(seen), "sources": " | ".join(sources),
        })
    return summary, traced
