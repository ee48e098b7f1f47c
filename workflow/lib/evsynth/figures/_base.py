"""What every figure shares: a deterministic matplotlib context, atomic byte-reproducible
saving, one house style, one text toolkit and the common pieces of a forest-style layout.

Every plotting module draws inside :func:`figure_context` on a :func:`new_figure` and saves
with :func:`save_figure`, so fonts, SVG ids and embedded metadata never depend on the
user's matplotlibrc, the clock or the run. Nothing here touches global rcParams.

Geometry is in inches from the top of the figure (``y_top``); text is measured with the
Agg renderer (:func:`measurer`), so layouts size themselves to their words.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D

from evsynth._values import is_na
from evsynth.data.io import clear_stale_temporaries

__all__ = [
    "DARK",
    "FONT",
    "MARGIN",
    "MIN_FONT",
    "PNG_DPI",
    "RATIO_TICKS",
    "RC_PARAMS",
    "SMALL",
    "TITLE",
    "Measure",
    "body_frame",
    "effect_axis",
    "figure_context",
    "figure_paths",
    "finite",
    "fit",
    "graph_axes",
    "header_rule",
    "measurer",
    "new_figure",
    "put_text",
    "save_figure",
    "shorten",
    "stack",
    "table_records",
    "wrap",
    "wrap_lines",
]

# House style: type sizes (points), the outer margin (inches) and the marker colour.
FONT, SMALL, TITLE, MIN_FONT = 8.0, 7.0, 10.0, 6.0
MARGIN = 0.15
DARK = "#1f3a93"
#: Candidate ticks of a ratio (log) axis, 1-2-5 steps from 1/1000 to 1000.
RATIO_TICKS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)

#: rcParams applied around drawing and saving. ``svg.hashsalt`` fixes the ids of
#: clip paths, ``svg.fonttype: path`` stores glyphs as paths (no font lookup by
#: the viewer), ``pdf.fonttype: 42`` embeds TrueType rather than Type 3 outlines.
RC_PARAMS: dict[str, object] = {
    "font.family": "DejaVu Sans",
    "font.size": 8.0,
    "text.parse_math": False,  # labels are data: a "$" must not start mathtext
    "svg.fonttype": "path",
    "svg.hashsalt": "evsynth-figures",
    "pdf.fonttype": 42,
    "figure.dpi": 100,
    "savefig.facecolor": "white",
    "savefig.edgecolor": "white",
    "path.simplify": False,
}

#: Raster resolution for PNG output.
PNG_DPI = 200

# Drop the timestamp/software entries each backend would otherwise embed.
_METADATA: dict[str, dict[str, None]] = {
    "svg": {"Date": None},
    "pdf": {"CreationDate": None},
    "png": {"Software": None},
}


@contextlib.contextmanager
def figure_context() -> Iterator[None]:
    """Apply :data:`RC_PARAMS` for the duration of a ``with`` block.

    Yields
    ------
    None
        rcParams are restored on exit, also on error.
    """
    with matplotlib.rc_context(RC_PARAMS):
        yield


#: Font tables left out of the TrueType (Type 42) fonts a PDF embeds. A PDF places each glyph
#: by id at a position matplotlib computed (kerning included), so no viewer reads the layout
#: tables; decompiling them to subset them was about three quarters of the time matplotlib
#: spends subsetting a font (about 70 -> 20 ms of CPU per DejaVu Sans face, issue 18), and they
#: were a fifth of each embedded subset's bytes. The glyph outlines, metrics, hinting and cmap
#: stay, so the page renders the same.
PDF_DROPPED_FONT_TABLES = ("GSUB", "GPOS", "GDEF", "BASE", "JSTF", "MATH", "kern")


@contextlib.contextmanager
def _lean_pdf_fonts() -> Iterator[None]:
    """While saving a PDF, make matplotlib's font subsetter (``_backend_pdf_ps``, which calls
    ``subset.Options``, ``subset.load_font`` and ``subset.Subsetter``) drop
    :data:`PDF_DROPPED_FONT_TABLES`. Private to matplotlib (pinned in requirements.txt):
    tests/figures/test_pdf_fonts.py fails if a new version stops honouring it. Imported here:
    fontTools.subset costs 80 ms, which a job drawing no PDF need not pay."""
    from fontTools import subset as font_subset
    from matplotlib.backends import _backend_pdf_ps

    def lean_options(**kwargs: Any) -> Any:
        options = font_subset.Options(**kwargs)
        options.drop_tables += list(PDF_DROPPED_FONT_TABLES)
        options.layout_features = []
        return options

    shim = types.SimpleNamespace(Options=lean_options, load_font=font_subset.load_font,
                                 Subsetter=font_subset.Subsetter)
    original = _backend_pdf_ps.subset
    _backend_pdf_ps.subset = shim
    try:
        yield
    finally:
        _backend_pdf_ps.subset = original


def _targets(paths: Mapping[str, str] | Sequence[str]) -> list[tuple[str, Path]]:
    """Normalise ``{format: path}`` or ``[path, ...]`` to sorted (format, path)."""
    if isinstance(paths, Mapping):
        pairs = [(str(fmt).lower().lstrip("."), Path(p)) for fmt, p in paths.items()]
    elif isinstance(paths, (str, os.PathLike)):
        raise TypeError("paths must be a list or dict of paths, not a single path")
    else:
        pairs = [(Path(p).suffix.lower().lstrip("."), Path(p)) for p in paths]
    for fmt, path in pairs:
        if fmt not in _METADATA:
            raise ValueError(f"unsupported figure format {fmt!r} for {path}")
    return sorted(pairs, key=lambda fp: (str(fp[1]), fp[0]))


def figure_paths(outputs: Any, name: str = "") -> dict[str, str]:
    """``{format: path}`` of one figure among a job's named outputs (keys ``format``, or
    ``name_format`` when a job draws several figures, as ``figure_outputs`` in
    workflow/rules/common.smk names them): the formats config.yaml figures.formats asks for."""
    named = dict(outputs.items())
    keys = {fmt: f"{name}_{fmt}" if name else fmt for fmt in _METADATA}
    return {fmt: str(named[key]) for fmt, key in keys.items() if key in named}


def save_figure(fig: Figure, paths: Mapping[str, str] | Sequence[str]) -> None:
    """Write ``fig`` to SVG/PNG/PDF files, byte-identically across runs.

    Each file is written to a temporary sibling and moved into place with
    :func:`os.replace`, so an interrupted run never leaves a truncated figure.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to save (its size is used as is; no tight bounding box).
    paths : dict of str to str, or list of str
        Either ``{"svg": "a.svg", "png": "a.png"}`` (format -> path) or a list of
        paths whose extension (``.svg``, ``.png``, ``.pdf``) names the format.

    Raises
    ------
    ValueError
        If a format is not one of svg, png, pdf.
    """
    targets = _targets(paths)
    with figure_context():
        for fmt, path in targets:
            path.parent.mkdir(parents=True, exist_ok=True)
            clear_stale_temporaries(path)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
            # os.open with 0o666 honours the umask, unlike tempfile's 0o600.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            try:
                lean = _lean_pdf_fonts() if fmt == "pdf" else contextlib.nullcontext()
                with os.fdopen(fd, "wb") as fh, lean:
                    fig.savefig(
                        fh,
                        format=fmt,
                        dpi=PNG_DPI if fmt == "png" else 72,
                        metadata=_METADATA[fmt],
                    )
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise


# ---------------------------------------------------------------------------------------
# Figures and text.
# ---------------------------------------------------------------------------------------

#: ``measure(text, size=FONT, bold=False) -> width in inches`` (the widest line of ``text``).
Measure = Callable[..., float]


def new_figure(figsize: tuple[float, float] | None = None) -> Figure:
    """A pyplot-free figure with an Agg canvas (call inside :func:`figure_context`)."""
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def measurer(fig: Figure) -> Measure:
    """Return ``measure(text, size, bold) -> width in inches`` via the figure's Agg renderer."""
    renderer = fig.canvas.get_renderer()

    def measure(text: str, size: float = FONT, bold: bool = False) -> float:
        prop = FontProperties(size=size, weight="bold" if bold else "normal")
        widths = [renderer.get_text_width_height_descent(s, prop, ismath=False)[0] for s in text.split("\n")]
        return max(widths) / fig.dpi

    return measure


def wrap_lines(
    measure: Measure, text: Any, width: float, size: float = SMALL, bold: bool = False, split: bool = False
) -> list[str]:
    """Greedy word wrap to ``width`` inches; a word longer than a line is broken only if ``split``."""
    lines: list[str] = []
    current = ""
    for word in str(text).split():
        candidate = f"{current} {word}" if current else word
        if measure(candidate, size, bold) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        while split and len(word) > 1 and measure(word, size, bold) > width:
            n = len(word) - 1
            while n > 1 and measure(word[:n], size, bold) > width:
                n -= 1
            lines.append(word[:n])
            word = word[n:]
        current = word
    return [*lines, current] if current else lines


def wrap(
    measure: Measure, text: Any, width: float, size: float = SMALL, bold: bool = False, split: bool = False
) -> str:
    """:func:`wrap_lines` joined with newlines, for one multi-line text artist."""
    return "\n".join(wrap_lines(measure, text, width, size, bold, split))


def shorten(measure: Measure, text: str, width: float, size: float = FONT) -> str:
    """``text`` cut to fit ``width`` inches, with an ellipsis when cut."""
    if measure(text, size) <= width:
        return text
    while len(text) > 1 and measure(text + "…", size) > width:
        text = text[:-1]
    return text + "…"


def fit(measure: Measure, text: str, width: float, size: float = FONT, bold: bool = False) -> float:
    """Largest size <= ``size`` (in half points, down to MIN_FONT) at which ``text`` fits ``width``."""
    while size > MIN_FONT and measure(text, size, bold) > width:
        size -= 0.5
    return size


def put_text(fig: Figure, height: float, x: float, y_top: float, s: str, **kw: Any) -> None:
    """Figure text at ``x`` inches from the left and ``y_top`` inches from the top (body font, centred)."""
    kw.setdefault("fontsize", FONT)
    kw.setdefault("va", "center")
    fig.text(x, height - y_top, s, transform=fig.dpi_scale_trans, **kw)


# ---------------------------------------------------------------------------------------
# Forest-style layout: header rule, graph axes, effect axis.
# ---------------------------------------------------------------------------------------


def stack(put: Callable[..., None], lines: Sequence[str], y: float, step: float, **kw: Any) -> float:
    """Put ``lines`` one under another at the left margin from ``y`` inches down, ``step`` apart.

    ``put(x, y_top, text, **kw)`` draws one line (a :func:`put_text` bound to its figure);
    returns the ``y`` just below the last line.
    """
    for line in lines:
        put(MARGIN, y, line, **kw)
        y += step
    return y



def header_rule(fig: Figure, width: float, y: float) -> None:
    """The thin grey rule between the column headers and the body, ``y`` inches from the bottom."""
    fig.add_artist(Line2D([MARGIN, width - MARGIN], [y, y], transform=fig.dpi_scale_trans, color="0.6", lw=0.5))


def graph_axes(fig: Figure, size: tuple[float, float], x: float, top: float, w: float, h: float):
    """Axes ``w`` x ``h`` inches at ``x`` from the left, ``top`` from the top of a figure of ``size``.

    The y axis runs in inches down from the body top (0 at the top), so the graph's rows
    line up one to one with the table's text rows.
    """
    width, height = size
    return fig.add_axes((x / width, (height - top - h) / height, w / width, h / height))


def effect_axis(ax, limits: tuple[float, float], ratio: bool, ticks: Sequence[float], labels: Sequence[str]) -> None:
    """The x axis of an effect: log for ratios with the given ticks, else about five linear ticks."""
    ax.set_xlim(*limits)
    if ratio:
        ax.set_xscale("log")
        ax.set_xticks(ticks, labels)
        ax.minorticks_off()
    else:
        ax.locator_params(axis="x", nbins=5)
    ax.tick_params(axis="x", labelsize=SMALL, length=3, width=0.6, pad=2)


def body_frame(ax, body_h: float, null: float, gid: str | None = None) -> None:
    """Rows run down from the top; only the bottom spine shows; a black line marks no effect."""
    ax.set_ylim(body_h, 0)
    ax.set_yticks([])
    ax.patch.set_visible(False)
    for side in ("top", "left", "right"):
        ax.spines[side].set_visible(False)
    ax.spines["bottom"].set_linewidth(0.6)
    ax.axvline(null, color="black", lw=0.6, zorder=1, gid=gid)


# ---------------------------------------------------------------------------------------
# Values from the tables.
# ---------------------------------------------------------------------------------------


def finite(*xs: Any) -> bool:
    """True when every value is a finite int or float (``None``, NaN and bools are not)."""
    return all(x is not None and isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
               for x in xs)


def table_records(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
    """A table's rows as dicts with NaN as ``None`` (none for a missing or empty table)."""
    if frame is None or frame.empty:
        return []
    return [{k: (None if is_na(v) else v) for k, v in r.items()}
            for r in frame.to_dict("records")]
