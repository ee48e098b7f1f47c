"""Dual extraction: a blank cell never agrees with a filled one, whichever reviewer left it blank
(issue 21: this was caught only by a slow workflow test)."""

from __future__ import annotations

import pytest
import yaml

from conftest import REPO
from evsynth.data.reconcile import reconcile_tables, same_cell
from evsynth.data.studies import read_table

CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
NAMES = {"a": "a.tsv", "b": "b.tsv", "adjudication": "adjudication.tsv"}


def table():
    """Pain-interference rows of the shipped table, as text cells."""
    t = read_table(REPO / "studies.tsv")
    return t[t["outcome"] == "pain_interference"].head(4).reset_index(drop=True)


@pytest.mark.parametrize("a,b,same", [
    ("", "", True), ("  ", "", True), ("0.30", "0.3", True), ("1e0", "1", True), ("Dear  2013", "Dear 2013", True),
    ("", "0.3", False), ("0.3", "", False), ("", "0", False), ("0", "", False), ("x", "", False),
    ("nan", "", False), ("0.3", "0.31", False), ("a", "A", False),
])
def test_same_cell(a, b, same):
    assert same_cell(a, b) is same
    assert same_cell(b, a) is same


@pytest.mark.parametrize("blank_in", ["a", "b"])
def test_a_blank_cell_against_a_filled_one_is_a_discrepancy(blank_in):
    a = table()
    column = next(c for c in ("ci_lower", "se", "effect") if a.loc[0, c] != "")
    filled = a.loc[0, column]
    b = a.copy()
    (a if blank_in == "a" else b).loc[0, column] = ""
    result = reconcile_tables(a, b, None, NAMES, CONFIG)
    assert result.blocked and result.raw is None
    (d,) = result.unresolved
    assert (d["study"], d["column"]) == (a.loc[0, "study"], column)
    assert (d["value_a"], d["value_b"]) == (("", filled) if blank_in == "a" else (filled, ""))
    (cell,) = [c for c in result.cells if c["column"] == column and c["study"] == d["study"]]
    assert cell["settled"] == "unresolved" and cell["value"] == ""


def test_a_column_one_reviewer_lacks_is_blank_in_every_row():
    a = table()
    b = a.drop(columns=["source"])
    result = reconcile_tables(a, b, None, NAMES, CONFIG)
    assert {(d["column"], d["value_b"]) for d in result.unresolved} == {("source", "")}
    assert len(result.unresolved) == len(a)


def test_blank_in_both_is_not_a_cell_at_all():
    a = table()
    result = reconcile_tables(a, a.copy(), None, NAMES, CONFIG)
    assert not result.blocked
    empty = [c for c in a.columns if (a[c] == "").all()]
    assert empty and not any(c["column"] in empty for c in result.cells)
