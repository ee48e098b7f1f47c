"""Dual independent extraction: reconcile reviewer A's and reviewer B's study tables.

Two reviewers extract the same trials into two tables in the study-table format
(docs/study_table.md). Rows are matched on **study, outcome, timepoint and comparison**
(``coach_vs_usual_care`` for a contrast row, ``arm:coach`` for an arm row), and every
cell is compared except ``notes``. Cells agree when they hold the same text (blanks
collapsed) or the same number (``0.30`` = ``0.3``). A row that only one reviewer
extracted is a discrepancy of the pseudo-column ``row`` (``present`` vs ``absent``).

Each discrepancy is settled by a line of the adjudication file (study, outcome, timepoint,
column, agreed_value, who, why; ``comparison`` too when the study has several comparisons
there). The discrepancy report (:data:`DISCREPANCY_COLUMNS`) can be copied to start the
adjudication file: its ``value_a``/``value_b`` columns are then checked against the
current tables, so an adjudication made before either reviewer changed the cell is
reported as stale rather than silently applied; lines whose ``agreed_value``, ``who`` and
``why`` are all empty are ignored (still to do).

While any discrepancy is unsettled, nothing may be pooled (the workflow's rule
``block_pooling`` stops the run, see workflow/rules/living.smk). Otherwise the reconciled
table (agreed cells, adjudicated values) is checked with every rule of
:func:`evsynth.data.studies.load_studies` and is what the workflow pools; how each cell was
settled is kept (:data:`RECONCILIATION_COLUMNS`).

Runs when Snakemake parses the workflow: no PyMARE or matplotlib here.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from evsynth.data.columns import KNOWN_COLUMNS, instrument_of, is_arm_row
from evsynth.data.studies import StudyTableError, load_studies, read_table

__all__ = [
    "DISCREPANCY_COLUMNS",
    "RECONCILIATION_COLUMNS",
    "ReconcileError",
    "Reconciliation",
    "comparison_of",
    "reconcile_extractions",
    "reconcile_tables",
    "typed_row_key",
    "unresolved_message",
]

KEY_COLUMNS = ("study", "outcome", "timepoint", "comparison")
#: Columns never compared and left out of the reconciled table (editing them re-runs nothing).
IGNORED_COLUMNS = ("notes",)
#: Pseudo-column of a discrepancy about a whole row (extracted by one reviewer only).
ROW = "row"
PRESENT, ABSENT = "present", "absent"
ADJUDICATION_REQUIRED = ("study", "outcome", "timepoint", "column", "agreed_value", "who", "why")
DISCREPANCY_COLUMNS = (*KEY_COLUMNS, "column", "value_a", "value_b", "status", "agreed_value", "who", "why")
RECONCILIATION_COLUMNS = (*KEY_COLUMNS, "column", "value", "settled", "value_a", "value_b", "who", "why")


class ReconcileError(ValueError):
    """The extraction tables or the adjudication file break a rule; ``problems`` lists each."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        header = f"Dual extraction: {len(self.problems)} problem(s); nothing was pooled:"
        super().__init__("\n".join([header, *(f"  - {p}" for p in self.problems)]))


@dataclass(frozen=True)
class Reconciliation:
    """The outcome of comparing extraction A with B and applying the adjudication file.

    Attributes
    ----------
    studies : pandas.DataFrame
        The typed, checked reconciled table (as :func:`evsynth.data.studies.load_studies`
        returns), or, while discrepancies are unresolved, table A (only so that the
        workflow's DAG can be built: nothing is pooled from it).
    raw : pandas.DataFrame or None
        The reconciled table as text cells (study-table columns, no ``notes``); None
        while discrepancies are unresolved.
    discrepancies : list of dict
        One record per disagreeing cell (:data:`DISCREPANCY_COLUMNS`), sorted.
    cells : list of dict
        How each cell filled in either table was settled (:data:`RECONCILIATION_COLUMNS`).
    row_settled : dict
        Row key (study, outcome, timepoint, comparison) -> "agreed" or "adjudicated: ...".
    names : dict
        ``a``, ``b`` and ``adjudication`` file names, as configured.
    """

    studies: pd.DataFrame
    raw: pd.DataFrame | None
    discrepancies: list[dict[str, str]]
    cells: list[dict[str, str]]
    row_settled: dict[tuple[str, str, str, str], str]
    names: dict[str, str]

    @property
    def unresolved(self) -> list[dict[str, str]]:
        return [d for d in self.discrepancies if d["status"] == "unresolved"]

    @property
    def blocked(self) -> bool:
        return bool(self.unresolved)


def comparison_of(row: Mapping[str, Any]) -> str:
    """``coach_vs_usual_care`` for a contrast row, ``arm:coach`` for an arm row; a secondary
    effect (``primary = no``) adds its instrument, ``coach_vs_usual_care (secondary: pdi)``, so that
    it is matched apart from the trial's primary effect at the same timepoint."""
    if is_arm_row(row):
        return f"arm:{_text(row.get('arm'))}"
    return _secondary(f"{_text(row.get('treatment'))}_vs_{_text(row.get('comparator'))}",
                      _text(row.get("primary")).lower() == "no" or row.get("primary") is False, instrument_of(row))


def _secondary(comparison: str, secondary: bool, instrument: str) -> str:
    return f"{comparison} (secondary: {_text(instrument)})" if secondary else comparison


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return " ".join(str(value).split())


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _timepoint_key(text: str) -> str:
    """'3', '3.0' and ' 3 ' match; '8w' and '8 W' match."""
    number = _number(text)
    return f"{number:g}" if number is not None else "".join(text.split()).lower()


def same_cell(a: str, b: str) -> bool:
    """Same text (blanks collapsed) or, when both are numbers, the same number."""
    a, b = _text(a), _text(b)
    if a == b:
        return True
    x, y = _number(a), _number(b)
    return x is not None and y is not None and x == y


def _row_key(row: Mapping[str, Any]) -> tuple[str, str, str, str]:
    return (_text(row.get("study")), _text(row.get("outcome")), _timepoint_key(_text(row.get("timepoint"))),
            comparison_of(row))


def _sort_key(rec: Mapping[str, str], columns: Sequence[str]) -> tuple:
    order = {c: i for i, c in enumerate((ROW, *columns))}
    return (rec["study"], rec["outcome"], _timepoint_key(rec["timepoint"]), rec["comparison"],
            order.get(rec["column"], len(order)), rec["column"])


def _index(table: pd.DataFrame, name: str) -> tuple[dict[tuple, tuple[int, dict[str, str]]], list[str]]:
    """Rows by key, with their spreadsheet line; a repeated key is a problem (rows could not be matched)."""
    index: dict[tuple, tuple[int, dict[str, str]]] = {}
    problems = []
    for i, row in enumerate(table.to_dict("records")):
        key = _row_key(row)
        if key in index:
            problems.append(
                f"{name}, line {i + 2}: same study, outcome, timepoint and comparison ({', '.join(key)}) as line "
                f"{index[key][0]}; the two extractions are matched on these, so no two rows of one extraction "
                "may share them"
            )
        else:
            index[key] = (i + 2, row)
    return index, problems


def reconcile_extractions(section: Mapping[str, Any], config: Mapping[str, Any]) -> Reconciliation:
    """Read, check and reconcile ``config.yaml: extraction`` (reviewer_a, reviewer_b, adjudication).

    Raises
    ------
    ReconcileError
        Listing every problem of either table, of the adjudication file, or of the
        reconciled table; unresolved discrepancies are *not* an error here (see
        :attr:`Reconciliation.blocked`).
    """
    names = {"a": str(section["reviewer_a"]), "b": str(section["reviewer_b"]),
             "adjudication": str(section.get("adjudication") or "")}
    problems: list[str] = []
    typed, raw = {}, {}
    for label in ("a", "b"):
        try:
            typed[label] = load_studies(names[label], config)
            raw[label] = read_table(names[label])
        except StudyTableError as err:
            problems += [str(p) for p in err.problems]
    adjudication = None
    if names["adjudication"]:
        try:
            adjudication = read_table(names["adjudication"])
        except StudyTableError as err:
            problems += [str(p) for p in err.problems]
    if problems:
        raise ReconcileError(problems)
    return reconcile_tables(raw["a"], raw["b"], adjudication, names, config, fallback=typed["a"])


def reconcile_tables(
    a: pd.DataFrame,
    b: pd.DataFrame,
    adjudication: pd.DataFrame | None,
    names: Mapping[str, str],
    config: Mapping[str, Any],
    fallback: pd.DataFrame | None = None,
) -> Reconciliation:
    """Compare two study tables (text cells, as :func:`evsynth.data.studies.read_table` gives)
    and apply the adjudication; see :func:`reconcile_extractions`."""
    index_a, problems_a = _index(a, names["a"])
    index_b, problems_b = _index(b, names["b"])
    if problems_a or problems_b:
        raise ReconcileError(problems_a + problems_b)
    # Study-table order, then the reviewers' own columns by name: re-ordering columns changes nothing.
    present = {c for c in (*a.columns, *b.columns) if c not in IGNORED_COLUMNS}
    columns = [c for c in KNOWN_COLUMNS if c in present] + sorted(present - set(KNOWN_COLUMNS))
    keys = list(dict.fromkeys([*index_a, *index_b]))  # A's order, then rows B alone has

    discrepancies: dict[tuple, dict[str, str]] = {}
    for key in keys:
        in_a, in_b = index_a.get(key), index_b.get(key)
        shown = (in_a or in_b)[1]
        base = {"study": key[0], "outcome": key[1], "timepoint": _text(shown.get("timepoint")), "comparison": key[3]}
        if in_a and in_b:
            for column in columns:
                va, vb = _text(in_a[1].get(column, "")), _text(in_b[1].get(column, ""))
                if not same_cell(va, vb):
                    discrepancies[(*key, column)] = {**base, "column": column, "value_a": va, "value_b": vb}
        else:
            discrepancies[(*key, ROW)] = {**base, "column": ROW, "value_a": PRESENT if in_a else ABSENT,
                                          "value_b": PRESENT if in_b else ABSENT}
    for rec in discrepancies.values():
        rec.update(status="unresolved", agreed_value="", who="", why="")

    if adjudication is not None:
        problems = _adjudicate(adjudication, discrepancies, names["adjudication"])
        if problems:
            raise ReconcileError(problems)

    ordered = sorted(discrepancies.values(), key=lambda r: _sort_key(r, columns))
    cells, row_settled = _cells(keys, index_a, index_b, columns, discrepancies)
    cells.sort(key=lambda r: _sort_key(r, columns))
    if any(d["status"] == "unresolved" for d in ordered):
        studies = fallback if fallback is not None else pd.DataFrame()
        return Reconciliation(studies, None, ordered, cells, row_settled, dict(names))

    rows, origins = [], []
    for key in keys:
        in_a, in_b = index_a.get(key), index_b.get(key)
        if not (in_a and in_b):
            if discrepancies[(*key, ROW)]["agreed_value"] == ABSENT:
                continue
            only = in_a or in_b
            rows.append({c: _text(only[1].get(c, "")) for c in columns})
            origins.append(f"{names['a'] if in_a else names['b']} line {only[0]}")
            continue
        row = {}
        for column in columns:
            settled = discrepancies.get((*key, column))
            row[column] = settled["agreed_value"] if settled else _text(in_a[1].get(column, ""))
        rows.append(row)
        origins.append(f"{names['a']} line {in_a[0]} / {names['b']} line {in_b[0]}")
    raw = pd.DataFrame(rows, columns=columns)
    studies = _check_reconciled(raw, origins, config)
    return Reconciliation(studies, raw, ordered, cells, row_settled, dict(names))


def _adjudicate(table: pd.DataFrame, discrepancies: dict[tuple, dict[str, str]], name: str) -> list[str]:
    """Apply each adjudication line to the one discrepancy it names; return the problems."""
    problems = []
    missing = [c for c in ADJUDICATION_REQUIRED if c not in table.columns]
    if missing:
        return [f"{name}: missing column(s) {', '.join(missing)}; an adjudication file needs "
                f"{', '.join(ADJUDICATION_REQUIRED)} (and comparison where a study has several)"]
    settled_by: dict[tuple, int] = {}
    for i, line in enumerate(table.to_dict("records")):
        where = f"{name}, line {i + 2}"
        if not any(_text(line.get(c)) for c in ("agreed_value", "who", "why")):
            continue  # a copied discrepancy not adjudicated yet
        for column in ("who", "why"):
            if not _text(line.get(column)):
                problems.append(f"{where}, column '{column}' (empty): say who settled the cell and why")
        timepoint = _timepoint_key(_text(line.get("timepoint")))
        comparison = _text(line.get("comparison"))
        matches = [
            key for key in discrepancies
            if (key[0], key[1], key[2], key[4]) == (_text(line["study"]), _text(line["outcome"]), timepoint,
                                                     _text(line["column"]))
            and (not comparison or key[3] == comparison)
        ]
        what = f"{_text(line['study'])}, {_text(line['outcome'])}, {_text(line['timepoint'])}"
        what += f", {comparison}" if comparison else ""
        what += f", column '{_text(line['column'])}'"
        if not matches:
            problems.append(f"{where}: settles no discrepancy ({what}): the two extractions agree there, or the line "
                            "is misspelt; remove or correct it")
            continue
        if len(matches) > 1:
            options = ", ".join(key[3] for key in matches)
            problems.append(f"{where}: matches {len(matches)} discrepancies ({what}); fill 'comparison' with one "
                            f"of {options}")
            continue
        key = matches[0]
        target = discrepancies[key]
        if key in settled_by:
            problems.append(f"{where}: settles the same cell as line {settled_by[key]} ({what}); keep one")
            continue
        settled_by[key] = i + 2
        stale = [
            f"{column} was '{_text(line[column])}', now '{target[column]}'"
            for column in ("value_a", "value_b")
            if column in table.columns and not same_cell(_text(line[column]), target[column])
        ]
        if stale:
            problems.append(f"{where}: stale adjudication ({what}): {'; '.join(stale)}; adjudicate it again")
            continue
        agreed = _text(line["agreed_value"])
        if key[4] == ROW and agreed not in (PRESENT, ABSENT):
            problems.append(f"{where}, column 'agreed_value' = '{agreed}': for a whole row, must be '{PRESENT}' "
                            f"(keep the row one reviewer extracted) or '{ABSENT}' (leave it out)")
            continue
        target.update(status="adjudicated", agreed_value=agreed, who=_text(line["who"]), why=_text(line["why"]))
    return problems


def _cells(keys, index_a, index_b, columns, discrepancies):
    """How each cell filled in either table was settled, and a one-line summary per row."""
    cells: list[dict[str, str]] = []
    row_settled: dict[tuple, str] = {}
    for key in keys:
        in_a, in_b = index_a.get(key), index_b.get(key)
        shown = (in_a or in_b)[1]
        base = {"study": key[0], "outcome": key[1], "timepoint": _text(shown.get("timepoint")), "comparison": key[3]}
        whole = discrepancies.get((*key, ROW))
        if whole is not None:
            cells.append({**base, "column": ROW, "value": whole["agreed_value"], "settled": whole["status"],
                          "value_a": whole["value_a"], "value_b": whole["value_b"], "who": whole["who"],
                          "why": whole["why"]})
            row_settled[key] = (f"adjudicated: row {whole['agreed_value']} ({whole['who']})"
                                if whole["status"] == "adjudicated" else "unresolved")
            if whole["agreed_value"] == ABSENT:
                continue
        adjudicated = []
        for column in columns:
            va = _text(in_a[1].get(column, "")) if in_a else ""
            vb = _text(in_b[1].get(column, "")) if in_b else ""
            if not va and not vb:
                continue
            rec = discrepancies.get((*key, column))
            if whole is not None:  # a row one reviewer alone extracted: its cells follow the row's fate
                settled, who, why = whole["status"], whole["who"], whole["why"]
                value = "" if settled == "unresolved" else va or vb
            elif rec is None:
                settled, value, who, why = "agreed", va, "", ""
            else:
                settled, value, who, why = rec["status"], rec["agreed_value"], rec["who"], rec["why"]
                if rec["status"] == "adjudicated":
                    adjudicated.append(f"{column} ({rec['who']})")
            cells.append({**base, "column": column, "value": value, "settled": settled, "value_a": va,
                          "value_b": vb, "who": who, "why": why})
        if whole is None:
            unresolved = any(discrepancies.get((*key, c), {}).get("status") == "unresolved" for c in columns)
            row_settled[key] = ("unresolved" if unresolved else
                                f"adjudicated: {', '.join(adjudicated)}" if adjudicated else "agreed")
    return cells, row_settled


_LINE = re.compile(r"\bline (\d+)\b")


def _check_reconciled(raw: pd.DataFrame, origins: Sequence[str], config: Mapping[str, Any]) -> pd.DataFrame:
    """Every rule of load_studies on the reconciled table; problems name the source rows."""
    handle, tmp = tempfile.mkstemp(prefix="evsynth-reconciled-", suffix=".tsv")
    os.close(handle)
    try:
        raw.to_csv(tmp, sep="\t", index=False, lineterminator="\n")
        return load_studies(tmp, config)
    except StudyTableError as err:
        def origin(line: int) -> str:
            return origins[line - 2] if 2 <= line < len(origins) + 2 else f"line {line}"

        problems = []
        for p in err.problems:
            rule = _LINE.sub(lambda m: f"the row of {origin(int(m.group(1)))}", p.rule)
            where = "reconciled table" if p.line < 2 else f"reconciled row of {origin(p.line)}"
            if p.column:
                where += f", column '{p.column}'" + (f" = '{p.value}'" if p.value != "" else " (empty)")
            problems.append(f"{where}: {rule}")
        raise ReconcileError(problems) from None
    finally:
        Path(tmp).unlink(missing_ok=True)


def unresolved_message(unresolved: Sequence[Mapping[str, str]], names: Mapping[str, str]) -> str:
    """The message that stops the run: every unsettled cell, and what to do."""
    adjudication = names.get("adjudication") or "an adjudication file (config.yaml: extraction.adjudication)"
    lines = [
        f"Extraction A ({names['a']}) and B ({names['b']}) disagree in {len(unresolved)} cell(s) that "
        f"{adjudication} does not settle; nothing was pooled:"
    ]
    for d in unresolved:
        lines.append(
            f"  - {d['study']}, {d['outcome']}, timepoint {d['timepoint']}, {d['comparison']}, "
            f"column '{d['column']}': A = '{d['value_a']}', B = '{d['value_b']}'"
        )
    lines.append(
        "They are listed in results/extraction_discrepancies.tsv. Correct the extraction that is wrong, or "
        "settle each cell in the adjudication file (copy the report's lines and fill agreed_value, who and why)."
    )
    return "\n".join(lines)


def typed_row_key(row: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """The matching key of a row of the typed table (:func:`evsynth.data.studies.load_studies`)."""
    if row.get("form") == "arm":
        comparison = f"arm:{_text(row.get('arm'))}"
    else:
        comparison = _secondary(f"{_text(row.get('treatment'))}_vs_{_text(row.get('comparator'))}",
                                row.get("primary") is False, _text(row.get("instrument")))
    return (_text(row.get("study")), _text(row.get("outcome")), _timepoint_key(_text(row.get("timepoint"))),
            comparison)
