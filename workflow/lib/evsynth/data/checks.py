"""Plausible but suspicious data: warnings for ``results/checks.tsv``, never errors.

A typo that passes every hard rule still leaves traces a reviewer would catch on a second
read (Cochrane Handbook §5.5, checking data for errors); these checks look for them:

* an SMD beyond 3 in absolute value (effects that large are rare in psychological
  interventions; often an SE typed as an SD, or a change score SD);
* one control arm (the same events and n, or the same mean, SD and n) in two trials,
  a classic copy-paste error across rows;
* an arm that grows between timepoints, or shrinks by more than half (more than
  attrition usually allows);
* a median with quartiles and/or range whose skewness test (Shi et al. 2023) suggests skewed
  data: the row is converted to a mean and SD as if normal (evsynth.data.conversions), and
  listed here rather than converted silently.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

CHECK_COLUMNS = ("check", "study", "outcome", "timepoint", "column", "value", "message")
SMD_LIMIT = 3.0
MAX_ATTRITION = 0.5


def _smd_checks(rows, outcomes) -> list[dict[str, Any]]:
    found = []
    for r in rows:
        outcome = outcomes.get(r["outcome"])
        effect = r.get("effect")
        if outcome is None or outcome.measure != "SMD" or effect is None or r.get("form") != "contrast":
            continue
        if abs(effect) > SMD_LIMIT:
            found.append({
                "check": "large SMD", "study": r["study"], "outcome": r["outcome"], "timepoint": r["timepoint"],
                "column": "effect", "value": effect,
                "message": f"|SMD| above {SMD_LIMIT:g}: check that SDs (not SEs) were used",
            })
    return found


def _control_signature(r: Mapping[str, Any]) -> tuple | None:
    if r.get("form") == "counts":
        return ("counts", r["outcome"], r["events_ctrl"], r["n_ctrl"])
    if r.get("form") == "means":
        return ("means", r["outcome"], r["mean_ctrl"], r["sd_ctrl"], r["n_ctrl"])
    return None


def _shared_control_checks(rows) -> list[dict[str, Any]]:
    by_signature: dict[tuple, list[Mapping[str, Any]]] = defaultdict(list)
    for r in rows:
        signature = _control_signature(r)
        if signature is not None:
            by_signature[signature].append(r)
    found = []
    for group in by_signature.values():
        studies = sorted({r["study"] for r in group})
        if len(studies) > 1:
            for r in group:
                others = ", ".join(s for s in studies if s != r["study"])
                found.append({
                    "check": "identical control arm", "study": r["study"], "outcome": r["outcome"],
                    "timepoint": r["timepoint"], "column": "n_ctrl", "value": r["n_ctrl"],
                    "message": f"control arm identical to that of {others}: copied row?",
                })
    return found


def _size_rank(n: float, r: Mapping[str, Any]) -> tuple:
    return (-n, str(r["outcome"]), str(r["timepoint"]))


def _attrition_checks(rows) -> list[dict[str, Any]]:
    # An arm's size at a time is the largest n any outcome reports then (ties: first outcome by
    # name), so that the warnings do not depend on the order of the rows.
    sizes: dict[tuple, dict[float, tuple[float, Mapping[str, Any]]]] = defaultdict(dict)
    for r in rows:
        months = r.get("timepoint_months")
        if months is None or r.get("form") not in ("counts", "means", "contrast"):
            continue
        for arm, column in ((r["treatment"], "n_treat"), (r["comparator"], "n_ctrl")):
            if r.get(column) is not None:
                kept = sizes[(r["study"], arm)].get(months)
                if kept is None or _size_rank(r[column], r) < _size_rank(*kept):
                    sizes[(r["study"], arm)][months] = (r[column], r)
    found = []
    for (study, arm), by_time in sizes.items():
        times = sorted(by_time)
        for early, late in zip(times, times[1:]):
            n_early, n_late = by_time[early][0], by_time[late][0]
            row = by_time[late][1]
            if n_late > n_early:
                message = f"arm '{arm}' grows from {n_early:g} at {early:g} months to {n_late:g}"
            elif n_late < (1 - MAX_ATTRITION) * n_early:
                message = f"arm '{arm}' shrinks from {n_early:g} at {early:g} months to {n_late:g} (over half lost)"
            else:
                continue
            found.append({
                "check": "arm size over time", "study": study, "outcome": row["outcome"],
                "timepoint": row["timepoint"], "column": "n_treat" if arm == row["treatment"] else "n_ctrl",
                "value": n_late, "message": message,
            })
    return found


def _skew_checks(rows) -> list[dict[str, Any]]:
    return [
        {
            "check": "skewed summary", "study": r["study"], "outcome": r["outcome"], "timepoint": r["timepoint"],
            "column": "median_treat" if r["skew_check"].startswith("treatment") else "median_ctrl",
            "value": r.get("conversion", ""), "message": r["skew_check"],
        }
        for r in rows
        if r.get("skew_check")
    ]


def plausibility_checks(rows: Sequence[Mapping[str, Any]], outcomes: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every warning for the typed study rows, in the rows' (already fixed) order, by check."""
    return _smd_checks(rows, outcomes) + _shared_control_checks(rows) + _attrition_checks(rows) + _skew_checks(rows)
