"""The reviewers' GRADE certainty ratings (``config.yaml: summary_of_findings.judgements``).

The pipeline never rates certainty; it reads the reviewers' file, checks it against the
configured outcomes, windows and modes at parse time (every problem listed at once, before
any job runs) and shows the ratings in the summary-of-findings table
(:mod:`evsynth.reports.sof`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from evsynth.data.validate import Problem
from evsynth.data.vocabulary import OVERALL_TREATMENT

CERTAINTY_LEVELS = ("high", "moderate", "low", "very low")
JUDGEMENT_COLUMNS = ("outcome", "timepoint", "treatment", "comparator", "certainty", "reasons", "comments")


class JudgementsError(ValueError):
    """The GRADE judgements file breaks one or more rules; ``problems`` lists every one."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        header = f"The GRADE judgements file has {len(problems)} problem(s):"
        super().__init__("\n".join([header, *(f"  - {p}" for p in problems)]))


def load_judgements(
    path: str | Path, outcomes: Iterable[str], windows: Iterable[str], modes: Iterable[str]
) -> list[dict[str, str]]:
    """Read the reviewers' certainty ratings (``summary_of_findings.judgements``).

    A ``.tsv`` or ``.csv`` with columns ``outcome, timepoint, treatment, comparator,
    certainty`` and optional ``reasons`` and ``comments``; one row per summary-of-findings row
    rated. ``certainty`` is one of high, moderate, low, very low (any case).

    Raises
    ------
    JudgementsError
        Listing every problem (file, line, column, value, rule), before anything runs.
    """
    path = Path(path)
    name = str(path)
    if path.suffix.lower() not in (".tsv", ".csv"):
        raise JudgementsError([Problem(name, 0, "", "", "use a .tsv or .csv file")])
    if not path.is_file():
        raise JudgementsError([Problem(name, 0, "", "", "file not found")])
    try:
        table = pd.read_csv(path, sep="\t" if path.suffix.lower() == ".tsv" else ",", dtype=str,
                            keep_default_na=False, na_values=[], encoding="utf-8-sig")
    except Exception as err:  # the csv parser raises many kinds
        raise JudgementsError([Problem(name, 0, "", "", f"cannot be read: {err}")]) from None
    table.columns = [str(c).strip() for c in table.columns]
    problems = [Problem(name, 1, c, c, f"unknown column; allowed: {', '.join(JUDGEMENT_COLUMNS)}")
                for c in table.columns if c not in JUDGEMENT_COLUMNS]
    problems += [Problem(name, 1, c, "", "required column is missing") for c in JUDGEMENT_COLUMNS[:5]
                 if c not in table.columns]
    if problems:
        raise JudgementsError(problems)
    allowed = {"outcome": list(outcomes), "timepoint": list(windows),
               "treatment": [*modes, OVERALL_TREATMENT], "comparator": list(modes)}
    seen: dict[tuple[str, ...], int] = {}
    records = []
    for index, raw in enumerate(table.to_dict("records")):
        line = index + 2
        row = {c: " ".join(str(raw.get(c, "")).split()) for c in JUDGEMENT_COLUMNS}
        for column, choices in allowed.items():
            if row[column] not in choices:
                problems.append(Problem(name, line, column, row[column], f"must be one of {', '.join(choices)}"))
        row["certainty"] = row["certainty"].lower()
        if row["certainty"] not in CERTAINTY_LEVELS:
            problems.append(Problem(name, line, "certainty", row["certainty"],
                                    f"must be one of {', '.join(CERTAINTY_LEVELS)}"))
        key = tuple(row[c] for c in JUDGEMENT_COLUMNS[:4])
        if key in seen:
            problems.append(Problem(name, line, "outcome", row["outcome"],
                                    f"same outcome, timepoint and comparison as line {seen[key]}"))
        seen.setdefault(key, line)
        records.append(row)
    if problems:
        raise JudgementsError(problems)
    return records
