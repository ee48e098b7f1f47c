"""The plan's part of issue 15 (config.yaml: dependent_effects): nothing is planned unless the
section is set; then two tables per analysis, and each job gets exactly the moderator cells of
its own rows; a moderator column the table lacks is a configuration error naming it."""

from __future__ import annotations

import copy

import pytest
import yaml

from conftest import REPO
from evsynth.data.config import ConfigError
from evsynth.data.moderators import moderator_values
from evsynth.pipeline.plan import Plan

CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())


def shipped_config(**sections) -> dict:
    config = copy.deepcopy(CONFIG)
    config["studies"] = str(REPO / "studies.tsv")
    config.update(sections)
    return config


def test_shipped_config_plans_no_dependent_outputs():
    plan = Plan.load(shipped_config())
    assert plan.config.dependent is None
    assert plan.dependent_outputs() == [] and plan.moderator_rows("pain_interference", "post") == []


def test_configured_section_plans_two_tables_per_analysis_and_the_moderator_cells():
    section = {"rho": 0.5, "moderators": [{"column": "year", "kind": "continuous"}]}
    plan = Plan.load(shipped_config(dependent_effects=section))
    outputs = plan.dependent_outputs()
    tables = [o for o in outputs if o.endswith(".tsv")]
    assert len(tables) == 2 * len(plan.analyses)
    assert "results/dependent/pain_interference_post.tsv" in outputs
    assert "results/metaregression/pain_interference_post.tsv" in outputs
    rows = plan.moderator_rows("pain_interference", "post")
    assert {r["study"] for r in rows} >= {"Buhrman 2004", "Dear 2013"}
    assert all(set(r) == {"study", "treatment", "comparator", "arm", "year"} for r in rows)
    assert next(r["year"] for r in rows if r["study"] == "Dear 2013") == "2013"
    assert plan.config.dependent.as_dict()["rho"] == 0.5


def test_bubble_plots_per_moderator_and_comparison_with_three_trials():
    """pain_interference post: coach (8 trials) and online (3) vs usual care get a plot per moderator;
    the 8-week window (3 coach trials) too; single-trial windows none."""
    section = {"moderators": [{"column": "year", "kind": "continuous"},
                              {"column": "extra_therapy", "kind": "categorical"}]}
    plan = Plan.load(shipped_config(dependent_effects=section))
    plots = plan.metaregression_plots()
    assert set(plots) <= set(plan.dependent_outputs())
    post = sorted(p for p in plots if p.startswith("results/metaregression/pain_interference_post/"))
    assert post == sorted(
        f"results/metaregression/pain_interference_post/{m}_{c}_vs_usual_care.{ext}"
        for m in ("year", "extra_therapy") for c in ("coach", "online") for ext in ("svg", "png", "pdf")
    )
    assert not any(p.startswith("results/metaregression/pain_interference_20w/") for p in plots)
    assert plan.moderator_pattern == "year|extra_therapy"
    assert Plan.load(shipped_config()).moderator_pattern == "(?!)"


def test_missing_moderator_column_is_a_config_error_naming_it():
    section = {"moderators": [{"column": "sessions", "kind": "continuous"}]}
    plan = Plan.load(shipped_config(dependent_effects=section))
    with pytest.raises(ConfigError, match="names column\\(s\\) sessions that .* does not have"):
        plan.moderator_rows("pain_interference", "post")


def test_moderator_values_one_per_study_or_a_problem():
    records = [
        {"study": "A", "year": "2001"},
        {"study": "A", "year": "2001"},
        {"study": "B", "year": "2003"},
        {"study": "B", "year": "2004"},
        {"study": "C", "year": ""},
    ]
    values, problems = moderator_values(records, "year", ["A", "A", "B", "C"])
    assert values == ["2001", "2001", "", ""]
    assert problems == [
        "year: study 'B' has different values on its rows: 2003, 2004",
        "year: study 'C' has no value in the study table",
    ]
