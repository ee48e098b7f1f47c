"""Read the study table and check it before anything is pooled.

:func:`read_table` reads the cells as text; :func:`load_studies` runs every check of
:mod:`evsynth.data.validate` and raises one :class:`StudyTableError` listing every problem
(file, spreadsheet line, column, value and rule), so a reviewer can fix a whole table in one
pass. Nothing here imports PyMARE or matplotlib: it runs when Snakemake parses the workflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from evsynth.data.arm_groups import combine_arm_groups
from evsynth.data.borrowed_sd import borrow_missing_sds
from evsynth.data.change_scores import convert_change_scores
from evsynth.data.config import outcomes_from_config, window_of, windows_from_config
from evsynth.data.validate import Problem, StudyTableError, check_columns, check_records, check_row

__all__ = ["Problem", "StudyTableError", "load_studies", "read_table"]


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
            _check_separator(path, name, sep)
            table = pd.read_csv(path, sep=sep, encoding="utf-8-sig", **options)
    except UnicodeDecodeError as err:
        line = path.read_bytes()[: err.start].count(b"\n") + 1
        rule = f"not UTF-8 text ({err.reason} at byte {err.start}); save the file as UTF-8"
        raise StudyTableError([Problem(name, line, "", "", rule)]) from None
    except StudyTableError:
        raise
    except pd.errors.EmptyDataError:
        raise StudyTableError([Problem(name, 0, "", "", "the file is empty")]) from None
    except Exception as err:  # openpyxl and the csv parser raise many kinds
        raise StudyTableError([Problem(name, 0, "", "", f"cannot be read: {err}")]) from None
    table.columns = [str(c).strip() for c in table.columns]
    return table.fillna("").map(lambda cell: str(cell).strip())


def _check_separator(path: Path, name: str, sep: str) -> None:
    """A header without the extension's separator but with another one: say so before pandas
    reports a tokenizer error (a ';'-separated CSV is what European spreadsheets export)."""
    with open(path, "rb") as handle:
        header = handle.readline().decode("utf-8", errors="replace")
    if sep in header:
        return
    for other in ("\t", ",", ";"):
        if other != sep and other in header:
            expected = "tabs" if sep == "\t" else "commas"
            rule = (
                f"the header is separated by {other!r}, not by {expected}; save the file with the separator "
                "its extension implies (.tsv: tabs, .csv: commas)"
            )
            raise StudyTableError([Problem(name, 1, "", "", rule)])


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
        row_problems, values = check_row(row, index + 2, name, config, outcomes, window_ids)
        problems += row_problems
        if values["window"] is None and values["timepoint_months"] is not None:
            values["window"] = window_of(values["timepoint_months"], windows)
        records.append(values)
    problems += check_records(records, name, list(config["modes"]))
    # Change scores need the other rows (a trial reporting all three SDs gives the correlation).
    measures = {o.id: o.measure for o in outcomes.values()}
    failed = {p.line for p in problems}
    for line, column, value, rule in convert_change_scores(records, config, measures, failed):
        problems.append(Problem(name, line, column, value, rule))
    for line, column, value, rule in borrow_missing_sds(records, config, failed):  # optional, off by default
        problems.append(Problem(name, line, column, value, rule))
    if problems:
        raise StudyTableError(problems)
    records, grouped = combine_arm_groups(records)  # several arms of one mode in one trial
    problems += [Problem(name, line, column, value, rule) for line, column, value, rule in grouped]
    if problems:
        raise StudyTableError(problems)
    return pd.DataFrame.from_records(records)
