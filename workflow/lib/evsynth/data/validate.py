"""Check the study table row by row and across rows.

Every problem is collected (not just the first), each naming the file, the spreadsheet
line (header = line 1), the column, the value and the rule broken, so a reviewer can fix
a whole table in one pass. The rules are those of docs/study_table.md; the schema they
check against is :mod:`evsynth.data.columns`, and :func:`evsynth.data.studies.load_studies`
runs them.
"""

from __future__ import annotations

import difflib
import math
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from evsynth.data import change_scores, clusters, conversions
from evsynth.data.borrowed_sd import borrowing
from evsynth.data.columns import (
    ARM_BOUNDS,
    ARM_MEASURES,
    COMPARISON_COLUMNS,
    COUNT_COLUMNS,
    EFFECT_DIRECTIONS,
    FORMULA_PREFIXES,
    INVISIBLE_CHARACTERS,
    KNOWN_COLUMNS,
    MEAN_COLUMNS,
    MULTILINE_COLUMNS,
    NUMERIC_COLUMNS,
    PRIMARY_VALUES,
    REQUIRED_COLUMNS,
    ROB1_ALLOWED,
    ROB1_ITEMS,
    ROB_COLUMNS,
    ROB_DOMAINS,
    ROB_VALUES,
    SOURCE_PATTERN,
    STUDY_LABEL_MAX,
    TIMEPOINT_PATTERN,
    WEEKS_PER_MONTH,
    WHOLE_NUMBER_COLUMNS,
    instrument_of,
    is_arm_row,
)
from evsynth.data.config import Outcome
from evsynth.data.io import LABEL_SEPARATOR, neutralise_formula
from evsynth.stats.escalc import BINARY_MEASURES, CONTINUOUS_MEASURES, RATIO_MEASURES


@dataclass(frozen=True)
class Problem:
    """One broken rule at one cell (line 1 is the header; column '' = the whole row)."""

    file: str
    line: int
    column: str
    value: str
    rule: str

    def __str__(self) -> str:
        where = f"{self.file}, line {self.line}"
        if self.column:
            where += f", column '{self.column}'"
            where += f" = '{self.value}'" if self.value != "" else " (empty)"
        return f"{where}: {self.rule}"


class StudyTableError(ValueError):
    """The study table breaks one or more rules; ``problems`` lists every one."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        header = f"The study table has {len(problems)} problem(s); nothing was pooled:"
        super().__init__("\n".join([header, *(f"  - {p}" for p in problems)]))


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _did_you_mean(value: str, choices) -> str:
    guess = difflib.get_close_matches(value, list(choices), n=1)
    return f" (did you mean '{guess[0]}'?)" if guess else ""


def _parse_timepoint(text: str, window_ids: list[str]) -> tuple[float | None, str | None]:
    """Return (months, window id given directly); (None, None) when unreadable."""
    if text in window_ids:
        return None, text
    match = TIMEPOINT_PATTERN.match(text)
    if not match:
        return None, None
    value = float(match["value"])
    unit = (match["unit"] or "m").lower()
    return (value / WEEKS_PER_MONTH if unit.startswith("w") else value), None


def check_columns(table: pd.DataFrame, name: str) -> list[Problem]:
    """The header: every required column present (treatment and comparator not needed when
    every row is an arm row), no unknown or repeated column."""
    problems = []
    only_arm_rows = len(table) > 0 and all(is_arm_row(r) for r in table.to_dict("records"))
    for column in REQUIRED_COLUMNS:
        if column in COMPARISON_COLUMNS and only_arm_rows:
            continue
        if column not in table.columns:
            problems.append(Problem(name, 1, column, "", "required column is missing"))
    for column in table.columns:
        if column not in KNOWN_COLUMNS and not column.startswith("extra_"):
            hint = _did_you_mean(column, KNOWN_COLUMNS)
            rule = f"unknown column{hint}; prefix columns of your own with 'extra_'"
            problems.append(Problem(name, 1, column, column, rule))
    duplicated = table.columns[table.columns.duplicated()]
    problems += [Problem(name, 1, c, c, "column appears more than once") for c in duplicated]
    return problems


def check_row(
    row: Mapping[str, str],
    line: int,
    name: str,
    config: Mapping[str, Any],
    outcomes: Mapping[str, Outcome],
    window_ids: list[str],
) -> tuple[list[Problem], dict[str, Any]]:
    """Check one row; return its problems and its typed values."""
    problems: list[Problem] = []

    def bad(column: str, rule: str) -> None:
        problems.append(Problem(name, line, column, row.get(column, ""), rule))

    values: dict[str, Any] = {}
    for column in NUMERIC_COLUMNS:
        text = row.get(column, "")
        if text == "":
            values[column] = None
            continue
        number = _number(text)
        if number is None:
            bad(column, "must be a number (no units, percentages or text)")
        elif column in WHOLE_NUMBER_COLUMNS and not number.is_integer():
            bad(column, "must be a whole number")
            number = None
        values[column] = number

    for column in ("study", "source"):
        if row.get(column, "") == "":
            bad(column, "must not be empty")
    if row.get("source", "") and not SOURCE_PATTERN.search(row["source"]):
        bad("source", "must name a DOI (10.xxxx/...), a PMID or a URL")
    if values["year"] is not None and not 1900 <= values["year"] <= 2100:
        bad("year", "must be a year between 1900 and 2100")
    elif row.get("year", "") == "":
        bad("year", "must not be empty")

    modes = list(config["modes"])
    arm_row = is_arm_row(row)
    for column in COMPARISON_COLUMNS:
        if arm_row:
            if row.get(column, ""):
                bad(column, "must be empty on an arm row: name the arm's mode in 'arm' (contrasts are formed "
                            "from the arms)")
        elif row.get(column, "") == "":
            bad(column, f"must not be empty: a delivery mode id ({', '.join(modes)}), or give one arm per row")
        elif row.get(column, "") not in modes:
            hint = _did_you_mean(row.get(column, ""), modes)
            bad(column, f"unknown delivery mode{hint}; config.yaml modes are: {', '.join(modes)}")
    if not arm_row and row.get("treatment") and row.get("treatment") == row.get("comparator"):
        bad("comparator", "must differ from treatment")

    outcome = outcomes.get(row.get("outcome", ""))
    if outcome is None:
        hint = _did_you_mean(row.get("outcome", ""), outcomes)
        bad("outcome", f"unknown outcome{hint}; config.yaml outcomes are: {', '.join(outcomes)}")

    months, window = _parse_timepoint(row.get("timepoint", ""), window_ids)
    if months is None and window is None:
        bad("timepoint", f"must be months (3), weeks (8w) or a window id ({', '.join(window_ids)})")

    include = row.get("include", "") or "yes"
    if include not in ("yes", "no"):
        bad("include", "must be 'yes' or 'no'")
    if include == "no" and not row.get("exclusion_reason", ""):
        bad("exclusion_reason", "must say why when include is 'no'")
    primary = row.get("primary", "") or "yes"
    if primary not in PRIMARY_VALUES:
        bad("primary", "must be 'yes' (the trial's effect in the primary analysis; empty means yes) or 'no' (a "
                       "secondary effect: another instrument or follow-up, dependent-effects analyses only)")
    elif primary == "no" and (arm_row or row.get("arm_group", "")):
        column = "arm" if arm_row else "arm_group"
        bad(column, "a secondary effect (primary = 'no') must be one contrast row (counts, means or a reported "
                    "effect), not an arm row or one of an arm_group")
    direction = row.get("effect_direction", "") or "treatment_minus_control"
    if direction not in EFFECT_DIRECTIONS:
        bad("effect_direction", f"must be one of {', '.join(EFFECT_DIRECTIONS)}")

    values["borrow_sd"] = borrowing(config)  # read by conversions.check_arm_spread
    form = _check_data_form(row, values, outcome, direction, bad, modes)
    del values["borrow_sd"]
    values["value_type"] = change_scores.check_change(row, values, form, bad)
    clusters.check_cluster(row, values, form, config, bad)
    if not problems:  # data as reported -> the columns of an ordinary row, labelled (evsynth.data.conversions)
        form = conversions.convert(form, values, outcome.measure if outcome else None)
        clusters.convert_cluster(values, config, row.get("outcome", ""))
    else:
        values.update(conversions.NO_CONVERSION, design_effect=None)
    values.update(_check_rob(row, bad))
    values.update(_check_rob1(row, bad, values))
    problems += _check_text(row, line, name)
    values.update(
        arm=row.get("arm", ""),
        arm_measure=row.get("arm_measure", ""),
        study=row.get("study", ""),
        treatment=row.get("treatment", ""),
        comparator=row.get("comparator", ""),
        outcome=row.get("outcome", ""),
        timepoint=row.get("timepoint", ""),
        timepoint_months=months,
        window=window,
        include=include == "yes",
        exclusion_reason=row.get("exclusion_reason", ""),
        effect_measure=row.get("effect_measure", ""),
        effect_direction=direction,
        form=form,
        source=row.get("source", ""),
        line=line,
        arm_group=row.get("arm_group", ""),
        primary=None if primary not in PRIMARY_VALUES else primary == "yes",  # None: refused above
        instrument=instrument_of(row),
    )
    return problems, values


_FORMULA_NAMES = {"\t": "a tab", "\r": "a carriage return"}


def _shown(text: str) -> str:
    """The cell as a message may print it: invisible characters as escapes (\\x1b, \\u202e)."""
    return INVISIBLE_CHARACTERS.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), text)


def _formula_rule(text: str) -> str:
    """Why a text cell that :func:`neutralise_formula` would change is refused, and the fix."""
    after = not text.startswith(FORMULA_PREFIXES)
    parts = [p.lstrip(" ") for p in text.split(LABEL_SEPARATOR)[int(after):]]
    char = next(p[0] for p in parts if neutralise_formula(p) != p)
    first = _FORMULA_NAMES.get(char, f"'{char}'")
    fix = ("begin the text with a letter, digit or bracket instead (e.g. 'minus 5 points' or '(-5) points' for "
           "'-5 points')" if char in "+-" else f"delete the {first}")
    if after:
        return (f"has {first} after a '{LABEL_SEPARATOR}': a spreadsheet that splits the cell at "
                f"'{LABEL_SEPARATOR}' runs it as a formula (CSV injection); {fix}")
    return (f"starts with {first}, which Excel and LibreOffice run as a formula when a reviewer opens the results "
            f"(CSV injection); {fix}")


def _check_text(row: Mapping[str, str], line: int, name: str) -> list[Problem]:
    """Cells that would be unsafe or misleading in the results: a text cell a spreadsheet would
    run as a formula (numeric columns refuse any text already), invisible control or direction
    characters, and a study label too long to be one. Every column, ``extra_`` ones included."""
    problems = []
    for column, text in row.items():
        if not isinstance(text, str) or text == "":
            continue
        shown = _shown(text)
        if column not in NUMERIC_COLUMNS and neutralise_formula(text) != text:
            problems.append(Problem(name, line, column, shown, _formula_rule(text)))
        allowed = "\t\n\r" if column in MULTILINE_COLUMNS else ""
        invisible = [c for c in INVISIBLE_CHARACTERS.findall(text) if c not in allowed]
        if invisible:
            char, code = invisible[0], f"U+{ord(invisible[0]):04X}"
            if char in "\t\n\r":
                what = "a tab" if char == "\t" else "a line break"
                rule = f"contains {what} ({code}); write the cell on one line (only notes may have several)"
            else:
                what = unicodedata.name(char, "control character").lower()
                rule = (f"contains the invisible {what} {code}, which makes the text show differently from what it "
                        "is; delete it (retype the cell)")
            problems.append(Problem(name, line, column, shown, rule))
    study = row.get("study", "")
    if isinstance(study, str) and len(study) > STUDY_LABEL_MAX:
        rule = (f"is {len(study)} characters long; a study label is 'Author Year' as the forest plot shows it "
                f"(at most {STUDY_LABEL_MAX} characters): put the rest in notes")
        problems.append(Problem(name, line, "study", _shown(study[:40]) + "...", rule))
    return problems


def _check_data_form(row, values, outcome: Outcome | None, direction: str, bad, modes=()) -> str:
    """Decide counts / means / contrast / arm and check that form's cells; returns the form."""
    given = lambda cols: [c for c in cols if row.get(c, "") != ""]  # noqa: E731
    has_counts = bool(given(("events_treat", "events_ctrl")))
    has_means = bool(given(("mean_treat", "mean_ctrl", "sd_treat", "sd_ctrl"))) or conversions.has_arm_spread(row)
    has_contrast = bool(given(("effect", "effect_measure")))
    present = (("counts", has_counts), ("means", has_means), ("contrast", has_contrast), ("arm", is_arm_row(row)),
               ("medians", conversions.has_fivenum(row)))
    forms = [f for f, filled in present if filled]
    if row.get("n_arm", "") and "arm" not in forms:
        bad("n_arm", "only for arm rows; give the arm sizes of a comparison in n_treat and n_ctrl")
    if not forms:
        bad(
            "effect",
            "no data: give counts (events/n), arm means (mean/sd/n), a reported effect with its CI or SE, "
            "or one arm's estimate (arm, arm_measure, arm_estimate with its CI or SE)",
        )
        return ""
    if len(forms) > 1:
        bad("", f"gives data in more than one form ({' and '.join(forms)}); keep one per row")
        return ""
    form = forms[0]
    measure = outcome.measure if outcome else None
    for column in conversions.CONTRAST_TEST_COLUMNS:
        if row.get(column, "") and form != "contrast":
            bad(column, "only for a reported contrast (effect_measure, effect): it gives the contrast's SE")
    if direction == "benefit_positive" and form != "contrast" and not (form == "counts" and measure == "SMD"):
        bad("effect_direction", "benefit_positive applies to reported effects (and to counts in an SMD outcome) only")

    def need(columns):
        for column in columns:
            if row.get(column, "") == "":
                bad(column, f"must be filled for {form} data")

    def positive_n(column):
        if values.get(column) is not None and values[column] < 1:
            bad(column, "must be at least 1")

    if form == "arm":
        _check_arm(row, values, outcome, modes, need, bad)
    elif form == "counts":
        need(COUNT_COLUMNS)
        if measure and measure not in (*BINARY_MEASURES, "SMD"):  # SMD: Chinn 2000 (evsynth.data.conversions)
            bad("events_treat", f"counts given, but outcome '{outcome.id}' is analysed as {measure}")
        for arm in ("treat", "ctrl"):
            events, n = values[f"events_{arm}"], values[f"n_{arm}"]
            positive_n(f"n_{arm}")
            if events is not None and events < 0:
                bad(f"events_{arm}", "must not be negative")
            elif events is not None and n is not None and n >= 1 and events > n:
                bad(f"events_{arm}", f"must not exceed n_{arm} ({n:g})")
    elif form == "medians":
        conversions.check_fivenum(row, values, measure, bad)
        for arm in ("treat", "ctrl"):
            positive_n(f"n_{arm}")
    elif form == "means":
        need(c for c in MEAN_COLUMNS if not c.startswith("sd_"))
        conversions.check_arm_spread(row, values, bad)
        if measure and measure not in CONTINUOUS_MEASURES:
            bad("mean_treat", f"arm means given, but outcome '{outcome.id}' is analysed as {measure}")
        for arm in ("treat", "ctrl"):
            positive_n(f"n_{arm}")
            if values[f"sd_{arm}"] is not None and values[f"sd_{arm}"] <= 0:
                bad(f"sd_{arm}", "must be greater than 0")
        if measure == "SMD" and values["n_treat"] and values["n_ctrl"] and values["n_treat"] + values["n_ctrl"] < 3:
            bad("n_treat", "an SMD needs at least 3 participants in all")
    else:
        _check_contrast(row, values, outcome, need, positive_n, bad)
    return form


def _check_contrast(row, values, outcome: Outcome | None, need, positive_n, bad) -> None:
    need(("effect_measure", "effect"))
    reported = row.get("effect_measure", "")
    if reported and reported not in (*BINARY_MEASURES, *CONTINUOUS_MEASURES):
        bad("effect_measure", "must be one of RR, OR, RD, SMD, MD")
    elif reported and outcome and reported != outcome.measure:
        bad("effect_measure",
            f"outcome '{outcome.id}' is analysed as {outcome.measure}; convert or use another outcome")
    effect, lower, upper, se = (values[c] for c in ("effect", "ci_lower", "ci_upper", "se"))
    if (row.get("ci_lower", "") == "") != (row.get("ci_upper", "") == ""):
        bad("ci_upper" if row.get("ci_lower", "") else "ci_lower", "give both CI limits or neither")
    if reported in RATIO_MEASURES:
        for column, value in (("effect", effect), ("ci_lower", lower), ("ci_upper", upper)):
            if value is not None and value <= 0:
                bad(column, f"a {reported} must be greater than 0")
    if lower is not None and upper is not None:
        if lower > upper:
            bad("ci_lower", f"CI is reversed: lower limit above upper limit ({upper:g})")
        elif effect is not None and not lower <= effect <= upper and not (reported in RATIO_MEASURES and effect <= 0):
            bad("effect", f"lies outside its own CI [{lower:g}, {upper:g}]")
        elif lower == upper:
            bad("ci_upper", "CI has zero width")
    if se is not None and se <= 0:
        bad("se", "must be greater than 0")
    conversions.check_contrast_test(row, values, bad)
    conversions.check_se_agrees_with_ci(values, reported, bad)
    level = values["ci_level"]
    if level is not None and not 50 <= level < 100:
        bad("ci_level", "must be a percentage between 50 and 100, e.g. 95")
    for column in ("n_treat", "n_ctrl"):
        positive_n(column)


def _check_arm(row, values, outcome: Outcome | None, modes, need, bad) -> None:
    """One arm's estimate: a known mode, a measure the outcome can be contrasted on, a CI or SE."""
    need(("arm", "arm_measure", "arm_estimate"))
    arm, kind = row.get("arm", ""), row.get("arm_measure", "")
    if arm and arm not in modes:
        bad("arm", f"unknown delivery mode{_did_you_mean(arm, modes)}; config.yaml modes are: {', '.join(modes)}")
    if kind and kind not in ARM_MEASURES:
        bad("arm_measure", f"must be one of {', '.join(ARM_MEASURES)}")
    elif kind and outcome and outcome.measure not in ARM_MEASURES[kind]:
        bad(
            "arm_measure",
            f"{kind} arms give {'/'.join(ARM_MEASURES[kind])} contrasts, but outcome '{outcome.id}' is analysed as "
            f"{outcome.measure}",
        )
    for column in ("n_treat", "n_ctrl"):
        if row.get(column, ""):
            bad(column, "not used on an arm row: give the arm's size in n_arm")
    estimate, lower, upper, se = (values[c] for c in ("arm_estimate", "arm_ci_lower", "arm_ci_upper", "arm_se"))
    if (row.get("arm_ci_lower", "") == "") != (row.get("arm_ci_upper", "") == ""):
        bad("arm_ci_upper" if row.get("arm_ci_lower", "") else "arm_ci_lower", "give both CI limits or neither")
    elif lower is None and upper is None and row.get("arm_se", "") == "":
        bad("arm_ci_lower", "give the arm's CI (arm_ci_lower, arm_ci_upper) or its SE (arm_se)")
    if kind in ARM_BOUNDS:
        top = ARM_BOUNDS[kind]
        for column, value in (("arm_estimate", estimate), ("arm_ci_lower", lower), ("arm_ci_upper", upper)):
            if value is not None and not 0 < value < top:
                bad(column, f"a {kind} must lie strictly between 0 and {top:g}")
    if lower is not None and upper is not None:
        if lower > upper:
            bad("arm_ci_lower", f"CI is reversed: lower limit above upper limit ({upper:g})")
        elif estimate is not None and not lower <= estimate <= upper:
            bad("arm_estimate", f"lies outside its own CI [{lower:g}, {upper:g}]")
        elif lower == upper:
            bad("arm_ci_upper", "CI has zero width")
    if se is not None and se <= 0:
        bad("arm_se", "must be greater than 0")
    level = values["ci_level"]
    if level is not None and not 50 <= level < 100:
        bad("ci_level", "must be a percentage between 50 and 100, e.g. 95")
    if values["n_arm"] is not None and values["n_arm"] < 1:
        bad("n_arm", "must be at least 1")


def _check_rob(row: Mapping[str, str], bad) -> dict[str, str]:
    """RoB 2 cells: a known judgement each, all five domains or none, an overall judgement
    whenever domains are given, and one that follows them (RoB 2's algorithm: low only if every
    domain is low, high if any domain is high; several domains with some concerns may be judged
    high). Returns the judgements in lower case ('' where not given)."""
    judgements: dict[str, str] = {}
    valid = True
    for column in ROB_COLUMNS:
        text = " ".join(row.get(column, "").replace("_", " ").split()).lower()
        if text and text not in ROB_VALUES:
            bad(column, f"must be one of {', '.join(ROB_VALUES)}{_did_you_mean(text, ROB_VALUES)}")
            valid = False
        judgements[column] = text
    domains = [judgements[c] for c in ROB_DOMAINS]
    overall = judgements["rob_overall"]
    if any(domains) and not all(domains):
        missing = [c for c in ROB_DOMAINS if not judgements[c]]
        bad(missing[0], f"give all five RoB 2 domains (rob_d1 to rob_d5) or none; missing: {', '.join(missing)}")
        valid = False
    if all(domains) and not overall:
        bad("rob_overall", "must be filled when the RoB 2 domains are: the overall risk-of-bias judgement")
        valid = False
    if valid and all(domains) and overall:
        rank = {value: i for i, value in enumerate(ROB_VALUES)}
        worst = max(domains, key=rank.__getitem__)
        concerns = domains.count("some concerns")
        if rank[overall] < rank[worst]:
            column = ROB_DOMAINS[domains.index(worst)]
            bad("rob_overall", f"is less severe than {column} ('{worst}'): RoB 2's overall judgement is at least "
                               "the worst domain's")
        elif rank[overall] > rank[worst] and not (overall == "high" and concerns >= 2):
            rule = ("is 'high' with no domain at high risk: RoB 2 allows that only for some concerns in several "
                    "domains" if overall == "high" else "is 'some concerns' while every domain is low: RoB 2's "
                    "overall judgement is then low")
            bad("rob_overall", rule)
    return judgements


def _check_rob1(row: Mapping[str, str], bad, judged: Mapping[str, Any]) -> dict[str, str]:
    """RoB 1 items (Higgins et al. 2011): a known judgement each (``rob1_ba`` may record a
    self-reported outcome), all four or none, and never beside RoB 2 judgements on one row:
    a result is judged with one tool, and one is not a translation of the other.
    Returns the items in lower case ('' where not given)."""
    items: dict[str, str] = {}
    for column in ROB1_ITEMS:
        text = " ".join(row.get(column, "").replace("_", " ").split()).lower()
        allowed = ROB1_ALLOWED[column]
        if text and text not in allowed:
            bad(column, f"must be one of {', '.join(allowed)}{_did_you_mean(text, allowed)}")
        items[column] = text
    if any(items.values()) and not all(items.values()):
        missing = [c for c in ROB1_ITEMS if not items[c]]
        bad(missing[0], f"give all four RoB 1 items ({', '.join(ROB1_ITEMS)}) or none; missing: {', '.join(missing)}")
    if any(items.values()) and any(judged.get(c) for c in ROB_COLUMNS):
        column = next(c for c in ROB1_ITEMS if items[c])
        bad(column, "is given beside RoB 2 judgements (rob_d1 ... rob_overall): judge a result with one tool, "
                    "RoB 2 or RoB 1, not both")
    return items


def check_records(records: list[dict[str, Any]], name: str, modes: list[str]) -> list[Problem]:
    """The rules across rows, on the typed rows of :func:`check_row` (windows assigned).

    Parameters
    ----------
    records
        One dict of typed values per row, in table order.
    name
        The file name the problems report.
    modes
        The delivery mode ids of config.yaml, in order.

    Returns
    -------
    list of Problem
        Duplicated rows, arm rows that do not pair up (or repeat a contrast row), arm sizes
        that differ between rows, and arm rows of one contrast with different RoB 2 judgements.
    """
    problems = _check_duplicates(records, name)
    problems += _check_arm_groups(records, name, modes)
    problems += _check_arm_sizes(records, name)
    problems += _check_rob_arms(records, name)
    return problems


def _check_rob_arms(records: list[dict[str, Any]], name: str) -> list[Problem]:
    """Arm rows of one study x outcome x timepoint form contrasts together, so they carry the
    same risk-of-bias judgements (the judgements of those contrasts)."""
    seen: dict[tuple, tuple[tuple[str, ...], int]] = {}
    problems = []
    for rec in records:
        if rec.get("form") != "arm" or not rec["include"]:
            continue
        judgements = tuple(rec.get(c, "") for c in (*ROB_COLUMNS, *ROB1_ITEMS))
        when = rec["timepoint_months"] if rec["timepoint_months"] is not None else rec["window"]
        key = (rec["study"], rec["outcome"], when)
        if key not in seen:
            seen[key] = (judgements, rec["line"])
        elif seen[key][0] != judgements:
            column = next(c for c, a, b in zip((*ROB_COLUMNS, *ROB1_ITEMS), seen[key][0], judgements) if a != b)
            rule = (f"differs from line {seen[key][1]}: the arm rows of one study, outcome and timepoint form "
                    "contrasts together, so give them the same risk-of-bias judgements")
            problems.append(Problem(name, rec["line"], column, rec.get(column, ""), rule))
    return problems


def _check_arm_sizes(records: list[dict[str, Any]], name: str) -> list[Problem]:
    """One arm of one trial at one timepoint has one size across the rows that report it.

    Rows of different outcomes share their arms, so an n that differs between them is a
    transcription error (or the analysed n of a different population; then say so by
    using a separate study label)."""
    seen: dict[tuple, tuple[float, int, str]] = {}
    problems = []
    for rec in records:
        # A secondary effect's n is its instrument's analysed n, which may differ (missing data).
        if rec.get("form") not in ("counts", "means", "contrast") or not rec.get("primary", True):
            continue
        for arm, column in ((rec["treatment"], "n_treat"), (rec["comparator"], "n_ctrl")):
            n = rec.get(column)
            if n is None or (column == "n_treat" and rec.get("arm_group")):  # one of several arms of its mode
                continue
            key = (rec["study"], arm, rec["timepoint"])
            if key not in seen:
                seen[key] = (n, rec["line"], column)
            elif seen[key][0] != n:
                first_n, first_line, first_column = seen[key]
                rule = (
                    f"arm '{arm}' of this study at timepoint {rec['timepoint']} has {first_n:g} participants "
                    f"on line {first_line} ({first_column}); one arm has one size"
                )
                problems.append(Problem(name, rec["line"], column, f"{n:g}", rule))
    return problems


def _check_duplicates(records: list[dict[str, Any]], name: str) -> list[Problem]:
    """One included primary row per study x outcome x window x comparison, or pooling
    double-counts; each secondary row (``primary = no``) beside a primary row of its key, and
    no two rows of a key with the same instrument at the same timepoint (one effect twice)."""
    seen: dict[tuple, int] = {}
    groups: dict[tuple, str] = {}
    effects: dict[tuple, int] = {}
    problems = []
    included = [r for r in records if r["include"] and r["window"] is not None and r["form"] != "arm"
                and r.get("primary", True) is not None]  # an unreadable primary cell is reported already
    for rec in included:
        key = (rec["study"], rec["outcome"], rec["window"], rec["treatment"], rec["comparator"])
        if not rec.get("primary", True):
            continue
        # Rows of one arm_group are combined into one (evsynth.data.arm_groups).
        if key in groups and rec.get("arm_group") == groups[key] != "":
            continue
        groups.setdefault(key, rec.get("arm_group", ""))
        if key in seen:
            rule = (
                f"same study, outcome, timepoint window '{rec['window']}' and comparison as line "
                f"{seen[key]}; one row is the trial's primary effect: set primary to 'no' on a secondary effect "
                "(another instrument or follow-up), or include to 'no' on a row that should not count"
            )
            problems.append(Problem(name, rec["line"], "primary", "yes", rule))
        else:
            seen[key] = rec["line"]
    for rec in included:
        key = (rec["study"], rec["outcome"], rec["window"], rec["treatment"], rec["comparator"])
        if not rec.get("primary", True) and key not in seen:
            rule = (
                f"a secondary effect needs the trial's primary effect: no included row with primary 'yes' has the "
                f"same study, outcome, timepoint window '{rec['window']}' and comparison (an arm row's contrast "
                "does not count); set primary to 'yes' here, or add the primary row"
            )
            problems.append(Problem(name, rec["line"], "primary", "no", rule))
    # Primary rows first, so a secondary row repeating its primary effect is the one named.
    for rec in sorted(included, key=lambda r: not r.get("primary", True)):
        key = (rec["study"], rec["outcome"], rec["window"], rec["treatment"], rec["comparator"])
        when = rec["timepoint_months"] if rec["timepoint_months"] is not None else rec["timepoint"]
        effect = (*key, when, rec.get("instrument", ""))
        if effect not in effects:
            effects[effect] = rec["line"]
        elif not rec.get("primary", True) and key in seen:
            what = f"instrument '{rec['instrument']}'" if rec.get("instrument") else "no instrument named on either"
            rule = (
                f"same study, outcome, comparison, timepoint and instrument as line {effects[effect]} ({what}): "
                "the same effect twice; name each row's measure in 'instrument', or set include to 'no' on one"
            )
            problems.append(Problem(name, rec["line"], "instrument", rec.get("instrument", ""), rule))
    return problems


def _check_arm_groups(records: list[dict[str, Any]], name: str, modes: list[str]) -> list[Problem]:
    """Arm rows must pair up: >= 2 arms per study x outcome x timepoint, each arm once, one measure.

    Also refuses a contrast row for a comparison that the included arm rows already give (in
    either direction): pooling both would count the trial twice.
    """
    problems: list[Problem] = []
    groups: dict[tuple, list[dict[str, Any]]] = {}
    seen_arm: dict[tuple, int] = {}
    for rec in records:
        if rec["form"] != "arm" or not rec["include"]:
            continue
        when = rec["timepoint_months"] if rec["timepoint_months"] is not None else rec["window"]
        groups.setdefault((rec["study"], rec["outcome"], when), []).append(rec)
        # Same window counts as a duplicate too: both rows would enter one analysis.
        key = (rec["study"], rec["outcome"], rec["window"] or when, rec["arm"])
        if key in seen_arm:
            where = f"timepoint window '{rec['window']}'" if rec["window"] else "timepoint"
            rule = (f"duplicate arm: same study, outcome, {where} and arm as line {seen_arm[key]}; "
                    "set include to 'no' on one of them")
            problems.append(Problem(name, rec["line"], "arm", rec["arm"], rule))
        else:
            seen_arm[key] = rec["line"]
    derived: dict[tuple, list[int]] = {}
    for (study, outcome, _), arms in groups.items():
        if len({a["arm"] for a in arms}) < 2:
            for rec in arms:
                rule = (
                    f"orphan arm row: no other included arm of '{study}' for outcome '{outcome}' at timepoint "
                    f"'{rec['timepoint']}'; a contrast needs at least two arms"
                )
                problems.append(Problem(name, rec["line"], "arm", rec["arm"], rule))
        for rec in arms[1:]:
            if rec["arm_measure"] != arms[0]["arm_measure"]:
                rule = (f"differs from line {arms[0]['line']} ('{arms[0]['arm_measure']}'): one measure per "
                        "study x outcome x timepoint")
                problems.append(Problem(name, rec["line"], "arm_measure", rec["arm_measure"], rule))
        for a in arms:
            for b in arms:
                if a["arm"] in modes and b["arm"] in modes and modes.index(a["arm"]) < modes.index(b["arm"]):
                    derived[(study, outcome, a["window"], frozenset((a["arm"], b["arm"])))] = [a["line"], b["line"]]
    for rec in records:
        if rec["form"] in ("arm", "") or not rec["include"] or rec["window"] is None or not rec.get("primary", True):
            continue
        key = (rec["study"], rec["outcome"], rec["window"], frozenset((rec["treatment"], rec["comparator"])))
        if key in derived:
            lines = " and ".join(str(n) for n in derived[key])
            rule = f"the same comparison is formed from the arm rows on lines {lines}; set include to 'no' on one"
            problems.append(Problem(name, rec["line"], "study", rec["study"], rule))
    return problems
