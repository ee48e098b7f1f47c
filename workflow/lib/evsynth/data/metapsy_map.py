"""The map file of :mod:`evsynth.data.metapsy`: which Metapsy rows to take and how their codes
become study-table values (documented key by key in docs/metapsy.md).

:func:`load_map` reads the YAML and checks it against the review's outcomes and modes,
reporting every problem at once (:class:`MetapsyMapError`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from evsynth.data.columns import ROB_COLUMNS, ROB_VALUES

__all__ = ["G_SIGNS", "MetapsyMap", "MetapsyMapError", "Rule", "load_map"]

G_SIGNS = ("difference", "benefit_positive")
MAP_KEYS = {"database", "select", "studies", "treatment", "comparator", "therapy", "outcomes", "timepoint", "rob",
            "extra"}


class MetapsyMapError(ValueError):
    """The map file breaks a rule; ``problems`` lists each."""

    def __init__(self, name: str, problems: Sequence[str]):
        self.problems = list(problems)
        header = f"{name}: {len(self.problems)} problem(s) in the map:"
        super().__init__("\n".join([header, *(f"  - {p}" for p in problems)]))


@dataclass(frozen=True)
class Rule:
    """One ``when`` -> value rule of the map: every listed column must hold one of its values."""

    when: dict[str, tuple[str, ...]]
    value: dict[str, Any]

    def matches(self, cells: Mapping[str, str]) -> bool:
        return all(cells.get(col, "NA") in allowed for col, allowed in self.when.items())


@dataclass(frozen=True)
class MetapsyMap:
    """A parsed, checked map file (see docs/metapsy.md for each key)."""

    name: str
    database: dict[str, str]
    select: dict[str, tuple[str, ...]]
    studies: dict[str, dict[str, Any]]
    treatment: tuple[Rule, ...]
    comparator: tuple[Rule, ...]
    therapy: tuple[Rule, ...]
    outcomes: tuple[Rule, ...]
    timepoint: dict[str, Any]
    rob: dict[str, Any] = field(default_factory=dict)
    #: database column -> study-table ``extra_`` column it is copied to, as it stands.
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def citation(self) -> str:
        db = self.database
        return f"Metapsy {db['name']} v{db['version']}, doi:{db['doi']}"


def _rules(raw: Any, key: str, problems: list[str], need: Sequence[str]) -> tuple[Rule, ...]:
    if not isinstance(raw, list) or not raw:
        problems.append(f"'{key}' must be a non-empty list of rules (when: {{column: [values]}}, ...)")
        return ()
    rules = []
    for i, item in enumerate(raw, 1):
        if not isinstance(item, dict) or not isinstance(item.get("when"), dict):
            problems.append(f"{key} rule {i}: needs 'when: {{column: [values]}}'")
            continue
        missing = [k for k in need if k not in item]
        if missing:
            problems.append(f"{key} rule {i}: missing {', '.join(missing)}")
        when = {str(c): tuple(str(v) for v in (vals if isinstance(vals, list) else [vals]))
                for c, vals in item["when"].items()}
        rules.append(Rule(when, {k: v for k, v in item.items() if k != "when"}))
    return tuple(rules)


def load_map(path: str | Path, outcomes: Mapping[str, bool], modes: Sequence[str]) -> MetapsyMap:
    """Read and check a map file against the review's outcomes (id -> higher_is_better) and modes."""
    name = str(path)
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    problems = [f"unknown key '{k}'" for k in sorted(set(raw) - MAP_KEYS)]
    database = {k: str(v) for k, v in (raw.get("database") or {}).items()}
    for key in ("name", "version", "doi", "g_sign"):
        if not database.get(key):
            problems.append(f"database: '{key}' is required")
    if database.get("g_sign") and database["g_sign"] not in G_SIGNS:
        problems.append(f"database: g_sign '{database['g_sign']}' must be one of {', '.join(G_SIGNS)}")
    if database.get("doi") and not database["doi"].startswith("10."):
        problems.append(f"database: doi '{database['doi']}' must start with '10.'")
    treatment = _rules(raw.get("treatment"), "treatment", problems, ("mode",))
    comparator = _rules(raw.get("comparator"), "comparator", problems, ("mode",))
    therapy = _rules(raw.get("therapy"), "therapy", problems, ("class",))
    outcomes_rules = _rules(raw.get("outcomes"), "outcomes", problems, ())
    for rules, key in ((treatment, "treatment"), (comparator, "comparator"), (therapy, "therapy")):
        for i, rule in enumerate(rules, 1):
            target = rule.value.get("class" if key == "therapy" else "mode")
            if key != "therapy" and target is not None and target not in modes:
                problems.append(f"{key} rule {i}: mode '{target}' is not in config modes ({', '.join(modes)})")
            if target is None and not rule.value.get("reason"):
                problems.append(f"{key} rule {i}: a rule that maps to nothing needs a 'reason'")
    for i, rule in enumerate(outcomes_rules, 1):
        target = rule.value.get("outcome")
        if target is None:
            if not rule.value.get("reason"):
                problems.append(f"outcomes rule {i}: 'outcome: null' needs a 'reason'")
        elif target not in outcomes:
            problems.append(f"outcomes rule {i}: outcome '{target}' is not in config outcomes")
        elif not isinstance(rule.value.get("stored_higher_is_better"), bool):
            problems.append(f"outcomes rule {i}: 'stored_higher_is_better: true|false' is required")
        elif "instrument" not in rule.when:
            problems.append(f"outcomes rule {i}: 'when' must list instruments (their order is the priority)")
    timepoint = raw.get("timepoint") or {}
    if not timepoint.get("weeks_column") and not timepoint.get("without_weeks"):
        problems.append("timepoint: give 'weeks_column' and/or 'without_weeks: {time value: timepoint}'")
    rob = raw.get("rob") or {}
    if rob:
        columns = rob.get("columns") or {}
        if set(columns) != set(ROB_COLUMNS):
            problems.append(f"rob: 'columns' must map each of {', '.join(ROB_COLUMNS)} to a database column")
        if rob.get("fallback") not in (None, "trial"):
            problems.append("rob: 'fallback' must be 'trial' or absent")
        bad = [v for v in (rob.get("values") or {}).values() if v not in ROB_VALUES]
        if bad or not rob.get("values"):
            problems.append(f"rob: 'values' must map database codes to {', '.join(ROB_VALUES)}")
    studies = {str(k): dict(v) for k, v in (raw.get("studies") or {}).items()}
    for label, entry in studies.items():
        if entry.get("mode") is not None and entry["mode"] not in modes:
            problems.append(f"studies: '{label}': mode '{entry['mode']}' is not in config modes")
        if entry.get("mode") is not None and not entry.get("mode_reason"):
            problems.append(f"studies: '{label}': a mode set by hand needs a 'mode_reason'")
    extra = {str(k): str(v) for k, v in (raw.get("extra") or {}).items()}
    problems += [f"extra: '{k}' -> '{v}' must name a study-table column starting with 'extra_'"
                 for k, v in extra.items() if not v.startswith("extra_") or v in ("extra_therapy",
                                                                                "extra_metapsy_instrument",
                                                                                "extra_metapsy_scores")]
    if problems:
        raise MetapsyMapError(name, problems)
    select = {str(c): tuple(str(v) for v in vals) for c, vals in (raw.get("select") or {}).items()}
    return MetapsyMap(name, database, select, studies, treatment, comparator, therapy, outcomes_rules, timepoint, rob,
                      extra)
