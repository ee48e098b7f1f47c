"""Hostile but valid study labels end to end (issue 22): the workflow runs, no results table
carries a cell a spreadsheet would run as a formula (at its start or after a ';'), no HTML or
SVG carries live markup, and no label becomes a path. The run uses ``pooling.profile: bayes``
(issue 16), whose outputs the last test checks end to end."""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import pytest

from conftest import REPO, copy_config, review_config, run_workflow
from evsynth.data.io import read_tsv

pytestmark = pytest.mark.workflow
TABLE = REPO / "tests" / "fixtures" / "bad_tables" / "49_hostile_but_valid.tsv"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Numbers the pipeline formats as text (the network league table's cell): not a formula.
MARKDOWN_RULE = re.compile(r"^\|(-+\|)+$")
ESTIMATE_WITH_CI = re.compile(r"^-?[\d.]+(e-?\d+)? \[-?[\d.]+(e-?\d+)?, -?[\d.]+(e-?\d+)?\]$")


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _live(cell: str) -> bool:
    parts = cell.split(";")
    return any(p.lstrip(" ").startswith(FORMULA_START) and not _is_number(p.strip())
               and not ESTIMATE_WITH_CI.match(p.strip()) for p in [parts[0], *parts[1:]] if p)


def _cells(line: str, suffix: str) -> list[str]:
    """The cells of one line: TSV and CSV fields; a Markdown table row's cells (not its ---
    rule), or the text of a heading, list item or paragraph."""
    if suffix == ".tsv":
        return line.split("\t")
    if suffix == ".csv":
        return line.split(",")
    if MARKDOWN_RULE.match(line):
        return []
    if line.startswith("|"):
        return [c.strip() for c in line.strip().strip("|").split("|")]
    return [re.sub(r"^(#+ |- )", "", line)]


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("hostile") / "review"
    workdir.mkdir()
    config = review_config()
    # The hand-made table has no extra_therapy or RoB columns, and no baseline is needed here.
    config["sensitivity"]["exclude_if"] = {}
    config["changes"]["baseline"] = ""
    # The Bayesian profile (issue 16) rides on this small run: every rule reports its posterior.
    config["pooling"]["profile"] = "bayes"
    copy_config(workdir, config)
    shutil.copy(TABLE, workdir / "studies.tsv")
    run_workflow(workdir)
    return workdir


def test_no_results_cell_is_a_formula(hostile_run):
    files = [p for p in (hostile_run / "results").rglob("*") if p.suffix in (".tsv", ".md", ".csv")
             and "logs" not in p.parts]
    assert any(p.name == "effects.tsv" for p in files)
    live = []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            cells = _cells(line, path.suffix)
            live += [f"{path.relative_to(hostile_run)}:{number}: {c!r}" for c in cells if _live(c)]
    assert live == []
    effects = (hostile_run / "results" / "effects.tsv").read_text(encoding="utf-8")
    for label in ("Lopez 2013 = Lopez 2012b; see notes", "<script>alert(1)</script> 2011", "../../x"):
        assert f"\n{label}\t" in effects  # shown as written


def test_no_live_markup_in_html_or_svg(hostile_run):
    pages = [p for p in (hostile_run / "results").rglob("*") if p.suffix in (".html", ".svg")]
    assert any(p.suffix == ".svg" for p in pages) and any(p.suffix == ".html" for p in pages)
    for path in pages:
        text = path.read_text(encoding="utf-8").lower()
        assert "<script" not in text and "<b>" not in text and "<i>" not in text, path
    assert "&lt;script&gt;alert(1)&lt;/script&gt; 2011" in (hostile_run / "results" / "study_table.html").read_text()


def test_labels_never_become_paths(hostile_run):
    outside = [p for p in hostile_run.parent.rglob("*") if hostile_run not in p.parents and p != hostile_run]
    assert outside == []  # '../../x' wrote nothing beside or above the working directory
    names = [str(p.relative_to(hostile_run)) for p in (hostile_run / "results").rglob("*")]
    assert not any(".." in n or "script" in n or "Brien" in n for n in names)


def test_the_bayes_profile_reports_the_posterior_everywhere(hostile_run):
    """pooled.tsv's estimate columns are the posterior's; robustness.tsv chooses the posterior and
    compares the frequentist profiles with it; the forest plot, summary of findings, methods text
    and R script say what they show."""
    results = hostile_run / "results"
    pooled = read_tsv(results / "pooled.tsv")
    coach = pooled[(pooled["treatment"] == "coach") & (pooled["outcome"] == "pain_interference")].iloc[0]
    assert coach["status"] == "pooled" and coach["profile"] == "bayes" and coach["k"] == 4
    assert coach["pi_method"] == "posterior predictive" and math.isnan(coach["p_value"])
    for column in ("estimate", "ci_lower", "ci_upper", "pi_lower", "pi_upper"):
        assert coach[column] == coach[f"bayes_{column}"]
    robustness = read_tsv(results / "robustness.tsv")
    rows = robustness[(robustness["treatment"] == "coach") & (robustness["outcome"] == "pain_interference")]
    chosen = rows[rows["chosen"].astype(bool)]
    assert len(chosen) == 1 and chosen["profile"].iloc[0].startswith("bayes (")
    assert chosen["estimate"].iloc[0] == coach["estimate"]
    assert sorted(rows.loc[~rows["chosen"].astype(bool), "profile"]) == ["cochrane-2025", "metafor", "revman5"]
    assert rows["conclusion_differs_from_chosen"].notna().all()
    forest = (results / "forest" / "pain_interference_post.svg").read_text(encoding="utf-8")
    assert "Bayesian, Random, 95% CrI" in forest and "posterior median and central 95% credible interval" in forest
    sof = read_tsv(results / "summary_of_findings.tsv")
    effect = sof[(sof["treatment"] == "coach") & (sof["outcome"] == "pain_interference")]["effect"].iloc[0]
    assert effect.endswith("(posterior median, 95% CrI)")
    methods = (results / "methods.md").read_text(encoding="utf-8")
    assert "The primary analysis was a Bayesian normal-normal random-effects model" in methods
    assert "(posterior median), 95% credible interval" in (results / "results.md").read_text(encoding="utf-8")
    script = (results / "reproduce" / "pain_interference_post.R").read_text(encoding="utf-8")
    assert "# The primary numbers of this row are Bayesian (pooling.profile: bayes)" in script
