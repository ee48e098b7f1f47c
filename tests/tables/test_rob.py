"""Risk of bias (RoB 2): study-table checks, judgements per comparison, robvis-style figures
and RoB columns on the forest plot. The tables here are small made-up ones: the shipped table
has no RoB judgements and none are invented for it."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import yaml
from matplotlib.patches import Circle, Rectangle

from conftest import REPO
from evsynth.data.columns import ROB_COLUMNS, has_judgements
from evsynth.data.studies import StudyTableError, load_studies
from evsynth.figures._base import save_figure
from evsynth.figures.forest import draw_forest
from evsynth.figures.forest_data import ForestData, ForestRow, ForestSubgroup
from evsynth.figures.rob import draw_summary, draw_traffic_light
from evsynth.tables.rob import (
    COLOURS,
    comparison_judgements,
    legend_line,
    traffic_light_rows,
    weight_shares,
    weighted_summary,
)

CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
MODES = CONFIG["modes"]
HEADER = ["study", "year", "treatment", "comparator", "outcome", "timepoint", "events_treat", "n_treat",
          "events_ctrl", "n_ctrl", "source", *ROB_COLUMNS]
LOW = ["low"] * 6


def counts_row(study, rob, treatment="coach"):
    return [study, "2020", treatment, "usual_care", "pain_severity_response", "3", "12", "50", "8", "50",
            "doi:10.1000/xyz", *rob]


def load(tmp_path, rows, header=HEADER):
    path = tmp_path / "studies.tsv"
    pd.DataFrame(rows, columns=header).to_csv(path, sep="\t", index=False)
    return load_studies(path, CONFIG)


def problems(tmp_path, rows, header=HEADER):
    with pytest.raises(StudyTableError) as err:
        load(tmp_path, rows, header)
    return {(p.line, p.column, p.value): p.rule for p in err.value.problems}


def test_rob_columns_are_optional_and_normalised(tmp_path):
    table = load(tmp_path, [counts_row("A 2020", ["Low", "SOME CONCERNS", "low", "some_concerns", "low",
                                                   "Some concerns"]),
                            counts_row("B 2020", [""] * 6)])
    assert list(table.loc[0, ROB_COLUMNS]) == ["low", "some concerns", "low", "some concerns", "low",
                                              "some concerns"]
    assert list(table.loc[1, ROB_COLUMNS]) == [""] * 6
    without = load(tmp_path, [counts_row("A 2020", [])], HEADER[:-6])
    assert list(without.loc[0, ROB_COLUMNS]) == [""] * 6


def test_rob_checks_report_every_problem(tmp_path):
    found = problems(tmp_path, [
        counts_row("Bad value 2020", ["low", "moderate", "low", "low", "low", "some concern"]),
        counts_row("Partial 2020", ["low", "low", "", "", "low", "low"]),
        counts_row("No overall 2020", ["low"] * 5 + [""]),
        counts_row("Too mild 2020", ["low", "high", "low", "low", "low", "some concerns"]),
        counts_row("Too severe 2020", ["low", "some concerns", "low", "low", "low", "high"]),
        counts_row("Concerns from nothing 2020", ["low"] * 5 + ["some concerns"]),
    ])
    assert "must be one of low, some concerns, high" in found[(2, "rob_d2", "moderate")]
    assert "did you mean 'some concerns'" in found[(2, "rob_overall", "some concern")]
    assert "give all five RoB 2 domains" in found[(3, "rob_d3", "")]
    assert "must be filled when the RoB 2 domains are" in found[(4, "rob_overall", "")]
    assert "less severe than rob_d2 ('high')" in found[(5, "rob_overall", "some concerns")]
    assert "only for some concerns in several domains" in found[(6, "rob_overall", "high")]
    assert "every domain is low" in found[(7, "rob_overall", "some concerns")]
    assert len(found) == 7


def test_rob_algorithm_allows_high_for_several_concerns_and_overall_alone(tmp_path):
    load(tmp_path, [counts_row("A 2020", ["some concerns", "some concerns", "low", "low", "low", "high"]),
                    counts_row("B 2020", [""] * 5 + ["high"])])


def test_arm_rows_of_one_trial_must_agree(tmp_path):
    header = ["study", "year", "outcome", "timepoint", "arm", "arm_measure", "arm_estimate", "arm_ci_lower",
              "arm_ci_upper", "source", *ROB_COLUMNS]
    def arm(mode, rob):
        return ["T 2020", "2020", "pain_severity_response", "3", mode, "percent", "30", "25", "35", "doi:10.1000/xyz",
                *rob]

    found = problems(tmp_path, [arm("coach", LOW), arm("usual_care", ["low"] * 5 + ["high"])], header)
    ((line, column, value), rule), = found.items()
    assert (line, column, value) == (3, "rob_overall", "high") and "differs from line 2" in rule


def test_comparison_judgements_give_arm_judgements_to_every_contrast():
    rows = [{"study": "T", "form": "arm", "arm": a, **dict(zip(ROB_COLUMNS, LOW))} for a in ("coach", "online",
                                                                                             "usual_care")]
    rows.append({"study": "C", "form": "counts", "treatment": "coach", "comparator": "usual_care",
                 **dict(zip(ROB_COLUMNS, ["high"] * 6))})
    judged = comparison_judgements(rows)
    assert judged[("T", "coach", "usual_care")] == tuple(LOW) == judged[("T", "online", "coach")]
    assert judged[("C", "coach", "usual_care")] == ("high",) * 6
    assert has_judgements(rows) and not has_judgements([{"study": "x", "rob_d1": ""}])


def studies_table():
    return pd.DataFrame({
        "study": ["A 2015", "B 2017", "T 2025", "T 2025", "U 2021"],
        "treatment": ["coach", "coach", "coach", "online", "online"],
        "comparator": ["usual_care"] * 5,
        "weight_pct": [30.0, 20.0, 50.0, 60.0, 40.0],
    })


JUDGED = {
    ("A 2015", "coach", "usual_care"): ("low", "low", "some concerns", "low", "low", "some concerns"),
    ("B 2017", "coach", "usual_care"): ("high", "low", "low", "low", "low", "high"),
    ("T 2025", "coach", "usual_care"): tuple(LOW),
    ("T 2025", "online", "usual_care"): ("low", "some concerns", "low", "low", "low", "some concerns"),
}


def test_traffic_light_rows_split_a_trial_judged_differently_per_comparison():
    rows = traffic_light_rows(studies_table(), JUDGED, MODES)
    assert [r.label for r in rows] == [
        "A 2015", "B 2017", "T 2025 (Health-coach-led remote CBT vs Usual care)",
        "T 2025 (Self-guided online CBT vs Usual care)", "U 2021"]
    assert rows[-1].judgements == ("",) * 6


def test_weighted_summary_shares_sum_to_100():
    panels = weighted_summary(studies_table(), JUDGED, MODES)
    assert [title for title, _ in panels] == ["Health-coach-led remote CBT vs Usual care",
                                              "Self-guided online CBT vs Usual care"]
    coach = panels[0][1]
    assert coach["rob_d1"] == {"low": 80.0, "some concerns": 0.0, "high": 20.0, "not assessed": 0.0}
    assert coach["rob_overall"] == {"low": 50.0, "some concerns": 30.0, "high": 20.0, "not assessed": 0.0}
    assert panels[1][1]["rob_overall"]["not assessed"] == 40.0
    for _, shares in panels:
        for column in ROB_COLUMNS:
            assert math.fsum(shares[column].values()) == pytest.approx(100.0)
    assert weight_shares([("A", None), ("B", None)], {"A": "high"}) == {
        "low": 0.0, "some concerns": 0.0, "high": 50.0, "not assessed": 50.0}


def test_figures_draw_every_judgement_and_are_byte_deterministic(tmp_path):
    rows = traffic_light_rows(studies_table(), JUDGED, MODES)
    light = draw_traffic_light(rows, "Risk of bias (RoB 2): test")
    circles = {a.get_gid(): a for a in light.findobj(Circle)}
    assert circles["circle-1-0"].get_facecolor()[:3] == pytest.approx(_rgb(COLOURS["high"]))
    assert circles["circle-4-5"].get_facecolor()[:3] == pytest.approx(_rgb(COLOURS["not assessed"]))
    assert len([g for g in circles if g.startswith("circle-") and g.count("-") == 2]) == 5 * 6
    summary = draw_summary(weighted_summary(studies_table(), JUDGED, MODES), "Weighted summary: test")
    bars = {a.get_gid(): a for a in summary.findobj(Rectangle) if (a.get_gid() or "").startswith("bar-")}
    assert bars["bar-0-0-low"].get_width() == pytest.approx(80.0)
    assert bars["bar-0-5-high"].get_width() == pytest.approx(20.0)
    for name, fig in (("light", light), ("summary", summary)):
        first = [tmp_path / f"{name}1.{ext}" for ext in ("svg", "png", "pdf")]
        second = [tmp_path / f"{name}2.{ext}" for ext in ("svg", "png", "pdf")]
        save_figure(fig, first)
        save_figure(fig, second)
        for a, b in zip(first, second):
            assert a.read_bytes() == b.read_bytes(), a.name
    with pytest.raises(ValueError):
        draw_traffic_light([], "empty")


def _rgb(hex_colour):
    return tuple(int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5))


def _forest(rob_headers=(), rob=()):
    rows = (ForestRow("A 2015", ("12", "50"), ("20", "48"), 100.0, math.log(0.6), math.log(0.35), math.log(1.03),
                      rob=rob),)
    return ForestData("t", "Risk Ratio", True, "IV, Random, 95% CI", ("Events", "Total"), "Experimental",
                      "Control", "Favours CBT", "Favours usual care",
                      (ForestSubgroup("Coach vs usual care", rows, "50", "48", None, "Single study", ()),),
                      footer=(legend_line(),) if rob_headers else (), rob_headers=rob_headers)


def test_forest_plot_draws_rob_columns_only_when_given(tmp_path):
    plain = draw_forest(_forest())
    judged = ("low", "some concerns", "high", "low", "low", "high")
    with_rob = draw_forest(_forest(("D1", "D2", "D3", "D4", "D5", "Overall"), judged))
    assert not [a for a in plain.findobj(Circle) if (a.get_gid() or "").startswith("rob-")]
    circles = {a.get_gid(): a for a in with_rob.findobj(Circle) if (a.get_gid() or "").startswith("rob-")}
    assert sorted(circles) == [f"rob-0-0-{i}" for i in range(6)]
    assert circles["rob-0-0-2"].get_facecolor()[:3] == pytest.approx(_rgb(COLOURS["high"]))
    assert with_rob.get_figwidth() > plain.get_figwidth()
    texts = {t.get_gid(): t.get_text() for t in with_rob.texts}
    assert texts["header-rob-5"] == "Overall" and texts["heading-rob"] == "Risk of bias"
    first, second = tmp_path / "a.svg", tmp_path / "b.svg"
    save_figure(with_rob, [first])
    save_figure(with_rob, [second])
    assert first.read_bytes() == second.read_bytes()
