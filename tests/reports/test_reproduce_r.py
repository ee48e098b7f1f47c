"""The metafor script per analysis (evsynth.reports.reproduce_r), run where R is installed.

The scripts are generated from the output tables of real analyses of the shipped table (RESOLVE's
arm-level contrasts with a shared usual-care arm; the interference SMDs of 10 trials) pooled as
rule analyse pools them, under every method profile and under overrides covering the other
estimators, CI methods and prediction intervals; each must reproduce every number of its
pooled.tsv to 1e-6 in metafor 3.8 (rma, rma.mv). R is absent in CI: the R part then skips, the
generation checks still run.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pandas as pd
import pytest
import yaml

from conftest import REPO, TABLE_BEFORE_METAPSY, rscript_with_metafor, run_r_scripts
from evsynth.data.config import outcomes_from_config
from evsynth.data.io import read_tsv, write_tsv
from evsynth.pipeline.plan import Plan
from evsynth.reports.reproduce_r import _covariances, r_string, reproduce_script
from evsynth.stats.profiles import PROFILES
from evsynth.tables.pooled import POOLED_COLUMNS, STUDY_COLUMNS, analyse, pooled_records, study_records
from evsynth.tables.subgroups import subgroup_records

# The table before the Metapsy import (issue 17): the analyses these tests name keep their trials.
CONFIG = {**yaml.safe_load((REPO / "config.yaml").read_text()), "studies": str(TABLE_BEFORE_METAPSY)}
ANALYSES = [("pain_interference", "post"), ("pain_severity_response", "post"), ("bpi_pain_severity", "post")]
SETTINGS = {
    "cochrane": PROFILES["cochrane-2025"],
    "revman5": PROFILES["revman5"],
    "metafor": PROFILES["metafor"],
    "pm_adhoc_tk2": replace(PROFILES["cochrane-2025"], estimator="PM", ci_method="hksj-adhoc",
                            prediction_interval="t_k-2", overridden=("estimator", "ci_method", "prediction_interval")),
    "dl_hksj_normal": replace(PROFILES["metafor"], estimator="DL", ci_method="hksj", prediction_interval="normal",
                              i2="q", overridden=("estimator", "ci_method", "prediction_interval", "i2")),
    "sj_wald_tk1": replace(PROFILES["metafor"], estimator="SJ", prediction_interval="t_k-1", alpha=0.1,
                           overridden=("estimator", "prediction_interval")),
}


@pytest.fixture(scope="module")
def scripts(tmp_path_factory):
    """One script per analysis x settings, from tables written and read back as the workflow does."""
    plan = Plan.load(CONFIG)
    outcomes = outcomes_from_config(CONFIG)
    root = tmp_path_factory.mktemp("reproduce")
    paths = {}
    for label, settings in SETTINGS.items():
        for outcome_id, timepoint in ANALYSES:
            outcome = outcomes[outcome_id]
            rows = plan.analysis_rows(outcome_id, timepoint)
            effects, comparisons = analyse(rows, outcome, plan.config.mode_ids, settings, 0.5)
            pooled = pooled_records(effects, comparisons, outcome, timepoint, settings)
            _, overall = subgroup_records(effects, outcome, plan.config.mode_ids, settings, timepoint)
            base = root / label / outcome_id
            write_tsv(study_records(effects, timepoint), STUDY_COLUMNS, base / "studies.tsv")
            write_tsv(pooled + overall, POOLED_COLUMNS, base / "pooled.tsv")
            script = reproduce_script(read_tsv(base / "studies.tsv"), read_tsv(base / "pooled.tsv"),
                                      outcome.as_dict(), timepoint, [f"settings {label}"])
            path = root / f"{label}_{outcome_id}_{timepoint}.R"
            path.write_text(script)
            paths[label, outcome_id] = path
    return paths


def test_scripts_hold_the_calls_with_the_profile_settings(scripts):
    cochrane = scripts["cochrane", "pain_interference"].read_text()
    assert 'rma(yi, vi, data = dat, method = "REML", test = "knha", level = 95.0' in cochrane
    assert "p <- predict(res)" in cochrane and "confint(res" in cochrane
    assert 'rma.mv(yi, V, random = ~ 1 | id, data = dat, method = "REML", sigma2 = tau2' in cochrane
    revman = scripts["revman5", "pain_interference"].read_text()
    assert 'method = "DL", test = "z"' in revman and "predict(res)" not in revman and "confint" not in revman
    other = scripts["pm_adhoc_tk2", "pain_interference"].read_text()
    assert 'method = "PM", test = "adhoc"' in other and "qt(0.975, 5.0)" in other  # t(k-2), k = 7
    assert 'method = "SJ", test = "z", level = 90.0' in scripts["sj_wald_tk1", "pain_interference"].read_text()
    # RESOLVE alone: across modes its CBT arms are combined (issue 20), so the script checks
    # the combined contrast's Wald interval rather than fitting rma.mv to two arms of one trial.
    resolve = scripts["cochrane", "pain_severity_response"].read_text()
    assert "## any_remote_cbt vs usual_care: single study: CBT arms combined, not pooled" in resolve
    assert re.search(r'res <- rma\(yi = [0-9.e-]+, sei = [0-9.e-]+, method = "EE", level = 95', resolve)
    assert "res <- rma.mv(" not in resolve


def test_shared_arm_covariance_goes_into_v_with_its_sign():
    """Two contrasts of one trial sharing usual care covary by +var(usual care); reversing one
    of them (usual care on the treatment side) flips the sign (Gleser & Olkin 2009)."""
    block = pd.DataFrame({"study": ["T", "T"], "treatment": ["coach", "online"],
                          "comparator": ["usual_care", "usual_care"], "arm_group": ["T", "T"],
                          "var_treat_arm": [0.02, 0.03], "var_ctrl_arm": [0.05, 0.05]})
    assert _covariances(block) == [(1, 2, 0.05, "usual_care")]
    reversed_second = block.assign(treatment=["coach", "usual_care"], comparator=["usual_care", "online"],
                                   var_treat_arm=[0.02, 0.05], var_ctrl_arm=[0.05, 0.03])
    assert _covariances(reversed_second) == [(1, 2, -0.05, "usual_care")]


def test_labels_reach_r_only_as_escaped_strings():
    assert r_string('a "b" \\ c\nd') == '"a \\"b\\" \\\\ c\\nd"'
    assert r_string("x\u202ey") == '"x\\u{202e}y"'
    assert r_string("Hedman-Lagerlöf 2018") == '"Hedman-Lagerlöf 2018"'


def test_scripts_reproduce_every_pooled_number_in_metafor(scripts, tmp_path):
    rscript = rscript_with_metafor()
    if rscript is None:
        pytest.skip("Rscript with metafor not installed (CI); run locally where R is")
    result = run_r_scripts(rscript, list(scripts.values()), tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    summary = dict(re.findall(r"SCRIPT (\S+): (\d+) checked, 0 differ", result.stdout))
    assert len(summary) == len(scripts)
    # every pooled, single-study and across-modes number compared (none skipped)
    assert int(summary["cochrane_pain_interference_post.R"]) == 62
    assert int(summary["revman5_pain_interference_post.R"]) > 30
    assert all(int(n) > 0 for n in summary.values())
