"""Write study-table rows back in a Metapsy database's layout, for teams using metapsyTools.

The codes come from the same map file the importer reads (:mod:`evsynth.data.metapsy`), read
backwards: a mode is written as the first values of the first rule that gives it (``coach``
-> ``guidance = psy``, ``internet_based = internet`` in the chronic-pain example map), an
outcome as its rule's domain and instrument (the row's own ``extra_metapsy_instrument`` when
the rule lists it), the therapy class as ``condition_arm1``, RoB 2 judgements in the
database's own columns and codes. Values go out as Metapsy writes them: ``;``-separated,
decimal commas, ``NA`` for missing, stored direction restored (e.g. FIQ negated again).
Importing the file with the same map gives the same rows (tests/data/test_metapsy.py).

Only arm-mean rows can be written (Metapsy's ``mean_arm*``/``sd_arm*``/``n_arm*``); every
other row is returned with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from evsynth.data.columns import ROB_COLUMNS, WEEKS_PER_MONTH
from evsynth.data.io import write_text_atomic
from evsynth.data.metapsy_map import MetapsyMap, Rule

__all__ = ["EXPORT_COLUMNS", "export_rows", "write_metapsy"]

#: metapsyTools' standard columns (Harrer et al., metapsyTools "Data preparation"), then ours.
EXPORT_COLUMNS = (
    "study", "year", "condition_arm1", "condition_arm2", "multi_arm1", "multi_arm2", "outcome_type", "outcome_domain",
    "instrument", "time", "time_weeks", "rating", "mean_arm1", "mean_arm2", "sd_arm1", "sd_arm2", "n_arm1", "n_arm2",
    "mean_change_arm1", "mean_change_arm2", "sd_change_arm1", "sd_change_arm2", "n_change_arm1", "n_change_arm2",
    "event_arm1", "event_arm2", "totaln_arm1", "totaln_arm2", "precalc_g", "precalc_g_se", "precalc_log_rr",
    "precalc_log_rr_se",
)
MEAN_FIELDS = ("mean_treat", "sd_treat", "n_treat", "mean_ctrl", "sd_ctrl", "n_ctrl")


def _codes(rules: Sequence[Rule], key: str, value: str, prefer: Mapping[str, str] | None = None) -> dict[str, str]:
    """The database cells of the first rule giving ``key = value``: the first that allows the preferred
    cells if any does (a row's own instrument), with those cells."""
    prefer = prefer or {}
    giving = [r for r in rules if r.value.get(key) == value]
    if not giving:
        raise ValueError(f"the map has no rule giving {key} '{value}'")
    fits = [r for r in giving if all(prefer[c] in r.when.get(c, ()) for c in prefer)]
    rule = (fits or giving)[0]
    return {col: prefer[col] if prefer.get(col) in allowed else allowed[0] for col, allowed in rule.when.items()}


def _number(text: str) -> float:
    return float(text)


def _weeks(timepoint: str, spec: Mapping[str, Any]) -> tuple[str, str]:
    """(time, time_weeks) for one of our timepoints."""
    back = {str(v): str(k) for k, v in (spec.get("without_weeks") or {}).items()}
    if timepoint in back:
        return back[timepoint], "NA"
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(w?)", timepoint.strip().lower())
    if not match:
        raise ValueError(f"timepoint '{timepoint}' is neither weeks, months nor a window of the map's without_weeks")
    weeks = float(match.group(1)) if match.group(2) else float(match.group(1)) * WEEKS_PER_MONTH
    return "", f"{weeks:.10g}"


def export_rows(rows: Sequence[Mapping[str, str]], mapping: MetapsyMap,
                outcomes: Mapping[str, bool]) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(Metapsy records, rows not exported with the reason) for study-table rows (text cells)."""
    tool = mapping.rob or mapping.rob1 or {}  # a map gives one tool (evsynth.data.metapsy_map)
    rob_columns = dict(tool.get("columns") or {})
    rob_codes: dict[str, str] = {}
    for code, ours in (tool.get("values") or {}).items():
        rob_codes.setdefault(ours, code)
    records, refused = [], []
    for index, row in enumerate(rows):
        try:
            records.append(_export_one(row, mapping, outcomes, rob_columns, rob_codes))
        except ValueError as err:
            refused.append({"row": str(index + 2), "study": row.get("study", ""), "outcome": row.get("outcome", ""),
                            "timepoint": row.get("timepoint", ""), "reason": str(err)})
    # 'post' for the first timepoint of a trial x outcome x comparison, 'follow up' after it.
    first: dict[tuple[str, ...], float] = {}
    for rec in records:
        if rec["time_weeks"] != "NA":
            key = (rec["study"], rec["instrument"], rec["condition_arm1"], rec["condition_arm2"])
            first[key] = min(first.get(key, float("inf")), float(rec["time_weeks"]))
    follow_up = str(mapping.timepoint.get("follow_up_code", "follow up"))
    for rec in records:
        if not rec["time"]:
            key = (rec["study"], rec["instrument"], rec["condition_arm1"], rec["condition_arm2"])
            rec["time"] = "post" if float(rec["time_weeks"]) == first[key] else follow_up
    return records, refused


def _export_one(row: Mapping[str, str], mapping: MetapsyMap, outcomes: Mapping[str, bool],
                rob_columns: Mapping[str, str], rob_codes: Mapping[str, str]) -> dict[str, str]:
    if any(not row.get(f, "") for f in MEAN_FIELDS):
        raise ValueError("not an arm-mean row: Metapsy's layout holds arm means, SDs and n")
    if row.get("outcome") not in outcomes:
        raise ValueError(f"outcome '{row.get('outcome')}' is not in config outcomes")
    cells: dict[str, str] = {}
    cells.update(_codes(mapping.treatment, "mode", row["treatment"]))
    cells.update(_codes(mapping.comparator, "mode", row["comparator"]))
    cells.update(_codes(mapping.therapy, "class", row.get("extra_therapy") or "cbt"))
    own = {"instrument": row.get("extra_metapsy_instrument", "")}
    rule_cells = _codes(mapping.outcomes, "outcome", row["outcome"], own)
    cells.update(rule_cells)
    rule = next(r for r in mapping.outcomes if r.value.get("outcome") == row["outcome"] and r.matches(rule_cells))
    sign = -1.0 if rule.value["stored_higher_is_better"] != outcomes[row["outcome"]] else 1.0
    label = re.fullmatch(r"(.+?)\s+(\d{4}[a-z]?)", row["study"])
    if not label:
        raise ValueError(f"study label '{row['study']}' is not 'Author Year'")
    time, weeks = _weeks(row["timepoint"], mapping.timepoint)
    prefix, n_prefix = ("_change", "n_change_arm") if row.get("extra_metapsy_scores") == "change" else ("", "n_arm")
    record = dict.fromkeys(EXPORT_COLUMNS, "NA")
    record.update(cells)
    record.update({
        "study": f"{label.group(1)}, {label.group(2)}", "year": row.get("year", "NA") or "NA",
        "outcome_type": "msd", "time": time, "time_weeks": weeks, "rating": "self-report",
        f"mean{prefix}_arm1": f"{sign * _number(row['mean_treat']) + 0.0:.10g}",
        f"mean{prefix}_arm2": f"{sign * _number(row['mean_ctrl']) + 0.0:.10g}",
        f"sd{prefix}_arm1": row["sd_treat"], f"sd{prefix}_arm2": row["sd_ctrl"],
        f"{n_prefix}1": row["n_treat"], f"{n_prefix}2": row["n_ctrl"],
    })
    for col, allowed in mapping.select.items():  # so that the map selects the row again
        if record.get(col, "NA") not in allowed:
            record[col] = allowed[0]
    for ours, theirs in rob_columns.items():
        value = (row.get(ours) or "").strip().lower().replace("_", " ")
        record[theirs] = rob_codes.get(value, "NA") if value else "NA"
    if mapping.rob and not any(row.get(c) for c in ROB_COLUMNS):
        record.update(dict.fromkeys(rob_columns.values(), "NA"))
    return record


def write_metapsy(records: Sequence[Mapping[str, str]], path: str | Path) -> None:
    """Write ``records`` as a Metapsy ``data.csv``: ``;``, quoted text, decimal commas, ``NA``."""
    columns = list(dict.fromkeys([*EXPORT_COLUMNS, *(c for rec in records for c in rec)]))

    def cell(value: str) -> str:
        if value == "NA":
            return "NA"
        if re.fullmatch(r"[+-]?\d+(\.\d+)?", value):
            return value.replace(".", ",")
        return '"' + value.replace('"', '""') + '"'

    lines = [";".join(['""', *(f'"{c}"' for c in columns)])]
    for number, rec in enumerate(records, 1):
        lines.append(";".join([f'"{number}"', *(cell(str(rec.get(c, "NA"))) for c in columns)]))
    write_text_atomic(path, "\n".join(lines) + "\n")
