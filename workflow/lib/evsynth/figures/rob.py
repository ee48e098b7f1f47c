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

from evsynth.data.columns import ROB_COLUMNS
from evsynth.figures._base import FONT, MARGIN, SMALL, TITLE, figure_context, measurer, new_figure, put_text, wrap
from evsynth.tables.rob import (
    COLOURS,
    DOMAIN_NAMES,
    JUDGEMENT_LABELS,
    NOT_ASSESSED,
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


def draw_traffic_light(rows: Sequence[TrafficLightRow], title: str, notes: Sequence[str] = ()) -> Figure:
    """Traffic-light plot: one row per study, columns D1-D5 and Overall.

    Parameters
    ----------
    rows : sequence of TrafficLightRow
        Study labels and their six judgements ('' = not assessed), top to bottom.
    title : str
        Printed above the grid (wrapped).
    notes : sequence of str
        Extra footnote lines (after the domain legend).

    Raises
    ------
    ValueError
        If ``rows`` is empty.
    """
    if not rows:
        raise ValueError("no studies to draw")
    with figure_context():
        fig = new_figure()
        measure = measurer(fig)
        label_w = min(max(measure(r.label) for r in rows) + GAP, 3.0)
        labels = [wrap(measure, r.label, label_w - GAP, FONT) for r in rows]
        heights = [max(ROW_H, LINE_H * (s.count("\n") + 1) + 0.08) for s in labels]
        grid_w = COL_W * len(ROB_COLUMNS)
        width = MARGIN + label_w + grid_w + GAP + LEGEND_W + MARGIN
        title_s = wrap(measure, title, width - 2 * MARGIN, TITLE, True)
        footer = [f"{h}: {DOMAIN_NAMES[c]}" for h, c in zip(ROB_HEADERS, ROB_COLUMNS)] + list(notes)
        footer = [wrap(measure, s, width - 2 * MARGIN, SMALL) for s in footer]
        title_h = LINE_H * 1.3 * (title_s.count("\n") + 1) + 0.1
        header_top = MARGIN + title_h
        body_top = header_top + ROW_H
        legend_h = LINE_H + 0.05 + len(ORDER) * ROW_H
        body_h = max(sum(heights), legend_h)
        footer_top = body_top + body_h + 0.15
        height = footer_top + sum(LINE_H * (s.count("\n") + 1) for s in footer) + MARGIN
        fig.set_size_inches(width, height)

        _title(fig, height, title_s)
        x0 = MARGIN + label_w
        for c, head in enumerate(ROB_HEADERS):
            _text(fig, height, x0 + (c + 0.5) * COL_W, header_top + ROW_H / 2, head, f"header-{c}",
                  fontweight="bold", ha="center")
        _text(fig, height, MARGIN, header_top + ROW_H / 2, "Study", "header-study", fontweight="bold", ha="left")
        y = body_top
        for r, (row, label, h) in enumerate(zip(rows, labels, heights)):
            yc = y + h / 2
            _text(fig, height, MARGIN, yc, label, f"label-{r}", ha="left", linespacing=1.15)
            for c, judged in enumerate(row.judgements):
                rob_circle(fig, x0 + (c + 0.5) * COL_W, height - yc, judged or NOT_ASSESSED, f"circle-{r}-{c}")
            y += h
        # Thin rule under the header and a box line between the domains and Overall.
        for x in (x0 + 5 * COL_W,):
            fig.add_artist(Rectangle((x - 0.003, height - body_top - sum(heights)), 0.006, sum(heights) + ROW_H,
                                     transform=fig.dpi_scale_trans, fc="0.6", ec="none", gid="overall-rule"))
        # Legend to the right of the grid.
        lx = x0 + grid_w + GAP
        _text(fig, height, lx, body_top + LINE_H / 2, "Judgement", "legend-title", fontweight="bold", ha="left")
        for i, judged in enumerate(ORDER):
            yc = body_top + LINE_H + 0.05 + (i + 0.5) * ROW_H
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
        title_s = wrap(measure, title, width - 2 * MARGIN, TITLE, True)
        panel_titles = [wrap(measure, t, width - 2 * MARGIN, FONT, True) for t, _ in panels]
        footer = [wrap(measure, s, width - 2 * MARGIN, SMALL) for s in notes]
        title_h = LINE_H * 1.3 * (title_s.count("\n") + 1) + 0.1
        axis_h = 0.3
        panel_hs = [LINE_H * (t.count("\n") + 1) + 0.1 + len(ROB_COLUMNS) * BAR_ROW_H + axis_h for t in panel_titles]
        legend_top = MARGIN + title_h + sum(panel_hs) + 0.05
        footer_top = legend_top + ROW_H + 0.05
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
                for judged in ORDER:
                    share = float(shares[column].get(judged, 0.0))
                    if share <= 0:
                        continue
                    ax.add_patch(Rectangle((left, c + 0.5 - BAR_H / BAR_ROW_H / 2), share, BAR_H / BAR_ROW_H,
                                           fc=COLOURS[judged], ec="0.3", lw=0.4, gid=f"bar-{p}-{c}-{judged}"))
                    if share >= 10:
                        ax.text(left + share / 2, c + 0.5, f"{share:.0f}%", ha="center", va="center",
                                fontsize=SMALL - 0.5, color="white" if judged == "high" else "black",
                                gid=f"share-{p}-{c}-{judged}")
                    left += share
            y += ph
        # Legend: coloured squares in one line.
        lx = x0
        for i, judged in enumerate(ORDER):
            fig.add_artist(Rectangle((lx, height - legend_top - ROW_H / 2 - 0.06), 0.12, 0.12,
                                     transform=fig.dpi_scale_trans, fc=COLOURS[judged], ec="0.3", lw=0.4,
                                     gid=f"legend-{i}"))
            label = JUDGEMENT_LABELS[judged]
            _text(fig, height, lx + 0.17, legend_top + ROW_H / 2, label, f"legend-text-{i}", fontsize=SMALL,
                  ha="left")
            lx += 0.17 + measure(label, SMALL) + 0.25
        _footer(fig, height, footer_top, footer)
    return fig
