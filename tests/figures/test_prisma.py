"""The PRISMA 2020 flow diagram (evsynth.figures.prisma): every box of the template with the
counts of the screening log, the updated-review variant, unused routes and unknown counts
said in words, and byte-identical files across runs."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import yaml
from matplotlib.patches import Rectangle
from matplotlib.text import Text

from conftest import REPO
from evsynth.data.screening import UNKNOWN, load_screening
from evsynth.figures._base import save_figure
from evsynth.figures.prisma import draw_prisma, prisma_box_texts
from evsynth.pipeline.filing import previous_studies

FIXTURES = REPO / "tests" / "fixtures" / "screening"
REASONS = ["wrong comparator", "not randomised"]
TABLE = ["Allen 2019", "Dear 2013"]


def _counts():
    return load_screening(FIXTURES / "good_log.tsv", REASONS, TABLE, "studies.tsv")


def _texts(fig) -> dict[str, str]:
    return {t.get_gid(): " ".join(t.get_text().split()) for t in fig.findobj(Text) if t.get_gid()}


def test_every_box_of_the_template_with_its_count():
    fig = draw_prisma(_counts(), "PRISMA")
    boxes = {r.get_gid() for r in fig.findobj(Rectangle) if r.get_gid()}
    for name in ("db_identified", "db_removed", "db_screened", "db_screen_excluded", "db_sought",
                 "db_not_retrieved", "db_assessed", "db_excluded", "other_identified", "other_sought",
                 "other_not_retrieved", "other_assessed", "other_excluded", "included"):
        assert f"box-{name}" in boxes
    texts = _texts(fig)
    assert "MEDLINE (n = 2)" in texts["text-db_identified"] and "ClinicalTrials.gov (n = 1)" in texts[
        "text-db_identified"]
    assert "Duplicate records removed (n = 1)" in texts["text-db_removed"]
    assert texts["text-db_screened"] == "Records screened (n = 5)"
    assert texts["text-db_sought"] == "Reports sought for retrieval (n = 4)"
    assert texts["text-db_not_retrieved"] == "Reports not retrieved (n = 1)"
    assert "wrong comparator (n = 1)" in texts["text-db_excluded"]
    assert "not randomised (n = 1)" in texts["text-other_excluded"]
    assert texts["text-included"] == "Studies included in review (n = 2) Reports of included studies (n = 3)"
    assert "box-previous" not in boxes


def test_updated_review_adds_previous_and_total():
    counts = replace(_counts(), studies=1, previous_studies=1, previous_reports=UNKNOWN)
    texts = _texts(draw_prisma(counts, "PRISMA"))
    assert "Studies included in previous version of review (n = 1)" in texts["text-previous"]
    assert "Reports of studies included in previous version of review (n unknown)" in texts["text-previous"]
    assert texts["text-included"].startswith("New studies included in review (n = 1)")
    assert texts["text-total"] == ("Total studies included in review (n = 2) Reports of total included studies "
                                   "(n unknown)")


def test_unused_route_and_unknown_counts_are_said_not_drawn_as_zeros():
    baseline = yaml.safe_load((REPO / "config.yaml").read_text())["changes"]["baseline"]
    counts = load_screening(REPO / "screening.yaml", yaml_reasons(), shipped_studies(), "studies.tsv",
                            previous_studies(str(REPO / baseline)))
    texts = prisma_box_texts(counts)
    assert texts["other_none"].startswith("No other methods")
    assert "other_sought" not in texts
    assert texts["db_screened"] == "Records screened\n(n unknown)"
    assert texts["db_assessed"] == "Reports assessed for eligibility\n(n = 12)"
    assert "Studies included in previous version of review\n(n = 20)" in texts["previous"]


def test_files_are_byte_identical_across_runs(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        save_figure(draw_prisma(_counts(), "PRISMA", ["a note"]), [out / "p.svg", out / "p.png", out / "p.pdf"])
    for name in ("p.svg", "p.png", "p.pdf"):
        assert (first / name).read_bytes() == (second / name).read_bytes()


def yaml_reasons() -> list[str]:
    return yaml.safe_load((REPO / "config.yaml").read_text())["screening"]["exclusion_reasons"]


def shipped_studies() -> list[str]:
    return list(pd.read_csv(REPO / "studies.tsv", sep="\t", dtype=str)["study"])
