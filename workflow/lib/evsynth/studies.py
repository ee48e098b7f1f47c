"""Read and check the study table before anything is pooled.

Every problem is collected (not just the first), each naming the file, the spreadsheet
line (header = line 1), the column, the value and the rule broken, so a reviewer can fix
a whole table in one pass. Nothing here imports PyMARE or matplotlib: it runs when
Snakemake parses the workflow.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from evsynth.settings import (
    BINARY_MEASURES,
    CONTINUOUS_MEASURES,
    RATIO_MEASURES,
    Outcome,
    outcomes_from_config,
    window_of,
    windows_from_config,
)

REQUIRED_COLUMNS = ("study", "year", "treatment", "comparator", "outcome", "timepoint", "source")
COUNT_COLUMNS = ("events_treat", "n_treat", "events_ctrl", "n_ctrl")
MEAN_COLUMNS = ("mean_treat", "sd_treat", "n_treat", "mean_ctrl", "sd_ctrl", "n_ctrl")
CONTRAST_COLUMNS = ("effect_measure", "effect", "ci_lower", "ci_upper", "ci_level", "se")
OPTIONAL_COLUMNS = (
    "include",
    "exclusion_reason",
    "effect_direction",
    *CONTRAST_COLUMNS,
    "events_treat",
    "events_ctrl",
    "n_treat",
    "n_ctrl",
    "mean_treat",
    "sd_treat",
    "mean_ctrl",
    "sd_ctrl",
    "notes",
)
KNOWN_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
NUMERIC_COLUMNS = (
    "year",
    "effect",
    "ci_lower",
    "ci_upper",
    "ci_level",
    "se",
    "events_treat",
    "n_treat",
    "events_ctrl",
    "n_ctrl",
    "mean_treat",
    "sd_treat",
    "mean_ctrl",
    "sd_ctrl",
)
WHOLE_NUMBER_COLUMNS = ("year", "events_treat", "n_treat", "events_ctrl", "n_ctrl")
EFFECT_DIRECTIONS = ("treatment_minus_control", "benefit_positive")
SOURCE_PATTERN = re.compile(r"(10\.\d{4,9}/\S+|pmid|https?://)", re.IGNORECASE)
TIMEPOINT_PATTERN = re.compile(r"^(?P<value>\d+(\.\d+)?)\s*(?P<unit>m|mo|months?|w|wk|weeks?)?$", re.I)
WEEKS_PER_MONTH = 52 / 12


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


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a .tsv, .csv or .xlsx study table as text cells ('' for empty)."""
    path = Path(path)
    name = str(path)
    suffix = path.suffix.lower()
    if suffix not in (".tsv", ".csv", ".xlsx"):
        raise StudyTableError(
            [Problem(name, 0, "", "", f"unsupported file type '{suffix}': use .tsv, .csv or .xlsx")]
        )
    if not path.is_file():
        raise StudyTableError([Problem(name, 0, "", "", "file not found")])
    # Text only: IDs like '007' and the string 'NA' must survive, and numbers are parsed
    # by our own checks so that '12 (34%)' is reported rather than silently dropped.
    options: dict[str, Any] = {"dtype": str, "keep_default_na": False, "na_values": []}
    try:
        if suffix == ".xlsx":
            table = pd.read_excel(path, sheet_name=0, **options)
        else:
            sep = "\t" if suffix == ".tsv" else ","
            table = pd.read_csv(path, sep=sep, encoding="utf-8-sig", **options)
    except UnicodeDecodeError as err:
        raise StudyTableError(
            [Problem(name, 0, "", "", f"not UTF-8 text ({err.reason} at byte {err.start}); save as UTF-8")]
        ) from None
    except pd.errors.EmptyDataError:
        raise StudyTableError([Problem(name, 0, "", "", "the file is empty")]) from None
    except Exception as err:  # openpyxl and the csv parser raise many kinds
        raise StudyTableError([Problem(name, 0, "", "", f"cannot be read: {err}")]) from None
    table.columns = [str(c).strip() for c in table.columns]
    return table.fillna("").map(lambda cell: str(cell).strip())


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
    problems = []
    for column in REQUIRED_COLUMNS:
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


def _check_row(
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
    for column in ("treatment", "comparator"):
        if row.get(column, "") not in modes:
            hint = _did_you_mean(row.get(column, ""), modes)
            bad(column, f"unknown delivery mode{hint}; config.yaml modes are: {', '.join(modes)}")
    if row.get("treatment") and row.get("treatment") == row.get("comparator"):
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
    direction = row.get("effect_direction", "") or "treatment_minus_control"
    if direction not in EFFECT_DIRECTIONS:
        bad("effect_direction", f"must be one of {', '.join(EFFECT_DIRECTIONS)}")

    form = _check_data_form(row, values, outcome, direction, bad)
    values.update(
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
    )
    return problems, values


def _check_data_form(row, values, outcome: Outcome | None, direction: str, bad) -> str:
    """Decide counts / means / contrast and check that form's cells; returns the form."""
    given = lambda cols: [c for c in cols if row.get(c, "") != ""]  # noqa: E731
    has_counts = bool(given(("events_treat", "events_ctrl")))
    has_means = bool(given(("mean_treat", "mean_ctrl", "sd_treat", "sd_ctrl")))
    has_contrast = bool(given(("effect", "effect_measure")))
    forms = [f for f, present in (("counts", has_counts), ("means", has_means), ("contrast", has_contrast)) if present]
    if not forms:
        bad("effect", "no data: give counts (events/n), arm means (mean/sd/n) or a reported effect with its CI or SE")
        return ""
    if len(forms) > 1:
        bad("", f"gives data in more than one form ({' and '.join(forms)}); keep one per row")
        return ""
    form = forms[0]
    measure = outcome.measure if outcome else None
    if direction == "benefit_positive" and form != "contrast":
        bad("effect_direction", "benefit_positive applies to reported effects only")

    def need(columns):
        for column in columns:
            if row.get(column, "") == "":
                bad(column, f"must be filled for {form} data")

    def positive_n(column):
        if values.get(column) is not None and values[column] < 1:
            bad(column, "must be at least 1")

    if form == "counts":
        need(COUNT_COLUMNS)
        if measure and measure not in BINARY_MEASURES:
            bad("events_treat", f"counts given, but outcome '{outcome.id}' is analysed as {measure}")
        for arm in ("treat", "ctrl"):
            events, n = values[f"events_{arm}"], values[f"n_{arm}"]
            positive_n(f"n_{arm}")
            if events is not None and events < 0:
                bad(f"events_{arm}", "must not be negative")
            elif events is not None and n is not None and events > n:
                bad(f"events_{arm}", f"must not exceed n_{arm} ({n:g})")
    elif form == "means":
        need(MEAN_COLUMNS)
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
        bad("effect_measure", f"outcome '{outcome.id}' is analysed as {outcome.measure}; convert or use another outcome")
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
        elif effect is not None and not lower <= effect <= upper:
            bad("effect", f"lies outside its own CI [{lower:g}, {upper:g}]")
        elif lower == upper:
            bad("ci_upper", "CI has zero width")
    if se is not None and se <= 0:
        bad("se", "must be greater than 0")
    level = values["ci_level"]
    if level is not None and not 50 <= level < 100:
        bad("ci_level", "must be a percentage between 50 and 100, e.g. 95")
    for column in ("n_treat", "n_ctrl"):
        positive_n(column)


def load_studies(path: str | Path, config: Mapping[str, Any]) -> pd.DataFrame:
    """Read and check the study table; return one typed row per input row.

    Raises
    ------
    StudyTableError
        Listing every problem found, before anything is computed.
    """
    name = str(path)
    table = read_table(path)
    problems = check_columns(table, name)
    if not len(table):
        problems.append(Problem(name, 2, "", "", "the table has a header but no rows"))
    if problems:
        raise StudyTableError(problems)
    outcomes = outcomes_from_config(config)
    windows = windows_from_config(config)
    window_ids = [w.id for w in windows]
    records = []
    for index, row in enumerate(table.to_dict("records")):
        row_problems, values = _check_row(row, index + 2, name, config, outcomes, window_ids)
        problems += row_problems
        if values["window"] is None and values["timepoint_months"] is not None:
            values["window"] = window_of(values["timepoint_months"], windows)
        records.append(values)
    problems += _check_duplicates(records, name)
    if problems:
        raise StudyTableError(problems)
    return pd.DataFrame.from_records(records)


def _check_duplicates(records: list[dict[str, Any]], name: str) -> list[Problem]:
    """One included row per study x outcome x window x comparison, or pooling double-counts."""
    seen: dict[tuple, int] = {}
    problems = []
    for rec in records:
        if not rec["include"] or rec["window"] is None:
            continue
        key = (rec["study"], rec["outcome"], rec["window"], rec["treatment"], rec["comparator"])
        if key in seen:
            rule = (
                f"same study, outcome, timepoint window '{rec['window']}' and comparison as line "
                f"{seen[key]}; set include to 'no' on one of them"
            )
            problems.append(Problem(name, rec["line"], "study", rec["study"], rule))
        else:
            seen[key] = rec["line"]
    return problems
