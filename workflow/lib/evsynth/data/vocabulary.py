"""The words every layer shares for comparisons: their fixed order and identifiers, and the
pseudo-treatment of the across-modes estimate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def comparison_order(modes: Sequence[str]) -> dict[tuple[str, str], int]:
    """Rank (treatment, comparator) pairs: by comparator last-first, then treatment order.

    With modes coach, online, usual_care this gives coach vs usual care, online vs usual
    care, coach vs online — the order RevMan reviews of this question use.
    """
    modes = list(modes)
    pairs = [(t, c) for c in reversed(modes) for t in modes if t != c]
    return {pair: rank for rank, pair in enumerate(pairs)}


def sort_rows(rows: Sequence[Mapping[str, Any]], modes: Sequence[str]) -> list[dict[str, Any]]:
    """Rows in a fixed order (comparison, study, arm), independent of the table's order."""
    order = comparison_order(modes)
    arm_order = {m: i for i, m in enumerate(modes)}
    return sorted(
        (dict(r) for r in rows),
        key=lambda r: (
            order.get((r["treatment"], r["comparator"]), -1 if r.get("form") == "arm" else 99),
            str(r["study"]),
            r["year"],
            arm_order.get(r.get("arm"), -1),
        ),
    )


OVERALL_TREATMENT = "any_remote_cbt"


def comparison_id(treatment: str, comparator: str) -> str:
    """``coach_vs_usual_care``: the {comparison} of the sensitivity plots' file names."""
    return f"{treatment}_vs_{comparator}"
