"""PDFs embed their fonts as TrueType (Type 42), never Type 3, and without the layout tables.

Publishers' checks (e.g. PDF/A-style preflights) reject Type 3 bitmap/procedure fonts; RC_PARAMS
sets ``pdf.fonttype: 42`` and :func:`evsynth.figures._base.save_figure` subsets each font without
GSUB/GPOS/GDEF/kern (issue 18: the cheaper PDF path). The PDF is read here with zlib and
fontTools only (both already required by matplotlib).
"""

from __future__ import annotations

import io
import re
import zlib

import matplotlib
import pytest
from fontTools.ttLib import TTFont

from evsynth.figures._base import PDF_DROPPED_FONT_TABLES, figure_context, new_figure, save_figure

_OBJECT = re.compile(rb"(\d+) 0 obj\s*(.*?)endobj", re.S)
_STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.S)


def pdf_fonts(data: bytes) -> dict[str, list]:
    """The font subtypes of a PDF and its embedded TrueType programs (parsed with fontTools)."""
    objects = {int(m.group(1)): m.group(2) for m in _OBJECT.finditer(data)}
    subtypes = re.findall(rb"/Subtype\s*/(Type3|Type1|TrueType|Type0|CIDFontType0|CIDFontType2)", data)
    programs = []
    for ref in re.findall(rb"/FontFile2\s+(\d+) 0 R", data):
        body = objects[int(ref)]
        raw = _STREAM.search(body).group(1)
        if b"/FlateDecode" in body:
            raw = zlib.decompress(raw)
        programs.append(TTFont(io.BytesIO(raw)))
    return {"subtypes": sorted(s.decode() for s in subtypes), "truetype": programs}


def _figure():
    with figure_context():
        fig = new_figure((3, 1.5))
        fig.text(0.05, 0.7, "Risk ratio ≥ 1.25, τ² = 0.04 (95% CI)")
        fig.text(0.05, 0.3, "Favours CBT", weight="bold")
    return fig


def test_pdf_embeds_truetype_subsets_without_layout_tables(tmp_path):
    save_figure(_figure(), {"pdf": tmp_path / "f.pdf"})
    fonts = pdf_fonts((tmp_path / "f.pdf").read_bytes())
    assert "Type3" not in fonts["subtypes"]
    assert "CIDFontType2" in fonts["subtypes"]
    assert len(fonts["truetype"]) >= 2  # regular and bold
    for font in fonts["truetype"]:
        tables = set(font.keys())
        assert {"glyf", "loca", "hmtx", "cmap", "head"} <= tables
        assert not tables & set(PDF_DROPPED_FONT_TABLES), tables
        assert font["maxp"].numGlyphs < 100  # a subset, not the whole font


def test_a_type3_pdf_is_detected(tmp_path):
    # The check above must be able to fail: the same figure with Type 3 fonts.
    fig = _figure()
    with matplotlib.rc_context({"pdf.fonttype": 3}):
        fig.savefig(tmp_path / "t3.pdf", format="pdf")
    fonts = pdf_fonts((tmp_path / "t3.pdf").read_bytes())
    assert "Type3" in fonts["subtypes"]
    assert fonts["truetype"] == []


def test_the_subsetter_is_restored_after_saving(tmp_path):
    from matplotlib.backends import _backend_pdf_ps

    before = _backend_pdf_ps.subset
    save_figure(_figure(), {"pdf": tmp_path / "f.pdf"})
    assert _backend_pdf_ps.subset is before
    with pytest.raises(ValueError, match="unsupported figure format"):
        save_figure(_figure(), {"eps": tmp_path / "f.eps"})
    assert _backend_pdf_ps.subset is before


def test_dropping_the_layout_tables_changes_no_glyph_and_no_page_content(tmp_path):
    # The lean subset against matplotlib's own: the same page streams, the same outline and
    # advance width for every glyph the page uses.
    fig = _figure()
    save_figure(fig, {"pdf": tmp_path / "lean.pdf"})
    with figure_context():
        fig.savefig(tmp_path / "full.pdf", format="pdf", metadata={"CreationDate": None})
    lean, full = ((tmp_path / f"{n}.pdf").read_bytes() for n in ("lean", "full"))
    assert lean != full and len(lean) < len(full)

    def pages(data):
        return [zlib.decompress(m.group(1)) for m in _STREAM.finditer(data)
                if b"BT" in zlib.decompress(m.group(1))[:4096]]

    assert pages(lean) == pages(full) != []
    lean_fonts, full_fonts = pdf_fonts(lean)["truetype"], pdf_fonts(full)["truetype"]
    assert len(lean_fonts) == len(full_fonts)
    for a, b in zip(lean_fonts, full_fonts, strict=True):
        assert set(a.getGlyphOrder()) <= set(b.getGlyphOrder())
        for name in a.getGlyphOrder():
            ga, gb = a["glyf"][name], b["glyf"][name]
            assert ga.compile(a["glyf"]) == gb.compile(b["glyf"]), name
            assert a["hmtx"][name] == b["hmtx"][name], name
