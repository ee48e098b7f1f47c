"""robvis-style risk-of-bias figures: traffic-light plot and weighted summary bar chart.

Layout and colours follow robvis's RoB 2 templates (McGuinness & Higgins 2021, Res Synth
Methods 12:55): one circle per study and domain, green "+" low, yellow "-" some concerns,
red "X" high; the summary stacks, per domain, the share of the meta-analysis weight at each
judgement. Studies not assessed are drawn grey and counted as "Not assessed", never guessed.
Geometry is fixed in inches; figures are byte-identical across runs (``evsynth.figures._base``).
Artists carry ``gid`` values (``circle-r-c``, ``bar-p-c-judgement``) for tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from matplotlib.figure import Figure
from matplotlib.patches import Circle, Rectangle

from evsynth.data.columns import ROB1_ITEMS, ROB_COLUMNS, SELF_REPORT
from evsynth.figures._base import FONT, MARGIN, SMALL, TITLE, figure_context, measurer, new_figure, put_text, wrap
from evsynth.tables.rob import (
    COLOURS,
    DOMAIN_NAMES,
    JUDGEMENT_LABELS,
    NOT_ASSESSED,
    ROB1_HEADERS,
    ROB1_LEVELS,
    ROB1_NAMES,
    ROB_HEADERS,
    SYMBOLS,
    TrafficLightRow,
)

__all__ = ["draw_summary", "draw_traffic_light", "rob_circle"]

ORDER = ("low", "some concerns", "high", NOT_ASSESSED)

GAP = 0.12
ROW_H, COL_W, RADIUS = 0.32, 0.5, 0.12
LEGEND_W = 1.45
LINE_H = 0.15
BAR_W, BAR_H, BAR_ROW_H = 3.6, 0.2, 0.27


def rob_circle(fig: Figure, x: float, y: float, judged: str, gid: str, radius: float = RADIUS, lw: float = 0.5,
               symbol_size: float = 9) -> None:
    """One risk-of-bias judgement at (x, y) inches: a robvis-coloured circle with its symbol.

    The forest plot's RoB columns draw the same circle smaller (:mod:`evsynth.figures.forest`).
    """
    fig.add_artist(Circle((x, y), radius, transform=fig.dpi_scale_trans, fc=COLOURS[judged], ec="0.3", lw=lw,
                          gid=gid))
    if SYMBOLS[judged]:
        fig.text(x, y, SYMBOLS[judged], transform=fig.dpi_scale_trans, ha="center", va="center_baseline",
                 fontsize=symbol_size, fontweight="bold", gid=f"{gid}-symbol")


def _hatch(judged: str) -> dict[str, str]:
    """RoB 1 summaries are hatched, so that a bar never passes them off as RoB 2 judgements."""
    return {"hatch": "////"} if judged in ROB1_LEVELS.values() else {}


def _footer(fig: Figure, height: float, top: float, lines: Sequence[str]) -> None:
    """Wrapped footnotes from ``top`` down, each line LINE_H high."""
    y = top
    for i, s in enumerate(lines):
        put_text(fig, height, MARGIN, y, s, gid=f"footer-{i}", fontsize=SMALL, ha="left", va="top", linespacing=1.2)
        y += LINE_H * (s.count("\n") + 1)


def _title(fig: Figure, height: float, title: str) -> None:
    put_text(fig, height, MARGIN, MARGIN, title, gid="title", fontsize=TITLE, fontweight="bold", va="top",
             linespacing=1.3)


def _text(fig: Figure, height: float, x: float, y_top: float, s: str, gid: str, **kw: object) -> None:
    put_text(fig, height, x, y_top, s, gid=gid, **kw)


def draw_traffic_light(rows: Sequence[TrafficLightRow], title: str, notes: Sequence[str] = (),
                       rob1_rows: Sequence[TrafficLightRow] = ()) -> Figure:
    """Traffic-light plot: one row per study, columns D1-D5 and Overall; trials judged with
    RoB 1 in a panel of their own below, columns SG, AC, BA and ITT (never as RoB 2 domains).

    Parameters
    ----------
    rows : sequence of TrafficLightRow
        Study labels and their six RoB 2 judgements ('' = not assessed), top to bottom.
    title : str
        Printed above the grid (wrapped).
    notes : sequence of str
        Extra footnote lines (after the domain legend).
    rob1_rows : sequence of TrafficLightRow
        Studies judged with RoB 1, with their four items
        (:func:`evsynth.tables.rob.traffic_light_panels`).

    Raises
    ------
    ValueError
        If there are no rows at all.
    """
    if not rows and not rob1_rows:
        raise ValueError("no studies to draw")
    order = ORDER if not rob1_rows else (*ORDER[:3], "unclear", SELF_REPORT, NOT_ASSESSED)
    with figure_context():
        fig = new_figure()
        measure = measurer(fig)
        label_w = min(max(measure(r.label) for r in (*rows, *rob1_rows)) + GAP, 3.0)
        panels = [(ROB_HEADERS, "Study", rows)] if rows else []
        if rob1_rows:
            panels.append((ROB1_HEADERS, "RoB 1", rob1_rows))
        labels = [[wrap(measure, r.label, label_w - GAP, FONT) for r in block] for _, _, block in panels]
        heights = [[max(ROW_H, LINE_H * (s.count("\n") + 1) + 0.08) for s in block] for block in labels]
        grid_w = COL_W * len(ROB_COLUMNS)
        width = MARGIN + label_w + grid_w + GAP + LEGEND_W + MARGIN
        title_s = wrap(measure, title, width - 2 * MARGIN, TITLE, True)
        footer = [f"{h}: {DOMAIN_NAMES[c]}" for h, c in zip(ROB_HEADERS, ROB_COLUMNS)] if rows else []
        if rob1_rows:
            footer += [f"{h}: {ROB1_NAMES[c]} (RoB 1)" for h, c in zip(ROB1_HEADERS, ROB1_ITEMS)]
            footer.append("RoB 1 panel: trials that the source database rated with Cochrane's original tool (Higgins "
                          "et al. 2011); their items are shown as rated, not translated into RoB 2 domains.")
        footer = [wrap(measure, s, width - 2 * MARGIN, SMALL) for s in (*footer, *notes)]
        title_h = LINE_H * 1.3 * (title_s.count("\n") + 1) + 0.1
        header_top = MARGIN + title_h
        legend_h = LINE_H + 0.05 + len(order) * ROW_H
        body_h = max(sum(ROW_H + sum(h) for h in heights) - ROW_H, legend_h)
        footer_top = header_top + ROW_H + body_h + 0.15
        height = footer_top + sum(LINE_H * (s.count("\n") + 1) for s in footer) + MARGIN
        fig.set_size_inches(width, height)

        _title(fig, height, title_s)
        x0 = MARGIN + label_w
        top, r = header_top, 0
        for k, ((headers, heading, _), block_labels, block_heights) in enumerate(zip(panels, labels, heights)):
            tag = "" if k == 0 and rows else "rob1-"
            for c, head in enumerate(headers):
                _text(fig, height, x0 + (c + 0.5) * COL_W, top + ROW_H / 2, head, f"header-{tag}{c}",
                      fontweight="bold", ha="center")
            _text(fig, height, MARGIN, top + ROW_H / 2, heading, f"header-{tag}study", fontweight="bold",
                  ha="left")
            y = body_top = top + ROW_H
            for row, label, h in zip(panels[k][2], block_labels, block_heights):
                yc = y + h / 2
                _text(fig, height, MARGIN, yc, label, f"label-{r}", ha="left", linespacing=1.15)
                for c, judged in enumerate(row.judgements):
                    rob_circle(fig, x0 + (c + 0.5) * COL_W, height - yc, judged or NOT_ASSESSED, f"circle-{r}-{c}")
                y += h
                r += 1
            if headers == ROB_HEADERS:  # a box line between the domains and Overall
                fig.add_artist(Rectangle((x0 + 5 * COL_W - 0.003, height - body_top - sum(block_heights)), 0.006,
                                         sum(block_heights) + ROW_H, transform=fig.dpi_scale_trans, fc="0.6",
                                         ec="none", gid="overall-rule"))
            top = y
        # Legend to the right of the grid.
        lx = x0 + grid_w + GAP
        legend_top = header_top + ROW_H
        _text(fig, height, lx, legend_top + LINE_H / 2, "Judgement", "legend-title", fontweight="bold", ha="left")
        for i, judged in enumerate(order):
            yc = legend_top + LINE_H + 0.05 + (i + 0.5) * ROW_H
            rob_circle(fig, lx + RADIUS, height - yc, judged, f"legend-{i}")
            _text(fig, height, lx + 2 * RADIUS + 0.08, yc, JUDGEMENT_LABELS[judged], f"legend-text-{i}",
                  fontsize=SMALL, ha="left")
        _footer(fig, height, footer_top, footer)
    return fig


def draw_summary(
    panels: Sequence[tuple[str, Mapping[str, Mapping[str, float]]]], title: str, notes: Sequence[str] = ()
) -> Figure:
    """Weighted summary bar chart: per comparison (panel), one stacked bar per RoB 2 domain.

    Parameters
    ----------
    panels : sequence of (title, {column: {judgement: percent}})
        From :func:`evsynth.tables.rob.weighted_summary`; each bar's percentages sum to 100.
    title : str
        Printed above the panels.
    notes : sequence of str
        Footnote lines.

    Raises
    ------
    ValueError
        If ``panels`` is empty.
    """
    if not panels:
        raise ValueError("no comparisons to draw")
    with figure_context():
        fig = new_figure()
        measure = measurer(fig)
        label_w = max(measure(DOMAIN_NAMES[c]) for c in ROB_COLUMNS) + GAP
        width = MARGIN + label_w + BAR_W + 0.35 + MARGIN
        # RoB 1 summaries (trials rated with RoB 1) get their own, hatched, legend entries when present.
        used = {j for _, shares in panels for column in shares.values() for j, v in column.items() if v > 0}
        order = (*ORDER[:3], *(v for v in ROB1_LEVELS.values() if v in used), NOT_ASSESSED)
        legend, lx, line = [], MARGIN + label_w, 0
        for judged in order:
            w = 0.17 + measure(JUDGEMENT_LABELS[judged], SMALL) + 0.25
            if len(order) > len(ORDER) and lx + w > width - MARGIN + 0.25 and lx > MARGIN + label_w:
                lx, line = MARGIN + label_w, line + 1
            legend.append((judged, lx, line))
            lx += w
        title_s = wrap(measure, title, width - 2 * MARGIN, TITLE, True)
        panel_titles = [wrap(measure, t, width - 2 * MARGIN, FONT, True) for t, _ in panels]
        footer = [wrap(measure, s, width - 2 * MARGIN, SMALL) for s in notes]
        title_h = LINE_H * 1.3 * (title_s.count("\n") + 1) + 0.1
        axis_h = 0.3
        panel_hs = [LINE_H * (t.count("\n") + 1) + 0.1 + len(ROB_COLUMNS) * BAR_ROW_H + axis_h for t in panel_titles]
        legend_top = MARGIN + title_h + sum(panel_hs) + 0.05
        footer_top = legend_top + (line + 1) * ROW_H + 0.05
        height = footer_top + sum(LINE_H * (s.count("\n") + 1) for s in footer) + MARGIN
        fig.set_size_inches(width, height)

        _title(fig, height, title_s)
        y = MARGIN + title_h
        x0 = MARGIN + label_w
        for p, ((_, shares), ptitle, ph) in enumerate(zip(panels, panel_titles, panel_hs)):
            _text(fig, height, MARGIN, y, ptitle, f"panel-title-{p}", fontweight="bold", ha="left", va="top")
            bars_top = y + LINE_H * (ptitle.count("\n") + 1) + 0.1
            bars_h = len(ROB_COLUMNS) * BAR_ROW_H
            ax = fig.add_axes((x0 / width, (height - bars_top - bars_h) / height, BAR_W / width, bars_h / height))
            ax.set_xlim(0, 100)
            ax.set_ylim(len(ROB_COLUMNS), 0)
            ax.set_yticks([])
            ax.set_xticks([0, 25, 50, 75, 100], ["0%", "25%", "50%", "75%", "100%"], fontsize=SMALL)
            ax.minorticks_off()
            ax.tick_params(axis="x", length=3, width=0.6, pad=2)
            for side in ("top", "right", "left"):
                ax.spines[side].set_visible(False)
            ax.spines["bottom"].set_linewidth(0.6)
            for c, column in enumerate(ROB_COLUMNS):
                yc = bars_top + (c + 0.5) * BAR_ROW_H
                _text(fig, height, x0 - GAP / 2, yc, DOMAIN_NAMES[column], f"domain-{p}-{c}", ha="right",
                      fontweight="bold" if column == "rob_overall" else "normal")
                left = 0.0
                for judged in order:
                    share = float(shares[column].get(judged, 0.0))
                    if share <= 0:
                        continue
                    ax.add_patch(Rectangle((left, c + 0.5 - BAR_H / BAR_ROW_H / 2), share, BAR_H / BAR_ROW_H,
                                           fc=COLOURS[judged], ec="0.3", lw=0.4, gid=f"bar-{p}-{c}-{judged}",
                                           **_hatch(judged)))
                    if share >= 10:
                        ax.text(left + share / 2, c + 0.5, f"{share:.0f}%", ha="center", va="center",
                                fontsize=SMALL - 0.5,
                                color="white" if judged in ("high", ROB1_LEVELS["high"]) else "black",
                                gid=f"share-{p}-{c}-{judged}")
                    left += share
            y += ph
        # Legend: coloured squares, in one line unless RoB 1 entries need a second.
        for i, (judged, lx, line) in enumerate(legend):
            yl = legend_top + (line + 0.5) * ROW_H
            fig.add_artist(Rectangle((lx, height - yl - 0.06), 0.12, 0.12,
                                     transform=fig.dpi_scale_trans, fc=COLOURS[judged], ec="0.3", lw=0.4,
                                     gid=f"legend-{i}", **_hatch(judged)))
            _text(fig, height, lx + 0.17, yl, JUDGEMENT_LABELS[judged], f"legend-text-{i}", fontsize=SMALL,
                  ha="left")
        _footer(fig, height, footer_top, footer)
    return fig
