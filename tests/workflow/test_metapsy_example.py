"""The worked example of examples/metapsy/ (metapsyTools' example data depressionPsyCtr, CBT vs
wait list or care as usual, method profile ``metapsy``, dependent effects on) through Snakemake,
once, by the issue's own command from a copy of the repository root,
``snakemake --cores 4 --configfile examples/metapsy/config.yaml`` (its ``workdir: .`` runs it in
examples/metapsy/, evsynth.pipeline.workdir): the run reads only the example's files and writes
only under examples/metapsy/. Then its primary analysis, its low-risk-of-bias subset, its
outlier and influence re-runs and its dependent-effects rows against metafor + clubSandwich
(tests/oracle/data/metapsy_tutorial.json, written by tests/oracle/reference/metapsy_tutorial.R
on the same study table) and against metapsyTools' published tutorial
(tests/oracle/test_metapsy_tutorial.py names it), and the generated metafor script
(results/reproduce/) run with R where it is installed (issue 19: pooled.tsv to 1e-6).

The whole example pipeline runs (20 jobs, ~20 s on 2 cores)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO, rscript_with_metafor, run_r_scripts
from oracle._oracle import TOL, load, max_rel_error

pytestmark = pytest.mark.workflow
EXAMPLE = REPO / "examples" / "metapsy"
R = load("metapsy_tutorial")
#: What a run reads of the repository (the rest is not copied). The root's study table and
#: screening log are replaced by unreadable ones and its baselines left out: a run that read
#: them (or the root's config.yaml, which names them) would fail.
RUN_FILES = ("Snakefile", "config.yaml", "workflow", "scripts", "examples")


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    """The issue's command run from a copy of the repository root; the example's directory."""
    root = tmp_path_factory.mktemp("metapsy_root")
    for name in RUN_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("results", ".snakemake", "__pycache__"))
        else:
            shutil.copy(source, root / name)
    for name in ("studies.tsv", "screening.yaml"):
        (root / name).write_text("not the example's file\n")
    outside = {k: v for k, v in _files(root).items() if not k.startswith("examples/")}
    command = [sys.executable, "-m", "snakemake", "--cores", "4", "--configfile", "examples/metapsy/config.yaml"]
    result = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # Nothing outside examples/metapsy/ written or changed (Snakemake's own log aside).
    after = {k: v for k, v in _files(root).items() if not k.startswith(("examples/", ".snakemake/log/"))}
    assert after == outside
    assert not (root / "results").exists()
    return root / "examples" / "metapsy"


def test_the_example_reads_only_its_own_files(example):
    # The root's config.yaml (pain outcomes, coach/online modes) did not leak in: one analysis,
    # the example's, from the example's 26 rows.
    effects = pd.read_csv(example / "results" / "effects.tsv", sep="\t")
    assert set(effects["outcome"]) == {"depression"} and len(effects) == 26
    assert sorted(p.name for p in (example / "results" / "forest").glob("*.svg")) == ["depression_post.svg"]


def _close(ours, theirs, tol=TOL["rel"], atol=TOL["abs"]):
    return max_rel_error([ours], theirs, atol=atol) < tol


def test_primary_analysis_is_metafor_rma_knha_under_the_metapsy_profile(example):
    (row,) = pd.read_csv(example / "results" / "pooled.tsv", sep="\t").to_dict("records")
    case = R["primary"]  # rma(method = "REML", test = "knha") on the 14 primary effects
    assert (row["profile"], row["k"], row["i2_method"], row["pi_method"]) == ("metapsy", 14, "q-ht", "t_k-2-wald")
    for ours, theirs in (("estimate", "beta"), ("ci_lower", "ci_lb"), ("ci_upper", "ci_ub"), ("p_value", "pval"),
                         ("tau2", "tau2"), ("i2", "i2_q"), ("i2_ci_lower", "i2_q_lb"), ("i2_ci_upper", "i2_q_ub"),
                         ("pi_lower", "pi_lb"), ("pi_upper", "pi_ub")):
        assert _close(row[ours], case[theirs]), ours


def test_low_risk_of_bias_subset_is_metafor_on_those_trials(example):
    subsets = pd.read_csv(example / "results" / "sensitivity" / "subsets.tsv", sep="\t")
    (row,) = subsets[subsets["column"] == "extra_rob_score"].to_dict("records")
    case = R["primary_rob"]
    assert row["k"] == case["k"] == 9
    for ours, theirs in (("estimate", "beta"), ("ci_lower", "ci_lb"), ("ci_upper", "ci_ub"), ("tau2", "tau2")):
        assert _close(row[ours], case[theirs]), ours


def test_outlier_and_influence_reruns_are_metafor_on_the_primary_effects(example):
    # metapsy_tutorial.R "exclusions_primary": rma(test = "knha") on the 14 primary effects;
    # Ayen 2004's CI lies outside the pooled CI and influence() marks it, so both re-runs are
    # rma(subset = !excluded) on the other 13. (The tutorial's rows of these names are run on
    # all 26 effects: tests/oracle/test_metapsy_tutorial.py.)
    subsets = pd.read_csv(example / "results" / "sensitivity" / "subsets.tsv", sep="\t")
    robustness = pd.read_csv(example / "results" / "robustness.tsv", sep="\t")
    for column, rule, label in (("outliers", "outliers", "excluding outliers"),
                                ("influence", "influential", "excluding influential trials")):
        case = R["exclusions_primary"][rule]
        (row,) = subsets[subsets["column"] == column].to_dict("records")
        assert row["excluded"] == "; ".join(arm.removesuffix(" cbt") for arm in case["excluded_labels"]) == "Ayen 2004"
        (rob,) = robustness[robustness["profile"] == f"metapsy, {label}"].to_dict("records")
        assert row["k"] == rob["k"] == case["k"] == 13
        for ours, theirs in (("estimate", "beta"), ("ci_lower", "ci_lb"), ("ci_upper", "ci_ub"), ("tau2", "tau2")):
            assert _close(row[ours], case[theirs]), (column, ours)
        for ours, theirs in (("estimate", "beta"), ("ci_lower", "ci_lb"), ("ci_upper", "ci_ub"), ("pi_lower", "pi_lb"),
                             ("pi_upper", "pi_ub"), ("p_value", "pval"), ("tau2", "tau2"), ("i2", "i2_q")):
            assert _close(rob[ours], case[theirs]), (label, ours)


def test_dependent_rows_reproduce_the_tutorial_and_metafor(example):
    rows = {r["model"]: r for r in pd.read_csv(example / "results" / "dependent" / "depression_post.tsv",
                                               sep="\t").to_dict("records")}
    assert {r["status"] for r in rows.values()} == {"fitted"}
    three = rows["three-level"]
    # metapsyTools' tutorial, "Three-Level Model": 26 effects, g -0.61 [-1.05; -0.17], p 0.011,
    # between-trial variance 0.536 (I² 92.1), within 0.
    assert (three["k_effects"], three["k_trials"]) == (26, 14)
    assert (round(three["estimate"], 2), round(three["robust_ci_lower"], 2), round(three["robust_ci_upper"], 2),
            round(three["robust_p_value"], 3)) == (-0.61, -1.05, -0.17, 0.011)
    assert (round(three["sigma2_between"], 3), round(three["i2_between"], 1)) == (0.536, 92.1)
    # "Three-Level Model (CHE)" (che_variances: trial-mean, as metapsyTools): -0.55 [-0.92;
    # -0.18], p 0.007, variance components 0.336 (I² 87.2) and 0.003 (I² 0.8).
    che = rows["che"]
    assert (round(che["estimate"], 2), round(che["robust_ci_lower"], 2), round(che["robust_ci_upper"], 2),
            round(che["robust_p_value"], 3)) == (-0.55, -0.92, -0.18, 0.007)
    assert (round(che["sigma2_between"], 3), round(che["sigma2_within"], 3), round(che["i2_between"], 1),
            round(che["i2_within"], 1)) == (0.336, 0.003, 87.2, 0.8)
    # rma.mv + robust(clubSandwich = TRUE): nlminb's sigma² vs our exact root (TOL["nlminb_rel"]).
    for model, name in (("three-level", "threelevel"), ("che", "che_smooth")):
        case = R[name]
        for ours, theirs in (("estimate", "beta"), ("robust_se", "robust_se"), ("robust_df", "robust_df"),
                             ("robust_ci_lower", "robust_ci_lb"), ("robust_ci_upper", "robust_ci_ub"),
                             ("robust_p_value", "robust_pval"), ("pi_lower", "pi_lb_robust"),
                             ("pi_upper", "pi_ub_robust"), ("sigma2_between", None)):
            theirs_value = case["sigma2"][0] if theirs is None else case[theirs]
            assert _close(rows[model][ours], theirs_value, TOL["nlminb_rel"]), (model, ours)
    # One effect per trial (aggregated with rho 0.6, lowest, highest; the tutorial's lowest and
    # highest come from a metapsyTools bug, fixed in 00d983f): rma(test = "knha") on them.
    for model in ("aggregated", "lowest", "highest"):
        case = R[model]
        assert rows[model]["k_trials"] == case["k"]
        for ours, theirs in (("estimate", "beta"), ("ci_lower", "ci_lb"), ("ci_upper", "ci_ub"),
                             ("p_value", "pval"), ("sigma2_between", "tau2")):
            assert _close(rows[model][ours], case[theirs]), (model, ours)


def test_r_script_reproduces_pooled_tsv_to_1e6(example, tmp_path):
    script = example / "results" / "reproduce" / "depression_post.R"
    text = script.read_text()
    assert "t_k-2-wald" in text and "isquared" in text  # the metapsy profile's PI and I² CI, in R
    rscript = rscript_with_metafor()
    if rscript is None:
        pytest.skip("Rscript with metafor not installed (CI); run locally where R is")
    result = run_r_scripts(rscript, [script], tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    (checked,) = re.findall(r"SCRIPT depression_post.R: (\d+) checked, 0 differ", result.stdout)
    assert int(checked) == 26  # every number of the pooled row, the I² and H² CIs from Q included


def test_trim_and_fill_trims_as_metapsytools(example):
    # The metapsy profile's trimfill_trim_model: common (R meta's trimfill() default, which
    # metapsyTools' correctPublicationBias calls): metafor's trimfill(rma(method = "FE")) on the
    # 14 primary effects, then rma(method = "REML", test = "knha") on observed plus filled
    # (case trimfill_primary); metafor's REML trimming would fill none.
    table = pd.read_csv(example / "results" / "sensitivity" / "depression_post" / "small_study.tsv", sep="\t")
    (row,) = table[table["test"] == "trim_and_fill"].to_dict("records")
    case = R["trimfill_primary"]
    assert (row["k"], row["k0"], row["side"], row["k_filled"]) == (14, case["k0"], case["side"], case["k"])
    assert (case["k0"], case["reml_k0"]) == (3, 0)
    assert (round(row["estimate"], 2), round(row["ci_lower"], 2), round(row["ci_upper"], 2)) == (-0.25, -0.93, 0.42)
    for ours, theirs in (("estimate", "beta"), ("se", "se"), ("ci_lower", "ci_lb"), ("ci_upper", "ci_ub"),
                         ("p_value", "pval"), ("tau2", "tau2")):
        assert _close(row[ours], case[theirs]), ours
    assert "common-effect model" in row["note"]
