"""HTML and Markdown for people: the study table with linked sources, the summary of findings.

Study labels, sources and notes come from users, so every piece of text is escaped
(:func:`html.escape`) before it reaches HTML, links are made only from DOIs, PMIDs and
http(s) URLs, and Markdown cells are escaped and spreadsheet-safe (a cell starting with
``=``, ``+``, ``-`` or ``@`` that is not a number is prefixed with ``'``, as in
:func:`evsynth.data.io.neutralise_formula`). The documents are self-contained (inline CSS, no
scripts, no external resources) so that Snakemake's report can embed them.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from evsynth._values import is_missing, is_na
from evsynth.data.columns import ROB1_ITEMS, ROB_COLUMNS, SELF_REPORT
from evsynth.data.io import neutralise_formula
from evsynth.data.vocabulary import OVERALL_TREATMENT
from evsynth.reports.sof import CERTAINTY_SYMBOLS
from evsynth.tables.rob import COLOURS, JUDGEMENT_LABELS, NOT_ASSESSED, ROB1_HEADERS, ROB_HEADERS, SYMBOLS

__all__ = [
    "escape",
    "markdown_cell",
    "sof_html",
    "sof_markdown",
    "source_html",
    "study_table_html",
]


# URLs first (a DOI inside a URL stays part of the URL), then DOIs, then PMIDs.
_LINK = re.compile(
    r"(?P<url>https?://[^\s<>\"']+)"
    r"|(?P<doi>(?:doi:\s*)?(?P<doi_id>10\.\d{4,9}/[^\s<>\"',;]+))"
    r"|(?P<pmid>PMID:?\s*(?P<pmid_id>\d{1,9}))",
    re.IGNORECASE,
)
_TRAILING = ".,;:)]}"

CSS = """
body{font-family:"DejaVu Sans",Arial,sans-serif;font-size:13px;color:#111;margin:16px;}
h1{font-size:18px;margin:0 0 6px 0;} h2{font-size:15px;margin:18px 0 6px 0;}
p.meta{color:#444;margin:2px 0 10px 0;}
table{border-collapse:collapse;margin:6px 0 14px 0;}
th,td{border:1px solid #bbb;padding:4px 6px;vertical-align:top;text-align:left;}
th{background:#eef1f6;}
td.num{text-align:right;white-space:nowrap;}
tr.excluded td{color:#777;}
span.rob{display:inline-block;width:18px;height:18px;border-radius:9px;border:1px solid #555;
text-align:center;line-height:18px;font-weight:bold;font-size:12px;}
.cert{white-space:nowrap;}
table.sof td{font-size:12px;} table.sof td:nth-child(2){min-width:80px;}
table.sof td:nth-child(3){min-width:200px;} table.sof td:nth-child(8){min-width:260px;}
ul.notes{color:#333;padding-left:18px;}
"""


def escape(value: Any) -> str:
    """Text for HTML element content or attribute values ('' for None/NaN)."""
    if is_na(value):
        return ""
    return html.escape(str(value), quote=True)


def _link(href: str, text: str) -> str:
    return f'<a href="{escape(href)}" target="_blank" rel="noopener noreferrer">{escape(text)}</a>'


def source_html(text: str) -> str:
    """A source cell as escaped HTML in which DOIs, PMIDs and http(s) URLs are links.

    DOIs link to https://doi.org/, PMIDs to PubMed; nothing else (no ``javascript:`` or other
    scheme) ever becomes a link.
    """
    text = "" if text is None else str(text)
    out, pos = [], 0
    for match in _LINK.finditer(text):
        start, end = match.span()
        found = stripped = match.group(0)
        # Trailing punctuation ends the sentence, not the link; a ")" closing a "(" of the link stays.
        while stripped and stripped[-1] in _TRAILING and not (
            stripped[-1] == ")" and stripped.count("(") >= stripped.count(")")
        ):
            stripped = stripped[:-1]
        end -= len(found) - len(stripped)
        out.append(escape(text[pos:start]))
        if match.group("url"):
            out.append(_link(stripped, stripped))
        elif match.group("doi"):
            doi = re.sub(r"^doi:\s*", "", stripped, flags=re.IGNORECASE)
            out.append(_link("https://doi.org/" + quote(doi, safe="/:;()._-"), stripped))
        else:
            out.append(_link(f"https://pubmed.ncbi.nlm.nih.gov/{match.group('pmid_id')}/", stripped))
        pos = end
    out.append(escape(text[pos:]))
    return "".join(out)


def markdown_cell(value: Any) -> str:
    """A Markdown table cell: no HTML tags or entities, Markdown punctuation escaped, formula-safe."""
    if is_na(value):
        return ""
    text = neutralise_formula(" ".join(str(value).split()))
    # '&' and '<' are enough to stop any tag or entity; '>' stays readable (">=30%").
    text = text.replace("&", "&amp;").replace("<", "&lt;")
    return re.sub(r"([\\|*_`\[\]#])", r"\\\1", text)


def _document(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _num(value: Any) -> str:
    if is_missing(value):
        return ""
    number = float(value)
    return f"{int(number)}" if number.is_integer() else f"{number:g}"


def _data_summary(row: Mapping[str, Any]) -> str:
    """The numbers a row gives, in the form it gives them (counts, means, contrast or arm)."""
    form = str(row.get("form") or "")
    if form == "counts":
        return (f"{_num(row.get('events_treat'))}/{_num(row.get('n_treat'))} vs "
                f"{_num(row.get('events_ctrl'))}/{_num(row.get('n_ctrl'))}")
    if form == "means":
        treat, ctrl = ([_num(row.get(f"{c}_{a}")) for c in ("mean", "sd", "n")] for a in ("treat", "ctrl"))
        return f"{treat[0]} (SD {treat[1]}, n {treat[2]}) vs {ctrl[0]} (SD {ctrl[1]}, n {ctrl[2]})"
    if form == "contrast":
        text = f"{row.get('effect_measure') or ''} {_num(row.get('effect'))}"
        if _num(row.get("ci_lower")):
            text += f" [{_num(row.get('ci_lower'))}, {_num(row.get('ci_upper'))}]"
        elif _num(row.get("se")):
            text += f" (SE {_num(row.get('se'))})"
        return text
    if form == "arm":
        unit = "%" if row.get("arm_measure") == "percent" else ""
        text = f"{_num(row.get('arm_estimate'))}{unit}"
        if _num(row.get("arm_ci_lower")):
            text += f" [{_num(row.get('arm_ci_lower'))}, {_num(row.get('arm_ci_upper'))}]"
        elif _num(row.get("arm_se")):
            text += f" (SE {_num(row.get('arm_se'))})"
        if _num(row.get("n_arm")):
            text += f", n {_num(row.get('n_arm'))}"
        return text
    return ""


def _rob_cell(judged: str) -> str:
    judged = judged or NOT_ASSESSED
    return (f'<span class="rob" style="background:{COLOURS[judged]}" title="{escape(JUDGEMENT_LABELS[judged])}">'
            f"{escape(SYMBOLS[judged])}</span>")


def study_table_html(
    records: Iterable[Mapping[str, Any]],
    modes: Mapping[str, str],
    outcomes: Mapping[str, str],
    title: str = "Study table",
    note: str = "",
) -> str:
    """The study table as a self-contained HTML page: one row per study-table row, sources linked.

    ``records`` hold :data:`STUDY_TABLE_FIELDS`; ``outcomes`` maps outcome id -> label. RoB 2
    columns appear when any row has a judgement, RoB 1 item columns when any row has those.
    """
    records = list(records)
    with_rob = any(str(r.get(c) or "") for r in records for c in ROB_COLUMNS)
    with_rob1 = any(str(r.get(c) or "") for r in records for c in ROB1_ITEMS)
    heads = ["Study", "Year", "Comparison or arm", "Outcome", "Timepoint", "In analysis", "Data", "Source"]
    if with_rob:
        heads[-1:-1] = list(ROB_HEADERS)
    if with_rob1:
        heads[-1:-1] = [f"RoB 1 {h}" for h in ROB1_HEADERS]
    lines = [f"<h1>{escape(title)}</h1>"]
    if note:
        lines.append(f'<p class="meta">{escape(note)}</p>')
    lines.append("<table>\n<thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in heads) + "</tr></thead>\n<tbody>")
    for row in records:
        included = row.get("include") in (True, "yes", None, "")
        if str(row.get("form") or "") == "arm":
            what = f"arm: {modes.get(str(row.get('arm')), row.get('arm'))}"
        else:
            what = (f"{modes.get(str(row.get('treatment')), row.get('treatment'))} vs "
                    f"{modes.get(str(row.get('comparator')), row.get('comparator'))}")
        year = _num(row.get("year"))
        cells = [
            escape(row.get("study")),
            f'<span class="num">{escape(year)}</span>',
            escape(what),
            escape(outcomes.get(str(row.get("outcome")), row.get("outcome"))),
            escape(row.get("timepoint")),
            "yes" if included else "no: " + escape(row.get("exclusion_reason")),
            escape(_data_summary(row)),
        ]
        if with_rob:
            cells += [_rob_cell(str(row.get(c) or "")) for c in ROB_COLUMNS]
        if with_rob1:
            cells += [_rob_cell(str(row.get(c) or "")) for c in ROB1_ITEMS]
        cells.append(source_html(str(row.get("source") or "")))
        css = "" if included else ' class="excluded"'
        lines.append(f"<tr{css}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    lines.append("</tbody>\n</table>")
    if with_rob:
        legend = "; ".join(f"{escape(SYMBOLS[j] or 'grey')} {escape(JUDGEMENT_LABELS[j].lower())}"
                           for j in ("low", "some concerns", "high", NOT_ASSESSED))
        lines.append(f'<p class="meta">Risk of bias (RoB 2): {legend}.</p>')
    if with_rob1:
        legend = "; ".join(f"{escape(SYMBOLS[j] or 'grey')} {escape(JUDGEMENT_LABELS[j].lower())}"
                           for j in ("low", "unclear", "high", SELF_REPORT, NOT_ASSESSED))
        lines.append('<p class="meta">RoB 1 items (Higgins et al. 2011), for trials the source database rated with '
                     "RoB 1, not translated into RoB 2: SG random sequence generation, AC allocation concealment, "
                     f"BA blinding of outcome assessment, ITT incomplete outcome data: {legend}.</p>")
    return _document(title, "\n".join(lines))


def _certainty(row: Mapping[str, Any]) -> str:
    level = str(row.get("certainty") or "")
    if not level:
        return "not rated (reviewer's judgement)"
    text = f"{CERTAINTY_SYMBOLS[level]} {level.capitalize()}"
    if row.get("certainty_reasons"):
        text += f" ({row['certainty_reasons']})"
    return text


def _sof_cells(row: Mapping[str, Any], level: float = 95) -> dict[str, str]:
    """Plain-text cells of one SoF row in GRADE's layout (escaped by the caller for its format)."""
    comparator = str(row.get("comparison", "")).split(" vs ")[-1]
    treatment = str(row.get("comparison", "")).split(" vs ")[0]
    binary = row.get("risk_comparator_per_1000") not in (None, "")
    if binary:
        with_comparator = f"{int(row['risk_comparator_per_1000']):,} per 1,000"
        with_treatment = (f"{int(row['risk_treatment_per_1000']):,} per 1,000 "
                          f"({int(row['risk_treatment_ci_lower_per_1000']):,} to "
                          f"{int(row['risk_treatment_ci_upper_per_1000']):,})\n"
                          f"{row.get('absolute_difference')}")
    else:
        with_comparator = "-" if row.get("absolute_difference") else ""
        with_treatment = str(row.get("absolute_difference") or row.get("absolute_effect") or "")
    inputs = "; ".join(f"{name}: {row.get(key)}" for name, key in (
        ("Risk of bias", "risk_of_bias"), ("Inconsistency", "inconsistency"), ("Imprecision", "imprecision"))
        if row.get(key))
    comments = [str(row.get("status") or "")]
    if row.get("heterogeneity"):
        comments.append(f"Heterogeneity: {row['heterogeneity']}")
    if row.get("control_risk_source"):
        comments.append(f"Assumed risk: {row['control_risk_source']}")
    if row.get("comments"):
        comments.append(str(row["comments"]))
    return {
        "Outcome": f"{row.get('outcome_label')}, {row.get('timepoint')}",
        f"Risk with {comparator}": with_comparator,
        f"Risk with {treatment} ({level:g}% CI)": with_treatment,
        f"Relative effect ({level:g}% CI)": str(row.get("relative_effect") or row.get("effect") or ""),
        f"NNT ({level:g}% CI)": str(row.get("nnt_text") or ""),
        "№ of participants (studies)": str(row.get("participants") or ""),
        "Certainty of the evidence (GRADE)": _certainty(row),
        "Certainty inputs": inputs,
        "Comments": "; ".join(c for c in comments if c),
    }


def _by_comparison(records: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    groups: dict[str, list[Mapping[str, Any]]] = {}
    ordered = sorted(records, key=lambda r: r.get("treatment") == OVERALL_TREATMENT)  # across-modes last
    for row in ordered:
        groups.setdefault(str(row.get("comparison")), []).append(row)
    return groups


def sof_html(records: Sequence[Mapping[str, Any]], title: str, notes: Sequence[str] = (), level: float = 95) -> str:
    """The summary of findings in GRADE's layout, one table per comparison, as an HTML page
    (``level``: the CIs' level in percent)."""
    lines = [f"<h1>{escape(title)}</h1>"]
    for comparison, rows in _by_comparison(records).items():
        lines.append(f"<h2>{escape(comparison)}</h2>")
        cells = [_sof_cells(r, level) for r in rows]
        heads = list(cells[0])
        # GRADE's two-level header: "Anticipated absolute effects" over the two risk columns.
        top = (f'<th rowspan="2">{escape(heads[0])}</th>'
               f'<th colspan="2">Anticipated absolute effects ({level:g}% CI)</th>'
               + "".join(f'<th rowspan="2">{escape(h)}</th>' for h in heads[3:]))
        second = f"<tr><th>{escape(heads[1])}</th><th>{escape(heads[2])}</th></tr>"
        lines.append(f'<table class="sof">\n<thead><tr>{top}</tr>\n{second}</thead>\n<tbody>')
        for row in cells:
            tds = []
            for head, text in row.items():
                css = ' class="cert"' if head.startswith("Certainty of") else ""
                tds.append(f"<td{css}>{escape(text).replace(chr(10), '<br>')}</td>")
            lines.append("<tr>" + "".join(tds) + "</tr>")
        lines.append("</tbody>\n</table>")
    if notes:
        lines.append('<ul class="notes">' + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>")
    return _document(title, "\n".join(lines))


def sof_markdown(
    records: Sequence[Mapping[str, Any]], title: str, notes: Sequence[str] = (), level: float = 95
) -> str:
    """The summary of findings as Markdown, one table per comparison (cells escaped, formula-safe)."""
    lines = [f"# {markdown_cell(title)}", ""]
    for comparison, rows in _by_comparison(records).items():
        lines += [f"## {markdown_cell(comparison)}", ""]
        cells = [_sof_cells(r, level) for r in rows]
        heads = list(cells[0])
        lines.append("| " + " | ".join(markdown_cell(h) for h in heads) + " |")
        lines.append("|" + "---|" * len(heads))
        lines += ["| " + " | ".join(markdown_cell(v) for v in row.values()) + " |" for row in cells]
        lines.append("")
    lines += [f"- {markdown_cell(n)}" for n in notes]
    return "\n".join(lines).rstrip("\n") + "\n"
