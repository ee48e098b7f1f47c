"""``results/changes.md``: the reviewer-facing change log of :func:`evsynth.tables.changes.compare_results`.

A short page, no timestamps: the hashes of both snapshots, a summary, the trials added or
removed and the analyses they touch, conclusions that flipped, analyses that changed, and the
I² bands used (``config.yaml: changes.i2_bands``). Trial labels are formula-neutralised as in
every TSV (:func:`evsynth.data.io.neutralise_formula`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from evsynth.data.io import neutralise_formula
from evsynth.tables.changes import DEFAULT_I2_BANDS, i2_band

__all__ = ["render_markdown"]


def _label(rec: Mapping[str, Any]) -> str:
    return f"{rec['outcome']} {rec['timepoint']}, {rec['treatment']} vs {rec['comparator']}"


def _joined(trials: Sequence[str]) -> str:
    return ", ".join(neutralise_formula(t) for t in trials)


def _interval(rec: Mapping[str, Any], suffix: str) -> str:
    est = rec[f"estimate_{suffix}"]
    if est is None:
        return "none"
    lo, hi = rec[f"ci_lower_{suffix}"], rec[f"ci_upper_{suffix}"]
    return f"{est:.2f} [{lo:.2f}, {hi:.2f}]" if lo is not None and hi is not None else f"{est:.2f}"


def _trials(effects: pd.DataFrame | None) -> list[str]:
    return [] if effects is None else sorted(set(effects["study"].astype(str)))


def render_markdown(
    records: Sequence[Mapping[str, Any]] | None,
    current: Mapping[str, pd.DataFrame | None],
    baseline: Mapping[str, pd.DataFrame | None] | None,
    baseline_name: str,
    cuts: Sequence[float] = DEFAULT_I2_BANDS,
) -> str:
    """``results/changes.md``: a short, reviewer-facing change log (no timestamps)."""
    lines = ["# What changed", ""]
    lines.append(f"Current results: {_hashes(current.get('provenance'))}.")
    if baseline is None or records is None:
        lines += [
            "",
            "No baseline is configured (`config.yaml: changes.baseline`), so there is nothing to compare with.",
            "To make these results the baseline of the next update, freeze them and name the copy in config.yaml:",
            "",
            "```bash",
            "python -m evsynth.freeze results baselines/<name>",
            "```",
            "",
        ]
        return "\n".join(lines)
    lines.append(f"Baseline `{baseline_name}`: {_hashes(baseline.get('provenance'))}.")
    lines.append("")

    by_status = {c: [r for r in records if r["change"] == c] for c in
                 ("analysis added", "analysis removed", "changed", "unchanged")}
    moved = [r for r in records if r["moved"]]
    flipped = [r for r in records if r["flipped"]]
    added_trials = [t for t in _trials(current.get("effects")) if t not in _trials(baseline.get("effects"))]
    removed_trials = [t for t in _trials(baseline.get("effects")) if t not in _trials(current.get("effects"))]
    if baseline.get("effects") is None or current.get("effects") is None:
        added_trials = sorted({t for r in records for t in r["trials_added"].split("; ") if t})
        removed_trials = sorted({t for r in records for t in r["trials_removed"].split("; ") if t})
    lines += [
        "## Summary",
        "",
        f"- Trials added: {len(added_trials)}" + (f" ({_joined(added_trials)})" if added_trials else ""),
        f"- Trials removed: {len(removed_trials)}" + (f" ({_joined(removed_trials)})" if removed_trials else ""),
        f"- Analyses: {len(records)} in either snapshot; {len(by_status['analysis added'])} added, "
        f"{len(by_status['analysis removed'])} removed, {len(by_status['changed'])} changed, "
        f"{len(by_status['unchanged'])} unchanged",
        f"- Estimates or CIs that moved: {len(moved)}",
        f"- Analyses with a flipped conclusion: {len(flipped)}",
        "",
    ]
    for title, trials, column in (("Trials added", added_trials, "trials_added"),
                                  ("Trials removed", removed_trials, "trials_removed")):
        if not trials:
            continue
        lines += [f"## {title}", ""]
        for trial in trials:
            touched = [r for r in records if trial in r[column].split("; ")]
            if touched:
                parts = [f"{_label(r)} ({_interval(r, 'baseline')} -> {_interval(r, 'current')})" for r in touched]
                lines.append(f"- **{neutralise_formula(trial)}**: {'; '.join(parts)}")
            else:
                lines.append(f"- **{neutralise_formula(trial)}**: in no pooled comparison (see results/effects.tsv "
                             "for its status)")
        lines.append("")
    if flipped:
        lines += ["## Conclusions that flipped", "",
                  "| analysis | what | baseline | current |", "|---|---|---|---|"]
        for r in flipped:
            for what in r["flipped"].split("; "):
                column = {"CI": "ci_excludes_no_effect", "PI": "pi_excludes_no_effect", "I² band": "i2_band"}[what]
                before, after = r[f"{column}_baseline"], r[f"{column}_current"]
                if what != "I² band":
                    before, after = (f"{'excludes' if v == 'yes' else 'includes'} no effect" for v in (before, after))
                lines.append(f"| {_label(r)} | {what} | {before} | {after} |")
        lines.append("")
    changed = by_status["changed"]
    if changed:
        lines += ["## Analyses that changed", "",
                  "| analysis | k | baseline | current | trials added | trials removed | data changed |",
                  "|---|---|---|---|---|---|---|"]
        for r in changed:
            k = f"{r['k_baseline']:.0f} -> {r['k_current']:.0f}"
            lines.append(f"| {_label(r)} | {k} | {_interval(r, 'baseline')} | {_interval(r, 'current')} | "
                         f"{neutralise_formula(r['trials_added'])} | {neutralise_formula(r['trials_removed'])} | "
                         f"{neutralise_formula(r['data_changed'])} |")
        lines.append("")
    for title, key in (("Analyses added", "analysis added"), ("Analyses removed", "analysis removed")):
        if by_status[key]:
            lines += [f"## {title}", ""]
            suffix = "current" if key == "analysis added" else "baseline"
            lines += [f"- {_label(r)}: {_interval(r, suffix)}" for r in by_status[key]]
            lines.append("")
    lines += [
        f"I² bands: {', '.join(dict.fromkeys(i2_band(x, cuts) for x in (0, *cuts)))} "
        "(`config.yaml: changes.i2_bands`). Every analysis, changed or not: results/changes.tsv.",
        "",
    ]
    return "\n".join(lines)


def _hashes(provenance: pd.DataFrame | None) -> str:
    if provenance is None or not len(provenance):
        return "no provenance recorded"
    first = provenance.iloc[0]
    return (f"study table #{first['table_hash']}, method #{first['method_hash']} ({first['profile']}), "
            f"PyMARE {first['pymare']}, evsynth {first['evsynth']}")
