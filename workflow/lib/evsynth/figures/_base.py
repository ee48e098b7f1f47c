"""Deterministic matplotlib context and atomic, byte-reproducible figure saving.

Every plotting module draws inside :func:`figure_context` and saves with
:func:`save_figure`, so fonts, SVG ids and embedded metadata never depend on the
user's matplotlibrc, the clock or the run. Nothing here touches global rcParams.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

__all__ = ["RC_PARAMS", "PNG_DPI", "figure_context", "save_figure"]

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
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
            # os.open with 0o666 honours the umask, unlike tempfile's 0o600.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            try:
                with os.fdopen(fd, "wb") as fh:
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
