"""Plots of the sensitivity analyses: leave-one-out, Baujat, cumulative and funnel.

Every function draws one comparison of one analysis from the sensitivity tables written
by :mod:`evsynth.tables.sensitivity` and returns a pyplot-free figure; save it with
:func:`evsynth.figures._base.save_figure` (byte-identical SVG/PNG/PDF, written atomically).
Nothing here computes a statistic: the plots show the tables' numbers.

* **Leave-one-out**: one forest-style row per omitted trial (the pooled estimate and CI
  without it, with tau² and I²), the full analysis's diamond, and a dashed line at the
  full estimate; trials flagged influential are starred (Viechtbauer & Cheung 2010).
* **Baujat**: each trial's contribution to heterogeneity (x) against its influence on
  the pooled estimate (y) (Baujat et al. 2002, random-effects version of metafor).
* **Cumulative**: forest-style rows, one per trial added, in year order and in each
  configured order (Lau et al. 1992).
* **Funnel**: effect against standard error with contours where a trial's own test is
  significant at 10%, 5% and 1% (Peters et al. 2008), the pooled estimate, and, when
  trim-and-fill ran, its filled trials and adjusted estimate (Duval & Tweedie 2000).

Ratio measures are drawn on a log axis labelled with ratios.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Polygon
from scipy.special import ndtri

from evsynth.figures._base import (
    DARK,
    FONT,
    MARGIN,
    RATIO_TICKS,
    SMALL,
    TITLE,
    Measure,
    body_frame,
    effect_axis,
    figure_context,
    finite,
    graph_axes,
    header_rule,
    measurer,
    new_figure,
    put_text,
    shorten,
    stack,
    table_records,
    wrap_lines,
)
from evsynth.wording import number

__all__ = [
    "PlotMeta",
    "draw_baujat",
    "draw_cumulative",
    "draw_funnel",
    "draw_leave_one_out",
    "draw_message",
    "sensitivity_figures",
]

ROW_H, GAP, LINE_H = 0.2, 0.1, 0.14
LABEL_W, GRAPH_W, EST_W, EXTRA_W = 2.3, 2.6, 1.45, 1.5
HIGHLIGHT = "#b22222"
#: Shades of the funnel's significance regions, inside out: p > .10, .10-.05, .05-.01, < .01.
CONTOUR_LEVELS = (0.10, 0.05, 0.01)
CONTOUR_SHADES = ("white", "#d9d9d9", "#a6a6a6", "#737373")
#: Forest-style plots show at most this many rows per block (the tables keep every row).
MAX_ROWS = 40
#: The Baujat plot labels every trial up to this many, else only the most extreme ones.
MAX_LABELS = 30
#: Labels placed when there are more than MAX_LABELS trials.
FEW_LABELS = 12


@dataclass(frozen=True)
class PlotMeta:
    """What every sensitivity plot prints about its analysis.

    ``title`` names the outcome and timepoint, ``comparison`` the two delivery modes,
    ``settings`` the pooling method (e.g. "REML tau², HKSJ CI, 95%"); ``ratio`` puts
    the effect axis on a log scale.
    """

    title: str
    comparison: str
    measure: str
    ratio: bool
    settings: str
    alpha: float = 0.05
    footer: tuple[str, ...] = field(default_factory=tuple)


# ---------------------------------------------------------------------------------------
# Shared layout.
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    label: str
    est: float | None = None
    lo: float | None = None
    hi: float | None = None
    text: str = ""
    extra: str = ""
    kind: str = "row"  # row, summary (diamond), heading
    highlight: bool = False


def _interval_text(est: Any, lo: Any, hi: Any) -> str:
    return f"{number(est)} [{number(lo)}, {number(hi)}]" if finite(est, lo, hi) else ""


def _limits(points: Sequence[float], intervals: Sequence[float], anchors: Sequence[float], ratio: bool):
    """Axis limits covering points and anchors; intervals up to three times that span."""
    tr = (lambda x: math.log(x)) if ratio else float
    pts = [tr(x) for x in (*points, *anchors) if finite(x) and (x > 0 or not ratio)]
    cis = [tr(x) for x in intervals if finite(x) and (x > 0 or not ratio)]
    if not pts:
        pts = [0.0]
    low, high = min(pts), max(pts)
    span = max(high - low, 1e-6)
    cap_low, cap_high = low - 3 * span, high + 3 * span
    low = min(low, max(min(cis, default=low), cap_low))
    high = max(high, min(max(cis, default=high), cap_high))
    pad = 0.06 * max(high - low, 1e-6)
    low, high = low - pad, high + pad
    return (math.exp(low), math.exp(high)) if ratio else (low, high)


def _set_axis(ax, limits: tuple[float, float], ratio: bool) -> None:
    ticks = [t for t in RATIO_TICKS if limits[0] <= t <= limits[1]]
    if ratio and len(ticks) < 3:
        ticks = list(np.geomspace(limits[0], limits[1], 4)[1:-1])
    effect_axis(ax, limits, ratio, ticks, [f"{t:.3g}" for t in ticks])


def _interval_figure(meta: PlotMeta, subtitle: str, headers: tuple[str, str, str], rows: Sequence[_Row],
                     reference: float | None, null: float, footer: Sequence[str]) -> Figure:
    """A forest-style figure: label | graph | estimate [CI] | extra, one line per row."""
    with figure_context():
        fig = new_figure()
        measure = measurer(fig)
        width = MARGIN + LABEL_W + GAP + GRAPH_W + GAP + EST_W + EXTRA_W + MARGIN
        text_w = width - 2 * MARGIN
        title = wrap_lines(measure, meta.title, text_w, TITLE)
        notes = [line for s in footer for line in wrap_lines(measure, s, text_w)]
        head_h = 0.15 + 0.2 * len(title) + 0.2 + 0.2 + 0.3
        body_h = ROW_H * len(rows)
        axis_h = 0.35
        height = MARGIN + head_h + body_h + axis_h + LINE_H * len(notes) + MARGIN
        fig.set_size_inches(width, height)

        def put(x: float, y: float, s: str, **kw: Any) -> None:
            put_text(fig, height, x, y, s, **kw)

        y = stack(put, title, MARGIN + 0.12, 0.2, fontsize=TITLE, fontweight="bold")
        put(MARGIN, y, meta.comparison, fontsize=FONT)
        y += 0.2
        put(MARGIN, y, f"{subtitle} ({meta.settings})", fontsize=SMALL, color="0.25")
        y += 0.3
        x_graph = MARGIN + LABEL_W + GAP
        x_est = x_graph + GRAPH_W + GAP
        put(MARGIN, y, headers[0], fontweight="bold")
        put(x_graph + GRAPH_W / 2, y, meta.measure, fontweight="bold", ha="center")
        put(x_est + EST_W / 2, y, headers[1], fontweight="bold", ha="center")
        put(x_est + EST_W + EXTRA_W / 2, y, headers[2], fontweight="bold", ha="center")
        body_top = MARGIN + head_h
        header_rule(fig, width, height - body_top + 0.04)

        points = [r.est for r in rows if r.kind != "heading"]
        spans = [x for r in rows if r.kind != "heading" for x in (r.lo, r.hi)]
        limits = _limits(points, spans, [null] + ([reference] if reference is not None else []), meta.ratio)
        ax = graph_axes(fig, (width, height), x_graph, body_top, GRAPH_W, body_h)
        _set_axis(ax, limits, meta.ratio)
        body_frame(ax, body_h, null)
        if reference is not None and finite(reference):
            ax.axvline(reference, color="0.45", lw=0.6, ls=(0, (3, 2)), zorder=1)
        lo_lim, hi_lim = limits
        for i, row in enumerate(rows):
            yc = ROW_H * (i + 0.5)
            label = shorten(measure, row.label, LABEL_W, FONT)
            weight = "bold" if row.kind in ("heading", "summary") else "normal"
            colour = HIGHLIGHT if row.highlight else "black"
            put(MARGIN, body_top + yc, label, fontweight=weight, color=colour)
            if row.kind == "heading":
                continue
            put(x_est + EST_W / 2, body_top + yc, row.text, ha="center", fontweight=weight)
            put(x_est + EST_W + EXTRA_W / 2, body_top + yc, row.extra, ha="center", fontsize=SMALL)
            if not finite(row.est, row.lo, row.hi):
                continue
            if row.kind == "summary":
                dh = 0.3 * ROW_H
                verts = [(row.lo, yc), (row.est, yc - dh), (row.hi, yc), (row.est, yc + dh)]
                ax.add_patch(Polygon(verts, closed=True, fc="black", ec="black", lw=0.5, zorder=3))
                continue
            a, b = max(row.lo, lo_lim), min(row.hi, hi_lim)
            if a < b:
                ax.add_line(Line2D([a, b], [yc, yc], color=colour, lw=0.8, zorder=2))
            for clipped, x, marker in ((row.lo < lo_lim, lo_lim, "<"), (row.hi > hi_lim, hi_lim, ">")):
                if clipped:
                    ax.add_line(Line2D([x], [yc], marker=marker, ms=4, color=colour, ls="none", clip_on=False))
            ax.add_line(Line2D([row.est], [yc], marker="s", ms=4.5, color=DARK if not row.highlight else colour,
                               ls="none", zorder=3))
        stack(put, notes, body_top + body_h + axis_h, LINE_H, fontsize=SMALL, va="top")
    return fig


def _heterogeneity(rec: Mapping[str, Any]) -> str:
    parts = []
    if finite(rec.get("tau2")):
        parts.append(f"τ² {rec['tau2']:.3f}")
    if finite(rec.get("i2")):
        parts.append(f"I² {rec['i2']:.0f}%")
    return ", ".join(parts)


def _summary_row(pooled: Mapping[str, Any] | None, label: str) -> list[_Row]:
    if not pooled or not finite(pooled.get("estimate"), pooled.get("ci_lower"), pooled.get("ci_upper")):
        return []
    return [_Row(label, pooled["estimate"], pooled["ci_lower"], pooled["ci_upper"],
                 _interval_text(pooled["estimate"], pooled["ci_lower"], pooled["ci_upper"]),
                 _heterogeneity(pooled), kind="summary")]


def draw_message(meta: PlotMeta, what: str, message: str) -> Figure:
    """A small figure saying why a plot has nothing to draw."""
    with figure_context():
        fig = new_figure((6.0, 1.3))
        fig.text(0.03, 0.8, meta.title, fontsize=TITLE, fontweight="bold")
        fig.text(0.03, 0.58, f"{meta.comparison}: {what}", fontsize=FONT)
        fig.text(0.03, 0.3, message, fontsize=FONT, color="0.25")
    return fig


# ---------------------------------------------------------------------------------------
# The four plots.
# ---------------------------------------------------------------------------------------


def draw_leave_one_out(
    loo: pd.DataFrame, influence: pd.DataFrame, pooled: Mapping[str, Any] | None, meta: PlotMeta
) -> Figure:
    """Forest-style plot of the leave-one-out meta-analyses of one comparison.

    Parameters
    ----------
    loo : pandas.DataFrame
        The comparison's rows of ``leave_one_out.tsv``.
    influence : pandas.DataFrame
        The comparison's rows of ``influence.tsv`` (for the influential flags).
    pooled : mapping or None
        The comparison's row of ``pooled.tsv`` (the full analysis).
    meta : PlotMeta
    """
    records = [r for r in table_records(loo) if r.get("status") == "computed"]
    if not records:
        status = table_records(loo)[0]["status"] if len(loo) else "no leave-one-out results"
        return draw_message(meta, "leave-one-out", status)
    flagged = {r["study"]: r.get("criteria") or "" for r in table_records(influence) if r.get("influential")}
    k = len(records)
    footer = [
        f"Each row: the meta-analysis of the other {k - 1} trials; the diamond and dashed line: all trials. "
        f"{int(round(100 * (1 - meta.alpha)))}% CIs.",
    ]
    reference = pooled.get("estimate") if pooled else None
    if k > MAX_ROWS and finite(reference):
        # Keep the omissions that move the estimate most, in table order.
        shift = [abs(r["theta"] - pooled["theta"]) if finite(r.get("theta"), pooled.get("theta")) else 0.0
                 for r in records]
        keep = sorted(sorted(range(k), key=lambda i: -shift[i])[:MAX_ROWS])
        records = [records[i] for i in keep]
        footer.append(f"{k} trials: the {MAX_ROWS} whose omission moves the estimate most are shown; "
                      "every omission is in leave_one_out.tsv.")
    rows = [
        _Row(
            f"Omitting {r['omitted']}" + (" *" if r["omitted"] in flagged else ""),
            r["estimate"], r["ci_lower"], r["ci_upper"],
            _interval_text(r["estimate"], r["ci_lower"], r["ci_upper"]), _heterogeneity(r),
            highlight=r["omitted"] in flagged,
        )
        for r in records
    ]
    rows += _summary_row(pooled, f"All {k} trials")
    if flagged:
        listed = list(flagged.items())
        footer.append(
            "* Influential by metafor's influence() rules (Viechtbauer & Cheung 2010): "
            + "; ".join(f"{s} ({c})" for s, c in listed[:FEW_LABELS])
            + (f"; and {len(listed) - FEW_LABELS} more (influence.tsv)" if len(listed) > FEW_LABELS else "")
        )
    footer += list(meta.footer)
    return _interval_figure(meta, "Leave-one-out meta-analysis", ("Trial omitted", "Estimate [CI]", "Heterogeneity"),
                            rows, reference, 1.0 if meta.ratio else 0.0, footer)


def draw_cumulative(cumulative: pd.DataFrame, pooled: Mapping[str, Any] | None, meta: PlotMeta) -> Figure:
    """Forest-style plot of the cumulative meta-analyses of one comparison.

    One block per ordering (publication year first, then each configured column); row r
    is the meta-analysis of the first r trials.
    """
    records = [r for r in table_records(cumulative) if r.get("status") == "computed"]
    if not records:
        status = table_records(cumulative)[0]["status"] if len(cumulative) else "no cumulative results"
        return draw_message(meta, "cumulative meta-analysis", status)
    rows: list[_Row] = []
    thinned = False
    for order_by in dict.fromkeys(r["order_by"] for r in records):
        block = [r for r in records if r["order_by"] == order_by]
        if len(block) > MAX_ROWS:
            steps = np.unique(np.round(np.linspace(0, len(block) - 1, MAX_ROWS)).astype(int))
            block = [block[i] for i in steps]
            thinned = True
        name = "publication year" if order_by == "year" else order_by
        rows.append(_Row(f"Ordered by {name}", kind="heading"))
        for r in block:
            value = r.get("order_value") or ""
            shown = "" if order_by == "year" or str(value) in str(r["study"]) else f" ({value})"
            rows.append(
                _Row(
                    f"+ {r['study']}{shown}",
                    r["estimate"], r["ci_lower"], r["ci_upper"],
                    _interval_text(r["estimate"], r["ci_lower"], r["ci_upper"]),
                    f"k = {int(r['k'])}" + (f", {_heterogeneity(r)}" if int(r["k"]) > 1 else ""),
                )
            )
    footer = [
        "Row r: the meta-analysis of the first r trials in that order (ties in study-label order); "
        "the first row is a single trial with its own Wald CI. Dashed line: all trials.",
        *meta.footer,
    ]
    if thinned:
        footer.insert(1, f"More than {MAX_ROWS} steps: {MAX_ROWS} evenly spaced steps are shown (k gives the "
                         "trials pooled); every step is in cumulative.tsv.")
    reference = pooled.get("estimate") if pooled else None
    return _interval_figure(meta, "Cumulative meta-analysis", ("Trial added", "Estimate [CI]", "Trials, heterogeneity"),
                            rows, reference, 1.0 if meta.ratio else 0.0, footer)


def draw_baujat(influence: pd.DataFrame, meta: PlotMeta) -> Figure:
    """Baujat plot: contribution to heterogeneity (x) against influence on the result (y)."""
    records = [r for r in table_records(influence) if r.get("status") == "computed"]
    if not records:
        status = table_records(influence)[0]["status"] if len(influence) else "no influence results"
        return draw_message(meta, "Baujat plot", status)
    x = np.array([r["baujat_x"] for r in records], dtype=float)
    y = np.array([r["baujat_y"] for r in records], dtype=float)
    flag = np.array([bool(r.get("influential")) for r in records])
    notes = ["Baujat et al. (2002), random-effects version as metafor's baujat(): trials to the right add most "
             "to heterogeneity, trials at the top move the pooled estimate most when left out."]
    if len(records) > MAX_LABELS:
        notes.append(f"{len(records)} trials: only the most extreme are labelled; all are in influence.tsv.")
    if flag.any():
        notes.append("* Influential by metafor's influence() rules (Viechtbauer & Cheung 2010).")
    with figure_context():
        fig = new_figure()
        measure = measurer(fig)
        ax = _scatter_axes(fig, measure, meta, f"Baujat plot ({meta.settings}); k = {len(records)}", notes, 0.83)
        size = _marker_size(len(records))
        ax.scatter(x[~flag], y[~flag], s=size, color=DARK, zorder=3, linewidths=0)
        ax.scatter(x[flag], y[flag], s=1.3 * size, color=HIGHLIGHT, marker="D", zorder=3, linewidths=0)
        xmax = float(np.nanmax(x)) if np.isfinite(x).any() else 1.0
        ymax = float(np.nanmax(y)) if np.isfinite(y).any() else 1.0
        ax.set_xlim(0, 1.25 * max(xmax, 1e-9))
        ax.set_ylim(0, 1.15 * max(ymax, 1e-9))
        _label_points(ax, measure, records, x, y, flag)
        ax.set_xlabel("Contribution to heterogeneity: squared Pearson residual (yᵢ - θ̂)² / (vᵢ + τ²)", fontsize=SMALL)
        ax.set_ylabel("Influence on the pooled estimate: (θ̂₋ᵢ - θ̂)² / Var(θ̂₋ᵢ)", fontsize=SMALL)
        ax.tick_params(labelsize=SMALL)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    return fig


def _scatter_axes(fig: Figure, measure: Measure, meta: PlotMeta, heading: str, notes: Sequence[str], width: float):
    """Size a scatter figure to its notes and add its axes (``width``: fraction of 6 in).

    From the top: title, comparison and ``heading`` lines, a 3.3 in plot, tick and axis
    labels, then the wrapped notes.
    """
    lines = [line for note in (*notes, *meta.footer) if note for line in wrap_lines(measure, note, 5.7)]
    top, plot_h, below = 1.05, 3.3, 0.6
    footer = 0.15 + LINE_H * len(lines)
    height = top + plot_h + below + footer
    fig.set_size_inches(6.0, height)

    def put(y_from_top: float, text: str, **kw: Any) -> None:
        fig.text(0.18 / 6.0, 1 - y_from_top / height, text, va="center", **kw)

    put(0.25, shorten(measure, meta.title, 5.7, TITLE), fontsize=TITLE, fontweight="bold")
    put(0.52, meta.comparison, fontsize=FONT)
    put(0.75, heading, fontsize=SMALL, color="0.25")
    for i, line in enumerate(lines):
        fig.text(0.18 / 6.0, (footer - 0.1 - i * LINE_H) / height, line, fontsize=SMALL, va="top")
    return fig.add_axes((0.12, (footer + below) / height, width, plot_h / height))


def _marker_size(k: int) -> float:
    """Scatter marker area (pt²): 20 up to 100 points, shrinking so thousands stay readable."""
    return max(2.0, 20.0 * min(1.0, math.sqrt(100 / max(k, 1))))


def _label_points(ax, measure: Measure, records, x: np.ndarray, y: np.ndarray, flag: np.ndarray) -> None:
    """Label points, nudging a label upwards past labels it would overlap.

    With more than MAX_LABELS trials only the influential ones and those furthest from
    the origin (in axis units) are labelled.
    """
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    distance = np.hypot((x - x0) / (x1 - x0), (y - y0) / (y1 - y0))
    chosen = np.arange(len(records))
    if len(records) > MAX_LABELS:
        ranked = sorted(range(len(records)), key=lambda i: -distance[i])
        chosen = np.array(sorted(ranked[:FEW_LABELS]))
    box = ax.get_position()
    fig_w, fig_h = ax.figure.get_size_inches()
    ax_w, ax_h = box.width * fig_w, box.height * fig_h  # inches
    height = 0.13
    placed: list[tuple[float, float, float]] = []  # (left, bottom, width) in axis inches
    for i in sorted(chosen, key=lambda j: (y[j], x[j])):
        if not (np.isfinite(x[i]) and np.isfinite(y[i])):
            continue
        text = records[i]["study"] + (" *" if flag[i] else "")
        width = measure(text, SMALL)
        left = (x[i] - x0) / (x1 - x0) * ax_w + 0.05
        bottom = start = (y[i] - y0) / (y1 - y0) * ax_h + 0.03
        for _ in range(len(placed) + 1):
            clash = [b for (l2, b, w2) in placed if left < l2 + w2 and l2 < left + width and abs(bottom - b) < height]
            if not clash:
                break
            bottom = max(clash) + height
        if bottom + height > ax_h + 0.1:
            continue  # no room left above: the trial stays unlabelled (all are in influence.tsv)
        placed.append((left, bottom, width))
        ax.annotate(text, (x[i], y[i]), xytext=(left * 72 - (x[i] - x0) / (x1 - x0) * ax_w * 72,
                                                 bottom * 72 - (y[i] - y0) / (y1 - y0) * ax_h * 72),
                    textcoords="offset points", fontsize=SMALL, color=HIGHLIGHT if flag[i] else "0.2",
                    va="bottom", annotation_clip=False,
                    arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "0.6", "shrinkA": 0, "shrinkB": 2}
                    if bottom > start else None)


def draw_funnel(
    funnel: pd.DataFrame,
    pooled: Mapping[str, Any] | None,
    small_study: pd.DataFrame,
    meta: PlotMeta,
    min_k_tests: int = 10,
) -> Figure:
    """Contour-enhanced funnel plot (Peters et al. 2008) of one comparison.

    Parameters
    ----------
    funnel : pandas.DataFrame
        The comparison's rows of ``funnel.tsv``: yi and se on the analysis scale,
        ``filled`` for trim-and-fill's filled trials.
    pooled : mapping or None
        The comparison's row of ``pooled.tsv``: the vertical reference line.
    small_study : pandas.DataFrame
        The comparison's rows of ``small_study.tsv``: summarised under the plot, with the
        trim-and-fill adjusted estimate drawn as a dashed line.
    meta : PlotMeta
    min_k_tests : int
        The configured minimum number of trials for the tests (for the caption).
    """
    records = table_records(funnel)
    observed = [r for r in records if not r.get("filled")]
    if len(observed) < 3:
        return draw_message(meta, "funnel plot", f"{len(observed)} estimable trial(s): a funnel plot needs at least 3")
    filled = [r for r in records if r.get("filled")]
    tests = {r["test"]: r for r in table_records(small_study)}
    tr = np.exp if meta.ratio else (lambda a: a)
    notes = ["Shading: two-sided p of each trial's own test of no effect, contours centred on no effect "
             "(Peters et al. 2008)."]
    if len(observed) < min_k_tests:
        notes.append(f"Only {len(observed)} trials: fewer than {min_k_tests}, too few to judge funnel asymmetry "
                     "(Cochrane Handbook 13.3.5.4); no asymmetry tests were run. Shown for completeness.")
    else:
        notes.append(_test_summary(tests, meta))
    with figure_context():
        fig = new_figure()
        measure = measurer(fig)
        heading = f"Contour-enhanced funnel plot ({meta.settings}); k = {len(observed)}"
        ax = _scatter_axes(fig, measure, meta, heading, notes, 0.62)
        se_all = np.array([r["se"] for r in records], dtype=float)
        y_all = np.array([r["yi"] for r in records], dtype=float)
        se_max = 1.08 * float(se_all.max())
        z = [float(ndtri(1 - a / 2)) for a in CONTOUR_LEVELS]  # = norm.ppf; scipy.stats costs ~0.4 s a job
        reach = max(z[-1] * se_max, float(np.max(np.abs(y_all))) * 1.08)
        ax.set_xscale("log" if meta.ratio else "linear")
        lim = (float(tr(-reach)), float(tr(reach)))
        ax.add_patch(Polygon([(lim[0], 0), (lim[1], 0), (lim[1], se_max), (lim[0], se_max)], closed=True,
                             fc=CONTOUR_SHADES[-1], ec="none", zorder=0))
        for zi, shade in zip(reversed(z), reversed(CONTOUR_SHADES[:-1])):
            corners = [(float(tr(0.0)), 0), (float(tr(-zi * se_max)), se_max), (float(tr(zi * se_max)), se_max)]
            ax.add_patch(Polygon(corners, closed=True, fc=shade, ec="none", zorder=1))
        null = 1.0 if meta.ratio else 0.0
        ax.axvline(null, color="0.3", lw=0.5, zorder=2)
        est = pooled.get("estimate") if pooled else None
        if finite(est):
            ax.axvline(est, color="black", lw=0.9, zorder=2)
        tf = tests.get("trim_and_fill")
        adjusted = tf.get("estimate") if tf and tf.get("status") == "computed" else None
        if finite(adjusted) and filled:
            ax.axvline(adjusted, color="black", lw=0.9, ls=(0, (4, 2)), zorder=2)
        size = _marker_size(len(records))
        ax.scatter(tr(np.array([r["yi"] for r in observed], dtype=float)), [r["se"] for r in observed],
                   s=size, color="black", zorder=4, linewidths=0)
        if filled:
            ax.scatter(tr(np.array([r["yi"] for r in filled], dtype=float)), [r["se"] for r in filled],
                       s=1.1 * size, facecolors="white", edgecolors="black", linewidths=0.8 * math.sqrt(size / 20),
                       zorder=4)
        ax.set_xlim(*lim)
        ax.set_ylim(se_max, 0)
        _set_axis(ax, lim, meta.ratio)
        ax.tick_params(axis="y", labelsize=SMALL)
        ax.set_xlabel(meta.measure + (" (log scale)" if meta.ratio else ""), fontsize=SMALL)
        ax.set_ylabel("Standard error", fontsize=SMALL)
        handles = [Patch(fc=s, ec="0.5", lw=0.4) for s in CONTOUR_SHADES]
        labels = ["p > 0.10", "0.05 < p ≤ 0.10", "0.01 < p ≤ 0.05", "p ≤ 0.01"]
        handles.append(Line2D([], [], marker="o", ls="none", color="black", ms=4))
        labels.append("Trial")
        if filled:
            handles.append(Line2D([], [], marker="o", ls="none", mfc="white", mec="black", ms=4))
            labels.append("Filled (trim-and-fill)")
        if finite(est):
            handles.append(Line2D([], [], color="black", lw=0.9))
            labels.append("Pooled estimate")
        if finite(adjusted) and filled:
            handles.append(Line2D([], [], color="black", lw=0.9, ls=(0, (4, 2))))
            labels.append("Adjusted (trim-and-fill)")
        top = ax.get_position().y1
        fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(0.755, top), fontsize=SMALL, frameon=False)
    return fig


def _test_summary(tests: Mapping[str, Mapping[str, Any]], meta: PlotMeta) -> str:
    parts = []
    for key, name in (("egger_lm", "Egger (classical)"), ("egger_rma", "Egger (mixed-effects)"),
                      ("rank_correlation", "rank correlation")):
        r = tests.get(key)
        if r and finite(r.get("p_value")):
            parts.append(f"{name} p = {r['p_value']:.3f}")
    tf = tests.get("trim_and_fill")
    if tf and finite(tf.get("k0")):
        k0 = int(tf["k0"])
        parts.append(
            f"trim-and-fill: {k0} trial{'s' if k0 != 1 else ''} filled"
            + (f" on the {tf['side']}, adjusted {_interval_text(tf['estimate'], tf['ci_lower'], tf['ci_upper'])}"
               if k0 else "")
        )
    return "Tests: " + "; ".join(parts) + "." if parts else ""


# ---------------------------------------------------------------------------------------
# All four plots of one comparison, from the analysis's tables.
# ---------------------------------------------------------------------------------------

_CI_NAMES = {"wald": "Wald", "hksj": "HKSJ", "hksj-adhoc": "HKSJ ad hoc"}


def sensitivity_figures(
    tables: Mapping[str, pd.DataFrame],
    pooled: pd.DataFrame,
    *,
    title: str,
    measure: str,
    ratio: bool,
    labels: Mapping[str, str],
    comparison: str,
    settings: Any,
    small_study_min_k: int = 10,
) -> dict[str, Figure]:
    """The leave-one-out, Baujat, cumulative and funnel plots of one comparison.

    Parameters
    ----------
    tables : mapping of str to pandas.DataFrame
        The analysis's ``leave_one_out``, ``influence``, ``cumulative``, ``small_study``
        and ``funnel`` tables (:data:`evsynth.tables.sensitivity.COLUMNS`).
    pooled : pandas.DataFrame
        The analysis's ``pooled.tsv``.
    title, measure, ratio
        Outcome and timepoint as printed, the measure's name, and whether it is a ratio.
    labels : mapping of str to str
        Delivery-mode id -> label (``config.yaml: modes``).
    comparison : str
        ``{treatment}_vs_{comparator}`` (:func:`evsynth.tables.sensitivity.comparison_id`).
    settings : evsynth.stats.profiles.MethodSettings
        The pooling settings, printed on every plot.
    small_study_min_k : int
        Minimum trials for the small-study tests (funnel caption).

    Returns
    -------
    dict of str to Figure
        Keyed by ``leave_one_out``, ``baujat``, ``cumulative`` and ``funnel``.
    """
    pairs = [(t, c) for t in labels for c in labels if t != c and f"{t}_vs_{c}" == comparison]
    if len(pairs) != 1:
        raise ValueError(f"{comparison!r} is not '<treatment>_vs_<comparator>' of two configured modes")
    treatment, comparator = pairs[0]

    def rows_of(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[(frame["treatment"] == treatment) & (frame["comparator"] == comparator)]

    match = table_records(rows_of(pooled))
    main = match[0] if match else None
    level = int(round(100 * (1 - settings.alpha)))
    meta = PlotMeta(
        title=title,
        comparison=f"{labels[treatment]} vs {labels[comparator]}",
        measure=measure,
        ratio=ratio,
        settings=f"{settings.label + ': ' if settings.label else ''}{settings.estimator} tau², "
        f"{_CI_NAMES.get(settings.ci_method, settings.ci_method)} CI, {level}%",
        alpha=settings.alpha,
    )
    part = {name: rows_of(frame) for name, frame in tables.items()}
    return {
        "leave_one_out": draw_leave_one_out(part["leave_one_out"], part["influence"], main, meta),
        "baujat": draw_baujat(part["influence"], meta),
        "cumulative": draw_cumulative(part["cumulative"], main, meta),
        "funnel": draw_funnel(part["funnel"], main, part["small_study"], meta, small_study_min_k),
    }
