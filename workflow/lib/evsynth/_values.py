"""Missing values and plain values, defined once for every layer. A leaf module: it imports
nothing from evsynth.

A study-table cell read by pandas is ``None``, a float NaN, an empty string or a value;
Snakemake params must be plain Python scalars so that their record (``repr``) is stable.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any


def is_na(value: Any) -> bool:
    """``None`` or a float NaN (NumPy floats included)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def is_missing(value: Any) -> bool:
    """A blank cell: ``None``, NaN or the empty string."""
    return is_na(value) or value == ""


def text(value: Any) -> str:
    """The cell as text, ``""`` when it is missing."""
    return "" if is_na(value) else str(value)


def optional_float(value: Any, transform: Callable[[Any], Any] = float) -> float | None:
    """``float(transform(value))``, or None for a missing cell."""
    return None if is_missing(value) else float(transform(value))


def plain(value: Any) -> Any:
    """Python scalars only (NaN -> None, integer-valued numbers -> int), so Snakemake's params
    record is stable whatever dtype pandas gave the column."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if value != value:  # NaN
        return None
    number = float(value)
    return int(number) if number.is_integer() else number
