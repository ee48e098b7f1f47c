"""Data as trials report it, through Snakemake: the test table of tests/data/test_reported_forms.py
(every conversion but the cluster and arm-group ones, which have their own rows here) gives
labelled rows in effects.tsv, a marker and footnote on the forest plot, a skew warning in
checks.tsv, and the reported-only rows of subsets.tsv and robustness.tsv."""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import copy_config, review_config, run_workflow
from data.test_reported_forms import BASE, ROWS

pytestmark = pytest.mark.workflow

EXTRA = [
    {
        "study": "Mu 2012",
        "n_treat": "60",
        "n_ctrl": "60",
        "mean_treat": "4.0",
        "sd_treat": "2.0",
        "mean_ctrl": "4.6",
        "sd_ctrl": "2.1",
        "cluster_size": "12",
        "icc": "0.05",
    },
    {
        "study": "Rho 2007",
        "arm_group": "coach",
        "n_treat": "30",
        "mean_treat": "4.0",
        "sd_treat": "1.8",
        "mean_ctrl": "5.0",
        "sd_ctrl": "2.0",
        "n_ctrl": "60",
    },
    {
        "study": "Rho 2007",
        "arm_group": "coach",
        "n_treat": "40",
        "mean_treat": "4.5",
        "sd_treat": "2.2",
        "mean_ctrl": "5.0",
        "sd_ctrl": "2.0",
        "n_ctrl": "60",
    },
]
CONVERTED = {"Alpha 2020", "Beta 2021", "Gamma 2022", "Delta 2023", "Zeta 2018", "Mu 2012", "Rho 2007"}


def _read(path):
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("reported_forms")
    config = review_config()
    # The hand-made table has no therapy or risk-of-bias columns for the shipped subsets to read.
    config["sensitivity"]["exclude_if"] = {}
    copy_config(workdir, config)
    table = pd.DataFrame([{**BASE, **r} for r in (*ROWS, *EXTRA)]).fillna("")
    table.to_csv(workdir / "studies.tsv", sep="\t", index=False)
    run_workflow(workdir)
    return workdir / "results"


def test_effects_tsv_labels_every_converted_row(run):
    effects = _read(run / "effects.tsv").set_index("study")
    assert {s for s in effects.index if effects.at[s, "conversion"]} == CONVERTED
    assert effects.at["Mu 2012", "conversion"] == "cluster_design_effect"
    assert effects.at["Rho 2007", "conversion"] == "combined_arms"
    assert "Table 6.5.a" in effects.at["Rho 2007", "conversion_source"]
    assert effects.at["Eta 2017", "conversion"] == effects.at["Eta 2017", "conversion_source"] == ""


def test_forest_plot_marks_converted_rows(run):
    svg = (run / "forest" / "nrs_pain_post.svg").read_text()
    assert "Alpha 2020 †" in svg and "Converted by the pipeline from data as reported" in svg


def test_reported_only_subset_robustness_and_skew_check(run):
    subsets = _read(run / "sensitivity" / "subsets.tsv")
    only = subsets[subsets["subset"] == "directly reported data only"]
    assert len(only) == 1 and set(only["excluded"].iloc[0].split("; ")) == CONVERTED
    assert set(only["studies"].iloc[0].split("; ")) == {"Epsilon 2019", "Eta 2017"}
    robustness = _read(run / "robustness.tsv")
    assert list(robustness["profile"]).count("cochrane-2025, directly reported data only") == 1
    checks = _read(run / "checks.tsv")
    assert list(checks.loc[checks["check"] == "skewed summary", "study"]) == ["Gamma 2022"]
