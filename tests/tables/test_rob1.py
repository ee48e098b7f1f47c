"""RoB 1 items (rob1_sg, rob1_ac, rob1_ba, rob1_itt): the summary rule, the low-risk flag the
sensitivity analyses read, RoB 1 trials in their own traffic-light panel, forest-plot columns and
the summary of findings' risk-of-bias domain. Tables here are small made-up ones; the bad-table
corpus (tests/fixtures/bad_tables/66_rob1_items.tsv) holds the refused cells."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import yaml
from matplotlib.patches import Circle, Rectangle

from conftest import REPO
from evsynth.data.columns import ROB1_ITEMS, ROB_COLUMNS, low_risk_of_bias, rob1_summary
from evsynth.data.config import Outcome, sensitivity_config
from evsynth.data.sensitivity_cells import sensitivity_records
from evsynth.data.studies import load_studies
from evsynth.figures._base import save_figure
from evsynth.figures.forest import draw_forest
from evsynth.figures.forest_data import ForestData, ForestRow, ForestSubgroup
from evsynth.figures.rob import draw_summary, draw_traffic_light
from evsynth.reports.sof import sof_row
from evsynth.tables.rob import (
    COLOURS,
    comparison_judgements,
    forest_judgements,
    legend_line,
    overall_judgement,
    traffic_light_panels,
    weight_shares,
    weighted_summary,
)

CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
MODES = CONFIG["modes"]
ALL_LOW = ("low",) * 4
SELF_REPORTED = ("low", "low", "self-report", "low")


@pytest.mark.parametrize("items,summary", [
    (ALL_LOW, "low"),
    (SELF_REPORTED, "unclear"),  # a self-reported outcome is not a low-risk assessment
    (("low", "unclear", "low", "low"), "unclear"),
    (("low", "unclear", "self-report", "high"), "high"),
    (("", "", "", ""), ""),
])
def test_rob1_summary_follows_the_handbook_table_8_7_a(items, summary):
    assert rob1_summary(items) == summary


@pytest.mark.parametrize("cells,flag", [
    ({"rob_overall": "low"}, "yes"),
    ({"rob_overall": "Some_concerns"}, "no"),
    (dict(zip(ROB1_ITEMS, ALL_LOW)), "yes"),
    (dict(zip(ROB1_ITEMS, SELF_REPORTED)), "no"),
    ({}, ""),
])
def test_low_risk_of_bias_reads_either_tool(cells, flag):
    assert low_risk_of_bias(cells) == flag


def _rows():
    """Two RoB 2 trials, two RoB 1 trials (one low on all items), one unjudged."""
    rob2 = dict(zip(ROB_COLUMNS, ("low", "low", "low", "low", "high", "high")))
    return [
        {"study": "A 2015", "treatment": "coach", "comparator": "usual_care", "form": "contrast", "arm": "", **rob2},
        {"study": "B 2017", "treatment": "coach", "comparator": "usual_care", "form": "contrast", "arm": "",
         **dict(zip(ROB_COLUMNS, ["low"] * 6))},
        {"study": "C 2020", "treatment": "coach", "comparator": "usual_care", "form": "contrast", "arm": "",
         **dict(zip(ROB1_ITEMS, ALL_LOW))},
        {"study": "D 2021", "treatment": "coach", "comparator": "usual_care", "form": "contrast", "arm": "",
         **dict(zip(ROB1_ITEMS, SELF_REPORTED))},
        {"study": "E 2022", "treatment": "coach", "comparator": "usual_care", "form": "contrast", "arm": ""},
    ]


def _studies():
    return pd.DataFrame({"study": ["A 2015", "B 2017", "C 2020", "D 2021", "E 2022"], "treatment": ["coach"] * 5,
                         "comparator": ["usual_care"] * 5, "weight_pct": [30.0, 20.0, 25.0, 15.0, 10.0]})


def test_rob1_trials_get_their_own_panel_with_their_four_items():
    rob2, rob1 = comparison_judgements(_rows()), comparison_judgements(_rows(), ROB1_ITEMS)
    rows2, rows1 = traffic_light_panels(_studies(), rob2, rob1, MODES)
    assert [r.label for r in rows2] == ["A 2015", "B 2017", "E 2022"]
    assert rows2[-1].judgements == ("",) * 6
    assert [(r.label, r.judgements) for r in rows1] == [("C 2020", ALL_LOW), ("D 2021", SELF_REPORTED)]


def test_weighted_overall_bar_counts_rob1_summaries_under_their_own_label():
    rob2, rob1 = comparison_judgements(_rows()), comparison_judgements(_rows(), ROB1_ITEMS)
    (_, shares), = weighted_summary(_studies(), rob2, MODES, rob1)
    assert shares["rob_overall"] == {"low": 20.0, "some concerns": 0.0, "high": 30.0, "RoB 1 low": 25.0,
                                     "RoB 1 unclear": 15.0, "not assessed": 10.0}
    assert shares["rob_d1"] == {"low": 50.0, "some concerns": 0.0, "high": 0.0, "not assessed": 50.0}
    for column in ROB_COLUMNS:
        assert math.fsum(shares[column].values()) == pytest.approx(100.0)
    assert overall_judgement(("",) * 6, SELF_REPORTED) == "RoB 1 unclear"


def test_figures_draw_the_rob1_panel_and_are_byte_deterministic(tmp_path):
    rob2, rob1 = comparison_judgements(_rows()), comparison_judgements(_rows(), ROB1_ITEMS)
    rows2, rows1 = traffic_light_panels(_studies(), rob2, rob1, MODES)
    light = draw_traffic_light(rows2, "Risk of bias (RoB 2 and RoB 1): test", rob1_rows=rows1)
    texts = {t.get_gid(): t.get_text() for t in light.texts}
    assert [texts[f"header-rob1-{i}"] for i in range(4)] == ["SG", "AC", "BA", "ITT"]
    assert texts["header-rob1-study"] == "RoB 1" and texts["label-4"] == "D 2021"
    circles = {a.get_gid(): a for a in light.findobj(Circle)}
    assert "circle-4-4" not in circles  # a RoB 1 row has four cells, not six
    assert circles["circle-4-2"].get_facecolor()[:3] == pytest.approx(_rgb(COLOURS["self-report"]))
    assert texts["circle-4-2-symbol"] == "S"
    only_rob1 = draw_traffic_light([], "RoB 1 only", rob1_rows=rows1)
    assert "header-0" not in {t.get_gid() for t in only_rob1.texts}
    summary = draw_summary(weighted_summary(_studies(), rob2, MODES, rob1), "Weighted summary: test")
    bars = {a.get_gid(): a for a in summary.findobj(Rectangle) if (a.get_gid() or "").startswith("bar-")}
    assert bars["bar-0-5-RoB 1 low"].get_width() == pytest.approx(25.0)
    assert bars["bar-0-5-RoB 1 low"].get_hatch() and not bars["bar-0-5-low"].get_hatch()
    for name, fig in (("light", light), ("summary", summary)):
        first, second = tmp_path / f"{name}1.svg", tmp_path / f"{name}2.svg"
        save_figure(fig, [first])
        save_figure(fig, [second])
        assert first.read_bytes() == second.read_bytes()


def _rgb(hex_colour):
    return tuple(int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5))


def test_forest_plot_adds_rob1_columns_after_rob2():
    headers, cells = forest_judgements(_rows())
    assert headers == ("D1", "D2", "D3", "D4", "D5", "Overall", "SG", "AC", "BA", "ITT")
    assert cells[("D 2021", "coach", "usual_care")] == ("",) * 6 + SELF_REPORTED
    assert forest_judgements(_rows()[2:4])[0] == ("SG", "AC", "BA", "ITT")
    assert "RoB 1 (Higgins et al. 2011" in legend_line(headers) and "RoB 2" in legend_line(headers)
    assert "Sterne" not in legend_line(("SG", "AC", "BA", "ITT"))
    row = ForestRow("D 2021", (), (), 100.0, 0.2, -0.1, 0.5, rob=cells[("D 2021", "coach", "usual_care")])
    data = ForestData("t", "Std. Mean Difference", False, "IV, Random, 95% CI", (), "Experimental", "Control",
                      "Favours CBT", "Favours usual care",
                      (ForestSubgroup("Coach vs usual care", (row,), "", "", None, "Single study", ()),),
                      rob_headers=headers)
    fig = draw_forest(data)
    texts = {t.get_gid(): t.get_text() for t in fig.texts}
    assert [texts[f"header-rob-{i}"] for i in range(10)] == list(headers)
    circles = {a.get_gid(): a for a in fig.findobj(Circle) if (a.get_gid() or "").startswith("rob-")}
    assert circles["rob-0-0-5"].get_facecolor()[:3] == pytest.approx(_rgb(COLOURS["not assessed"]))
    assert circles["rob-0-0-8"].get_facecolor()[:3] == pytest.approx(_rgb(COLOURS["self-report"]))


def test_sof_risk_of_bias_names_the_rob1_summary_apart_from_rob2():
    overall = {"A 2015": "high", "C 2020": "RoB 1 low", "D 2021": "RoB 1 unclear"}
    weights = [("A 2015", 50.0), ("C 2020", 30.0), ("D 2021", 10.0), ("E 2022", 10.0)]
    assert weight_shares(weights, overall)["RoB 1 low"] == pytest.approx(30.0)
    pooled = {"outcome": "depression", "timepoint": "post", "treatment": "coach", "comparator": "usual_care",
              "measure": "SMD", "k": 4, "n_participants": 400, "estimate": -0.4, "ci_lower": -0.6,
              "ci_upper": -0.2, "status": "pooled"}
    outcome = Outcome("depression", "Depression", "SMD", False)
    row = sof_row(pooled, outcome, MODES, {}, {}, weights, overall)
    assert row["risk_of_bias"] == ("50% high (overall RoB 2); 10% unclear, 30% low (RoB 1 summary: low only when "
                                   "all four items are low); 10% not assessed of the weight")
    assert (row["rob1_low_pct"], row["rob1_unclear_pct"], row["rob1_high_pct"]) == (30.0, 10.0, 0.0)
    rob2_only = sof_row(pooled, outcome, MODES, {}, {}, weights, {"A 2015": "high"})
    assert rob2_only["risk_of_bias"] == "50% high, 50% not assessed of the weight (overall RoB 2)"


def test_the_low_risk_subset_reads_both_tools(tmp_path):
    header = ["study", "year", "treatment", "comparator", "outcome", "timepoint", "n_treat", "mean_treat",
              "sd_treat", "n_ctrl", "mean_ctrl", "sd_ctrl", "source", *ROB_COLUMNS, *ROB1_ITEMS]
    arms = ["30", "10", "4", "30", "12", "4", "doi:10.1000/x Table 2"]
    rows = [
        ["A 2015", "2015", "coach", "usual_care", "depression", "post", *arms, *(["low"] * 6), *[""] * 4],
        ["C 2020", "2020", "coach", "usual_care", "depression", "post", *arms, *[""] * 6, *ALL_LOW],
        ["D 2021", "2021", "coach", "usual_care", "depression", "post", *arms, *[""] * 6, *SELF_REPORTED],
        ["E 2022", "2022", "coach", "usual_care", "depression", "post", *arms, *[""] * 6, *[""] * 4],
    ]
    path = tmp_path / "studies.tsv"
    pd.DataFrame(rows, columns=header).to_csv(path, sep="\t", index=False)
    studies = load_studies(path, CONFIG)
    config = sensitivity_config({"exclude_if": {"low_risk_of_bias": ["no", ""]}})
    records = sensitivity_records(studies, str(path), config, "depression", "post")
    assert {r["study"]: r["low_risk_of_bias"] for r in records} == {
        "A 2015": "yes", "C 2020": "yes", "D 2021": "no", "E 2022": ""}


def test_study_table_page_shows_rob1_items_in_their_own_columns():
    from evsynth.reports.html import study_table_html

    rows = [{**row, "outcome": "depression", "timepoint": "post", "include": "yes", "source": "doi:10.1000/x"}
            for row in _rows()]
    page = study_table_html(rows, MODES, {"depression": "Depression"})
    assert "<th>Overall</th>" in page and "<th>RoB 1 BA</th>" in page
    assert 'title="Self-reported outcome">S</span>' in page and "not translated into RoB 2" in page
    rob2_only = study_table_html(rows[:2], MODES, {"depression": "Depression"})
    assert "RoB 1" not in rob2_only
