"""The report's page on several effects per trial (``results/dependent.html``): for each
comparison whose trials give several effects, the primary analysis (one effect per trial,
``pooled.tsv``) beside the three-level and CHE models with their CR2 intervals, the aggregated
effect per trial and each trial's lowest and highest effect (``results/dependent/``); and the
time-specific effects of one model across the timepoint windows beside the per-window analyses
(``results/dependent/<outcome>_timepoints.tsv``). Text is escaped as in
:mod:`evsynth.reports.html`; the page is self-contained.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from evsynth._values import is_missing
from evsynth.reports.html import _document, escape

__all__ = ["dependent_html"]

_MODEL_LABELS = {
    "three-level": "three-level (effects in trials), CR2",
    "che": "CHE (rho {rho:g}), CR2",
    "aggregated": "aggregated within trial (rho {rho:g})",
    "lowest": "lowest effect per trial",
    "highest": "highest effect per trial",
}


def _n(value: Any, digits: int = 2) -> str:
    return "" if is_missing(value) else f"{float(value):.{digits}f}"


def _interval(estimate: Any, lower: Any, upper: Any) -> str:
    if is_missing(estimate):
        return ""
    return f"{_n(estimate)} [{_n(lower)}, {_n(upper)}]"


def _p(value: Any) -> str:
    return "" if is_missing(value) else ("< 0.001" if float(value) < 0.001 else f"{float(value):.3f}")


def _key(row: Mapping[str, Any]) -> tuple[str, str, str, str]:
    return (str(row["outcome"]), str(row["timepoint"]), str(row["treatment"]), str(row["comparator"]))


def _comparison_table(primary: Mapping[str, Any] | None, models: Sequence[Mapping[str, Any]]) -> str:
    head = ("<tr><th>model</th><th>trials (effects)</th><th>estimate [95% CI]</th><th>p</th>"
            "<th>sigma² between / within</th><th>status</th></tr>")
    lines = ["<table>", head]
    if primary is not None:
        lines.append(
            f"<tr><td>primary analysis ({escape(primary.get('profile', ''))})</td><td class=\"num\">"
            f"{int(primary['k'])}</td><td class=\"num\">"
            f"{_interval(primary['estimate'], primary['ci_lower'], primary['ci_upper'])}</td>"
            f"<td class=\"num\">{_p(primary['p_value'])}</td><td class=\"num\">{_n(primary['tau2'], 3)}</td>"
            f"<td>{escape(primary.get('status', ''))}</td></tr>")
    for row in models:
        robust = row["model"] in ("three-level", "che")
        prefix = "robust_" if robust else ""
        label = _MODEL_LABELS.get(row["model"], row["model"]).format(rho=float(row["rho"] or 0))
        sigma = _n(row["sigma2_between"], 3) + (f" / {_n(row['sigma2_within'], 3)}" if robust else "")
        lines.append(
            f"<tr><td>{escape(label)}</td><td class=\"num\">{int(row['k_trials'])} ({int(row['k_effects'])})</td>"
            f"<td class=\"num\">{_interval(row['estimate'], row[f'{prefix}ci_lower'], row[f'{prefix}ci_upper'])}"
            f"</td><td class=\"num\">{_p(row[f'{prefix}p_value'])}</td><td class=\"num\">{sigma}</td>"
            f"<td>{escape(row['status'])}</td></tr>")
    return "\n".join([*lines, "</table>"])


def _timepoint_table(rows: Sequence[Mapping[str, Any]], pooled: Mapping[tuple, Mapping[str, Any]]) -> str:
    head = ("<tr><th>window</th><th>trials</th><th>one model across windows [95% CI]</th>"
            "<th>per-window analysis [95% CI]</th></tr>")
    lines = ["<table>", head]
    for row in rows:
        own = pooled.get(_key(row))
        alone = _interval(own["estimate"], own["ci_lower"], own["ci_upper"]) if own else ""
        lines.append(
            f"<tr><td>{escape(row['timepoint'])}</td><td class=\"num\">{int(row['k_trials_window'])}</td>"
            f"<td class=\"num\">{_interval(row['estimate'], row['ci_lower'], row['ci_upper'])}</td>"
            f"<td class=\"num\">{alone}</td></tr>")
    return "\n".join([*lines, "</table>"])


def dependent_html(
    pooled: Sequence[Mapping[str, Any]],
    dependent: Sequence[Mapping[str, Any]],
    timepoints: Sequence[Mapping[str, Any]],
    labels: Mapping[str, str],
    mode_labels: Mapping[str, str],
    profile: str,
) -> str:
    """The page; ``labels``: outcome id -> label, ``mode_labels``: mode id -> label."""
    primary = {_key(r): r for r in pooled}
    by_comparison: dict[tuple, list[Mapping[str, Any]]] = {}
    for row in dependent:
        by_comparison.setdefault(_key(row), []).append(row)
    several = {k: rows for k, rows in by_comparison.items() if any(r["k_effects"] > r["k_trials"] for r in rows)}

    def title(outcome: str, treatment: str, comparator: str) -> str:
        return (f"{labels.get(outcome, outcome)}: {mode_labels.get(treatment, treatment)} vs "
                f"{mode_labels.get(comparator, comparator)}")

    body = ["<h1>Several effects per trial</h1>",
            f"<p class=\"meta\">Method profile {escape(profile)} for the primary analysis. Estimates on the "
            "reporting scale. Three-level and CHE intervals are cluster-robust (CR2, Satterthwaite df; "
            "Pustejovsky and Tipton 2018); the others are REML with Knapp-Hartung.</p>"]
    for (outcome, timepoint, treatment, comparator), rows in several.items():
        body.append(f"<h2>{escape(title(outcome, treatment, comparator))}, {escape(timepoint)}</h2>")
        body.append(_comparison_table(primary.get((outcome, timepoint, treatment, comparator)), rows))
    single = len(by_comparison) - len(several)
    body.append(f"<p>{len(several)} comparison(s) have several effects in some trial; in the other {single} "
                "every model is the primary analysis again (results/dependent/ lists them).</p>")
    fitted: dict[tuple, list[Mapping[str, Any]]] = {}
    unfitted: dict[tuple, str] = {}  # trials with several windows, but no model: why (one status per comparison)
    for row in timepoints:
        status, key = str(row["status"]), (row["outcome"], row["treatment"], row["comparator"])
        if status.startswith("fitted"):
            fitted.setdefault(key, []).append(row)
        elif status.startswith(("not identifiable", "not fitted")):
            unfitted[key] = status
    body.append("<h1>Time-specific effects from one model across windows</h1>")
    body.append("<p class=\"meta\">Ishak et al. 2007: one mean per timepoint window, a trial's true effects "
                "correlated across its windows (results/dependent/&lt;outcome&gt;_timepoints.tsv).</p>")
    for (outcome, treatment, comparator), rows in fitted.items():
        structure, rho = rows[0]["structure"], float(rows[0]["rho"])
        body.append(f"<h2>{escape(title(outcome, treatment, comparator))} ({escape(structure)}, rho "
                    f"{rho:.2f})</h2>")
        body.append(_timepoint_table(rows, primary))
    for (outcome, treatment, comparator), status in unfitted.items():
        body.append(f"<h2>{escape(title(outcome, treatment, comparator))}</h2>")
        body.append(f"<p>{escape(status)}</p>")
    if not fitted and not unfitted:
        body.append("<p>No comparison has a trial reporting several windows.</p>")
    return _document("Several effects per trial", "\n".join(body))
