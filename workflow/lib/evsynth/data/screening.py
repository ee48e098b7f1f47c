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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from evsynth.data.studies import read_table
from evsynth.data.validate import Problem, StudyTableError, _did_you_mean

#: A count nobody recorded: drawn as "n unknown", skipped by the arithmetic checks.
UNKNOWN = "unknown"
SOURCE_TYPES = ("database", "register", "other")
REMOVED = ("duplicate", "automation", "other")
DECISIONS = ("include", "exclude")
RETRIEVAL = ("retrieved", "not retrieved")
REQUIRED_COLUMNS = ("record_id", "source", "source_type")
LOG_COLUMNS = (*REQUIRED_COLUMNS, "removed", "screening", "retrieval", "eligibility", "exclusion_reason", "study",
               "notes")
#: Keys of the counts form (docs/screening.md), per path of the diagram.
DATABASE_KEYS = ("databases", "registers", "duplicates_removed", "automation_removed", "other_removed", "screened",
                 "screening_excluded", "sought", "not_retrieved", "assessed", "excluded")
OTHER_KEYS = ("identified", "sought", "not_retrieved", "assessed", "excluded")
TOP_KEYS = ("databases_and_registers", "other_methods", "included", "notes")
INCLUDED_KEYS = ("studies", "reports")
#: Boxes a counts file may annotate (``notes``), as drawn.
NOTE_BOXES = ("databases_and_registers", "other_methods", "included")

Count = int | str  # a count, or UNKNOWN


class ScreeningError(ValueError):
    """The screening log breaks one or more rules; ``problems`` lists every one."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        header = f"The screening log has {len(problems)} problem(s); no flow diagram was drawn:"
        super().__init__("\n".join([header, *(f"  - {p}" for p in problems)]))


@dataclass(frozen=True)
class Route:
    """One column of the diagram: databases and registers, or other methods.

    Counts are ints or ``UNKNOWN``; ``identified`` maps each source to its records;
    ``excluded`` maps each exclusion reason to its reports, in the configured order.
    ``searched`` is False when this route was not used at all (the column is then drawn
    as "not searched" rather than with zeros).
    """

    searched: bool
    identified: tuple[tuple[str, Count], ...] = ()
    registers: tuple[tuple[str, Count], ...] = ()
    duplicates_removed: Count = 0
    automation_removed: Count = 0
    other_removed: Count = 0
    screened: Count = 0
    screening_excluded: Count = 0
    sought: Count = 0
    not_retrieved: Count = 0
    assessed: Count = 0
    excluded: tuple[tuple[str, Count], ...] = ()


@dataclass(frozen=True)
class PrismaCounts:
    """Every number of a PRISMA 2020 flow diagram.

    ``studies``/``reports``: new studies included and their reports; ``previous_*``: from the
    frozen baseline of a living review (None for a new review); ``notes``: free text per box
    (counts form only), e.g. why a count is unknown.
    """

    form: str
    databases: Route
    other: Route
    studies: Count
    reports: Count
    included_studies: tuple[str, ...] = ()
    previous_studies: int | None = None
    previous_reports: Count | None = None
    notes: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @property
    def updated(self) -> bool:
        return self.previous_studies is not None

    @property
    def total_studies(self) -> Count:
        return _add(self.studies, self.previous_studies or 0)

    @property
    def total_reports(self) -> Count:
        return _add(self.reports, self.previous_reports if self.previous_reports is not None else 0)


def _add(*counts: Count | None) -> Count:
    if any(c == UNKNOWN or c is None for c in counts):
        return UNKNOWN
    return sum(int(c) for c in counts)  # type: ignore[arg-type]


def sum_counts(pairs: Iterable[tuple[str, Count]]) -> Count:
    return _add(*(n for _, n in pairs)) if pairs else 0


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
# The counts form.
# ---------------------------------------------------------------------------------------


def _yaml_lines(text: str) -> dict[tuple[str, ...], int]:
    """Line of every mapping key, by its path of keys (for messages)."""
    lines: dict[tuple[str, ...], int] = {}

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                here = (*path, str(key.value))
                lines[here] = key.start_mark.line + 1
                walk(value, here)

    walk(yaml.compose(text), ())
    return lines


def read_counts(path: str | Path, reasons: Sequence[str]) -> PrismaCounts:
    """Read and check a counts file (the YAML form of docs/screening.md).

    Raises
    ------
    ScreeningError
        Listing every problem: unknown keys and reasons, counts that are not whole numbers
        or ``unknown``, and each identity of the diagram that does not add up.
    """
    name, path = str(path), Path(path)
    if not path.is_file():
        raise ScreeningError([Problem(name, 0, "", "", "file not found")])
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text) or {}
        lines = _yaml_lines(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = (mark.line + 1) if mark else 0
        raise ScreeningError([Problem(name, line, "", "", f"not valid YAML: {err}")]) from None
    problems: list[Problem] = []

    def bad(keys: tuple[str, ...], value: Any, rule: str) -> None:
        problems.append(Problem(name, lines.get(keys, 0), ".".join(keys), "" if value is None else str(value), rule))

    if not isinstance(data, dict):
        raise ScreeningError([Problem(name, 1, "", "", "a counts file is a mapping (docs/screening.md)")])

    def known_keys(section: Mapping[str, Any], allowed: Sequence[str], where: tuple[str, ...]) -> None:
        for key in section:
            if key not in allowed:
                bad((*where, str(key)), None, f"unknown key; allowed: {', '.join(allowed)}"
                    f"{_did_you_mean(str(key), allowed)}")

    def number(value: Any, keys: tuple[str, ...]) -> Count:
        if value == UNKNOWN:
            return UNKNOWN
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            bad(keys, value, f"a count is a whole number >= 0 or '{UNKNOWN}'")
            return UNKNOWN
        return value

    def mapping(value: Any, keys: tuple[str, ...], reason_keys: bool = False) -> tuple[tuple[str, Count], ...]:
        if value is None:
            return ()
        if not isinstance(value, dict):
            bad(keys, value, "give a mapping: name -> count")
            return ()
        out = []
        for key, n in value.items():
            if reason_keys and key not in reasons:
                bad((*keys, str(key)), n, "unknown reason; config.yaml: screening.exclusion_reasons lists "
                    f"{', '.join(reasons) or 'none'}{_did_you_mean(str(key), reasons)}")
            out.append((str(key), number(n, (*keys, str(key)))))
        if reason_keys:
            out.sort(key=lambda pair: reasons.index(pair[0]) if pair[0] in reasons else len(reasons))
        return tuple(out)

    known_keys(data, TOP_KEYS, ())

    def read_path(key: str, allowed: Sequence[str]) -> Route:
        section = data.get(key)
        if section is None:
            return Route(searched=False)
        if not isinstance(section, dict):
            bad((key,), section, "give a mapping of counts, or leave the key out when this route was not used")
            return Route(searched=False)
        known_keys(section, allowed, (key,))
        values: dict[str, Any] = {}
        for item in allowed:
            where = (key, item)
            if item in ("databases", "registers", "identified"):
                values[item] = mapping(section.get(item), where)
            elif item == "excluded":
                values[item] = mapping(section.get(item), where, reason_keys=True)
            else:
                values[item] = number(section.get(item, 0), where)
        if key == "other_methods":
            values["identified"] = values.pop("identified")
        else:
            values["identified"] = values.pop("databases")
        return Route(searched=True, **values)

    databases = read_path("databases_and_registers", DATABASE_KEYS)
    other = read_path("other_methods", OTHER_KEYS)
    included = data.get("included") or {}
    known_keys(included, INCLUDED_KEYS, ("included",))
    studies = number(included.get("studies", UNKNOWN), ("included", "studies"))
    reports = number(included.get("reports", UNKNOWN), ("included", "reports"))
    notes = data.get("notes") or {}
    known_keys(notes, NOTE_BOXES, ("notes",))

    def check(keys: tuple[str, ...], left: Count, right: Count, words: str) -> None:
        if UNKNOWN not in (left, right) and left != right:
            bad(keys, left, f"does not add up: {words} = {right}")

    for key, p in (("databases_and_registers", databases), ("other_methods", other)):
        if not p.searched:
            continue
        if key == "databases_and_registers":
            identified = _add(sum_counts(p.identified), sum_counts(p.registers))
            removed = _add(p.duplicates_removed, p.automation_removed, p.other_removed)
            check((key, "screened"), p.screened, _minus(identified, removed),
                  "records identified minus records removed before screening")
            check((key, "sought"), p.sought, _minus(p.screened, p.screening_excluded),
                  "records screened minus records excluded")
        check((key, "assessed"), p.assessed, _minus(p.sought, p.not_retrieved),
              "reports sought minus reports not retrieved")
    included_reports = _add(*(_minus(p.assessed, sum_counts(p.excluded)) for p in (databases, other) if p.searched))
    check(("included", "reports"), reports, included_reports,
          "reports assessed minus reports excluded, over both routes")
    if problems:
        raise ScreeningError(problems)
    return PrismaCounts(
        form="counts", databases=databases, other=other, studies=studies, reports=reports,
        notes=tuple((box, str(notes[box])) for box in NOTE_BOXES if box in notes),
    )


def _minus(a: Count, b: Count) -> Count:
    return UNKNOWN if UNKNOWN in (a, b) else int(a) - int(b)


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
            raise ScreeningError([Problem(str(path), _yaml_lines(Path(path).read_text(encoding="utf-8")).get(
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


def counts_as_dict(counts: PrismaCounts) -> dict[str, Any]:
    """Plain values (params of a job); :func:`counts_from_dict` reads them back."""
    return asdict(counts)


def counts_from_dict(values: Mapping[str, Any]) -> PrismaCounts:
    def pairs(items: Any) -> tuple[tuple[str, Count], ...]:
        return tuple((str(a), b) for a, b in items)

    def route(r: Mapping[str, Any]) -> Route:
        fields = {k: (pairs(v) if k in ("identified", "registers", "excluded") else v) for k, v in r.items()}
        return Route(**fields)

    return PrismaCounts(**{
        **values, "databases": route(values["databases"]), "other": route(values["other"]),
        "included_studies": tuple(values.get("included_studies", ())), "notes": pairs(values.get("notes", ())),
    })
