"""Deterministic, atomic TSV output.

Same input, same bytes: fixed column order, ``%.10g`` floats, ``\\n`` line ends, no
timestamps. Files are written to a temporary name beside the target and renamed, so a
killed job never leaves a half-written table that a later run would take as complete.
"""

from __future__ import annotations

import glob
import math
import os
import tempfile
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from evsynth.data.columns import FORMULA_PREFIXES

# Cells that join several labels ("A 2011; B 2012") are split into cells by a spreadsheet that
# imports with ';' as a separator (LibreOffice remembers that choice), so each part is guarded.
LABEL_SEPARATOR = ";"


def _neutralise_part(text: str) -> str:
    if not text.startswith(FORMULA_PREFIXES):
        return text
    try:
        if math.isfinite(float(text)):
            return text
    except ValueError:
        pass
    return "'" + text


def neutralise_formula(text: str) -> str:
    """Prefix ``'`` to a text cell a spreadsheet would run as a formula; numbers are left alone.

    ``-0.5`` and ``+3`` stay numbers; ``=HYPERLINK(...)``, ``-x`` and ``@SUM(...)`` become
    ``'=HYPERLINK(...)`` etc., which every spreadsheet shows as the text it is. The same holds
    after each ``;`` (spaces kept): ``A 2011; =B 2012`` becomes ``A 2011; '=B 2012``. This is
    the one rule of every TSV, Markdown and HTML output (docs/outputs.md).
    """
    if LABEL_SEPARATOR not in text:
        return _neutralise_part(text)
    first, *rest = text.split(LABEL_SEPARATOR)
    parts = [_neutralise_part(first)]
    for part in rest:
        body = part.lstrip(" ")
        parts.append(part[: len(part) - len(body)] + _neutralise_part(body))
    return LABEL_SEPARATOR.join(parts)


def format_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.10g}"
    return str(value).replace("\t", " ").replace("\n", " ")


def clear_stale_temporaries(path: Path) -> None:
    """Remove the temporary files (``.NAME.*.tmp``) a killed earlier write of ``path`` left.

    A write goes to a temporary file renamed over ``path``; a SIGKILL between the two leaves the
    temporary behind, hidden and never taken for an output. Only the job that writes ``path``
    writes these names, and Snakemake re-runs it after such a kill, so its next write of ``path``
    clears them and a recovered review holds no leftovers (tests/workflow/test_interrupted_run.py).
    """
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        stale.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clear_stale_temporaries(path)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_tsv(
    records: Iterable[dict[str, Any]], columns: Sequence[str], path: str | Path, *, safe_text: bool = True,
    verbatim: Collection[str] = (),
) -> None:
    """Write ``records`` (dicts) with exactly ``columns``, in that order.

    Every results table is opened by people in a spreadsheet, so by default text cells that
    would run as a formula are neutralised (:func:`neutralise_formula`). The study-table check
    refuses such labels, so on a checked table this changes nothing and labels read back by
    later jobs round-trip unchanged; it guards any input path that skips the check.
    ``safe_text=False`` writes text exactly as given (no results table uses it). ``verbatim``
    names columns of numbers the pipeline formats as text (the league table's
    ``-0.63 [-1.45, 0.19]``), never labels, which are written as they are.
    """

    lines = ["\t".join(columns), *tsv_lines(records, columns, safe_text=safe_text, verbatim=verbatim)]
    write_text_atomic(path, "\n".join(lines) + "\n")


def tsv_lines(
    records: Iterable[dict[str, Any]], columns: Sequence[str], *, safe_text: bool = True,
    verbatim: Collection[str] = (),
) -> list[str]:
    """The lines (no header) :func:`write_tsv` writes for ``records``."""

    def cell(value: Any, guard: bool) -> str:
        text = format_cell(value)
        return neutralise_formula(text) if guard and isinstance(value, str) else text

    guards = [safe_text and col not in verbatim for col in columns]
    return ["\t".join(cell(rec.get(col), g) for col, g in zip(columns, guards)) for rec in records]


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
