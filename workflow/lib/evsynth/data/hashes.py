"""Content hashes of the study table, an analysis's rows and the method settings: the
provenance keys that forest-plot footers and the change log carry. Parse time needs them, so
they import nothing heavier than pandas."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

HASH_LENGTH = 12


#: Columns that never enter the table hash.
UNHASHED_COLUMNS = ("notes",)


def short_hash(value: Any) -> str:
    """First 12 hex digits of the SHA-256 of ``value`` as canonical JSON (sorted keys)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_LENGTH]


def table_hash(raw: pd.DataFrame) -> str:
    """Hash of a study table read as text (:func:`evsynth.data.studies.read_table`): independent of
    row and column order, of ``notes`` and of columns that are empty throughout."""
    columns = sorted(
        c for c in raw.columns if c not in UNHASHED_COLUMNS and raw[c].astype(str).str.strip().ne("").any()
    )
    rows = sorted([str(r[c]).strip() for c in columns] for r in raw.to_dict("records"))
    return short_hash({"columns": columns, "rows": rows})


#: Row fields that say what evsynth.data.conversions did: left out of the rows hash when empty,
#: so that a row used as reported hashes as it did before conversions existed (as table_hash
#: ignores empty columns).
CONVERSION_FIELDS = ("conversion", "conversion_detail", "skew_check", "design_effect")


def rows_hash(rows: Sequence[Mapping[str, Any]]) -> str:
    """Hash of one analysis's rows as its pooling job receives them (already sorted)."""
    return short_hash([
        {k: v for k, v in r.items() if not (k in CONVERSION_FIELDS and (v is None or v == ""))} for r in rows
    ])


def method_hash(settings: Mapping[str, Any], continuity_correction: float) -> str:
    """Hash of the resolved method settings and the continuity correction.

    A setting added later is left out at the value that reproduces the earlier behaviour
    (``subgroup_se = "wald"``, ``trimfill_trim_model = "analysis"``), so that the hashes of
    frozen baselines still match.
    """
    settings = {k: v for k, v in settings.items() if (k, v) not in LATER_DEFAULTS}
    return short_hash({"settings": settings, "continuity_correction": continuity_correction})


#: (setting, value) pairs equal to what every run did before the setting existed.
LATER_DEFAULTS = {("subgroup_se", "wald"), ("trimfill_trim_model", "analysis")}


def footer_line(rows: str, method: str, profile: str) -> str:
    """The provenance line printed under each forest plot."""
    return (
        f"Provenance: study-table rows #{rows}, method #{method} ({profile}); the rows and sources behind each "
        "estimate: results/provenance_rows.tsv."
    )
