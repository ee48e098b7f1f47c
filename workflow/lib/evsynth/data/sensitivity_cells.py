"""What the workflow needs at parse time for the sensitivity analyses (rules in
workflow/rules/sensitivity.smk): the study-table cells they read, and which comparisons get
plots. Their settings are :class:`evsynth.data.config.SensitivityConfig`.

Kept apart from :mod:`evsynth.tables.sensitivity` so that parsing the workflow does not import
the analyses (scipy.stats alone costs ~0.35 s on every Snakemake invocation).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from evsynth._values import text
from evsynth.data.columns import LOW_RISK_COLUMN, low_risk_of_bias
from evsynth.data.config import SensitivityConfig
from evsynth.data.studies import read_table
from evsynth.data.vocabulary import comparison_id

MIN_K_LEAVE_ONE_OUT = 3
MIN_K_CUMULATIVE = 2
MIN_K_FUNNEL = 3
#: Plots drawn per comparison with at least MIN_K_FUNNEL estimable trials.
PLOT_KINDS = ("leave_one_out", "baujat", "cumulative", "funnel")


def _cell_matches(cell: Any, values: Sequence[Any]) -> bool:
    """Does a study-table cell (text) hold one of the configured values?

    Text is compared trimmed and case-insensitively; a YAML boolean matches yes/true
    (no/false); a number matches the same number written any way ("3", "3.0"); "" matches
    an empty cell.
    """
    cell_text = text(cell).strip()
    for value in values:
        if isinstance(value, bool):
            if cell_text.casefold() in (("yes", "true") if value else ("no", "false")):
                return True
        elif isinstance(value, (int, float)):
            try:
                if float(cell_text) == float(value):
                    return True
            except ValueError:
                pass
        elif str(value).strip().casefold() == cell_text.casefold():
            return True
    return False


# ---------------------------------------------------------------------------------------
# Parse-time helpers (called from evsynth.pipeline.plan).
# ---------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _raw_table(path: str, mtime_ns: int) -> pd.DataFrame:
    return read_table(path)


def raw_cells(table: str | os.PathLike | pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The study table as text cells and its name in messages: re-read from its path, or under
    dual extraction the reconciled table already read (row ``i`` is line ``i + 2``)."""
    if isinstance(table, pd.DataFrame):
        return table.reset_index(drop=True), "the reconciled study table"
    return _raw_table(str(table), os.stat(table).st_mtime_ns), str(table)


def sensitivity_records(
    studies: pd.DataFrame, table: str | pd.DataFrame, config: SensitivityConfig, outcome: str, window: str
) -> list[dict[str, str]]:
    """The study-table cells the sensitivity analyses of one analysis read.

    Parameters
    ----------
    studies : pandas.DataFrame
        The checked study table (:func:`evsynth.data.studies.load_studies`), restricted to
        included rows; its ``line`` column locates each row in ``table``.
    table : str or pandas.DataFrame
        The study table's path, re-read as text for the configured columns, or the table as
        text cells already read: under dual extraction, the reconciled (adjudicated) table
        (:attr:`evsynth.data.reconcile.Reconciliation.raw`), whose row ``i`` is line ``i + 2``
        of the typed table it was checked as.
    config : SensitivityConfig
        ``config.yaml: sensitivity``.
    outcome, window : str
        The analysis.

    Returns
    -------
    list of dict
        One record per row of the analysis: study, treatment, comparator and each
        configured column as text, sorted (so re-sorting the table re-runs nothing).
        ``low_risk_of_bias`` is not a study-table column but derived from the row's RoB 2 or
        RoB 1 cells (:func:`evsynth.data.columns.low_risk_of_bias`: ``yes``, ``no``, '').

    Raises
    ------
    ValueError
        When a configured column is not in the study table.
    """
    columns = config.columns
    if not columns:
        return []
    raw, name = raw_cells(table)
    missing = [col for col in columns if col not in raw.columns and col != LOW_RISK_COLUMN]
    if missing:
        raise ValueError(
            f"config.yaml: sensitivity names column(s) {', '.join(missing)} that {name} does not have; "
            f"its columns are: {', '.join(raw.columns)}"
        )
    rows = studies[(studies["outcome"] == outcome) & (studies["window"] == window)]
    records = [
        {
            "study": str(row["study"]),
            "treatment": text(row.get("treatment")),
            "comparator": text(row.get("comparator")),
            "arm": text(row.get("arm")),  # arm rows: contrasts are formed from the arms
            **{col: _cell(raw, int(row["line"]) - 2, col) for col in columns},
        }
        for row in rows.to_dict("records")
    ]
    return sorted(records, key=lambda r: (r["study"], r["treatment"], r["comparator"], r["arm"]))


def _cell(raw: pd.DataFrame, index: int, column: str) -> str:
    """One configured cell as text; the derived low-risk-of-bias flag from the row's judgements."""
    if column == LOW_RISK_COLUMN:
        return low_risk_of_bias({c: raw.at[index, c] for c in raw.columns if c.startswith("rob")})
    return str(raw.at[index, column])


class _Cells:
    """The configured study-table cells behind each trial's contrast in a comparison.

    A contrast given on one row reads that row. A contrast formed from arm rows reads
    the rows of its two arms: it is excluded if either arm's cell matches, and it is
    ordered by the first non-empty value.
    """

    def __init__(self, rows: Sequence[Mapping[str, Any]]):
        self.rows = list(rows)

    def values(self, study: str, treatment: str, comparator: str, column: str) -> list[str]:
        direct = [
            r for r in self.rows if (r["study"], r["treatment"], r["comparator"]) == (study, treatment, comparator)
        ]
        arms = [
            r for r in self.rows if r["study"] == study and r.get("arm") in (treatment, comparator) and r.get("arm")
        ]
        return [str(r.get(column, "")) for r in (direct or arms)]

    def matches(self, study: str, treatment: str, comparator: str, column: str, values: Sequence[Any]) -> bool:
        return any(_cell_matches(cell, values) for cell in self.values(study, treatment, comparator, column))

    def order_value(self, study: str, treatment: str, comparator: str, column: str) -> str:
        return next((v for v in self.values(study, treatment, comparator, column) if v.strip()), "")


def plotted_comparisons(table: str | os.PathLike | pd.DataFrame) -> list[str]:
    """Comparison ids of one analysis that get plots: those with >= 3 estimable trials.

    ``table`` is either the analysis's effect sizes (:func:`evsynth.stats.escalc.compute_all_effects`
    of its rows, with an ``estimable`` column), which the workflow computes at parse time
    so that it knows every plot before any job runs, or its ``funnel.tsv`` (path or
    table), which lists the trials of exactly those comparisons; both give the same ids.
    """
    if not isinstance(table, pd.DataFrame):
        table = pd.read_csv(table, sep="\t", dtype=str, keep_default_na=False)
    if not len(table):
        return []
    if "estimable" in table:
        trials = table[table["estimable"].astype(bool)]
    else:
        trials = table[table["filled"] != "yes"]
    counts = trials.groupby(["treatment", "comparator"], sort=False).size()
    return [comparison_id(t, c) for (t, c), n in counts.items() if n >= MIN_K_FUNNEL]
