"""The counts form of the screening log: a YAML file with the numbers of the PRISMA 2020 boxes,
for teams that keep only counts (docs/screening.md). ``unknown`` is an allowed count; every
identity of the diagram whose terms are known is checked, with the line of the key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from evsynth.data.prisma_counts import (
    UNKNOWN,
    Count,
    PrismaCounts,
    Route,
    ScreeningError,
    add_counts,
    minus_counts,
    sum_counts,
)
from evsynth.data.validate import Problem, _did_you_mean

#: Keys of the counts form (docs/screening.md), per path of the diagram.
DATABASE_KEYS = ("databases", "registers", "duplicates_removed", "automation_removed", "other_removed", "screened",
                 "screening_excluded", "sought", "not_retrieved", "assessed", "excluded")
OTHER_KEYS = ("identified", "sought", "not_retrieved", "assessed", "excluded")
TOP_KEYS = ("databases_and_registers", "other_methods", "included", "notes")
INCLUDED_KEYS = ("studies", "reports")
#: Boxes a counts file may annotate (``notes``), as drawn.
NOTE_BOXES = ("databases_and_registers", "other_methods", "included")


def yaml_lines(text: str) -> dict[tuple[str, ...], int]:
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
        lines = yaml_lines(text)
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
            identified = add_counts(sum_counts(p.identified), sum_counts(p.registers))
            removed = add_counts(p.duplicates_removed, p.automation_removed, p.other_removed)
            check((key, "screened"), p.screened, minus_counts(identified, removed),
                  "records identified minus records removed before screening")
            check((key, "sought"), p.sought, minus_counts(p.screened, p.screening_excluded),
                  "records screened minus records excluded")
        check((key, "assessed"), p.assessed, minus_counts(p.sought, p.not_retrieved),
              "reports sought minus reports not retrieved")
    routes = [p for p in (databases, other) if p.searched]
    included_reports = add_counts(*(minus_counts(p.assessed, sum_counts(p.excluded)) for p in routes))
    check(("included", "reports"), reports, included_reports,
          "reports assessed minus reports excluded, over both routes")
    if problems:
        raise ScreeningError(problems)
    return PrismaCounts(
        form="counts", databases=databases, other=other, studies=studies, reports=reports,
        notes=tuple((box, str(notes[box])) for box in NOTE_BOXES if box in notes),
    )

