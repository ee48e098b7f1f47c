"""Plots of a network meta-analysis: the network graph and a forest plot against usual care.

Both draw what the tables say; nothing here computes a statistic.

* :func:`draw_network_graph`: one node per delivery mode on a circle (in config order),
  node area proportional to the participants randomised to the mode, an edge wherever
  trials compare two modes directly, its width and label the number of such trials (a
  multi-arm trial counts on each of its comparisons and is shaded as a polygon over its
  arms, as netmeta's ``netgraph`` does).
* :func:`draw_network_forest`: every mode against the reference (usual care) from the
  network: random-effects estimate (diamond) with its CI and prediction interval (thin
  line with end ticks), common-effect estimate (square) with its CI; columns for the
  number of trials comparing the two directly, the estimates and the P-score; the
  heterogeneity and inconsistency lines and the P-score caveat in the footer.
* :func:`draw_network_message`: a small figure with the reason when there is no network to
  draw (disconnected, single trial, no data); the workflow requests plots only for fitted
  networks, so it appears only when a plot is asked for explicitly.

Figures are pyplot-free; save them with :func:`evsynth.figures._base.save_figure`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, Polygon

from evsynth.figures._base import (
    DARK,
    FONT,
    MARGIN,
    RATIO_TICKS,
    SMALL,
    TITLE,
    body_frame,
    effect_axis,
    figure_context,
    finite,
    graph_axes,
    header_rule,
    measurer,
    new_figure,
    put_text,
    stack,
    table_records,
    wrap_lines,
)
from evsynth.stats.network import NetworkStructure
from evsynth.wording import number

__all__ = ["draw_network_graph", "draw_network_forest", "draw_network_message", "network_figures"]

EDGE, SHADE = "#4d4d4d", "#f4a582"
ROW_H, LINE_H = 0.22, 0.14
#: The forest plot's ratio axis is ticked from 0.01 to 100 at most.
TICK_RANGE = (0.01, 100)


def _fmt(x: Any, digits: int = 2) -> str:
    return number(x, digits) if finite(x) else ""


def _p(p: Any) -> str:
    if not finite(p):
        return "P not defined"
    return "P < 0.001" if p < 0.001 else f"P = {p:.3f}"


def draw_network_message(title: str, what: str, message: str) -> Figure:
    """A small figure saying why there is nothing to draw."""
    with figure_context():
        fig = new_figure((6.5, 1.4))
        fig.canvas.draw()
        measure = measurer(fig)
        fig.text(0.03, 0.82, title, fontsize=TITLE, fontweight="bold")
        fig.text(0.03, 0.62, what, fontsize=FONT)
        for i, line in enumerate(wrap_lines(measure, message, 6.1, FONT)[:4]):
            fig.text(0.03, 0.42 - 0.14 * i, line, fontsize=FONT, color="0.25")
    return fig


# ---------------------------------------------------------------------------------------
# Network graph
# ---------------------------------------------------------------------------------------


def draw_network_graph(
    structure: NetworkStructure, labels: Mapping[str, str], title: str, subtitle: str = ""
) -> Figure:
    """The network of delivery modes (module docstring). ``labels`` maps mode id to label."""
    treatments = list(structure.status.treatments)
    n = len(treatments)
    angles = [math.pi / 2 - 2 * math.pi * i / n for i in range(n)] if n > 2 else [math.pi, 0.0][:n]
    pos = {t: (math.cos(a), math.sin(a)) for t, a in zip(treatments, angles)}
    sizes = list(structure.participants)
    known = [s for s in sizes if s]
    biggest = max(known) if known else None

    def radius(size: int | None) -> float:
        if not size or not biggest:
            return 0.12
        return 0.07 + 0.13 * math.sqrt(size / biggest)

    k_max = max((e.k for e in structure.edges), default=1)
    with figure_context():
        fig = new_figure((6.5, 5.6))
        measure = measurer(fig)
        fig.text(MARGIN / 6.5, 1 - 0.3 / 5.6, title, fontsize=TITLE, fontweight="bold")
        if subtitle:
            fig.text(MARGIN / 6.5, 1 - 0.5 / 5.6, subtitle, fontsize=FONT, color="0.25")
        ax = fig.add_axes((0.02, 0.16, 0.96, 0.72))
        ax.set_xlim(-2.1, 2.1)
        ax.set_ylim(-1.45, 1.45)
        ax.set_aspect("equal", adjustable="box")
        ax.axis("off")
        drawn_shapes = set()
        for arms in structure.multiarm:
            if arms in drawn_shapes or len(arms) < 3:
                continue
            drawn_shapes.add(arms)
            ax.add_patch(Polygon([pos[a] for a in arms], closed=True, fc=SHADE, ec="none", alpha=0.35, zorder=1))
        placed: list[tuple[float, float]] = []
        for e in structure.edges:
            (x1, y1), (x2, y2) = pos[e.treatment], pos[e.comparator]
            width = 1.0 + 5.0 * e.k / k_max
            ax.add_line(Line2D([x1, x2], [y1, y2], color=EDGE, lw=width, solid_capstyle="butt", zorder=2))
            label = str(e.k) if not e.k_multiarm else f"{e.k} ({e.k_multiarm} multi-arm)"
            # Midpoint, or further along the edge where crossing edges' labels would overlap.
            for t in (0.5, 0.34, 0.66):
                lx, ly = x1 + t * (x2 - x1), y1 + t * (y2 - y1)
                if all(abs(lx - px) > 0.75 or abs(ly - py) > 0.2 for px, py in placed):
                    break
            placed.append((lx, ly))
            ax.text(lx, ly, label, ha="center", va="center", fontsize=FONT, zorder=5,
                    bbox=dict(boxstyle="round,pad=0.25", fc="white", ec="0.6", lw=0.5))
        for t, size in zip(treatments, sizes):
            x, y = pos[t]
            r = radius(size)
            ax.add_patch(Circle((x, y), r, fc=DARK, ec="white", lw=1.0, zorder=4))
            n_text = f"n = {size:,}" if size else "n not reported"
            lines = wrap_lines(measure, labels.get(t, t), 1.6, FONT) + [n_text]
            dx, dy = (x, y) if n > 2 else ((-1.0, 0.0) if x < 0 else (1.0, 0.0))
            norm = math.hypot(dx, dy) or 1.0
            lx, ly = x + (r + 0.12) * dx / norm, y + (r + 0.12) * dy / norm
            ha = "center" if abs(dx / norm) < 0.3 else ("left" if dx > 0 else "right")
            va = "center" if abs(dy / norm) < 0.3 else ("bottom" if dy > 0 else "top")
            ax.text(lx, ly, "\n".join(lines), ha=ha, va=va, fontsize=FONT, zorder=6, linespacing=1.25)
        footer = [
            "Edge width and label: number of trials comparing the two modes directly (a multi-arm trial counts on "
            "each of its comparisons; shaded: the arms of a multi-arm trial). Node area: participants randomised "
            "to the mode (summed over trials).",
        ]
        if any(s is None for s in sizes):
            footer.append("Some trials do not report arm sizes: their nodes are drawn at a fixed size.")
        y = 0.12 * 5.6
        for line in (ln for f in footer for ln in wrap_lines(measure, f, 6.5 - 2 * MARGIN)):
            fig.text(MARGIN / 6.5, y / 5.6, line, fontsize=SMALL, color="0.25", va="top")
            y -= LINE_H
    return fig


# ---------------------------------------------------------------------------------------
# Forest plot against the reference
# ---------------------------------------------------------------------------------------


def _limits(values: Sequence[float], ratio: bool) -> tuple[float, float]:
    tr = math.log if ratio else float
    pts = [tr(v) for v in values if finite(v) and (v > 0 or not ratio)] + [0.0]
    low, high = min(pts), max(pts)
    pad = 0.08 * max(high - low, 0.2)
    low, high = low - pad, high + pad
    return (math.exp(low), math.exp(high)) if ratio else (low, high)


def draw_network_forest(
    league: pd.DataFrame,
    summary: Mapping[str, Any],
    ranking: pd.DataFrame,
    labels: Mapping[str, str],
    *,
    title: str,
    measure_name: str,
    ratio: bool,
    higher_is_better: bool,
    alpha: float = 0.05,
) -> Figure:
    """Every mode against ``summary['reference']`` from the network (module docstring).

    ``league``, ``summary`` and ``ranking`` are the analysis's rows of the three tables
    (:mod:`evsynth.tables.network`); ``labels`` maps mode ids to labels.
    """
    reference = summary.get("reference")
    treatments = [t for t in str(summary.get("treatments") or "").split("; ") if t]
    rows = {(r["model"], r["treatment"]): r for r in table_records(league) if r["comparator"] == reference}
    pscores = {(r["model"], r["treatment"]): r["p_score"] for r in table_records(ranking)}
    modes = [t for t in treatments if t != reference]
    level = int(round(100 * (1 - alpha)))
    est_name = summary.get("estimator") or ""
    with figure_context():
        fig = new_figure()
        measure = measurer(fig)
        label_w, k_w, graph_w, est_w, pi_w, ps_w = 2.4, 0.6, 2.6, 1.45, 1.2, 0.65
        width = MARGIN + label_w + k_w + graph_w + 0.1 + est_w + pi_w + ps_w + MARGIN
        text_w = width - 2 * MARGIN
        title_lines = wrap_lines(measure, title, text_w, TITLE)
        sub = (f"Each delivery mode against {labels.get(reference, reference)}, from direct and indirect evidence "
               f"(network meta-analysis; {level}% CIs: {ci_wording(summary)})")
        sub_lines = wrap_lines(measure, sub, text_w, FONT)
        body = []
        for t in modes:
            body.append(("heading", t, None, None))
            body.append(("random", t, rows.get(("random", t)), pscores.get(("random", t))))
            body.append(("common", t, rows.get(("common", t)), pscores.get(("common", t))))
        footer = _forest_footer(summary, level, est_name)
        notes = [ln for f in footer for ln in wrap_lines(measure, f, text_w)]
        head_h = 0.12 + 0.2 * len(title_lines) + 0.17 * len(sub_lines) + 0.15 + ROW_H
        body_h = ROW_H * len(body)
        axis_h = 0.55
        height = MARGIN + head_h + body_h + axis_h + LINE_H * len(notes) + MARGIN
        fig.set_size_inches(width, height)

        def put(x: float, y: float, s: str, **kw: Any) -> None:
            put_text(fig, height, x, y, s, **kw)

        y = stack(put, title_lines, MARGIN + 0.1, 0.2, fontsize=TITLE, fontweight="bold")
        y = stack(put, sub_lines, y, 0.17, color="0.25") + 0.15
        x_k = MARGIN + label_w
        x_graph = x_k + k_w
        x_est = x_graph + graph_w + 0.1
        x_pi, x_ps = x_est + est_w, x_est + est_w + pi_w
        put(MARGIN, y, f"Comparison (vs {labels.get(reference, reference)})", fontweight="bold")
        put(x_k + k_w / 2, y, "Direct", fontweight="bold", ha="center")
        put(x_graph + graph_w / 2, y, measure_name, fontweight="bold", ha="center")
        put(x_est + est_w / 2, y, f"Estimate [{level}% CI]", fontweight="bold", ha="center")
        put(x_pi + pi_w / 2, y, f"{level}% PI", fontweight="bold", ha="center")
        put(x_ps + ps_w / 2, y, "P-score", fontweight="bold", ha="center")
        body_top = MARGIN + head_h
        header_rule(fig, width, height - body_top + 0.03)
        values = [v for _, _, r, _ in body if r for v in (r.get("estimate"), r.get("ci_lower"), r.get("ci_upper"),
                                                          r.get("pi_lower"), r.get("pi_upper"))]
        null = 1.0 if ratio else 0.0
        lim = _limits(values + [null], ratio)
        ax = graph_axes(fig, (width, height), x_graph, body_top, graph_w, body_h)
        low, high = max(lim[0], TICK_RANGE[0]), min(lim[1], TICK_RANGE[1])
        ticks = [t for t in RATIO_TICKS if low <= t <= high]
        if ratio and len(ticks) < 3:
            ticks = sorted(set([round(float(t), 2) for t in np.geomspace(lim[0], lim[1], 5)[1:-1]] + [1.0]))
        effect_axis(ax, lim, ratio, ticks, [f"{t:g}" for t in ticks])
        body_frame(ax, body_h, null)
        for i, (kind, t, rec, ps) in enumerate(body):
            yc = ROW_H * (i + 0.5)
            if kind == "heading":
                put(MARGIN, body_top + yc, labels.get(t, t), fontweight="bold")
                continue
            model = f"Random effects ({est_name})" if kind == "random" else "Common effect"
            put(MARGIN + 0.15, body_top + yc, model)
            if rec is None:
                put(x_est + est_w / 2, body_top + yc, "not estimable", ha="center", color="0.4")
                continue
            if kind == "random":
                put(x_k + k_w / 2, body_top + yc, str(int(rec["k_direct"])), ha="center")
            put(x_est + est_w / 2, body_top + yc,
                f"{_fmt(rec['estimate'])} [{_fmt(rec['ci_lower'])}, {_fmt(rec['ci_upper'])}]", ha="center",
                fontweight="bold" if kind == "random" else "normal")
            if finite(rec.get("pi_lower"), rec.get("pi_upper")):
                put(x_pi + pi_w / 2, body_top + yc, f"[{_fmt(rec['pi_lower'])}, {_fmt(rec['pi_upper'])}]",
                    ha="center", fontsize=SMALL)
            if finite(ps):
                put(x_ps + ps_w / 2, body_top + yc, _fmt(ps), ha="center", fontsize=SMALL)
            _draw_interval(ax, rec, yc, lim, kind)
        y_axis = body_top + body_h + 0.38
        put(x_graph + graph_w * 0.25, y_axis, _left_label(higher_is_better, labels.get(reference, reference)),
            ha="center", fontsize=SMALL)
        put(x_graph + graph_w * 0.75, y_axis, _right_label(higher_is_better, labels.get(reference, reference)),
            ha="center", fontsize=SMALL)
        stack(put, notes, body_top + body_h + axis_h, LINE_H, fontsize=SMALL, va="top", color="0.2")
    return fig


def _left_label(higher_is_better: bool, reference: str) -> str:
    return f"Favours {reference}" if higher_is_better else "Favours the mode"


def _right_label(higher_is_better: bool, reference: str) -> str:
    return "Favours the mode" if higher_is_better else f"Favours {reference}"


def _draw_interval(ax, rec: Mapping[str, Any], yc: float, lim: tuple[float, float], kind: str) -> None:
    if not finite(rec.get("estimate"), rec.get("ci_lower"), rec.get("ci_upper")):
        return
    lo_lim, hi_lim = lim

    def clip(x: float) -> float:
        return min(max(x, lo_lim), hi_lim)

    if kind == "random" and finite(rec.get("pi_lower"), rec.get("pi_upper")):
        a, b = clip(rec["pi_lower"]), clip(rec["pi_upper"])
        ax.add_line(Line2D([a, b], [yc, yc], color="0.45", lw=0.8, zorder=2))
        for x in (a, b):
            ax.add_line(Line2D([x, x], [yc - 0.05, yc + 0.05], color="0.45", lw=0.8, zorder=2))
    est, lo, hi = rec["estimate"], clip(rec["ci_lower"]), clip(rec["ci_upper"])
    if kind == "random":
        dh = 0.32 * ROW_H
        ax.add_patch(Polygon([(lo, yc), (est, yc - dh), (hi, yc), (est, yc + dh)], closed=True, fc=DARK,
                             ec=DARK, lw=0.5, zorder=3))
    else:
        ax.add_line(Line2D([lo, hi], [yc, yc], color="black", lw=0.8, zorder=2))
        ax.add_line(Line2D([est], [yc], marker="s", ms=4.5, color="black", ls="none", zorder=3))


def _forest_footer(summary: Mapping[str, Any], level: int, est_name: str) -> list[str]:
    s = dict(summary)
    lines = []
    k, multi = s.get("k_trials"), s.get("k_multiarm")
    head = f"{int(k)} trials" if finite(k) else ""
    if finite(multi) and multi:
        head += f" ({int(multi)} multi-arm)"
    if finite(s.get("tau2")):
        lines.append(
            f"{head}; random effects: tau² = {s['tau2']:.3f} ({est_name}), common to all comparisons. "
            f"Heterogeneity/inconsistency: Q = {_fmt(s.get('q_total'))}, df = {_int(s.get('q_total_df'))} "
            f"({_p(s.get('q_total_p'))}); within designs Q = {_fmt(s.get('q_within'))}, df = "
            f"{_int(s.get('q_within_df'))} ({_p(s.get('q_within_p'))}); between designs (inconsistency) Q = "
            f"{_fmt(s.get('q_between'))}, df = {_int(s.get('q_between_df'))} ({_p(s.get('q_between_p'))})"
            + ("; no closed loop, so inconsistency cannot be assessed." if s.get("q_between_df") == 0 else ".")
        )
    pi = s.get("pi_method")
    if pi and pi != "none":
        df = s.get("pi_df")
        dist = "normal" if not finite(df) else f"t, {int(df)} df"
        lines.append(f"Thin line: {level}% prediction interval ({dist}).")
    else:
        lines.append("No prediction interval (not requested, or tau² not estimable).")
    lines.append("Direct: trials comparing the mode with the reference head to head. P-score: mean certainty that "
                 "the mode is better than each other mode under that model; not a probability of being best, and "
                 "it ignores the uncertainty in tau².")
    if s.get("note"):
        lines.append(f"Note: {s['note']}")
    return lines


def ci_wording(summary: Mapping[str, Any]) -> str:
    """How the plotted CIs were formed, from the summary's ``ci_method`` and ``ci_df``."""
    df = summary.get("ci_df")
    if summary.get("ci_method") == "t" and finite(df):
        return f"random effects t on {int(df)} df (k - p, metafor rma.mv test = \"t\"), common effect Wald (z)"
    return "Wald (z), both models"


def _int(x: Any) -> str:
    return str(int(x)) if finite(x) else ""


def network_figures(
    structure: NetworkStructure,
    league: pd.DataFrame,
    summary: Mapping[str, Any],
    ranking: pd.DataFrame,
    labels: Mapping[str, str],
    *,
    title: str,
    measure_name: str,
    ratio: bool,
    higher_is_better: bool,
    alpha: float = 0.05,
) -> dict[str, Figure]:
    """``{"graph": ..., "forest": ...}`` for one analysis; message figures when not fitted."""
    status = summary.get("status")
    if status != "fitted":
        message = str(summary.get("message") or status)
        return {
            "graph": draw_network_message(title, "Network graph: not drawn", message),
            "forest": draw_network_message(title, "Network forest plot: not drawn", message),
        }
    participants = [n for n in structure.participants if n]
    subtitle = f"{int(summary['k_trials'])} trials"
    if participants and len(participants) == len(structure.participants):
        subtitle += f", {sum(participants):,} participants"
    return {
        "graph": draw_network_graph(structure, labels, title, subtitle),
        "forest": draw_network_forest(league, summary, ranking, labels, title=title, measure_name=measure_name,
                                      ratio=ratio, higher_is_better=higher_is_better, alpha=alpha),
    }
