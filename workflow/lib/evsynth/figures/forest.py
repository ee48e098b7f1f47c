"""RevMan 5 (Cochrane) style forest plot of a :class:`~evsynth.figures.forest_data.ForestData`.

The plot adds no statistics: every string comes from the caller except the
per-row ``estimate [95% CI]`` text and weight %, formatted here from the row's
analysis-scale numbers. Geometry is fixed in inches, so the figure width depends
only on the column set and the height grows linearly with the number of rows.
Artists carry ``gid`` values (``label-g-r``, ``square-g-r``, ``ci-g-r``,
``diamond-g`` ...) so tests and SVG consumers can find them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Polygon

from evsynth.figures._base import (
    DARK,
    FONT,
    MARGIN,
    SMALL,
    TITLE,
    Measure,
    body_frame,
    figure_context,
    fit,
    graph_axes,
    header_rule,
    measurer,
    new_figure,
    put_text,
    wrap,
)
from evsynth.figures.forest_data import ForestData, ForestRow
from evsynth.figures.rob import rob_circle
from evsynth.tables.rob import NOT_ASSESSED
from evsynth.wording import number

__all__ = ["axis_ticks", "draw_forest", "format_estimate", "format_weight"]

# Geometry (inches).
ROW_H, SMALL_ROW_H, LINE_H = 0.2, 0.16, 0.135  # LINE_H: extra height per wrapped line
GAP, PAD = 0.1, 0.04
LABEL_W, ARM_W, ARM_GAP, WEIGHT_W, EST_W, GRAPH_W, RIGHT_MARGIN = 2.35, 0.5, 0.15, 0.6, 1.6, 2.6, 0.3
SINGLE_ARM_W = 0.95
ROB_W, ROB_RADIUS = 0.27, 0.085  # risk-of-bias columns right of the graph (a wider last one: "Overall")
AXIS_H = 0.27  # ticks and tick labels below the body, above the "Favours" texts
SQUARE_MAX_PT, SQUARE_MIN_PT = 0.7 * ROW_H * 72, 2.0

# Log-symmetric tick sets for ratio axes, keyed by the upper limit.
_RATIO_TICKS = (
    (2.0, (0.5, 1.0, 2.0)),
    (5.0, (0.2, 0.5, 1.0, 2.0, 5.0)),
    (10.0, (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)),
    (20.0, (0.05, 0.2, 1.0, 5.0, 20.0)),
    (50.0, (0.02, 0.1, 1.0, 10.0, 50.0)),
    (100.0, (0.01, 0.1, 1.0, 10.0, 100.0)),
    (1000.0, (0.001, 0.1, 1.0, 10.0, 1000.0)),
)


def format_estimate(est: float, lo: float, hi: float, ratio: bool) -> str:
    """Format ``est [lo, hi]`` with 2 decimals, exponentiating ratio measures.

    Parameters
    ----------
    est, lo, hi : float
        Estimate and CI bounds on the analysis (log for ratios) scale.
    ratio : bool
        Back-transform with ``exp`` before formatting.

    Returns
    -------
    str
    """
    f = math.exp if ratio else float
    return f"{number(f(est))} [{number(f(lo))}, {number(f(hi))}]"


def format_weight(weight_pct: float | None) -> str:
    """Format a weight in percent with 1 decimal (``""`` for ``None``)."""
    return "" if weight_pct is None else f"{weight_pct:.1f}%"


def _finite_values(*xs: float | None) -> list[float]:
    return [x for x in xs if x is not None and math.isfinite(x)]


def axis_ticks(data: ForestData) -> tuple[tuple[float, float], tuple[float, ...], tuple[str, ...]]:
    """Choose symmetric x limits and ticks covering the plotted data.

    Point estimates and diamonds always fit inside the limits (with a margin);
    CIs are covered up to a cap (100 for ratios, twice the largest point for
    differences) so one imprecise study cannot squash the plot; CIs beyond the
    limits are drawn with arrow heads.

    Parameters
    ----------
    data : ForestData

    Returns
    -------
    limits : tuple of float
        ``(lower, upper)`` on the plotted scale (ratio scale for ratio measures).
    ticks : tuple of float
        Tick positions on the plotted scale.
    labels : tuple of str
        Tick labels (back-transformed for ratio measures).
    """
    points: list[float] = []
    cis: list[float] = []
    for sg in data.subgroups:
        for row in sg.rows:
            if row.yi is not None:
                points += _finite_values(row.yi)
                cis += _finite_values(row.ci_lower, row.ci_upper)
        if sg.pooled is not None:
            points += _finite_values(sg.pooled.theta, sg.pooled.ci_lower, sg.pooled.ci_upper)
    pts_h = max((abs(x) for x in points), default=0.0)
    ci_h = max((abs(x) for x in cis), default=0.0)
    if data.ratio:
        cap = max(math.log(100.0), 2 * pts_h)
        need = math.exp(max(pts_h + math.log(1.1), min(ci_h, cap)))
        for upper, ticks in _RATIO_TICKS:  # noqa: B007 (the ticks of the first range that fits)
            if need <= upper * (1 + 1e-9):
                break
        else:
            upper = 10.0 ** math.ceil(math.log10(need))
            ticks = (1 / upper, 1.0, upper)
        return (1 / upper, upper), ticks, tuple(f"{t:g}" for t in ticks)
    cap = 2 * pts_h if pts_h > 0 else ci_h
    need = max(pts_h / 0.95, min(ci_h, cap))
    upper = 1.0
    if need > 0:
        e = math.floor(math.log10(need))
        upper = min(
            round(m * 10.0**k, 12) for k in (e - 1, e, e + 1) for m in (1, 2, 4, 5) if m * 10.0**k >= need
        )
    ticks = (-upper, -upper / 2, 0.0, upper / 2, upper)
    return (-upper, upper), ticks, tuple(f"{t:g}" for t in ticks)


@dataclass(frozen=True)
class _Row:
    """One laid-out body row; ``kind`` is title, study, subtotal, line or blank."""

    kind: str
    g: int
    r: int
    text: str
    height: float


@dataclass(frozen=True)
class _Cols:
    """Left edges (inches) of the table columns."""

    label: float
    treat: tuple[float, ...]
    ctrl: tuple[float, ...]
    weight: float
    est: float
    graph: float
    width: float
    arm_w: float
    rob: tuple[float, ...] = ()
    rob_w: tuple[float, ...] = ()


def _columns(n_arm: int, rob_headers: Sequence[str] = ()) -> _Cols:
    # A lone "Total" column is widened so its "Experimental" heading keeps the body font.
    arm_w = SINGLE_ARM_W if n_arm == 1 else ARM_W
    x = MARGIN + LABEL_W + GAP
    treat = tuple(x + i * arm_w for i in range(n_arm))
    x += n_arm * arm_w + (ARM_GAP if n_arm else 0.0)
    ctrl = tuple(x + i * arm_w for i in range(n_arm))
    x += n_arm * arm_w + (GAP if n_arm else 0.0)
    graph = x + WEIGHT_W + EST_W + GAP
    n_rob = len(rob_headers)
    if not n_rob:
        return _Cols(MARGIN, treat, ctrl, x, x + WEIGHT_W, graph, graph + GRAPH_W + RIGHT_MARGIN, arm_w)
    # "Overall" (RoB 2) is a wider column; RoB 1 items follow it at the usual width.
    rob_w = tuple(2 * ROB_W if h == "Overall" else ROB_W for h in rob_headers)
    rob = tuple(graph + GRAPH_W + RIGHT_MARGIN + sum(rob_w[:i]) for i in range(n_rob))
    width = rob[-1] + rob_w[-1] + MARGIN
    return _Cols(MARGIN, treat, ctrl, x, x + WEIGHT_W, graph, width, arm_w, rob, rob_w)


def _layout_rows(data: ForestData, cols: _Cols, measure: Measure) -> list[_Row]:
    """Flatten subgroups into body rows, wrapping text that would overflow."""
    span = cols.graph - GAP - cols.label  # title and text rows may run up to the graph
    rows: list[_Row] = []

    def add(kind: str, g: int, r: int, text: str, size: float, width: float, bold: bool = False) -> None:
        text = wrap(measure, text, width, size, bold, split=True) if text else ""
        base = SMALL_ROW_H if kind == "line" else ROW_H
        rows.append(_Row(kind, g, r, text, base + LINE_H * text.count("\n")))

    for g, sg in enumerate(data.subgroups):
        if g:
            rows.append(_Row("blank", g, -1, "", ROW_H))
        if sg.title:
            add("title", g, -1, sg.title, FONT, span, bold=True)
        for r, row in enumerate(sg.rows):
            add("study", g, r, row.label, FONT, LABEL_W)
        # An untitled subgroup is the whole analysis (RevMan's "Total").
        add("subtotal", g, -1, "Subtotal (95% CI)" if sg.title else "Total (95% CI)", FONT, LABEL_W, bold=True)
        for r, line in enumerate(sg.lines):
            add("line", g, r, line, SMALL, span)
    return rows


def draw_forest(data: ForestData) -> Figure:
    """Draw a RevMan 5 style forest plot.

    Parameters
    ----------
    data : ForestData
        Rows, subgroup subtotals and all formatted text. An untitled subgroup
        gets no title row and a "Total (95% CI)" row instead of "Subtotal".

    Returns
    -------
    matplotlib.figure.Figure
        A pyplot-free figure with an Agg canvas; save it with :func:`save_figure`.

    Raises
    ------
    ValueError
        If ``data`` has no subgroups (nothing to draw).
    """
    if not data.subgroups:
        raise ValueError("ForestData has no subgroups to draw")
    with figure_context():
        fig = new_figure()
        _draw(fig, data)
    return fig


def _draw(fig: Figure, data: ForestData) -> None:
    measure = measurer(fig)
    n_arm = len(data.arm_headers)
    cols = _columns(n_arm, data.rob_headers)
    width = cols.width
    rows = _layout_rows(data, cols, measure)
    half = GRAPH_W / 2 - PAD
    fav = [wrap(measure, s, half, SMALL, split=True) for s in (data.favours_left, data.favours_right)]
    footer = [wrap(measure, s, width - 2 * MARGIN, SMALL, split=True) for s in data.footer]
    title = wrap(measure, data.title, width - 2 * MARGIN, TITLE, True, split=True) if data.title else ""
    # Long arm headings wrap over their sub-columns and push the header down.
    # Whole words only: a heading too wide for one column is shrunk by cell(), not broken.
    arm_heads = [wrap(measure, h, n_arm * cols.arm_w + ARM_GAP - PAD, FONT, True) if n_arm else ""
                 for h in (data.treat_heading, data.ctrl_heading)]
    head_x = LINE_H * max(h.count("\n") for h in arm_heads)

    # Vertical stack from the top, in inches.
    title_h = (0.2 + LINE_H * 1.3 * title.count("\n") + 0.1) if title else 0.0
    header_top = MARGIN + title_h
    body_top = header_top + head_x + 2 * ROW_H + 0.05
    body_h = sum(r.height for r in rows)
    fav_lines = max(s.count("\n") for s in fav) + 1
    footer_top = body_top + body_h + AXIS_H + fav_lines * LINE_H + 0.15
    footer_n = sum(s.count("\n") + 1 for s in footer)
    height = footer_top + footer_n * LINE_H + MARGIN
    fig.set_size_inches(width, height)

    def text(x: float, y_top: float, s: str, gid: str, **kw: object) -> None:
        put_text(fig, height, x, y_top, s, gid=gid, **kw)

    def cell(x0: float, w: float, y: float, s: str, gid: str, bold: bool = False, ha: str = "center") -> None:
        size = fit(measure, s, w - PAD, FONT, bold)
        x = {"center": x0 + w / 2, "right": x0 + w - PAD, "left": x0}[ha]
        text(x, y, s, gid, fontsize=size, ha=ha, fontweight="bold" if bold else "normal")

    if title:
        text(MARGIN, MARGIN, title, "title", fontsize=TITLE, fontweight="bold", va="top", linespacing=1.3)

    # Two-level header: arm headings over their sub-columns, measure heading spanning both.
    y1, y2 = header_top + (head_x + ROW_H) / 2, header_top + head_x + 1.5 * ROW_H
    text(cols.label, y2, "Study or Subgroup", "header-study", fontweight="bold", ha="left")
    for arm, xs, heading in (("treat", cols.treat, arm_heads[0]), ("ctrl", cols.ctrl, arm_heads[1])):
        if xs:
            cell(xs[0] - ARM_GAP / 2, n_arm * cols.arm_w + ARM_GAP, y1, heading, f"heading-{arm}", bold=True)
            for i, (x0, h) in enumerate(zip(xs, data.arm_headers)):
                cell(x0, cols.arm_w, y2, h, f"subheader-{arm}-{i}", bold=True)
    cell(cols.weight, WEIGHT_W, y2, "Weight", "header-weight", bold=True)
    if cols.rob:
        cell(cols.rob[0], sum(cols.rob_w), y1, "Risk of bias", "heading-rob", bold=True)
        for i, (x0, w, h) in enumerate(zip(cols.rob, cols.rob_w, data.rob_headers)):
            cell(x0, w, y2, h, f"header-rob-{i}", bold=True)
    heading = f"{data.measure}\n{data.method_label}"
    for x0, w, gid in ((cols.est, EST_W, "header-estimate"), (cols.graph, GRAPH_W, "header-graph")):
        size = fit(measure, heading, w, FONT, True)
        text(x0 + w / 2, header_top + head_x + ROW_H, heading, gid, fontsize=size, fontweight="bold", ha="center")
    header_rule(fig, width, height - body_top + 0.03)

    # Graph axes: y data = inches below the body top, so rows map 1:1 to the table.
    (xmin, xmax), ticks, labels = axis_ticks(data)
    ax = graph_axes(fig, (width, height), cols.graph, body_top, GRAPH_W, body_h)
    # Symmetric limits with every tick given (axis_ticks), on a log axis for ratios.
    ax.set_xscale("log" if data.ratio else "linear")
    ax.set_xlim(xmin, xmax)
    ax.set_xticks(ticks, labels, fontsize=SMALL)
    ax.minorticks_off()
    ax.tick_params(axis="x", length=3, width=0.6, pad=2)
    body_frame(ax, body_h, 1.0 if data.ratio else 0.0, gid="null-line")
    tr = math.exp if data.ratio else float
    weights = [r.weight_pct for sg in data.subgroups for r in sg.rows if r.weight_pct is not None and r.yi is not None]
    w_max = max(weights, default=0.0)

    y = 0.0
    for row in rows:
        yc, y = y + row.height / 2, y + row.height
        yt = body_top + yc
        g, r = row.g, row.r
        sg = data.subgroups[g]
        if row.kind == "title":
            text(cols.label, yt, row.text, f"title-{g}", fontweight="bold", ha="left")
        elif row.kind == "line":
            text(cols.label, yt, row.text, f"line-{g}-{r}", fontsize=SMALL, ha="left")
        elif row.kind == "study":
            study = sg.rows[r]
            text(cols.label, yt, row.text, f"label-{g}-{r}", ha="left")
            for arm, xs, cells in (("treat", cols.treat, study.cells_treat), ("ctrl", cols.ctrl, study.cells_ctrl)):
                for i, (x0, s) in enumerate(zip(xs, cells)):
                    cell(x0, cols.arm_w, yt, s, f"cell-{arm}-{g}-{r}-{i}")
            est_s = study.note
            if study.yi is not None and study.ci_lower is not None and study.ci_upper is not None:
                est_s = format_estimate(study.yi, study.ci_lower, study.ci_upper, data.ratio)
                cell(cols.weight, WEIGHT_W, yt, format_weight(study.weight_pct), f"weight-{g}-{r}", ha="right")
                _draw_study(ax, study, yc, f"{g}-{r}", tr, (xmin, xmax), w_max)
            cell(cols.est, EST_W, yt, est_s, f"estimate-{g}-{r}")
            for i, (x0, w, judged) in enumerate(zip(cols.rob, cols.rob_w, study.rob)):
                rob_circle(fig, x0 + w / 2, height - yt, judged or NOT_ASSESSED, f"rob-{g}-{r}-{i}", ROB_RADIUS,
                           lw=0.4, symbol_size=SMALL)
        elif row.kind == "subtotal":
            text(cols.label, yt, row.text, f"subtotal-label-{g}", fontweight="bold", ha="left")
            if n_arm:
                k = data.arm_headers.index("Total") if "Total" in data.arm_headers else n_arm - 1
                cell(cols.treat[k], cols.arm_w, yt, sg.total_treat, f"total-treat-{g}", bold=True)
                cell(cols.ctrl[k], cols.arm_w, yt, sg.total_ctrl, f"total-ctrl-{g}", bold=True)
            p = sg.pooled
            if p is None:
                cell(cols.est, EST_W, yt, sg.pooled_note, f"estimate-{g}", bold=True)
                continue
            # RevMan prints the subgroup's share of the weight: the sum of its rows.
            w_sum = sum(_finite_values(*(s.weight_pct for s in sg.rows if s.yi is not None)))
            cell(cols.weight, WEIGHT_W, yt, format_weight(w_sum), f"weight-{g}", bold=True, ha="right")
            cell(cols.est, EST_W, yt, format_estimate(p.theta, p.ci_lower, p.ci_upper, data.ratio),
                 f"estimate-{g}", bold=True)
            dh = 0.3 * ROW_H
            if p.pi_lower is not None and p.pi_upper is not None:
                # Prediction interval: a line through the diamond with end ticks (RevMan Web),
                # clipped to the axis like study CIs.
                lim = (xmin, xmax)
                lo, hi = max(tr(p.pi_lower), lim[0]), min(tr(p.pi_upper), lim[1])
                ax.plot([lo, hi], [yc, yc], color="0.35", lw=1.2, zorder=2, gid=f"pi-{g}", solid_capstyle="butt")
                for x, inside in ((lo, tr(p.pi_lower) >= lim[0]), (hi, tr(p.pi_upper) <= lim[1])):
                    if inside:
                        ax.plot([x, x], [yc - dh / 2, yc + dh / 2], color="0.35", lw=1.2, zorder=2)
            verts = [(tr(p.ci_lower), yc), (tr(p.theta), yc - dh), (tr(p.ci_upper), yc), (tr(p.theta), yc + dh)]
            ax.add_patch(Polygon(verts, closed=True, fc="black", ec="black", lw=0.5, zorder=3, gid=f"diamond-{g}"))

    # "Favours" texts centred under each half of the axis.
    fav_y = body_top + body_h + AXIS_H
    for s, frac, gid in ((fav[0], 0.25, "favours-left"), (fav[1], 0.75, "favours-right")):
        text(cols.graph + frac * GRAPH_W, fav_y, s, gid, fontsize=SMALL, ha="center", va="top")
    y = footer_top
    for i, s in enumerate(footer):
        text(MARGIN, y, s, f"footer-{i}", fontsize=SMALL, ha="left", va="top", linespacing=1.2)
        y += (s.count("\n") + 1) * LINE_H


def _draw_study(ax, row: ForestRow, y: float, key: str, tr, lim: tuple[float, float], w_max: float) -> None:
    """Square (area proportional to weight) and CI whisker, arrow heads where clipped."""
    lo, hi, est = tr(row.ci_lower), tr(row.ci_upper), tr(row.yi)
    xmin, xmax = lim
    a, b = max(lo, xmin), min(hi, xmax)
    if a < b:
        ax.add_line(Line2D([a, b], [y, y], color="black", lw=0.7, zorder=2, gid=f"ci-{key}"))
    for clipped, x, marker, end in ((lo < xmin, xmin, "<", "left"), (hi > xmax, xmax, ">", "right")):
        if clipped:
            ax.add_line(Line2D([x], [y], marker=marker, ms=4, color="black", ls="none", clip_on=False,
                               zorder=2, gid=f"arrow-{end}-{key}"))
    w = row.weight_pct
    side = SQUARE_MAX_PT * math.sqrt(w / w_max) if w and w_max > 0 else 0.0
    ax.add_line(Line2D([est], [y], marker="s", ms=max(side, SQUARE_MIN_PT), mfc=DARK,
                       mec=DARK, mew=0, ls="none", zorder=3, gid=f"square-{key}"))
