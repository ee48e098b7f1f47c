"""Deterministic, atomic TSV output.

Same input, same bytes: fixed column order, ``%.10g`` floats, ``\\n`` line ends, no
timestamps. Files are written to a temporary name beside the target and renamed, so a
killed job never leaves a half-written table that a later run would take as complete.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

# A text cell starting with one of these is run as a formula by Excel, LibreOffice and Google
# Sheets (CSV/formula injection, OWASP, which also lists a leading tab or carriage return).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(text: str) -> str:
    """Prefix ``'`` to a text cell a spreadsheet would run as a formula; numbers are left alone.

    ``-0.5`` and ``+3`` stay numbers; ``=HYPERLINK(...)``, ``-x`` and ``@SUM(...)`` become
    ``'=HYPERLINK(...)`` etc., which every spreadsheet shows as the text it is.
    """
    if not text.startswith(FORMULA_PREFIXES):
        return text
    try:
        if math.isfinite(float(text)):
            return text
    except ValueError:
        pass
    return "'" + text


def format_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.10g}"
    return str(value).replace("\t", " ").replace("\n", " ")


def write_text_atomic(path: str | Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_tsv(
    records: Iterable[dict[str, Any]], columns: Sequence[str], path: str | Path, *, safe_text: bool = False
) -> None:
    """Write ``records`` (dicts) with exactly ``columns``, in that order.

    ``safe_text=True`` is for tables written for people to open in a spreadsheet: text cells
    that would run as a formula are neutralised (:func:`neutralise_formula`). Leave it off
    for tables the workflow reads back, whose study labels must round-trip unchanged.
    """

    def cell(value: Any) -> str:
        text = format_cell(value)
        return neutralise_formula(text) if safe_text and isinstance(value, str) else text

    lines = ["\t".join(columns)]
    lines += ["\t".join(cell(rec.get(col)) for col in columns) for rec in records]
    write_text_atomic(path, "\n".join(lines) + "\n")


def read_tsv(path: str | Path) -> pd.DataFrame:
    """Read a TSV written by :func:`write_tsv`; empty cells become NaN/None."""
    return pd.read_csv(
        path, sep="\t", keep_default_na=False, na_values=[""], dtype={"study": str},
        true_values=["yes"], false_values=["no"],
    )


def concat_tsv(paths: Sequence[str | Path], out: str | Path) -> int:
    """Stack TSVs that share one header, in the given order; returns the number of rows."""
    header, body = None, []
    for path in paths:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        if header is None:
            header = lines[0]
        elif lines[0] != header:
            raise ValueError(f"{path}: header differs from {paths[0]}")
        body += lines[1:]
    write_text_atomic(out, "\n".join([header or "", *body]) + "\n")
    return len(body)
