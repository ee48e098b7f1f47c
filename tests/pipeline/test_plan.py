"""The parse-time plan (evsynth.pipeline.plan) without Snakemake: which analyses and plots the
shipped review declares, what one job receives, the dual-extraction gate, and configuration
problems reported all at once."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml

from conftest import REPO, TABLE_BEFORE_METAPSY
from evsynth.data.columns import ROW_FIELDS
from evsynth.data.config import ConfigError
from evsynth.data.reconcile import DISCREPANCY_COLUMNS
from evsynth.pipeline.jobs import JobFunctions
from evsynth.pipeline.plan import POOLING_GATE_FILE, Plan

CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())


def shipped_config(**sections) -> dict:
    config = copy.deepcopy(CONFIG)
    config["studies"] = str(REPO / "studies.tsv")
    if config["changes"]["baseline"]:  # relative to the repository, whatever the working directory
        config["changes"]["baseline"] = str(REPO / config["changes"]["baseline"])
    config.update(sections)
    return config


def shipped_table() -> pd.DataFrame:
    return pd.read_csv(REPO / "studies.tsv", sep="\t", dtype=str, keep_default_na=False)


def write(table: pd.DataFrame, path) -> None:
    table.to_csv(path, sep="\t", index=False, lineterminator="\n")


@pytest.fixture(scope="module")
def plan() -> Plan:
    return Plan.load(shipped_config())


def test_shipped_review_has_34_analyses_in_config_order(plan):
    assert len(plan.analyses) == 34
    assert plan.analyses[0] == ("pain_severity_response", "post")
    assert plan.analyses[-2:] == [("depression", "post"), ("depression", "6m")]
    assert plan.analysis_outputs("{outcome}/{timepoint}")[:2] == ["pain_severity_response/post",
                                                                  "pain_severity_response/6m"]
    assert not plan.blocked and plan.gate == [] and plan.extraction_outputs() == []


def test_one_analysis_receives_its_rows_only_as_plain_sorted_records(plan):
    rows = plan.analysis_rows("pain_interference", "post")
    assert len(rows) == 17
    assert all(tuple(r) == ROW_FIELDS for r in rows)
    assert {r["outcome"] for r in rows} == {"pain_interference"} and {r["window"] for r in rows} == {"post"}
    # Coach comparisons first (config order of modes), then by study.
    assert [(r["treatment"], r["study"]) for r in rows][:2] == [("coach", "Buhrman 2004"), ("coach", "Buhrman 2011")]
    assert [r["treatment"] for r in rows] == ["coach"] * 12 + ["online"] * 5
    plain = (str, int, float, bool, type(None))
    assert all(type(v) in plain for r in rows for v in r.values())
    assert plan.analysis_rows("pain_interference", "12m") == []  # no such analysis


def test_declared_sensitivity_and_network_plots(plan):
    sensitivity = plan.sensitivity_plots()
    formats = plan.config.figure_formats
    assert formats == ("svg", "png")  # config.yaml figures.formats
    assert len(sensitivity) == 5 * 4 * 2  # five comparisons with >= 3 estimable trials, 4 plots, 2 formats
    assert {p.rsplit("/", 1)[0] for p in sensitivity} == {
        f"results/sensitivity/{a}" for a in ("pain_interference_post", "pain_intensity_post", "depression_post",
                                             "depression_6m")}
    assert "results/sensitivity/pain_interference_post/funnel_online_vs_usual_care.png" in sensitivity
    analyses = [f"{o}_{t}" for o in ("pain_intensity", "pain_interference", "depression") for t in ("post", "6m")]
    assert plan.network_plots() == [
        f"results/network/{a}_{kind}.{ext}" for a in analyses for kind in ("graph", "forest")
        for ext in formats
    ]
    # RoB 2 judgements come with the rows imported from the Metapsy databases.
    assert plan.rob_outputs("{outcome}_{timepoint}") == analyses


def test_provenance_line_names_the_analysis_rows(plan):
    assert set(plan.rows_hashes) == {f"{o}/{t}" for o, t in plan.analyses}
    line = plan.forest_provenance("pain_interference", "post")
    assert f"#{plan.rows_hashes['pain_interference/post']}" in line
    assert f"method #{plan.provenance['method_hash']} (cochrane-2025)" in line


def test_reordering_the_table_changes_no_params(plan, tmp_path):
    table = shipped_table()
    shuffled = table.sample(frac=1, random_state=1)
    shuffled = shuffled[list(reversed(shuffled.columns))]
    write(shuffled, tmp_path / "studies.tsv")
    other = Plan.load(shipped_config(studies=str(tmp_path / "studies.tsv")))
    assert other.analyses == plan.analyses
    assert other.all_rows == plan.all_rows and other.trace_rows == plan.trace_rows
    assert other.rows_hashes == plan.rows_hashes
    assert other.provenance["table_hash"] == plan.provenance["table_hash"]


def test_job_functions_read_wildcards(plan):
    job = JobFunctions(plan)
    wildcards = SimpleNamespace(outcome="pain_interference", timepoint="post")
    assert job.analysis_rows(wildcards) == plan.analysis_rows("pain_interference", "post")
    label = CONFIG["outcomes"]["pain_interference"]["label"]
    assert job.outcome(wildcards) == {"id": "pain_interference", "label": label, "measure": "SMD",
                                      "higher_is_better": False, "scale": ""}
    assert job.sof_judgements(wildcards) == []


def test_problems_found_while_the_dag_is_built_reach_the_user_as_the_given_error():
    plan = Plan.load(shipped_config(sensitivity={"exclude_if": {"extra_missing": ["yes"]}}))
    job = JobFunctions(plan, error=RuntimeError)
    with pytest.raises(RuntimeError, match="config.yaml: sensitivity names column\\(s\\) extra_missing that "):
        job.sensitivity_rows(SimpleNamespace(outcome="pain_interference", timepoint="post"))
    with pytest.raises(RuntimeError, match="rules reconcile and block_pooling need config.yaml: extraction"):
        job.extraction_names(SimpleNamespace())


def test_a_bad_config_lists_every_problem():
    config = shipped_config(
        timepoints={"post": [0, 4], "6m": [3, 9]},
        changes={"baseline": "", "i2_bands": [50, 25]},
    )
    config["summary_of_findings"] = {"mid": {"no_such_outcome": 1.25}}
    with pytest.raises(ConfigError) as err:
        Plan.load(config)
    problems = str(err.value).splitlines()
    assert len(problems) == 3
    assert "timepoints.post [0, 4] and timepoints.6m [3, 9] overlap" in problems[0]
    assert problems[1].startswith("config.yaml: summary_of_findings.mid.no_such_outcome: unknown outcome")
    assert problems[2] == ("config.yaml: changes.i2_bands = [50, 25]: give increasing cut points, "
                           "e.g. [25, 50, 75]")


# --- The dual-extraction gate (the tables tests/workflow/test_living.py uses) -----------------------

@pytest.fixture
def dual(tmp_path, monkeypatch):
    """A review extracted twice: B differs from A in two cells and misses one trial (rows of the
    table before the Metapsy import, whose pain interference trials these tests name)."""
    monkeypatch.chdir(tmp_path)
    table = pd.read_csv(TABLE_BEFORE_METAPSY, sep="\t", dtype=str, keep_default_na=False)
    a = table[table["outcome"] == "pain_interference"].reset_index(drop=True)
    b = a.copy()
    b.loc[b["study"] == "Dear 2013", "effect"] = "0.61"
    b.loc[b["study"] == "Buhrman 2011", "n_treat"] = "33"
    b = b[b["study"] != "Menga 2014"]
    write(a, "extraction_a.tsv")
    write(b, "extraction_b.tsv")
    return {"reviewer_a": "extraction_a.tsv", "reviewer_b": "extraction_b.tsv"}


def test_unresolved_discrepancies_gate_every_result(dual):
    plan = Plan.load(shipped_config(extraction=dual))
    assert plan.blocked and plan.gate == [POOLING_GATE_FILE]
    assert plan.extraction_outputs() == ["results/extraction_discrepancies.tsv", "results/reconciliation.tsv"]
    assert [d["study"] for d in plan.extraction().unresolved] == ["Buhrman 2011", "Dear 2013", "Menga 2014"]
    assert plan.provenance["table_hash"] == ""  # nothing reconciled yet
    assert plan.provenance["table"] == "extraction_a.tsv + extraction_b.tsv"


def test_an_adjudication_opens_the_gate(dual):
    discrepancies = Plan.load(shipped_config(extraction=dual)).extraction().discrepancies
    report = pd.DataFrame(discrepancies, columns=list(DISCREPANCY_COLUMNS))
    report["agreed_value"] = ["", "0.578", "present"]
    report["who"] = "JD"
    report["why"] = ["n not reported", "Table 2", "B overlooked it"]
    write(report, "adjudication.tsv")
    plan = Plan.load(shipped_config(extraction={**dual, "adjudication": "adjudication.tsv"}))
    assert not plan.blocked and plan.gate == []
    assert plan.analyses == [("pain_interference", "post")]
    settled = {r["study"]: r["settled"] for r in plan.trace_rows}
    assert settled["Dear 2013"] == "adjudicated: effect (JD)" and settled["Buhrman 2004"] == "agreed"
    assert plan.provenance["table_hash"] != ""


def test_the_adjudicated_table_feeds_the_sensitivity_exclusions(dual):
    """Dual extraction with sensitivity.exclude_if and cumulative_order_by: the cells come from
    the reconciled table, so an adjudicated risk-of-bias flag decides the exclusion (issue 20)."""
    a, b = (pd.read_csv(dual[k], sep="\t", dtype=str, keep_default_na=False) for k in ("reviewer_a", "reviewer_b"))
    b = pd.concat([b, a[a["study"] == "Menga 2014"]])  # B now has every trial; row order differs from A
    for table in (a, b):
        table["extra_high_risk_of_bias"] = "no"
        table["extra_included_on"] = "2026-01-05"
    a.loc[a["study"] == "Buhrman 2004", "extra_high_risk_of_bias"] = "yes"  # B: "no"; adjudicated "yes"
    b.loc[b["study"] == "Dear 2013", "extra_high_risk_of_bias"] = "yes"  # A: "no"; adjudicated "no"
    write(a, dual["reviewer_a"])
    write(b, dual["reviewer_b"])
    sensitivity = {"exclude_if": {"extra_high_risk_of_bias": ["yes"]}, "cumulative_order_by": ["extra_included_on"]}
    config = shipped_config(extraction=dual, sensitivity=sensitivity)
    open_items = pd.DataFrame(Plan.load(config).extraction().unresolved, columns=list(DISCREPANCY_COLUMNS))
    agreed = {"Dear 2013": {"effect": "0.578", "extra_high_risk_of_bias": "no"},
              "Buhrman 2011": {"n_treat": ""}, "Buhrman 2004": {"extra_high_risk_of_bias": "yes"}}
    open_items["agreed_value"] = [agreed[s][c] for s, c in zip(open_items["study"], open_items["column"])]
    open_items["who"], open_items["why"] = "JD", "checked against the paper"
    write(open_items, "adjudication.tsv")
    plan = Plan.load(shipped_config(extraction={**dual, "adjudication": "adjudication.tsv"}, sensitivity=sensitivity))
    assert not plan.blocked
    rows = plan.sensitivity_rows("pain_interference", "post")
    flagged = {r["study"] for r in rows if r["extra_high_risk_of_bias"] == "yes"}
    assert flagged == {"Buhrman 2004"}  # A's flag, as adjudicated; not B's flag on Dear 2013
    assert {r["extra_included_on"] for r in rows} == {"2026-01-05"} and len(rows) == 12


def test_the_shipped_extraction_pair_plans_with_the_shipped_subsets():
    """The two extractions of Friesen 2017 and Menga 2014 (extraction/metapsy, docs/shipped_studies.md)
    as a configured dual extraction, with the shipped sensitivity.exclude_if (issue 20): the
    adjudicated table plans, and the CBT-only and low-risk-of-bias subsets read its cells."""
    pair = {"reviewer_a": str(REPO / "extraction" / "metapsy" / "extraction_a.tsv"),
            "reviewer_b": str(REPO / "extraction" / "metapsy" / "extraction_b.tsv")}
    assert Plan.load(shipped_config(extraction=pair)).blocked  # 22 cells disagree until adjudicated
    plan = Plan.load(shipped_config(extraction={**pair, "adjudication": str(
        REPO / "extraction" / "metapsy" / "adjudication.tsv")}))
    assert not plan.blocked
    assert CONFIG["sensitivity"]["exclude_if"].keys() == {"extra_therapy", "low_risk_of_bias"}
    rows = plan.sensitivity_rows("pain_interference", "post")
    assert {(r["study"], r["low_risk_of_bias"]) for r in rows} == {("Friesen 2017", "no"), ("Menga 2014", "no")}
