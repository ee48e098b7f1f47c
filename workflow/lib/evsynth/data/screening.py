"""The screening log behind the PRISMA 2020 flow diagram, read and checked.

Two forms (docs/screening.md): a **log** (``.tsv``, ``.csv`` or ``.xlsx``; one row per record
with its source and, per stage, its decision) from which every count is derived, or a
**counts** file (``.yaml``) for teams that keep only the numbers, where ``unknown`` is an
allowed count and the arithmetic is checked wherever both sides are known. Either gives one
:class:`PrismaCounts` in the boxes of the PRISMA 2020 flow diagram (Page et al. 2021, BMJ
372:n71, Figure 1, the versions for new and for updated reviews).

Checks, each reported with file, line, column, value and rule, all at once: unknown columns,
stages, decisions and exclusion reasons; a decision at a stage the record never reached;
counts that do not add up; an included study missing from the study table, and a study of
the table that the log does not include (in an update: nor the previous version).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from evsynth.data.prisma_counts import (
    UNKNOWN,
    Count,
    PrismaCounts,
    Route,
    ScreeningError,
    counts_as_dict,
    counts_from_dict,
    sum_counts,
)
from evsynth.data.screening_counts import read_counts, yaml_lines
from evsynth.data.studies import read_table
from evsynth.data.validate import Problem, StudyTableError, _did_you_mean

__all__ = [
    "UNKNOWN", "Count", "PrismaCounts", "Route", "ScreeningError", "counts_as_dict", "counts_from_dict",
    "load_screening", "read_counts", "read_log", "sum_counts",
]

SOURCE_TYPES = ("database", "register", "other")
REMOVED = ("duplicate", "automation", "other")
DECISIONS = ("include", "exclude")
RETRIEVAL = ("retrieved", "not retrieved")
REQUIRED_COLUMNS = ("record_id", "source", "source_type")
LOG_COLUMNS = (*REQUIRED_COLUMNS, "removed", "screening", "retrieval", "eligibility", "exclusion_reason", "study",
               "notes")


# ---------------------------------------------------------------------------------------
# The log form.
# ---------------------------------------------------------------------------------------


def _cell(row: Mapping[str, str], column: str) -> str:
    return str(row.get(column, "")).strip()


def _row_problems(row: Mapping[str, str], line: int, name: str, reasons: Sequence[str]) -> list[Problem]:
    """The rules one record breaks: vocabularies, and a decision only at a stage it reached."""
    problems = []

    def bad(column: str, rule: str) -> None:
        problems.append(Problem(name, line, column, _cell(row, column), rule))

    for column in REQUIRED_COLUMNS:
        if not _cell(row, column):
            bad(column, "required: every record names its id, its source and the source's type")
    kind = _cell(row, "source_type")
    if kind and kind not in SOURCE_TYPES:
        bad("source_type", f"must be one of {', '.join(SOURCE_TYPES)}{_did_you_mean(kind, SOURCE_TYPES)}")
    vocabularies = {"removed": REMOVED, "screening": DECISIONS, "retrieval": RETRIEVAL, "eligibility": DECISIONS}
    for column, allowed in vocabularies.items():
        value = _cell(row, column)
        if value and value not in allowed:
            bad(column, f"unknown decision; must be one of {', '.join(allowed)} or empty"
                f"{_did_you_mean(value, allowed)}")
    if any(p.column in vocabularies or p.column == "source_type" for p in problems):
        return problems  # the stage logic below would only repeat these
    # The stages a record reaches, in order; every later stage must then be empty.
    removed, screening = _cell(row, "removed"), _cell(row, "screening")
    retrieval, eligibility = _cell(row, "retrieval"), _cell(row, "eligibility")
    if kind == "other":
        for column in ("removed", "screening"):
            if _cell(row, column):
                bad(column, "records found by other methods go straight to retrieval in PRISMA 2020 "
                    "(no deduplication or title/abstract screening box): leave empty")
        reached = "sought"
    elif removed:
        reached = "removed"
    elif not screening:
        bad("screening", "required: a record not removed before screening was screened (include or exclude)")
        reached = "removed"
    else:
        reached = "sought" if screening == "include" else "screened out"
    if reached == "sought" and not retrieval:
        bad("retrieval", "required: a report sought for retrieval was retrieved or not retrieved")
    if reached == "sought" and retrieval == "retrieved":
        if not eligibility:
            bad("eligibility", "required: a retrieved report was assessed for eligibility (include or exclude)")
        reached = "assessed"
    later = {"removed": ("screening", "retrieval", "eligibility"),
             "screened out": ("retrieval", "eligibility"),
             "sought": ("eligibility",), "assessed": ()}[reached]
    stage = {"removed": "was removed before screening", "screened out": "was excluded at screening",
             "sought": "was not retrieved", "assessed": ""}[reached]
    for column in later:
        if _cell(row, column):
            bad(column, f"this record {stage}, so it has no {column} decision")
    reason, study = _cell(row, "exclusion_reason"), _cell(row, "study")
    if reached == "assessed" and eligibility == "exclude":
        if not reason:
            bad("exclusion_reason", "required: a report excluded at full text names its reason (PRISMA 2020 item 16a)")
        elif reason not in reasons:
            bad("exclusion_reason", "unknown reason; config.yaml: screening.exclusion_reasons lists "
                f"{', '.join(reasons) or 'none'}{_did_you_mean(reason, reasons)}")
    elif reason:
        bad("exclusion_reason", "only a report excluded at full text (eligibility = exclude) has a reason")
    if reached == "assessed" and eligibility == "include":
        if not study:
            bad("study", "required: an included report names its study as the study table labels it")
    elif study:
        bad("study", "only an included report (eligibility = include) names a study")
    return problems


def _log_counts(rows: list[dict[str, str]], reasons: Sequence[str]) -> tuple[PrismaCounts, dict[str, int]]:
    """Counts of a checked log, and the line of each included study's first report."""

    def count(rows_: Iterable[Mapping[str, str]], column: str, value: str) -> int:
        return sum(_cell(r, column) == value for r in rows_)

    def by_source(rows_: list[Mapping[str, str]]) -> tuple[tuple[str, int], ...]:
        return tuple(Counter(_cell(r, "source") for r in rows_).items())

    def excluded(rows_: list[Mapping[str, str]]) -> tuple[tuple[str, int], ...]:
        tally = Counter(_cell(r, "exclusion_reason") for r in rows_ if _cell(r, "eligibility") == "exclude")
        return tuple((reason, tally[reason]) for reason in reasons if tally[reason])

    db = [r for r in rows if _cell(r, "source_type") in ("database", "register")]
    other = [r for r in rows if _cell(r, "source_type") == "other"]
    kept = [r for r in db if not _cell(r, "removed")]
    sought_db = [r for r in kept if _cell(r, "screening") == "include"]
    databases = Route(
        searched=bool(db),
        identified=by_source([r for r in db if _cell(r, "source_type") == "database"]),
        registers=by_source([r for r in db if _cell(r, "source_type") == "register"]),
        duplicates_removed=count(db, "removed", "duplicate"),
        automation_removed=count(db, "removed", "automation"),
        other_removed=count(db, "removed", "other"),
        screened=len(kept),
        screening_excluded=count(kept, "screening", "exclude"),
        sought=len(sought_db),
        not_retrieved=count(sought_db, "retrieval", "not retrieved"),
        assessed=count(sought_db, "retrieval", "retrieved"),
        excluded=excluded(sought_db),
    )
    others = Route(
        searched=bool(other),
        identified=by_source(other),
        sought=len(other),
        not_retrieved=count(other, "retrieval", "not retrieved"),
        assessed=count(other, "retrieval", "retrieved"),
        excluded=excluded(other),
    )
    included = [r for r in rows if _cell(r, "eligibility") == "include"]
    first_line = {}
    for r in included:
        first_line.setdefault(_cell(r, "study"), int(r["_line"]))
    counts = PrismaCounts(
        form="log", databases=databases, other=others, studies=len(first_line), reports=len(included),
        included_studies=tuple(sorted(first_line)),
    )
    return counts, first_line


def read_log(path: str | Path, reasons: Sequence[str]) -> tuple[PrismaCounts, dict[str, int]]:
    """Read and check a screening log (one row per record).

    Returns
    -------
    counts : PrismaCounts
    lines : dict
        Study label -> spreadsheet line of its first included report (for messages).

    Raises
    ------
    ScreeningError
        Listing every problem.
    """
    counts, lines, problems = _checked_log(path, reasons)
    if problems:
        raise ScreeningError(problems)
    return counts, lines


def _checked_log(path: str | Path, reasons: Sequence[str]) -> tuple[PrismaCounts, dict[str, int], list[Problem]]:
    """The log's counts, its included studies' lines and every problem it has (counts are only
    meaningful when there is none)."""
    name = str(path)
    try:
        table = read_table(path)
    except StudyTableError as err:
        raise ScreeningError(err.problems) from None
    problems = [Problem(name, 1, column, "", f"unknown column; a screening log has {', '.join(LOG_COLUMNS)}"
                        f"{_did_you_mean(column, LOG_COLUMNS)}")
                for column in table.columns if column not in LOG_COLUMNS]
    problems += [Problem(name, 1, column, "", "required column is missing")
                 for column in REQUIRED_COLUMNS if column not in table.columns]
    if problems:
        raise ScreeningError(problems)
    if table.empty:
        raise ScreeningError([Problem(name, 2, "", "", "the log has a header but no records")])
    rows = [{**r, "_line": str(i + 2)} for i, r in enumerate(table.to_dict("records"))]
    seen: dict[str, int] = {}
    for r in rows:
        line = int(r["_line"])
        problems += _row_problems(r, line, name, reasons)
        rid = _cell(r, "record_id")
        if rid and rid in seen:
            problems.append(Problem(name, line, "record_id", rid, f"the same record id as line {seen[rid]}"))
        seen.setdefault(rid, line)
    counts, lines = _log_counts(rows, reasons)
    return counts, lines, problems


# ---------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------
# Against the study table (and the previous version of a living review).
# ---------------------------------------------------------------------------------------


def load_screening(
    path: str | Path,
    reasons: Sequence[str],
    table_studies: Iterable[str] | Mapping[str, int],
    table_name: str,
    previous_studies: Iterable[str] | None = None,
) -> PrismaCounts:
    """Read either form and check its included studies against the study table.

    Parameters
    ----------
    path
        ``.tsv``/``.csv``/``.xlsx`` (log) or ``.yaml``/``.yml`` (counts).
    reasons
        ``config.yaml: screening.exclusion_reasons``, in the order the diagram lists them.
    table_studies
        Study labels of the study table (every row, included or not: a trial kept for
        sensitivity analyses was still included in the review), or label -> line of its
        first row, for messages.
    table_name
        The study table's file, for messages.
    previous_studies
        Studies of the frozen baseline (living review), None for a new review: they count as
        "studies included in previous version" and need not be in the log again.

    Raises
    ------
    ScreeningError
        Listing every problem.
    """
    previous = None if previous_studies is None else sorted(set(previous_studies))
    table_lines = dict(table_studies) if isinstance(table_studies, Mapping) else {}
    table = sorted(set(table_studies))
    if Path(path).suffix.lower() in (".yaml", ".yml"):
        counts = read_counts(path, reasons)
        expected = len(table) - len(set(table) & set(previous or ()))
        if counts.studies != UNKNOWN and counts.studies != expected:
            where = "new studies in the study table (not in the previous version)" if previous else "studies"
            raise ScreeningError([Problem(str(path), yaml_lines(Path(path).read_text(encoding="utf-8")).get(
                ("included", "studies"), 0), "included.studies", str(counts.studies),
                f"{table_name} has {expected} {where}; the counts must match the table")])
    else:
        counts, lines, problems = _checked_log(path, reasons)
        problems += [
            Problem(str(path), line, "study", study, f"included here but not a study of {table_name}"
                    f"{_did_you_mean(study, table)}")
            for study, line in lines.items() if study and study not in table
        ]
        covered = set(lines) | set(previous or ())
        problems += [
            Problem(table_name, table_lines.get(study, 0), "study", study, "in the study table but no report of "
                    f"it is included in {path}{' or in the previous version' if previous else ''}")
            for study in table if study not in covered
        ]
        if problems:
            raise ScreeningError(problems)
        if previous is not None:
            new = tuple(s for s in counts.included_studies if s not in previous)
            counts = replace(counts, studies=len(new), included_studies=new)
    if previous is not None:
        counts = replace(counts, previous_studies=len(previous), previous_reports=UNKNOWN)
    return counts
