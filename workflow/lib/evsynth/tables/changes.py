"""What changed: the current results against a baseline snapshot of an earlier ``results/``.

Per analysis (outcome x timepoint window x comparison, the rows of ``pooled.tsv``):

* analyses added or removed, and trials added to or removed from each (``studies``);
* trials whose own data changed (their lines of ``effects.tsv``: effect size, variance
  or status), when both snapshots have ``effects.tsv``;
* estimates and CIs that moved (relative difference above :data:`TOLERANCE`, so that a
  numerical library upgrade in the last digits is not reported as a change);
* conclusions that flipped: the CI now excludes or now includes no effect (1 for RR and
  OR, 0 otherwise), the same for the prediction interval (when both snapshots have
  one), and the I² band (cut points ``config.yaml: changes.i2_bands``, by default 25,
  50 and 75%: Higgins et al., BMJ 2003;327:557).

The change log's Markdown page is :func:`evsynth.reports.changes.render_markdown`.
A baseline is a directory holding at least ``pooled.tsv`` (and ideally ``effects.tsv``
and ``provenance.tsv``), written by ``python -m evsynth.freeze`` (:mod:`evsynth.freeze`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from evsynth._values import is_missing, optional_float
from evsynth.data.io import read_tsv
from evsynth.data.vocabulary import OVERALL_TREATMENT
from evsynth.stats.escalc import RATIO_MEASURES
from evsynth.tables.effects import SECONDARY_STATUS

__all__ = [
    "CHANGES_COLUMNS",
    "DEFAULT_I2_BANDS",
    "compare_results",
    "i2_band",
    "load_snapshot",
]

DEFAULT_I2_BANDS = (25.0, 50.0, 75.0)
#: Relative difference below which an estimate or CI limit has not moved.
TOLERANCE = 1e-6
KEY = ("outcome", "timepoint", "treatment", "comparator")

CHANGES_COLUMNS = (
    "outcome",
    "timepoint",
    "treatment",
    "comparator",
    "measure",
    "change",
    "flipped",
    "k_baseline",
    "k_current",
    "trials_added",
    "trials_removed",
    "data_changed",
    "moved",
    "estimate_baseline",
    "ci_lower_baseline",
    "ci_upper_baseline",
    "estimate_current",
    "ci_lower_current",
    "ci_upper_current",
    "ci_excludes_no_effect_baseline",
    "ci_excludes_no_effect_current",
    "pi_lower_baseline",
    "pi_upper_baseline",
    "pi_lower_current",
    "pi_upper_current",
    "pi_excludes_no_effect_baseline",
    "pi_excludes_no_effect_current",
    "i2_baseline",
    "i2_current",
    "i2_band_baseline",
    "i2_band_current",
    "status_baseline",
    "status_current",
)


def load_snapshot(directory: str | Path) -> dict[str, pd.DataFrame | None]:
    """``pooled``, ``effects`` and ``provenance`` tables of a results directory (None if absent)."""
    directory = Path(directory)
    tables: dict[str, pd.DataFrame | None] = {}
    for name in ("pooled", "effects", "provenance"):
        path = directory / f"{name}.tsv"
        tables[name] = read_tsv(path) if path.is_file() else None
    if tables["pooled"] is None:
        raise FileNotFoundError(f"{directory}/pooled.tsv not found: not a results snapshot")
    return tables


def i2_band(i2: Any, cuts: Sequence[float] = DEFAULT_I2_BANDS) -> str:
    """'<25%', '25-50%', '50-75%' or '>=75%' (for the default cuts); '' when I² is not defined."""
    value = optional_float(i2)
    if value is None:
        return ""
    cuts = [float(c) for c in cuts]
    if value < cuts[0]:
        return f"<{cuts[0]:g}%"
    for low, high in zip(cuts, cuts[1:]):
        if value < high:
            return f"{low:g}-{high:g}%"
    return f">={cuts[-1]:g}%"


def _excludes(lower: Any, upper: Any, measure: str) -> str:
    """'yes' when the interval excludes no effect, 'no' when it includes it, '' when absent."""
    lo, hi = optional_float(lower), optional_float(upper)
    if lo is None or hi is None:
        return ""
    null = 1.0 if measure in RATIO_MEASURES else 0.0
    return "yes" if lo > null or hi < null else "no"


def _moved(a: Any, b: Any) -> bool:
    x, y = optional_float(a), optional_float(b)
    if x is None or y is None:
        return (x is None) != (y is None)
    return not math.isclose(x, y, rel_tol=TOLERANCE, abs_tol=1e-12)


def _cell(value: Any) -> str:
    """A cell as text, numbers to 9 significant digits (3 and 3.0 alike, as pandas may read either)."""
    if is_missing(value):
        return ""
    if isinstance(value, bool):
        return str(value)
    try:
        return f"{float(value):.9g}"
    except (TypeError, ValueError):
        return str(value)


def _studies(rec: Mapping[str, Any] | None) -> list[str]:
    if rec is None or is_missing(rec.get("studies")):
        return []
    return [s for s in str(rec["studies"]).split("; ") if s]


def _effects_signature(effects: pd.DataFrame | None) -> dict[tuple, dict[str, tuple]]:
    """(outcome, window, treatment, comparator) -> study -> what its lines of effects.tsv say."""
    found: dict[tuple, dict[str, list]] = {}
    if effects is None:
        return {}
    for r in effects.to_dict("records"):
        if r.get("status") == SECONDARY_STATUS:  # not in the primary analysis this log compares
            continue
        key = (str(r["outcome"]), str(r.get("window") or ""), str(r["treatment"]), str(r["comparator"]))
        cells = tuple(_cell(r.get(c)) for c in ("timepoint", "yi", "vi", "status"))
        found.setdefault(key, {}).setdefault(str(r["study"]), []).append(cells)
    return {k: {s: tuple(sorted(v)) for s, v in by.items()} for k, by in found.items()}


def _data_changed(key: tuple, now: dict, then: dict) -> list[str]:
    outcome, timepoint, treatment, comparator = key

    def of(signature: dict) -> dict[str, tuple]:
        merged: dict[str, tuple] = {}
        for (o, w, t, c), by in signature.items():
            same_analysis = o == outcome and w == timepoint and c == comparator
            if same_analysis and (treatment == OVERALL_TREATMENT or t == treatment):
                for study, cells in by.items():
                    merged[study] = tuple(sorted((*merged.get(study, ()), *((t, *x) for x in cells))))
        return merged

    a, b = of(then), of(now)
    return sorted(s for s in set(a) & set(b) if a[s] != b[s])


def compare_results(
    current: Mapping[str, pd.DataFrame | None],
    baseline: Mapping[str, pd.DataFrame | None],
    cuts: Sequence[float] = DEFAULT_I2_BANDS,
) -> list[dict[str, Any]]:
    """One record per analysis in either snapshot (``CHANGES_COLUMNS``): current order first,
    then analyses only the baseline has."""
    now = {tuple(str(r[k]) for k in KEY): r for r in current["pooled"].to_dict("records")}
    then = {tuple(str(r[k]) for k in KEY): r for r in baseline["pooled"].to_dict("records")}
    compare_data = current.get("effects") is not None and baseline.get("effects") is not None
    sig_now, sig_then = _effects_signature(current.get("effects")), _effects_signature(baseline.get("effects"))
    records = []
    for key in [*now, *(k for k in then if k not in now)]:
        a, b = then.get(key), now.get(key)
        measure = str((b or a)["measure"])
        rec: dict[str, Any] = dict(zip(KEY, key), measure=measure)
        for suffix, side in (("baseline", a), ("current", b)):
            side = side or {}
            rec[f"k_{suffix}"] = side.get("k")
            for column in ("estimate", "ci_lower", "ci_upper", "pi_lower", "pi_upper", "i2"):
                rec[f"{column}_{suffix}"] = optional_float(side.get(column))
            rec[f"ci_excludes_no_effect_{suffix}"] = _excludes(side.get("ci_lower"), side.get("ci_upper"), measure)
            rec[f"pi_excludes_no_effect_{suffix}"] = _excludes(side.get("pi_lower"), side.get("pi_upper"), measure)
            rec[f"i2_band_{suffix}"] = i2_band(side.get("i2"), cuts)
            rec[f"status_{suffix}"] = "" if is_missing(side.get("status")) else str(side.get("status"))
        added = [s for s in _studies(b) if s not in _studies(a)]
        removed = [s for s in _studies(a) if s not in _studies(b)]
        changed = _data_changed(key, sig_now, sig_then) if compare_data and a is not None and b is not None else []
        rec.update(trials_added="; ".join(added), trials_removed="; ".join(removed), data_changed="; ".join(changed))
        moved = a is not None and b is not None and any(
            _moved(a.get(c), b.get(c)) for c in ("estimate", "ci_lower", "ci_upper"))
        rec["moved"] = moved
        flipped = []
        for label, column in (("CI", "ci_excludes_no_effect"), ("PI", "pi_excludes_no_effect"), ("I² band", "i2_band")):
            before, after = rec[f"{column}_baseline"], rec[f"{column}_current"]
            if before and after and before != after:
                flipped.append(label)
        rec["flipped"] = "; ".join(flipped)
        if a is None:
            rec["change"] = "analysis added"
        elif b is None:
            rec["change"] = "analysis removed"
        elif (moved or flipped or added or removed or changed or rec["k_baseline"] != rec["k_current"]
              or rec["status_baseline"] != rec["status_current"]):
            rec["change"] = "changed"
        else:
            rec["change"] = "unchanged"
        records.append(rec)
    return records
