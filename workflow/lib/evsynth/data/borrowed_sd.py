"""Missing SDs borrowed from the other trials of the analysis (optional, off by default).

With ``config.yaml: effects.borrow_missing_sd: true``, a means row whose arm gives its mean and
n but no spread at all (no SD, SE, CI or change components) is accepted, and the arm's SD is
imputed as the mean of the SDs the other included trials of the same outcome and timepoint
window report directly (arm means rows used as reported, both arms). Furukawa et al. (2006)
found that meta-analyses with SDs borrowed this way gave results close to those with the
actual SDs; they are still imputed numbers, so each such row is labelled ``sd_borrowed`` and
left out of the reported-only sensitivity analysis. Off, the row is refused as before.

Furukawa TA, Barbui C, Cipriani A, Brambilla P, Watanabe N (2006). Imputing missing standard
deviations in meta-analyses can provide accurate results. J Clin Epidemiol 59:7-10.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from evsynth.data.conversions import ARMS, CONVERSIONS

#: A problem before it is placed in a file: (line, column, value, rule).
RowProblem = tuple[int, str, str, str]


def borrowing(config: Mapping[str, Any]) -> bool:
    """True when ``config.yaml: effects.borrow_missing_sd`` is on."""
    return bool((config.get("effects") or {}).get("borrow_missing_sd"))


def borrow_missing_sds(
    records: Sequence[dict[str, Any]], config: Mapping[str, Any], failed_lines: Collection[int] = ()
) -> list[RowProblem]:
    """Fill every missing arm SD from the other trials of its analysis; problems where none report one."""
    if not borrowing(config):
        return []
    reported: dict[tuple, list[tuple[str, float]]] = {}
    for rec in records:
        direct = rec.get("form") == "means" and rec["include"] and not rec.get("conversion")
        if direct and rec["line"] not in failed_lines:
            for arm, _ in ARMS:
                if rec.get(f"sd_{arm}") is not None:
                    reported.setdefault((rec["outcome"], rec["window"]), []).append((rec["study"], rec[f"sd_{arm}"]))
    problems: list[RowProblem] = []
    for rec in records:
        if rec.get("form") != "means" or rec["line"] in failed_lines:
            continue
        missing = [(arm, name) for arm, name in ARMS if rec.get(f"sd_{arm}") is None]
        if not missing:
            continue
        donors = [(s, sd) for s, sd in reported.get((rec["outcome"], rec["window"]), []) if s != rec["study"]]
        if not donors:
            rule = (
                "no SD to borrow: no other trial of this outcome and timepoint window reports arm SDs directly; "
                "give the SD, or the SE or CI of the mean"
            )
            problems.append((rec["line"], f"sd_{missing[0][0]}", "", rule))
            continue
        sd = sum(v for _, v in donors) / len(donors)
        trials = ", ".join(dict.fromkeys(s for s, _ in donors))
        details = []
        for arm, name in missing:
            rec[f"sd_{arm}"] = sd
            details.append(
                f"{name} SD {sd:.6g} borrowed: mean of the {len(donors)} arm SDs reported by {trials} "
                f"({CONVERSIONS['sd_borrowed'][1]})"
            )
        ids = [i for i in (rec.get("conversion") or "").split("; ") if i] + ["sd_borrowed"]
        rec["conversion"] = "; ".join(dict.fromkeys(ids))
        rec["conversion_detail"] = "; ".join(d for d in (rec.get("conversion_detail"), *details) if d)
    return problems
