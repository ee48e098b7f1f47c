"""Import study-table rows from a Metapsy trial database (``data.csv``) through a map file.

The Metapsy project (https://www.metapsy.org) publishes living databases of psychotherapy
trials, extracted by two reviewers, under the Open Data Commons Attribution licence (ODC-By
1.0): every table built from them must cite the database version (its Zenodo DOI). Their
``data.csv`` is ``;``-separated with decimal commas (``-0,55``), sometimes decimal points in
the same file (the ``bl_*`` columns of the self-guided database), ``NA`` for missing, and text
cells cut short with ``...``.

What goes where is decided by a YAML **map** (documented in docs/metapsy.md, example in
``examples/metapsy/``): which rows to take (``select``), the delivery columns (``guidance``,
``internet_based``, ``format``, ``format_unguided``, ``support_unguided``) and the control
(``condition_arm2``) -> our modes, the therapy (``condition_arm1``) -> a class kept in
``extra_therapy``, outcome domain / instrument -> our outcome together with the direction in
which the database stores the instrument, ``time_weeks`` / ``time`` -> our timepoint, and the
risk-of-bias columns -> ``rob_*``. Arm means, SDs and n are copied; Metapsy's ``.g`` and
``.g_se`` are never used for the rows (the pipeline recomputes Hedges' g with metafor's
formulas) but serve as a cross-check of sign and size. Every row of the file ends up either
imported or listed in :attr:`MetapsyImport.skipped` with the reason.

No pandas here: the csv module reads the file, PyYAML the map; ``stats.escalc`` gives the g
of the cross-check.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evsynth.data.columns import ROB_COLUMNS, WEEKS_PER_MONTH
from evsynth.data.config import Window, window_of
from evsynth.data.metapsy_map import MetapsyMap, MetapsyMapError, Rule, load_map
from evsynth.stats.conversions import smd_from_log_odds_ratio
from evsynth.stats.escalc import from_counts, from_means

__all__ = [
    "IMPORT_COLUMNS",
    "SKIPPED_COLUMNS",
    "MetapsyImport",
    "MetapsyMap",
    "MetapsyMapError",
    "import_rows",
    "load_map",
    "metapsy_number",
    "read_metapsy",
]

#: Study-table columns the importer writes, in this order.
IMPORT_COLUMNS = (
    "study", "year", "treatment", "comparator", "outcome", "timepoint", "include", "exclusion_reason", "primary",
    "n_treat", "mean_treat", "sd_treat", "n_ctrl", "mean_ctrl", "sd_ctrl", "events_treat", "events_ctrl",
    "effect_direction", *ROB_COLUMNS, "source", "notes", "extra_therapy", "extra_metapsy_instrument",
    "extra_metapsy_scores",
)
#: Columns of the list of rows not imported.
SKIPPED_COLUMNS = ("line", "row", "study", "outcome_domain", "instrument", "time", "reason")
#: |our g - Metapsy's .g| above this is reported (their J is the approximation 1 - 3/(4N - 9)).
G_CHECK_TOLERANCE = 0.01


def metapsy_number(text: str) -> float | None:
    """``'-0,55'`` and ``'15.46'`` -> float; ``'NA'`` and ``''`` -> None; anything else raises ValueError."""
    text = text.strip()
    if text in ("", "NA"):
        return None
    if re.fullmatch(r"[+-]?\d+,\d+", text):
        text = text.replace(",", ".")
    value = float(text)  # ValueError for '7,5skills', '12 (3)'
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def read_metapsy(path: str | Path) -> list[tuple[int, dict[str, str]]]:
    """(file line, cells) of every record of a Metapsy ``data.csv``; the unnamed first column is ``row``.

    The databases separate cells with ``;``; a file written by R's ``write.csv`` (e.g. a
    metapsyTools example data set) with ``,``: a header without ``;`` is read as such. Without
    an unnamed first column (``write.csv(row.names = FALSE)``), ``row`` is the record's number
    (1 = the first data row), which is the data frame's row in R.
    """
    path = Path(path)
    with open(path, encoding="utf-8", newline="") as handle:
        first = handle.readline()
        handle.seek(0)
        reader = csv.reader(handle, delimiter=";" if ";" in first else ",", quotechar='"')
        header = next(reader, None)
        if not header:
            raise ValueError(f"{path}: empty file")
        numbered = not header[0]
        names = ["row" if i == 0 and not h else h for i, h in enumerate(header)]
        records, line = [], reader.line_num + 1
        for cells in reader:
            if len(cells) != len(names):
                raise ValueError(f"{path}, line {line}: {len(cells)} cells, the header has {len(names)}")
            record = dict(zip(names, cells))
            if not numbered:
                record["row"] = str(len(records) + 1)
            records.append((line, record))
            line = reader.line_num + 1
    return records


@dataclass(frozen=True)
class MetapsyImport:
    """Rows imported (:data:`IMPORT_COLUMNS`), rows not imported (:data:`SKIPPED_COLUMNS`), and
    the cross-check of each imported row's g against Metapsy's ``.g`` (``g_checks``)."""

    rows: list[dict[str, str]]
    skipped: list[dict[str, str]]
    g_checks: list[dict[str, Any]]


def _first(rules: Sequence[Rule], cells: Mapping[str, str]) -> tuple[int, Rule] | None:
    for i, rule in enumerate(rules):
        if rule.matches(cells):
            return i, rule
    return None


def _label(metapsy_study: str, cells: Mapping[str, str], override: Mapping[str, Any]) -> tuple[str, str]:
    """Our ``Author Year`` label and year: from the map's ``studies`` entry, else 'Author, 2017'."""
    if override.get("study"):
        return str(override["study"]), str(override.get("year", ""))
    match = re.fullmatch(r"\s*(.+?),\s*((\d{4})[a-z]?)\s*", metapsy_study)
    if not match:
        raise ValueError(f"study label '{metapsy_study}' is not 'Author, Year' (cut short?): "
                         "add it to the map's 'studies'")
    year = cells.get("year", "NA")
    year = year if re.fullmatch(r"\d{4}", year or "") else match.group(3)
    return f"{match.group(1)} {match.group(2)}", year


def _timepoint(cells: Mapping[str, str], spec: Mapping[str, Any]) -> str:
    column = spec.get("weeks_column")
    weeks = metapsy_number(cells.get(column, "NA")) if column else None
    if weeks is not None and weeks > 0:
        return f"{weeks:g}w"
    time = cells.get(spec.get("time_column", "time"), "NA")
    mapped = (spec.get("without_weeks") or {}).get(time)
    if mapped is None:
        raise ValueError(f"no usable {column} ({cells.get(column, 'NA')}) and time '{time}' is not in without_weeks")
    return str(mapped)


def _arms(cells: Mapping[str, str]) -> tuple[list[float | None], str]:
    """(m1, sd1, n1, m2, sd2, n2) and 'post' or 'change': end-of-period values first, else change scores."""
    for prefix, n_prefix, kind in (("", "n_arm", "post"), ("_change", "n_change_arm", "change")):
        names = [f"mean{prefix}_arm1", f"sd{prefix}_arm1", f"{n_prefix}1", f"mean{prefix}_arm2", f"sd{prefix}_arm2",
                 f"{n_prefix}2"]
        values = []
        for name in names:
            try:
                values.append(metapsy_number(cells.get(name, "NA")))
            except ValueError:
                raise ValueError(f"{name} '{cells.get(name)}' is not a number") from None
        if all(v is not None for v in values):
            return values, kind
    names = ["event_arm1", "totaln_arm1", "event_arm2", "totaln_arm2"]
    try:
        counts = [metapsy_number(cells.get(name, "NA")) for name in names]
    except ValueError:
        raise ValueError(f"event counts {[cells.get(n) for n in names]} are not numbers") from None
    if all(v is not None for v in counts):
        return counts, "counts"
    return [], ""


def _fmt(value: float) -> str:
    return f"{value:.10g}"


def import_rows(records: Sequence[tuple[int, Mapping[str, str]]], mapping: MetapsyMap,
                outcomes: Mapping[str, bool], windows: Sequence[Window] = (), secondary: bool = False) -> MetapsyImport:
    """Map Metapsy records to study-table rows.

    ``outcomes``: id -> higher_is_better (config.yaml); ``windows``: the review's timepoint
    windows, so that a second row of one trial in one window is kept with ``include = no``
    (the earliest measurement in the window is pooled; the study-table check refuses two).
    With ``secondary``, the trial's other instruments of an outcome (later in the map's order)
    and its later measurements in a window are imported as secondary effects (``primary = no``,
    docs/study_table.md#several-effects-per-trial) instead of being listed or excluded.
    """
    candidates, skipped = [], []

    def skip(line: int, cells: Mapping[str, str], reason: str) -> None:
        skipped.append({"line": str(line), "row": cells.get("row", ""), "study": cells.get("study", ""),
                        "outcome_domain": cells.get("outcome_domain", ""), "instrument": cells.get("instrument", ""),
                        "time": cells.get("time", ""), "reason": reason})

    trial_rob: dict[str, set[tuple[str, ...]]] = {}
    for line, cells in records:
        off = [f"{col} = {cells.get(col, 'NA')!r}" for col, allowed in mapping.select.items()
               if cells.get(col, "NA") not in allowed]
        if off:
            skip(line, cells, f"not selected by the map: {'; '.join(off)}")
            continue
        try:
            judged = _rob_of(cells, mapping)
            if judged and any(judged.values()):
                trial_rob.setdefault(cells.get("study", ""), set()).add(tuple(judged[c] for c in ROB_COLUMNS))
            row, rank, g_check = _map_one(line, cells, mapping, outcomes)
        except ValueError as err:
            skip(line, cells, str(err))
            continue
        candidates.append((rank, line, cells, row, g_check))

    rows, checks, seen = [], [], {}
    for _, line, cells, row, g_check in sorted(candidates, key=lambda c: (c[0], c[1])):
        key = (row["study"], row["outcome"], row["timepoint"], row["treatment"], row["comparator"])
        if key in seen and not secondary:
            skip(line, cells, f"{row['outcome']} at {row['timepoint']} for this comparison is already imported from "
                              f"line {seen[key][0]} (instrument {seen[key][1]}, earlier in the map's order)")
            continue
        if key in seen:
            row["primary"] = "no"
            row["notes"] += (f" Secondary effect: the primary one is instrument {seen[key][1]} (line {seen[key][0]}), "
                             "earlier in the map's order.")
        else:
            seen[key] = (line, row["extra_metapsy_instrument"])
        judged = trial_rob.get(cells.get("study", ""), set())
        if mapping.rob.get("fallback") == "trial" and not row["rob_overall"] and len(judged) == 1:
            row.update(zip(ROB_COLUMNS, next(iter(judged))))
            row["notes"] += (" RoB 2: the database judges this instrument's row NA; the judgements are those it gives"
                             " every other judged result of the trial (all identical).")
        rows.append(row)
        checks.append(g_check)
    _later_in_window(rows, windows, secondary)
    order = sorted(range(len(rows)), key=lambda i: (rows[i]["study"], rows[i]["outcome"], _weeks_of(rows[i])))
    skipped.sort(key=lambda s: int(s["line"]))
    return MetapsyImport([rows[i] for i in order], skipped, [checks[i] for i in order])


def _weeks_of(row: Mapping[str, str]) -> float:
    text = row["timepoint"]
    return float(text[:-1]) if text.endswith("w") else -1.0


def _later_in_window(rows: list[dict[str, str]], windows: Sequence[Window], secondary: bool = False) -> None:
    """``include = no`` (with ``secondary``: ``primary = no``) on every included primary row after
    the first of one trial x outcome x window x comparison."""
    first: dict[tuple[str, ...], dict[str, str]] = {}
    for row in sorted(rows, key=_weeks_of):
        weeks = _weeks_of(row)
        window = window_of(weeks / WEEKS_PER_MONTH, list(windows)) if weeks >= 0 else row["timepoint"]
        if window is None or row["include"] != "yes" or row["primary"] == "no":
            continue
        key = (row["study"], row["outcome"], window, row["treatment"], row["comparator"])
        if key in first and secondary:
            row["primary"] = "no"
            row["notes"] += (f" Secondary effect: a later measurement in the {window} window; the first "
                             f"({first[key]['timepoint']}) is the primary one.")
        elif key in first:
            row["include"] = "no"
            row["exclusion_reason"] = (f"second measurement in the {window} window; the first "
                                       f"({first[key]['timepoint']}) is pooled")
        else:
            first[key] = row


def _rob_of(cells: Mapping[str, str], mapping: MetapsyMap) -> dict[str, str]:
    """Our RoB 2 columns for one record ('' when the database gives NA); {} without a rob map."""
    if not mapping.rob:
        return {}
    codes = {col: cells.get(src, "NA") for col, src in mapping.rob["columns"].items()}
    if all(v == "NA" for v in codes.values()):
        return dict.fromkeys(ROB_COLUMNS, "")
    unknown = {c: v for c, v in codes.items() if v not in mapping.rob["values"]}
    if unknown:
        raise ValueError(f"risk-of-bias codes not in the map's rob values: {unknown}")
    return {col: mapping.rob["values"][v] for col, v in codes.items()}


def _map_one(line: int, cells: Mapping[str, str], mapping: MetapsyMap,
             outcomes: Mapping[str, bool]) -> tuple[dict[str, str], tuple[int, int], dict[str, Any]]:
    override = mapping.studies.get(cells.get("study", ""), {})
    study, year = _label(cells.get("study", ""), cells, override)
    picks = {}
    for key, rules in (("treatment", mapping.treatment), ("comparator", mapping.comparator),
                       ("therapy", mapping.therapy)):
        if key == "treatment" and override.get("mode"):
            picks[key] = {"mode": override["mode"], "reason": override.get("mode_reason", "")}
            continue
        found = _first(rules, cells)
        if found is None:
            columns = sorted({c for r in rules for c in r.when})
            shown = ", ".join(f"{c} = {cells.get(c, 'NA')!r}" for c in columns)
            raise ValueError(f"no {key} rule of the map matches ({shown})")
        target = "class" if key == "therapy" else "mode"
        if found[1].value.get(target) is None:
            raise ValueError(f"{key} not reviewed here: {found[1].value.get('reason', '')}")
        picks[key] = found[1].value
    found = _first(mapping.outcomes, cells)
    if found is None:
        raise ValueError(f"outcome domain {cells.get('outcome_domain', 'NA')!r} / instrument "
                         f"{cells.get('instrument', 'NA')!r} is not in the map's outcomes")
    rule_index, rule = found
    if rule.value.get("outcome") is None:
        raise ValueError(f"instrument {cells.get('instrument')!r}: {rule.value['reason']}")
    outcome = rule.value["outcome"]
    timepoint = _timepoint(cells, mapping.timepoint)
    arms, kind = _arms(cells)
    if not arms:
        raise ValueError("no arm means, SDs and n, nor event counts (only a precalculated effect size): not "
                         "imported, as the pipeline recomputes every effect from arm data")
    stored_up = rule.value["stored_higher_is_better"]
    if kind == "counts":
        e1, n1, e2, n2 = arms
        if any(v != int(v) for v in arms) or n1 < 1 or n2 < 1 or not (0 <= e1 <= n1 and 0 <= e2 <= n2):
            raise ValueError(f"events must be whole numbers 0..n (events {e1:g}/{n1:g}, {e2:g}/{n2:g})")
        numbers = {"n_treat": _fmt(n1), "n_ctrl": _fmt(n2), "events_treat": _fmt(e1), "events_ctrl": _fmt(e2),
                   # Events that are good (remission) in an outcome where lower is better: the
                   # pipeline turns Chinn's SMD round (docs/study_table.md, binary in an SMD outcome).
                   "effect_direction": "benefit_positive" if stored_up else ""}
        flip = False
    else:
        m1, sd1, n1, m2, sd2, n2 = arms
        if sd1 <= 0 or sd2 <= 0 or n1 < 1 or n2 < 1 or n1 != int(n1) or n2 != int(n2):
            raise ValueError(f"SDs must be > 0 and n whole numbers >= 1 (sd {sd1:g}, {sd2:g}; n {n1:g}, {n2:g})")
        # Stored on the other side of the outcome's direction (e.g. FIQ negated in bodily distress):
        # turn the means round so that the row is on the outcome's own scale; SDs are unchanged.
        flip = stored_up != outcomes[outcome]
        sign = -1.0 if flip else 1.0
        numbers = {"n_treat": _fmt(n1), "mean_treat": _fmt(sign * m1 + 0.0), "sd_treat": _fmt(sd1),
                   "n_ctrl": _fmt(n2), "mean_ctrl": _fmt(sign * m2 + 0.0), "sd_ctrl": _fmt(sd2)}
    rob = _rob_of(cells, mapping) or dict.fromkeys(ROB_COLUMNS, "")
    instrument = cells.get("instrument", "")
    therapy = picks["therapy"]
    include = therapy.get("include", True)
    domain = cells.get("outcome_domain", cells.get("outcome_type", ""))
    notes = [f"Imported with python -m evsynth.metapsy ({Path(mapping.name).name}); instrument {instrument}"
             f" ({domain}), time {cells.get('time', 'NA')}, {cells.get('time_weeks', 'NA')} weeks;"
             f" arms {cells.get('condition_arm1')} vs {cells.get('condition_arm2')}."]
    arm_label = cells.get("multi_arm1", "NA")
    if arm_label not in ("", "NA"):
        notes.append(f"Arm: {arm_label} (vs {cells.get('multi_arm2', 'NA')}).")
    if kind == "change":
        notes.append("Means are mean changes from baseline.")
    if kind == "counts":
        notes.append(f"Event counts ({domain}); {'more events are better' if stored_up else 'events are harms'}.")
    if flip:
        notes.append("Stored means negated in the database; turned back so that the row is on the instrument's scale.")
    reference = " ".join(cells.get(mapping.database.get("reference_column", ""), "").split())
    if reference and reference != "NA":
        notes.append(f"Trial: {reference}")
    for reason in (picks["treatment"].get("reason"), override.get("note")):
        if reason:
            notes.append(str(reason))
    if not mapping.rob:
        notes.append("The database has no RoB 2 judgements (its sg, ac, ba, itt items are RoB 1).")
    row = dict.fromkeys(IMPORT_COLUMNS, "")
    row.update({
        "study": study, "year": year, "treatment": picks["treatment"]["mode"],
        "comparator": picks["comparator"]["mode"], "outcome": outcome, "timepoint": timepoint,
        "include": "yes" if include else "no", "exclusion_reason": "" if include else str(therapy.get("reason", "")),
        "primary": "", **numbers, **rob,
        "source": f"{mapping.citation}, {mapping.database.get('file', 'data.csv')} row {cells.get('row', '')} "
                  f"(trial: {cells.get('study', '')}" + (f"; {override['source']})" if override.get("source") else ")"),
        "notes": " ".join(notes), "extra_therapy": str(therapy["class"]),
        "extra_metapsy_instrument": instrument, "extra_metapsy_scores": kind,
    })
    for column, name in mapping.extra.items():
        row[name] = cells.get(column, "NA").strip()
    rank = (rule_index, list(rule.when["instrument"]).index(instrument) if instrument in rule.when["instrument"] else 0)
    return row, rank, _g_check(line, cells, mapping, arms, kind, stored_up)


def _g_check(line: int, cells: Mapping[str, str], mapping: MetapsyMap, arms: Sequence[float], kind: str,
             stored_higher_is_better: bool) -> dict[str, Any]:
    """Our g on the stored values, and Metapsy's ``.g`` brought to the same convention (arm 1 minus arm 2).

    For event counts "ours" is Chinn's SMD of the log odds of *not* having the event when events
    are good (metapsyTools' ``calculateEffectSizes`` signs a remission g so that negative favours
    arm 1, as for symptom scores): the same sign as the symptom rows of the database.
    """
    if kind == "counts":
        e1, n1, e2, n2 = arms
        log_or, v = from_counts("OR", [e1], [n1], [e2], [n2])[:2]
        ours = float(smd_from_log_odds_ratio(log_or[0], v[0])[0]) * (-1.0 if stored_higher_is_better else 1.0)
        stored_higher_is_better = False
    else:
        ours = float(from_means("SMD", *arms)[0])
    try:
        theirs = metapsy_number(cells.get(".g", "NA"))
    except ValueError:
        theirs = None
    if theirs is not None and mapping.database["g_sign"] == "benefit_positive":
        theirs = theirs if stored_higher_is_better else -theirs
    agrees = theirs is None or abs(ours - theirs) <= G_CHECK_TOLERANCE
    return {"line": line, "study": cells.get("study", ""), "instrument": cells.get("instrument", ""),
            "g_ours_arm1_minus_arm2": ours, "g_metapsy_same_convention": theirs, "agrees": agrees}
