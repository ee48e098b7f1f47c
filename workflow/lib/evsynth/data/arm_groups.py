"""Several arms of one delivery mode in one trial, combined into one group before pooling.

A trial with two coach-led variants against one usual-care arm is entered as two rows (each
variant vs usual care) carrying the same ``arm_group`` label. Pooling both would count the
usual-care participants twice; instead the rows of one study x outcome x timepoint window x
comparison x ``arm_group`` become one row: the treatment arms combined (counts summed; means
and SDs by the Cochrane Handbook v6.5 Table 6.5.a, applied pairwise for more than two), the
shared control arm counted once (every row must give it identically).

Runs after the row and cross-row checks (:func:`evsynth.data.studies.load_studies`); the
combined row keeps the first row's line and lists every line in ``conversion_detail``. The
``arm_group`` label is dropped from the typed rows: effects frames use a column of that name
for the shared-arm blocks of :mod:`evsynth.data.contrasts`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evsynth.data.conversions import CONVERSIONS
from evsynth.stats.conversions import combine_groups

#: A problem before it is placed in a file: (line, column, value, rule).
RowProblem = tuple[int, str, str, str]
_CTRL = {"counts": ("events_ctrl", "n_ctrl"), "means": ("mean_ctrl", "sd_ctrl", "n_ctrl")}


def _key(rec: dict[str, Any]) -> tuple:
    return (rec["study"], rec["outcome"], rec["window"], rec["treatment"], rec["comparator"], rec["arm_group"])


def combine_arm_groups(records: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[RowProblem]]:
    """The records with each ``arm_group`` combined into one; problems for groups that cannot be."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for rec in records:
        if rec.get("arm_group") and rec["include"] and rec.get("window") is not None:
            groups.setdefault(_key(rec), []).append(rec)
    problems: list[RowProblem] = []
    combined: dict[int, dict[str, Any] | None] = {}
    for rows in groups.values():
        first = rows[0]
        if len(rows) == 1:
            rule = "arm_group names a single row: give the other arms of the group the same label, or leave it empty"
            problems.append((first["line"], "arm_group", first["arm_group"], rule))
            continue
        found = _check_group(rows)
        problems += found
        if found:
            continue
        combined[id(first)] = _combine(rows)
        for rec in rows[1:]:
            combined[id(rec)] = None
    out = []
    for rec in records:
        rec = combined.get(id(rec), rec) if id(rec) in combined else rec
        if rec is not None:
            # The label is used up here: effects frames use an arm_group of their own, the shared-arm
            # blocks of evsynth.data.contrasts.
            out.append({k: v for k, v in rec.items() if k != "arm_group"})
    return out, problems


def _check_group(rows: list[dict[str, Any]]) -> list[RowProblem]:
    first = rows[0]
    problems: list[RowProblem] = []
    for rec in rows[1:]:
        if rec["form"] != first["form"] or first["form"] not in _CTRL:
            rule = (
                f"arm_group '{first['arm_group']}' combines arms given as counts or arm means, all in one form "
                f"(line {first['line']} is {first['form'] or 'invalid'}, this row {rec['form']})"
            )
            problems.append((rec["line"], "arm_group", rec["arm_group"], rule))
            continue
        for column in _CTRL[first["form"]]:
            if rec.get(column) != first.get(column):
                rule = (
                    f"the shared control arm differs from line {first['line']} ({first.get(column)}): the rows "
                    f"of arm_group '{first['arm_group']}' share one control arm, counted once"
                )
                problems.append((rec["line"], column, f"{rec.get(column)}", rule))
                break
    return problems


def _combine(rows: list[dict[str, Any]]) -> dict[str, Any]:
    rec = dict(rows[0])
    lines = ", ".join(str(r["line"]) for r in rows)
    if rec["form"] == "counts":
        rec["events_treat"] = sum(r["events_treat"] for r in rows)
        rec["n_treat"] = sum(r["n_treat"] for r in rows)
        what = f"treatment events {rec['events_treat']:g} / n {rec['n_treat']:g} summed over lines {lines}"
    else:
        n, m, sd = rows[0]["n_treat"], rows[0]["mean_treat"], rows[0]["sd_treat"]
        for r in rows[1:]:
            n, m, sd = (float(x) for x in combine_groups(n, m, sd, r["n_treat"], r["mean_treat"], r["sd_treat"]))
        rec["n_treat"], rec["mean_treat"], rec["sd_treat"] = n, m, sd
        what = (
            f"treatment arms of lines {lines} combined: n {n:g}, mean {m:.6g}, SD {sd:.6g} "
            "(Cochrane Handbook v6.5 Table 6.5.a)"
        )
    ids = [i for r in rows for i in (r.get("conversion") or "").split("; ") if i] + ["combined_arms"]
    rec["conversion"] = "; ".join(dict.fromkeys(ids))
    details = [r["conversion_detail"] for r in rows if r.get("conversion_detail")]
    source = CONVERSIONS["combined_arms"][1]
    rec["conversion_detail"] = "; ".join([*details, f"{what}; control arm counted once ({source})"])
    rec["source"] = "; ".join(dict.fromkeys(r["source"] for r in rows))
    return rec
