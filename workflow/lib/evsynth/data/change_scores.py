"""Change from baseline: the SD of a change score when the trial reports only its components.

A row's ``value_type`` says whether its means (or its reported contrast) are of **final**
values (the default) or of **changes** from baseline. A change row may give, for an arm
without ``sd_*``, the baseline and final SDs (``sd_baseline_*``, ``sd_final_*``); the change
SD is then ``sqrt(SDb² + SDf² - 2 r SDb SDf)`` (Cochrane Handbook v6.5 §6.5.2.8), with the
correlation ``r`` taken, in this order, from

1. the row's own ``correlation``;
2. the trials of the same outcome that report all three SDs for an arm (baseline, final and
   change): ``r = (SDb² + SDf² - SDc²) / (2 SDb SDf)``, averaged over those arms;
3. ``config.yaml: effects.change_correlation``.

Change and final values may be pooled together for an MD (the difference in means is the
same quantity), never for an SMD (their SDs differ; Handbook §10.5.2): an SMD outcome whose
rows in one timepoint window mix them is refused.

Cross-row, so it runs after every row is checked (:func:`evsynth.data.studies.load_studies`);
the row-level checks are :func:`check_change` (inside the study-table check).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from evsynth.data.conversions import ARMS, CONVERSIONS
from evsynth.stats.conversions import change_sd, correlation_from_sds

VALUE_TYPES = ("final", "change")
CHANGE_COLUMNS = ("sd_baseline_treat", "sd_baseline_ctrl", "sd_final_treat", "sd_final_ctrl", "correlation")
#: A problem before it is placed in a file: (line, column, value, rule).
RowProblem = tuple[int, str, str, str]


def check_change(row: Mapping[str, str], values: Mapping[str, Any], form: str, bad: Callable[[str, str], None]) -> str:
    """``value_type`` and the change-score components of one row; returns the value type."""
    value_type = row.get("value_type", "") or "final"
    if value_type not in VALUE_TYPES:
        bad("value_type", "must be 'final' (values at the timepoint) or 'change' (change from baseline)")
        return value_type
    if row.get("value_type", "") and form in ("counts", "arm"):
        bad("value_type", "only for continuous data (arm means, medians or a reported MD or SMD)")
    given = [c for c in CHANGE_COLUMNS if row.get(c, "")]
    if given and (value_type != "change" or form != "means"):
        bad(given[0], "only on a means row with value_type 'change': the baseline and final SDs give the change SD")
        return value_type
    r = values.get("correlation")
    if r is not None and not -1 <= r <= 1:
        bad("correlation", "a correlation must lie in [-1, 1]")
    for arm, name in ARMS:
        base, final = values.get(f"sd_baseline_{arm}"), values.get(f"sd_final_{arm}")
        for column, sd in ((f"sd_baseline_{arm}", base), (f"sd_final_{arm}", final)):
            if sd is not None and sd <= 0:
                bad(column, "an SD must be greater than 0")
        if (base is None) != (final is None) and value_type == "change":
            missing = f"sd_final_{arm}" if final is None else f"sd_baseline_{arm}"
            bad(missing, f"give the {name} arm's baseline and final SDs together (the change SD needs both)")
    return value_type


def _missing_sd(rec: Mapping[str, Any], arm: str) -> bool:
    return rec.get(f"sd_{arm}") is None and rec.get(f"sd_baseline_{arm}") is not None


def _source_correlations(
    records: Sequence[Mapping[str, Any]],
) -> tuple[dict[str, list[tuple[float, str]]], list[RowProblem]]:
    """Per outcome, the correlation of each arm that reports baseline, final and change SDs."""
    found: dict[str, list[tuple[float, str]]] = defaultdict(list)
    problems: list[RowProblem] = []
    for rec in records:
        if rec.get("value_type") != "change" or rec.get("form") != "means":
            continue
        for arm, name in ARMS:
            b, f, c = (rec.get(f"{x}_{arm}") for x in ("sd_baseline", "sd_final", "sd"))
            if None in (b, f, c):
                continue
            r = float(correlation_from_sds(b, f, c))
            if not -1 <= r <= 1:
                rule = (
                    f"baseline SD {b:g}, final SD {f:g} and change SD {c:g} imply a correlation of {r:.3f}, "
                    "outside [-1, 1]: one of the three SDs is wrong"
                )
                problems.append((rec["line"], f"sd_{arm}", f"{c:g}", rule))
            elif rec["include"]:
                found[rec["outcome"]].append((r, f"{rec['study']} ({name}, line {rec['line']})"))
    return found, problems


def convert_change_scores(
    records: Sequence[dict[str, Any]],
    config: Mapping[str, Any],
    measures: Mapping[str, str],
    failed_lines: Collection[int] = (),
) -> list[RowProblem]:
    """Fill the change SD of every change row that gives only baseline and final SDs, label it,
    and refuse SMD analyses mixing change and final values (``measures``: outcome id ->
    measure). Rows on ``failed_lines`` broke a row-level rule and are left alone. Returns the
    problems found."""
    default = (config.get("effects") or {}).get("change_correlation")
    checked = [rec for rec in records if rec["line"] not in failed_lines]
    sources, problems = _source_correlations(checked)
    for rec in checked:
        arms = [(arm, name) for arm, name in ARMS if _missing_sd(rec, arm)]
        if not arms or rec.get("form") != "means":
            continue
        if rec.get("correlation") is not None:
            r, origin = rec["correlation"], "the row's correlation"
        elif sources.get(rec["outcome"]):
            values = sources[rec["outcome"]]
            r = sum(v for v, _ in values) / len(values)
            origin = f"the mean correlation of {', '.join(s for _, s in values)}, which report all three SDs"
        elif default is not None:
            r, origin = float(default), "config.yaml effects.change_correlation"
        else:
            rule = (
                "no correlation for the change SD: give 'correlation', a trial of this outcome reporting "
                "baseline, final and change SDs, or config.yaml effects.change_correlation"
            )
            problems.append((rec["line"], "correlation", "", rule))
            continue
        details = []
        for arm, name in arms:
            b, f = rec[f"sd_baseline_{arm}"], rec[f"sd_final_{arm}"]
            rec[f"sd_{arm}"] = float(change_sd(b, f, r))
            details.append(
                f"{name} change SD {rec[f'sd_{arm}']:.6g} = sqrt({b:g}² + {f:g}² - 2 x {r:.4g} x {b:g} x "
                f"{f:g}), r from {origin} ({CONVERSIONS['change_sd'][1]})"
            )
        ids = [i for i in (rec.get("conversion") or "").split("; ") if i] + ["change_sd"]
        rec["conversion"] = "; ".join(dict.fromkeys(ids))
        rec["conversion_detail"] = "; ".join(d for d in (rec.get("conversion_detail"), *details) if d)
    return problems + _mixed_smd(checked, measures)


def _mixed_smd(records: Sequence[Mapping[str, Any]], measures: Mapping[str, str]) -> list[RowProblem]:
    first: dict[tuple, Mapping[str, Any]] = {}
    problems: list[RowProblem] = []
    for rec in records:
        if measures.get(rec["outcome"]) != "SMD" or not rec["include"] or rec.get("window") is None:
            continue
        key = (rec["outcome"], rec["window"])
        seen = first.setdefault(key, rec)
        if rec.get("form") in ("counts", "arm", ""):
            continue
        if rec.get("value_type", "final") != seen.get("value_type", "final"):
            rule = (
                f"line {seen['line']} of the same SMD analysis (outcome and timepoint window) gives "
                f"'{seen.get('value_type', 'final')}' values: an SMD of change scores and one of final values "
                "are not comparable (Cochrane Handbook 10.5.2); use a separate outcome, or MD on one scale"
            )
            problems.append((rec["line"], "value_type", rec.get("value_type", "final"), rule))
    return problems
