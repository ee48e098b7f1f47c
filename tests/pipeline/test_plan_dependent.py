"""The plan's part of issue 15 (config.yaml: dependent_effects): nothing is planned unless the
section is set; then two tables per analysis, and each job gets exactly the moderator cells of
its own rows; a moderator column the table lacks is a configuration error naming it."""

from __future__ import annotations

import copy

import pandas as pd
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


def test_without_the_section_no_dependent_outputs_are_planned():
    config = shipped_config()
    del config["dependent_effects"]
    plan = Plan.load(config)
    assert plan.config.dependent is None
    assert plan.dependent_outputs() == [] and plan.moderator_rows("pain_interference", "post") == []


def test_configured_section_plans_two_tables_per_analysis_and_the_moderator_cells():
    section = {"rho": 0.5, "moderators": [{"column": "year", "kind": "continuous"}]}
    plan = Plan.load(shipped_config(dependent_effects=section))
    outputs = plan.dependent_outputs()
    tables = [o for o in outputs if o.endswith(".tsv") and not o.endswith("_timepoints.tsv")]
    assert len(tables) == 2 * len(plan.analyses)
    # One model across windows per outcome in several windows, and the report page.
    timepoints = [o for o in outputs if o.endswith("_timepoints.tsv")]
    assert len(timepoints) == len(plan.timepoint_outcomes()) and "results/dependent.html" in outputs
    assert "results/dependent/depression_timepoints.tsv" in outputs
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
        for m in ("year", "extra_therapy") for c in ("coach", "online") for ext in plan.config.figure_formats
    )
    assert not any(p.startswith("results/metaregression/pain_interference_20w/") for p in plots)
    assert plan.moderator_pattern == "year|extra_therapy"
    assert Plan.load(shipped_config()).moderator_pattern == "year"  # the shipped section's one moderator
    without = shipped_config()
    del without["dependent_effects"]
    assert Plan.load(without).moderator_pattern == "(?!)"


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



# --- Secondary effects (study table primary = no) ------------------------------------------------

KEY = ("pain_interference", "post")


def with_secondary(directory, reverse=False, **changes) -> Plan:
    """The shipped pain-interference rows plus a hand-made secondary effect of Dear 2013 (another
    instrument; a test row, not a real number) and an excluded one."""
    directory.mkdir(parents=True, exist_ok=True)
    table = pd.read_csv(REPO / "studies.tsv", sep="\t", dtype=str, keep_default_na=False)
    table = table[table["outcome"] == "pain_interference"].assign(instrument="")
    second = table[table["study"] == "Dear 2013"].iloc[0].copy()
    second.update({"primary": "no", "instrument": "test scale", "effect": "0.100", "ci_lower": "-0.300",
                   "ci_upper": "0.500", "se": "", **changes})
    excluded = second.copy()
    excluded.update({"instrument": "other scale", "include": "no", "exclusion_reason": "test"})
    table = pd.concat([table, second.to_frame().T, excluded.to_frame().T], ignore_index=True)
    path = directory / "studies.tsv"
    (table.iloc[::-1] if reverse else table).to_csv(path, sep="\t", index=False, lineterminator="\n")
    section = {"moderators": [{"column": "year", "kind": "continuous"}]}
    return Plan.load({**shipped_config(dependent_effects=section), "studies": str(path)})


def test_secondary_effects_reach_the_dependent_job_only(tmp_path):
    plan = with_secondary(tmp_path)
    primary, every = plan.analysis_rows(*KEY), plan.dependent_rows(*KEY)
    secondary = [r["instrument"] for r in every if r["primary"] is False]
    assert len(every) == len(primary) + len(secondary) and "test scale" in secondary
    assert "other scale" not in secondary  # excluded: in no analysis
    dear = [(r["primary"], r["instrument"], r["effect"]) for r in every if r["study"] == "Dear 2013"]
    assert sorted(dear, key=str) == sorted([(True, "", dear[0][2]), (False, "test scale", 0.1)], key=str)
    assert [r["effect"] for r in primary if r["study"] == "Dear 2013"] == [dear[0][2]] != [0.1]
    assert plan.analysis_effects(*KEY)["study"].value_counts().max() == 1
    assert len([r for r in plan.moderator_rows(*KEY) if r["study"] == "Dear 2013"]) == 2
    # effects.tsv lists every row, the secondary ones marked (primary False).
    assert sum(r["study"] == "Dear 2013" and r["primary"] is False for r in plan.all_rows) == 2


def test_editing_a_secondary_row_changes_the_dependent_params_only(tmp_path):
    before = with_secondary(tmp_path / "a")
    after = with_secondary(tmp_path / "b", effect="0.200")
    for answer in ("analysis_rows", "rob_rows", "sensitivity_rows", "moderator_rows"):
        assert getattr(before, answer)(*KEY) == getattr(after, answer)(*KEY), answer
    assert before.rows_hashes == after.rows_hashes and before.sof_rob_rows == after.sof_rob_rows
    assert before.dependent_rows(*KEY) != after.dependent_rows(*KEY)


def test_dependent_rows_do_not_depend_on_the_table_order(tmp_path):
    forward, backward = with_secondary(tmp_path / "a"), with_secondary(tmp_path / "b", reverse=True)
    assert forward.dependent_rows(*KEY) == backward.dependent_rows(*KEY)


def test_dependent_rows_are_empty_when_the_section_is_off():
    config = shipped_config()
    del config["dependent_effects"]
    assert Plan.load(config).dependent_rows(*KEY) == []


def test_the_shipped_review_models_its_secondary_effects():
    """The shipped table's secondary effects (docs/shipped_studies.md) reach the dependent jobs."""
    plan = Plan.load(shipped_config())
    several = {}
    for key in plan.analyses:
        for row in plan.dependent_rows(*key):
            if row["form"] == "arm":  # several arms of one trial: one contrast each
                continue
            several.setdefault((*key, row["treatment"], row["comparator"]), []).append(row["study"])
    multi = {k: len(v) - len(set(v)) for k, v in several.items() if len(v) > len(set(v))}
    assert multi == {("depression", "post", "coach", "usual_care"): 4,
                     ("pain_intensity", "post", "coach", "usual_care"): 1,
                     ("pain_interference", "post", "online", "usual_care"): 1}
