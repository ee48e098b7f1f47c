"""The network meta-analysis end to end, on a subset of the shipped (real, cited) study table.

The subset is RESOLVE's primary outcome (arm-level rows of one three-arm trial, three windows:
single-trial networks, tables but no plots) and every pain-interference SMD row (10 estimable
trials of coach-led or online CBT against usual care: a connected network without a closed
loop, tables and plots). Slow: runs Snakemake in a temporary directory (marked ``workflow``).
"""

from __future__ import annotations

import filecmp
import math
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from conftest import all_formats_config, copy_review, figure_formats, run_review
from evsynth.data.io import read_tsv
from evsynth.tables.network import INCONSISTENCY_COLUMNS, LEAGUE_COLUMNS, RANKING_COLUMNS, SUMMARY_COLUMNS

pytestmark = pytest.mark.workflow

ANALYSES = ("pain_severity_response_post", "pain_severity_response_6m", "pain_severity_response_12m",
            "pain_interference_post")
PLOTTED = "pain_interference_post"
PLOTS = [f"results/network/{PLOTTED}_{kind}.{ext}"
         for kind in ("graph", "forest") for ext in figure_formats(all_formats_config())]


@pytest.fixture(scope="module")
def finished(small_review, tmp_path_factory) -> Path:
    """A copy of the session's finished review of this subset (conftest.small_review): two tests
    below re-run plots in it."""
    return copy_review(small_review, tmp_path_factory.mktemp("network") / "review")


def read(path: Path) -> pd.DataFrame:
    return read_tsv(path)  # yes/no as booleans, empty cells as NaN


def test_every_analysis_gets_its_tables(finished):
    out = finished / "results" / "network"
    for analysis in ANALYSES:
        for name, columns in (("league", LEAGUE_COLUMNS), ("inconsistency", INCONSISTENCY_COLUMNS),
                              ("ranking", RANKING_COLUMNS), ("summary", SUMMARY_COLUMNS)):
            path = out / f"{analysis}_{name}.tsv"
            assert path.read_text().splitlines()[0].split("\t") == list(columns)
            assert "nan" not in path.read_text().lower().split()
    networks = read(out / "networks.tsv")
    assert list(networks["outcome"] + "_" + networks["timepoint"]) == [
        "pain_severity_response_post", "pain_severity_response_6m", "pain_severity_response_12m",
        "pain_interference_post"]


def test_dry_run_plans_plots_for_the_connected_network_only(finished):
    result = run_review(finished, "--dry-run", "--forceall", "--quiet", "rules")
    assert re.search(r"\bplot_network\s+1\b", result.stdout), result.stdout[-2000:]


def test_single_trial_networks_say_so(finished):
    networks = read(finished / "results" / "network" / "networks.tsv")
    resolve = networks[networks["outcome"] == "pain_severity_response"]
    assert set(resolve["status"]) == {"single trial"} and not resolve["plotted"].any()
    assert resolve["message"].str.contains("single trial (DeBar 2025)", regex=False).all()
    league = read(finished / "results" / "network" / "pain_severity_response_post_league.tsv")
    row = league[(league["model"] == "random") & (league["treatment"] == "coach")
                 & (league["comparator"] == "online")].iloc[0]
    assert row["estimate"] == pytest.approx(32.0 / 26.6, rel=1e-9) and row["cell"] == "1.20 [1.03, 1.41]"
    assert league["pi_lower"].isna().all()
    assert read(finished / "results" / "network" / "pain_severity_response_post_inconsistency.tsv").empty
    assert not (finished / "results" / "network" / "pain_severity_response_post_graph.svg").exists()


def test_connected_network_without_a_loop(finished):
    """No trial compares coach with online CBT: the network's coach vs online is indirect only. In the
    common-effect model it is exactly the difference of the two pairwise common-effect estimates."""
    out = finished / "results" / "network"
    summary = read(out / f"{PLOTTED}_summary.tsv").iloc[0]
    assert summary["status"] == "fitted" and summary["plotted"] and summary["k_trials"] == 10
    assert summary["n_nodesplit"] == 0 and "no closed loop" in summary["message"]
    assert summary["estimator"] == "REML" and summary["pi_method"] == "t_k-1" and summary["pi_df"] == 8
    assert summary["q_between"] == pytest.approx(0, abs=1e-9) and summary["q_between_df"] == 0
    league = read(out / f"{PLOTTED}_league.tsv")
    common = league[league["model"] == "common"].set_index(["treatment", "comparator"])
    pooled = read(finished / "results" / "analyses" / "pain_interference" / "post" / "pooled.tsv")
    pooled = pooled.set_index(["treatment", "comparator"])
    coach, online = pooled.loc[("coach", "usual_care")], pooled.loc[("online", "usual_care")]
    indirect = common.loc[("coach", "online")]
    assert indirect["theta"] == pytest.approx(coach["common_theta"] - online["common_theta"], rel=1e-9)
    assert indirect["se"] == pytest.approx(math.hypot(coach["common_se"], online["common_se"]), rel=1e-9)
    assert indirect["k_direct"] == 0
    ranking = read(out / f"{PLOTTED}_ranking.tsv")
    assert sorted(ranking["rank"][ranking["model"] == "random"]) == [1, 2, 3]
    assert ranking["caveat"].str.contains("not probabilities of being best").all()


def test_plots_are_written_and_byte_identical_on_rerun(finished, tmp_path):
    for plot in PLOTS:
        assert (finished / plot).stat().st_size > 1000
        shutil.copy(finished / plot, tmp_path / Path(plot).name)
    run_review(finished, *PLOTS, "--forcerun", "plot_network")
    for plot in PLOTS:
        assert filecmp.cmp(finished / plot, tmp_path / Path(plot).name, shallow=False), plot


def test_a_plot_asked_for_a_single_trial_network_states_why(finished):
    target = "results/network/pain_severity_response_6m_graph.svg"
    run_review(finished, target)
    svg = (finished / target).read_text()
    assert "<svg" in svg and (finished / "results/network/pain_severity_response_6m_forest.png").is_file()
