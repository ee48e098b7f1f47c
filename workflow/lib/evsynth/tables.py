"""Deterministic, atomic TSV output.

Same input, same bytes: fixed column order, ``%.10g`` floats, ``\\n`` line ends, no
timestamps. Files are written to a temporary name beside the target and renamed, so a
killed job never leaves a half-written table that a later run would take as complete.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd


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


def write_tsv(records: Iterable[dict[str, Any]], columns: Sequence[str], path: str | Path) -> None:
    """Write ``records`` (dicts) with exactly ``columns``, in that order."""
    lines = ["\t".join(columns)]
    lines += ["\t".join(format_cell(rec.get(col)) for col in columns) for rec in records]
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
