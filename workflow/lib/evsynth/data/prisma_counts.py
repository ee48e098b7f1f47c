"""The numbers of a PRISMA 2020 flow diagram (Page et al. 2021, BMJ 372:n71, Figure 1), as read
from a screening log by :mod:`evsynth.data.screening`: one :class:`Route` per column of the
diagram and the included studies, with ``unknown`` for a count nobody recorded."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from evsynth.data.validate import Problem

#: A count nobody recorded: drawn as "n unknown", skipped by the arithmetic checks.
UNKNOWN = "unknown"
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
        return add_counts(self.studies, self.previous_studies or 0)

    @property
    def total_reports(self) -> Count:
        return add_counts(self.reports, self.previous_reports if self.previous_reports is not None else 0)


def add_counts(*counts: Count | None) -> Count:
    if any(c == UNKNOWN or c is None for c in counts):
        return UNKNOWN
    return sum(int(c) for c in counts)  # type: ignore[arg-type]


def sum_counts(pairs: Iterable[tuple[str, Count]]) -> Count:
    return add_counts(*(n for _, n in pairs)) if pairs else 0


def minus_counts(a: Count, b: Count) -> Count:
    return UNKNOWN if UNKNOWN in (a, b) else int(a) - int(b)


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
