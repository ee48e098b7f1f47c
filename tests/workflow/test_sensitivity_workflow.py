"""The sensitivity analyses end to end, on a subset of the shipped (real, cited) study table.

The subset is RESOLVE's primary outcome (one trial per comparison: every sensitivity
analysis is skipped with its reason) and every pain-interference SMD row (7 estimable
coach-led trials, 3 online). The only added column, ``extra_sensitivity_test``, is a test
fixture marking two trials to exclude; it is not a risk-of-bias judgement.
"""

from __future__ import annotations

import filecmp
from pathlib import Path

import pandas as pd
import pytest

from conftest import (
    all_formats_config,
    copy_config,
    copy_review,
    figure_formats,
    run_review,
    run_workflow,
    small_table,
    write_table,
)

pytestmark = pytest.mark.workflow

TABLES = ("leave_one_out", "influence", "cumulative", "small_study", "subsets")
PLOTS = ("leave_one_out", "baujat", "cumulative", "funnel")
ANALYSES = ("pain_severity_response_post", "pain_severity_response_6m", "pain_severity_response_12m",
            "pain_interference_post")
EXCLUDED = ("Buhrman 2004", "Buhrman 2011")


def configure(path: Path, sensitivity: dict) -> Path:
    """Write the config (the shared review's, conftest.all_formats_config, with ``sensitivity``
    and no baseline) and the subset (conftest.small_table plus the test column) into ``path``."""
    config = all_formats_config()
    config["sensitivity"] = sensitivity
    config["changes"]["baseline"] = ""
    copy_config(path, config)
    table = small_table().copy()
    table["extra_sensitivity_test"] = ["exclude" if s in EXCLUDED else "" for s in table["study"]]
    write_table(table, path / "studies.tsv")
    return path


def prepare(path: Path, sensitivity: dict) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return configure(path, sensitivity)


SENSITIVITY = {
    "exclude_if": {"extra_sensitivity_test": ["exclude"]},
    "cumulative_order_by": ["se"],
    # 5, not Cochrane's 10, so the small-study tests run on the 7 coach-led trials here.
    "small_study_min_k": 5,
}


@pytest.fixture(scope="module")
def finished(small_review, tmp_path_factory) -> Path:
    """A copy of the session's finished review of the same rows (conftest.small_review), given the
    test column and these settings, then brought up to date: the run redoes what they feed (the
    sensitivity jobs, their plots and the summaries that name the settings), as a cold run of
    this review would end; test_same_input_gives_same_bytes compares it with a cold run."""
    workdir = configure(copy_review(small_review, tmp_path_factory.mktemp("sensitivity") / "review"), SENSITIVITY)
    run_review(workdir)
    return workdir


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", keep_default_na=False, na_values=[""])


def test_tables_and_plots_exist(finished):
    out = finished / "results" / "sensitivity"
    for name in TABLES:
        assert (out / f"{name}.tsv").is_file()
        for analysis in ANALYSES:
            assert (out / analysis / f"{name}.tsv").is_file()
    plots = sorted(p.name for p in (out / "pain_interference_post").iterdir() if p.suffix != ".tsv")
    assert plots == sorted(
        f"{kind}_{comparison}.{ext}" for kind in PLOTS for comparison in ("coach_vs_usual_care", "online_vs_usual_care")
        for ext in figure_formats(all_formats_config())
    )
    assert not any(p.suffix == ".svg" for a in ANALYSES[:3] for p in (out / a).iterdir())  # k = 1: no plots


def test_single_trial_comparisons_are_skipped_with_a_reason(finished):
    loo = read(finished / "results" / "sensitivity" / "leave_one_out.tsv")
    resolve = loo[loo["outcome"] == "pain_severity_response"]
    assert len(resolve) == 9  # 3 windows x 3 comparisons, one row each
    assert set(resolve["status"]) == {"skipped: 1 trial; leave-one-out needs at least 3"}


def test_results_agree_with_the_main_analysis(finished):
    pooled = read(finished / "results" / "pooled.tsv")
    main = pooled[(pooled["outcome"] == "pain_interference") & (pooled["treatment"] == "coach")].iloc[0]
    subsets = read(finished / "results" / "sensitivity" / "subsets.tsv")
    coach = subsets[(subsets["outcome"] == "pain_interference") & (subsets["treatment"] == "coach")]
    # all trials, the exclude_if subset, then the directly reported data (no row was converted),
    # then the outlier and influence re-runs (test_outlier_and_influence_reruns)
    assert list(coach["k"].iloc[:3]) == [7, 5, 7]
    assert coach["excluded"].iloc[1] == "; ".join(EXCLUDED)
    assert coach["subset"].iloc[2] == "directly reported data only" and pd.isna(coach["excluded"].iloc[2])
    for column in ("estimate", "ci_lower", "ci_upper", "tau2", "p_value"):
        assert coach[column].iloc[0] == pytest.approx(main[column], rel=1e-9), column
    loo = read(finished / "results" / "sensitivity" / "leave_one_out.tsv")
    coach_loo = loo[(loo["outcome"] == "pain_interference") & (loo["treatment"] == "coach")]
    assert len(coach_loo) == 7 and "Gasslander 2022" not in set(coach_loo["omitted"])  # not estimable
    cumulative = read(finished / "results" / "sensitivity" / "cumulative.tsv")
    coach_cum = cumulative[(cumulative["outcome"] == "pain_interference") & (cumulative["treatment"] == "coach")]
    assert list(coach_cum["order_by"].unique()) == ["year", "se"]
    for order_by in ("year", "se"):
        last = coach_cum[coach_cum["order_by"] == order_by].iloc[-1]
        assert last["estimate"] == pytest.approx(main["estimate"], rel=1e-9)
    small = read(finished / "results" / "sensitivity" / "small_study.tsv")
    classic = small["test"].isin(["egger_lm", "egger_rma", "rank_correlation", "trim_and_fill"])
    tests = small[(small["outcome"] == "pain_interference") & (small["treatment"] == "coach")]
    assert list(tests.loc[classic, "status"]) == ["computed"] * 4
    assert tests.set_index("test").loc["pet_peese", "status"] == "computed"  # adjusted estimates (issue 16)
    online = small[(small["outcome"] == "pain_interference") & (small["treatment"] == "online")]
    assert set(online.loc[classic, "status"]) == {
        "skipped: 3 trials; a small-study test needs at least 5 (Cochrane Handbook 13.3.5.4)"}
    assert online.set_index("test").loc["waap_wls", "status"] == "computed"  # from 3 trials


def test_outlier_and_influence_reruns(finished):
    """The two exclusion rows of subsets.tsv name the trials whose CI misses the pooled CI (from
    studies.tsv and pooled.tsv) and those influence.tsv flags; each re-run is in robustness.tsv."""
    results = finished / "results"
    subsets, influence = read(results / "sensitivity" / "subsets.tsv"), read(results / "sensitivity" / "influence.tsv")
    studies = read(results / "analyses" / "pain_interference" / "post" / "studies.tsv")
    pooled, robustness = read(results / "pooled.tsv"), read(results / "robustness.tsv")
    for treatment in ("coach", "online"):
        def mine(table, treatment=treatment):
            return table[(table["outcome"] == "pain_interference") & (table["timepoint"] == "post")
                         & (table["treatment"] == treatment) & (table["comparator"] == "usual_care")]
        rows = mine(subsets).set_index("subset")
        main = mine(pooled).iloc[0]
        trials = mine(studies)[mine(studies)["estimable"] == "yes"]
        outside = trials[(trials["ci_upper"] < main["ci_lower"]) | (trials["ci_lower"] > main["ci_upper"])]
        flagged = mine(influence)[mine(influence)["influential"] == "yes"]
        for subset, expected, nothing in (("excluding outliers", outside, "no outlier: no re-run needed"),
                                          ("excluding influential trials", flagged,
                                           "no influential trial: no re-run needed")):
            row = rows.loc[subset]
            named = [] if pd.isna(row["excluded"]) else row["excluded"].split("; ")
            assert named == list(expected["study"]), (treatment, subset)
            rerun = mine(robustness)[mine(robustness)["profile"] == f"cochrane-2025, {subset}"]
            if not named:
                assert row["status"] == nothing and pd.isna(row["estimate"]) and rerun.empty
            elif row["status"] == "pooled":
                assert rerun["estimate"].item() == pytest.approx(row["estimate"], rel=1e-12)
                assert rerun["k"].item() == row["k"] == len(trials) - len(named)


def test_same_input_gives_same_bytes(finished, tmp_path):
    second = prepare(tmp_path / "second", SENSITIVITY)
    files = sorted(p.relative_to(finished) for p in (finished / "results" / "sensitivity").rglob("*") if p.is_file())
    assert len(files) > 40
    # The second run builds only the files compared (and what they need), not a whole cold run.
    run_workflow(second, *map(str, files))
    _, mismatch, errors = filecmp.cmpfiles(finished, second, [str(p) for p in files], shallow=False)
    assert mismatch == [] and errors == []


def test_unknown_column_stops_the_run_before_anything_runs(tmp_path):
    workdir = prepare(tmp_path / "bad", {"exclude_if": {"extra_high_risk_of_bias": ["yes"]}})
    result = run_workflow(workdir, check=False)
    assert result.returncode != 0
    assert "extra_high_risk_of_bias" in result.stdout + result.stderr
    assert not (workdir / "results").exists()
