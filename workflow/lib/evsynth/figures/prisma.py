"""The PRISMA 2020 flow diagram, drawn from :class:`evsynth.data.screening.PrismaCounts`.

Layout of Page et al. 2021 (BMJ 372:n71, Figure 1): phase bars (Identification, Screening,
Included) on the left; the databases-and-registers route (main boxes and, to their right,
what was removed or excluded at each step), then the other-methods route; both lead to the
included box. For an updated (living) review a "Previous studies" column on the left gives
the studies of the previous version, and the included box splits into new and total
studies, as in the template for updated reviews. A route that was not used is drawn as one
grey box saying so, never as zeros; a count nobody recorded reads "n unknown".
Geometry in inches; byte-identical across runs (``evsynth.figures._base``). Boxes carry
``gid`` values (``box-<name>``) for tests.
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, Rectangle

from evsynth.data.screening import UNKNOWN, Count, PrismaCounts, Route
from evsynth.figures._base import FONT, MARGIN, SMALL, TITLE, figure_context, measurer, new_figure, put_text, wrap

__all__ = ["draw_prisma", "prisma_box_texts"]

BOX_W, GAP_X, GAP_Y, PHASE_W, PAD = 2.15, 0.3, 0.28, 0.28, 0.06
LINE = 0.135
HEADER_BLUE, PHASE_BLUE, GREY = "#ffc000", "#9dc3e6", "#eeeeee"


def _n(count: Count | None) -> str:
    return "n unknown" if count in (UNKNOWN, None) else f"n = {count}"


def _list(title: str, pairs: Sequence[tuple[str, Count]], empty: str = "") -> str:
    if not pairs:
        return f"{title}{' ' + empty if empty else ''}"
    return "\n".join([title, *(f"• {name} ({_n(n)})" for name, n in pairs)])


def prisma_box_texts(counts: PrismaCounts) -> dict[str, str]:
    """Text of every box by name (``db_identified``, ``db_removed``, ..., ``included``), as drawn.

    The same words serve the figure and the methods text, so the two never disagree.
    """
    db, other = counts.databases, counts.other
    texts: dict[str, str] = {}
    if db.searched:
        texts["db_identified"] = "\n".join([
            "Records identified from:",
            _list("Databases:", db.identified, "none"),
            _list("Registers:", db.registers, "none"),
        ])
        texts["db_removed"] = "\n".join([
            "Records removed before screening:",
            f"• Duplicate records removed ({_n(db.duplicates_removed)})",
            f"• Records marked as ineligible by automation tools ({_n(db.automation_removed)})",
            f"• Records removed for other reasons ({_n(db.other_removed)})",
        ])
        texts["db_screened"] = f"Records screened\n({_n(db.screened)})"
        texts["db_screen_excluded"] = f"Records excluded\n({_n(db.screening_excluded)})"
        _retrieval(texts, "db", db)
    else:
        texts["db_none"] = "No database or register was searched for this review."
    if other.searched:
        texts["other_identified"] = _list("Records identified from:", other.identified)
        _retrieval(texts, "other", other)
    else:
        texts["other_none"] = "No other methods (websites, organisations, citation searching) were used."
    new = "New studies" if counts.updated else "Studies"
    reports = "Reports of new included studies" if counts.updated else "Reports of included studies"
    texts["included"] = f"{new} included in review\n({_n(counts.studies)})\n{reports}\n({_n(counts.reports)})"
    if counts.updated:
        texts["previous"] = (f"Studies included in previous version of review\n({_n(counts.previous_studies)})\n"
                             f"Reports of studies included in previous version of review\n"
                             f"({_n(counts.previous_reports)})")
        texts["total"] = (f"Total studies included in review\n({_n(counts.total_studies)})\n"
                          f"Reports of total included studies\n({_n(counts.total_reports)})")
    return texts


def _retrieval(texts: dict[str, str], key: str, route: Route) -> None:
    texts[f"{key}_sought"] = f"Reports sought for retrieval\n({_n(route.sought)})"
    texts[f"{key}_not_retrieved"] = f"Reports not retrieved\n({_n(route.not_retrieved)})"
    texts[f"{key}_assessed"] = f"Reports assessed for eligibility\n({_n(route.assessed)})"
    texts[f"{key}_excluded"] = _list("Reports excluded:", route.excluded, "none")


def _wrapped(measure, text: str, width: float) -> str:
    return "\n".join(wrap(measure, line, width, size=SMALL) if line.strip() else "" for line in text.split("\n"))


def draw_prisma(counts: PrismaCounts, title: str, notes: Sequence[str] = ()) -> Figure:
    """The PRISMA 2020 flow diagram of ``counts``, with ``title`` and footnotes ``notes``."""
    with figure_context():
        probe = new_figure((1, 1))
        measure = measurer(probe)
        texts = {k: _wrapped(measure, v, BOX_W - 2 * PAD) for k, v in prisma_box_texts(counts).items()}

        def box_h(name: str) -> float:
            return (texts[name].count("\n") + 1) * LINE + 2 * PAD if name in texts else 0.0

        # Columns: [previous], db main, db side, other main, other side.
        x0 = MARGIN + PHASE_W + 0.12
        columns = []
        if counts.updated:
            columns.append("previous")
        columns += ["db", "db_side", "other", "other_side"]
        x = {c: x0 + i * (BOX_W + GAP_X) for i, c in enumerate(columns)}
        width = x[columns[-1]] + BOX_W + MARGIN
        rows = {
            "identification": ("db_identified", "db_removed", "other_identified", "previous", "db_none", "other_none"),
            "screened": ("db_screened", "db_screen_excluded"),
            "sought": ("db_sought", "db_not_retrieved", "other_sought", "other_not_retrieved"),
            "assessed": ("db_assessed", "db_excluded", "other_assessed", "other_excluded"),
            "included": ("included",),
            "total": ("total",),
        }
        heights = {r: max((box_h(n) for n in names), default=0.0) for r, names in rows.items()}
        title_text = wrap(measure, title, width - 2 * MARGIN, size=TITLE, bold=True)
        top = MARGIN + (title_text.count("\n") + 1) * 0.2 + 0.1
        header_h = 0.32
        y = {}
        cursor = top + header_h + GAP_Y
        for r in rows:
            if heights[r]:
                y[r] = cursor
                cursor += heights[r] + GAP_Y
        note_lines = [wrap(measure, s, width - 2 * MARGIN, size=SMALL) for s in notes]
        height = cursor + sum((n.count("\n") + 1) * LINE + 0.05 for n in note_lines) + MARGIN

        fig = new_figure((width, height))
        put_text(fig, height, MARGIN, MARGIN + 0.1, title_text, fontsize=TITLE, fontweight="bold", ha="left",
                 va="top", gid="title")

        def rect(name: str, left: float, y_top: float, w: float, h: float, fc: str = "white", text: str = "",
                 size: float = SMALL, bold: bool = False, centre: bool = False, rotate: bool = False) -> None:
            fig.add_artist(Rectangle((left, height - y_top - h), w, h, transform=fig.dpi_scale_trans, fc=fc,
                                     ec="black", lw=0.6, gid=f"box-{name}"))
            if rotate:
                put_text(fig, height, left + w / 2, y_top + h / 2, text, fontsize=size, fontweight="bold",
                         ha="center", rotation=90, gid=f"text-{name}")
            elif centre:
                put_text(fig, height, left + w / 2, y_top + h / 2, text, fontsize=size, ha="center",
                         fontweight="bold" if bold else "normal", multialignment="center", gid=f"text-{name}")
            else:
                put_text(fig, height, left + PAD, y_top + PAD, text, fontsize=size, ha="left", va="top",
                         linespacing=1.25, gid=f"text-{name}")

        def box(name: str, column: str, row: str, fc: str = "white") -> None:
            if name in texts:
                rect(name, x[column], y[row], BOX_W, heights[row] if name != "previous" else box_h(name),
                     fc=fc, text=texts[name])

        def arrow(start: tuple[float, float], end: tuple[float, float], gid: str) -> None:
            fig.add_artist(FancyArrowPatch((start[0], height - start[1]), (end[0], height - end[1]),
                                           transform=fig.dpi_scale_trans, arrowstyle="-|>", mutation_scale=8,
                                           lw=0.7, color="black", shrinkA=0, shrinkB=0, gid=gid))

        # Route headers and phase bars.
        header_top = top
        if counts.updated:
            rect("header-previous", x["previous"], header_top, BOX_W, header_h, fc=GREY, text="Previous studies",
                 size=FONT, bold=True, centre=True)
        rect("header-db", x["db"], header_top, 2 * BOX_W + GAP_X, header_h, fc=HEADER_BLUE,
             text="Identification of new studies via databases and registers" if counts.updated
             else "Identification of studies via databases and registers", size=FONT, bold=True, centre=True)
        rect("header-other", x["other"], header_top, 2 * BOX_W + GAP_X, header_h, fc=GREY,
             text="Identification of new studies via other methods" if counts.updated
             else "Identification of studies via other methods", size=FONT, bold=True, centre=True)
        phases = [("Identification", ("identification",)), ("Screening", ("screened", "sought", "assessed")),
                  ("Included", ("included", "total"))]
        for label, members in phases:
            present = [r for r in members if r in y]
            if present:
                first, last = present[0], present[-1]
                rect(f"phase-{label.lower()}", MARGIN, y[first], PHASE_W, y[last] + heights[last] - y[first],
                     fc=PHASE_BLUE, text=label, size=FONT, rotate=True)

        db, other = counts.databases, counts.other
        for key, route in (("db", db), ("other", other)):
            side = f"{key}_side"
            if not route.searched:
                rect(f"{key}_none", x[key], y["identification"], 2 * BOX_W + GAP_X, heights["identification"],
                     fc=GREY, text=texts[f"{key}_none"])
                continue
            box(f"{key}_identified", key, "identification")
            chain = ["identification", "sought", "assessed"]
            if key == "db":
                box("db_removed", side, "identification")
                box("db_screened", key, "screened")
                box("db_screen_excluded", side, "screened")
                chain = ["identification", "screened", "sought", "assessed"]
                _side_arrow(arrow, x, y, heights, key, "identification")
                _side_arrow(arrow, x, y, heights, key, "screened")
            box(f"{key}_sought", key, "sought")
            box(f"{key}_not_retrieved", side, "sought")
            box(f"{key}_assessed", key, "assessed")
            box(f"{key}_excluded", side, "assessed")
            for row in ("sought", "assessed"):
                _side_arrow(arrow, x, y, heights, key, row)
            for upper, lower in zip(chain, chain[1:]):
                mid = x[key] + BOX_W / 2
                arrow((mid, y[upper] + heights[upper]), (mid, y[lower]), f"arrow-{key}-{upper}")
            mid = x[key] + BOX_W / 2
            if key == "db":
                arrow((mid, y["assessed"] + heights["assessed"]), (mid, y["included"]), "arrow-db-included")
            else:  # the other route joins the included box from the right
                bottom = y["assessed"] + heights["assessed"]
                level = y["included"] + heights["included"] / 2
                fig.add_artist(FancyArrowPatch((mid, height - bottom), (mid, height - level),
                                               transform=fig.dpi_scale_trans, arrowstyle="-", lw=0.7,
                                               shrinkA=0, shrinkB=0, gid="line-other-included"))
                arrow((mid, level), (x["db"] + BOX_W, level), "arrow-other-included")
        included_col = "db"
        box("included", included_col, "included")
        if counts.updated:
            rect("previous", x["previous"], y["identification"], BOX_W, box_h("previous"), text=texts["previous"])
            box("total", included_col, "total")
            mid = x[included_col] + BOX_W / 2
            arrow((mid, y["included"] + heights["included"]), (mid, y["total"]), "arrow-included-total")
            pmid = x["previous"] + BOX_W / 2
            level = y["total"] + heights["total"] / 2
            fig.add_artist(FancyArrowPatch((pmid, height - y["identification"] - box_h("previous")),
                                           (pmid, height - level), transform=fig.dpi_scale_trans, arrowstyle="-",
                                           lw=0.7, shrinkA=0, shrinkB=0, gid="line-previous-total"))
            arrow((pmid, level), (x[included_col], level), "arrow-previous-total")
        note_y = cursor
        for i, s in enumerate(note_lines):
            put_text(fig, height, MARGIN, note_y, s, fontsize=SMALL, ha="left", va="top", linespacing=1.2,
                     gid=f"footer-{i}")
            note_y += (s.count("\n") + 1) * LINE + 0.05
        return fig


def _side_arrow(arrow, x, y, heights, key: str, row: str) -> None:
    """From a main box to the box of what left the flow at that step."""
    level = y[row] + heights[row] / 2
    arrow((x[key] + BOX_W, level), (x[f"{key}_side"], level), f"arrow-{key}-{row}-side")
