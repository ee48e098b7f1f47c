"""User text (study labels, sources, outcome labels) is escaped in HTML and Markdown, linked only
from DOIs, PMIDs and http(s) URLs, and neutralised in tables for spreadsheets (a cell starting
with =, +, - or @ would run as a formula: CSV injection, OWASP) while numbers stay numbers."""

from __future__ import annotations

from html.parser import HTMLParser

import pandas as pd
import pytest

from evsynth.data.io import neutralise_formula, write_tsv
from evsynth.reports.html import markdown_cell, sof_html, sof_markdown, source_html, study_table_html

HOSTILE = '=HYPERLINK("https://evil.example/x") <script>alert(1)</script> <img src=x onerror=alert(2)>'


class Collector(HTMLParser):
    """Tags, attributes and text of an HTML document."""

    def __init__(self):
        super().__init__()
        self.tags, self.attrs, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += attrs

    def handle_data(self, data):
        self.text.append(data)


def parse(text):
    collector = Collector()
    collector.feed(text)
    return collector


@pytest.mark.parametrize(("cell", "expected"), [
    ("-0.5", "-0.5"), ("+3", "+3"), ("1e-3", "1e-3"), ("-12", "-12"),
    ("=1+1", "'=1+1"), ("+x", "'+x"), ("-x", "'-x"), ("@SUM(A1)", "'@SUM(A1)"), ("-inf", "'-inf"),
    ("Smith 2020", "Smith 2020"), ("", ""), (" =1", " =1"),
    # After each ';' too (a 'studies' cell split by a ';'-separated import), spaces kept.
    ("A 2011; =B 2012", "A 2011; '=B 2012"), ("A;@x;  -y; -0.5", "A;'@x;  '-y; -0.5"), ("=A; B", "'=A; B"),
    ("a; b", "a; b"), (";", ";"),
])
def test_neutralise_formula(cell, expected):
    assert neutralise_formula(cell) == expected


def test_write_tsv_neutralises_text_by_default(tmp_path):
    records = [{"study": "=cmd|' /C calc'!A0", "estimate": -0.5, "label": "-0.5", "n": 3,
                "studies": "A 2011; =B 2012", "cell": "-0.63 [-1.45, 0.19]"}]
    columns = ["study", "estimate", "label", "n", "studies", "cell"]
    safe, plain, kept = tmp_path / "safe.tsv", tmp_path / "plain.tsv", tmp_path / "kept.tsv"
    write_tsv(records, columns, safe)
    write_tsv(records, columns, plain, safe_text=False)
    write_tsv(records, columns, kept, verbatim=("cell", "study"))
    row = lambda path: path.read_text().splitlines()[1].split("\t")  # noqa: E731
    assert row(safe) == ["'=cmd|' /C calc'!A0", "-0.5", "-0.5", "3", "A 2011; '=B 2012", "'-0.63 [-1.45, 0.19]"]
    assert row(plain) == ["=cmd|' /C calc'!A0", "-0.5", "-0.5", "3", "A 2011; =B 2012", "-0.63 [-1.45, 0.19]"]
    assert row(kept) == ["=cmd|' /C calc'!A0", "-0.5", "-0.5", "3", "A 2011; '=B 2012", "-0.63 [-1.45, 0.19]"]
    table = pd.read_csv(safe, sep="\t")
    assert table.loc[0, "estimate"] == -0.5 and table.loc[0, "label"] == -0.5  # still numbers


def test_source_links_only_doi_pmid_and_http():
    html = source_html("doi:10.1001/jama.2025.11178 (PMID 40699570), Table 2; see https://x.org/a?b=1&c=2. "
                       "javascript:alert(1) <b>bold</b>")
    parsed = parse(html)
    hrefs = [v for k, v in parsed.attrs if k == "href"]
    assert hrefs == ["https://doi.org/10.1001/jama.2025.11178", "https://pubmed.ncbi.nlm.nih.gov/40699570/",
                     "https://x.org/a?b=1&c=2"]
    assert parsed.tags == ["a", "a", "a"]  # <b> was escaped, not parsed
    assert "javascript:alert(1) <b>bold</b>" in "".join(parsed.text)
    assert ('rel="noopener noreferrer"' in html) and html.count('target="_blank"') == 3


def test_markdown_cell_escapes_html_markdown_and_formulas():
    cell = markdown_cell(HOSTILE + " | *x* [y](z)")
    assert cell.startswith("'=HYPERLINK")
    assert "<" not in cell and "&lt;script>" in cell
    assert r"\|" in cell and r"\*x\*" in cell and r"\[y\]" in cell
    assert markdown_cell("-0.40") == "-0.40"


def test_study_table_page_escapes_labels_and_has_no_script():
    rows = [{"study": HOSTILE, "year": 2020, "treatment": "coach", "comparator": "usual_care",
             "outcome": "o", "timepoint": "3", "include": True, "form": "counts", "events_treat": 1,
             "n_treat": 10, "events_ctrl": 2, "n_ctrl": 10, "source": "PMID 123 <script>x</script>"}]
    page = study_table_html(rows, {"coach": "Coach", "usual_care": "UC"}, {"o": "Outcome <i>"}, "Study table")
    parsed = parse(page)
    assert "script" not in parsed.tags and "img" not in parsed.tags and "i" not in parsed.tags
    assert not [k for k, _ in parsed.attrs if k.startswith("on")]
    assert HOSTILE in "".join(parsed.text)
    assert ("href", "https://pubmed.ncbi.nlm.nih.gov/123/") in parsed.attrs
    assert "1/10 vs 2/10" in page


def test_sof_documents_escape_user_text():
    row = {"outcome": "o", "outcome_label": HOSTILE, "timepoint": "post", "treatment": "coach",
           "comparator": "usual_care", "comparison": "Coach <b> vs UC", "effect": "RR 1.54 [1.30, 1.82]",
           "relative_effect": "RR 1.54 [1.30, 1.82]", "risk_comparator_per_1000": 208,
           "risk_treatment_per_1000": 320, "risk_treatment_ci_lower_per_1000": 270,
           "risk_treatment_ci_upper_per_1000": 379, "absolute_difference": "112 more per 1,000 (62 more to 171 more)",
           "participants": "1,393 (1 RCT)", "status": "single study: shown, not pooled", "certainty": "low",
           "certainty_reasons": "risk of bias <x>"}
    page = sof_html([row], "SoF <title>")
    parsed = parse(page)
    assert set(parsed.tags) <= {"html", "head", "meta", "title", "style", "body", "h1", "h2", "table", "thead",
                                "tbody", "tr", "th", "td", "br", "ul", "li"}
    text = "".join(parsed.text)
    assert HOSTILE in text and "⊕⊕◯◯ Low (risk of bias <x>)" in text
    assert "208 per 1,000" in text and "320 per 1,000 (270 to 379)" in text
    md = sof_markdown([row], "SoF")
    assert "<script>" not in md and "'=HYPERLINK" in md
