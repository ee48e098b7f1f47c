"""A single trial's CBT arms combined into one group (evsynth.stats.multiarm), pinned to metafor's
escalc() on the combined data, and the across-modes estimate of the shipped table (issue 20, point 2).

Expected values: tests/oracle/data/metafor_multiarm.json, written by
tests/oracle/reference/metafor_multiarm.R (metafor 3.8-1, R 4.2.2; each case stores its r_call):

* dat.hasselblad1998, Cottraux et al. 1983: individual and group counselling summed (events and n)
  vs no contact, escalc(RR | OR | RD);
* dat.senn2013, Willms (1999): metformin and acarbose combined by the Cochrane Handbook's
  Table 6.5.a vs placebo, escalc(MD | SMD, vtype = "LS");
* RESOLVE (DeBar 2025, Table 2), pain-severity response at 3 months: coach and online combined
  (events summed: the size-weighted proportion) vs usual care; yi = escalc(RR) on the implied
  events, vi by the delta method from the arms' CIs (written out in R);
* RESOLVE (Table 3), BPI pain severity at 3 months: the two reported MDs combined by Table 6.5.a,
  arm variances back-calculated from the three reported contrasts (written out in R).

Tolerance: TOL["escalc_rel"] (1e-10 relative) and TOL["escalc_abs"].
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from conftest import REPO, TABLE_BEFORE_METAPSY
from evsynth.data.config import outcomes_from_config, resolve_settings
from evsynth.data.contrasts import arm_scale
from evsynth.data.studies import load_studies
from evsynth.data.vocabulary import OVERALL_TREATMENT
from evsynth.stats.escalc import z_for_level
from evsynth.stats.multiarm import (
    combined_arm_estimates,
    combined_contrasts,
    combined_counts,
    combined_means,
)
from evsynth.tables.pooled import analyse
from evsynth.tables.subgroups import SINGLE_TRIAL_STATUS, subgroup_records
from oracle._oracle import TOL, load

CASES = load("metafor_multiarm")
CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
OUTCOMES = outcomes_from_config(CONFIG)
MODES = list(CONFIG["modes"])


def close(actual, expected):
    assert actual == pytest.approx(expected, rel=TOL["escalc_rel"], abs=TOL["escalc_abs"])


@pytest.mark.parametrize("measure", ["rr", "or", "rd"])
def test_summed_counts_match_escalc(measure):
    case = CASES[f"hasselblad_cottraux_{measure}"]
    c = combined_counts(case["measure"], case["events"], case["n"], case["events_ctrl"], case["n_ctrl"], add=0.5)
    close(c.yi, case["yi"])
    close(c.vi, case["vi"])
    assert c.events_treat == sum(case["events"]) and c.n_treat == sum(case["n"])


@pytest.mark.parametrize("measure", ["md", "smd"])
def test_table_6_5_a_then_escalc(measure):
    case = CASES[f"senn_willms_{measure}"]
    c = combined_means(case["measure"], case["n"], case["mean"], case["sd"], case["n_ctrl"], case["mean_ctrl"],
                       case["sd_ctrl"], smd_variance="metafor")
    close(c.yi, case["yi"])
    close(c.vi, case["vi"])
    assert c.n_treat == case["combined_n"]


def test_resolve_arm_percentages_combined():
    case = CASES["resolve_ps3_rr"]
    f, var = arm_scale("RR", "percent", case["percent"], case["lower"], case["upper"])
    f_c, var_c = arm_scale("RR", "percent", [case["percent_ctrl"]], [case["lower_ctrl"]], [case["upper_ctrl"]])
    c = combined_arm_estimates("RR", case["n"], f, var, float(f_c[0]), float(var_c[0]), case["n_ctrl"])
    close(c.yi, case["yi"])
    close(c.vi, case["vi"])


def test_resolve_reported_mds_combined():
    case = CASES["resolve_bpi_severity_3m_md"]
    z = z_for_level(95)
    v = [((hi - lo) / (2 * z)) ** 2 for lo, hi in zip(case["lower"], case["upper"])]
    v12 = ((case["between_upper"] - case["between_lower"]) / (2 * z)) ** 2
    c = combined_contrasts("MD", case["n"], case["yi_arms"], v, v12)
    close(c.yi, case["yi"])
    close(c.vi, case["vi"])


def across_modes(outcome: str, window: str, profile: str = "cochrane-2025") -> dict:
    table = load_studies(TABLE_BEFORE_METAPSY, CONFIG)
    rows = table[(table["outcome"] == outcome) & (table["window"] == window) & table["include"]]
    settings = resolve_settings({"profile": profile})
    effects, _ = analyse(rows.to_dict("records"), OUTCOMES[outcome], MODES, settings, 0.5)
    _, overall = subgroup_records(effects, OUTCOMES[outcome], MODES, settings, window, 0.5)
    (row,) = [r for r in overall if r["treatment"] == OVERALL_TREATMENT]
    return row


@pytest.mark.parametrize("profile", ["cochrane-2025", "revman5"])
def test_shipped_single_trial_across_modes_is_its_combined_arms_contrast(profile):
    """Pain-severity response at 3 months has one trial, RESOLVE: the across-modes row is its coach
    and online arms combined vs usual care (was RR 1.41 [0.32, 6.31], an rma.mv with tau² between
    two arms of one trial and a t interval on 1 df), under every profile."""
    case = CASES["resolve_ps3_rr"]
    row = across_modes("pain_severity_response", "post", profile)
    assert row["status"] == SINGLE_TRIAL_STATUS and row["k"] == 1 and row["studies"] == "DeBar 2025"
    assert row["note"].startswith("one trial: its CBT arms combined into one group against its control arm")
    close(row["theta"], case["yi"])
    close(row["se"] ** 2, case["vi"])
    z = 1.959963984540054
    close(row["ci_lower"], np.exp(case["yi"] - z * np.sqrt(case["vi"])))
    close(row["ci_upper"], np.exp(case["yi"] + z * np.sqrt(case["vi"])))
    assert f"{row['estimate']:.2f} [{row['ci_lower']:.2f}, {row['ci_upper']:.2f}]" == "1.41 [1.20, 1.66]"
    assert row.get("tau2") is None and row.get("stat_df") is None and row["n_participants"] == 2036


def test_shipped_reported_mds_across_modes():
    case = CASES["resolve_bpi_severity_3m_md"]
    row = across_modes("bpi_pain_severity", "post")
    assert row["status"] == SINGLE_TRIAL_STATUS
    close(row["theta"], case["yi"])
    close(row["se"] ** 2, case["vi"])


def test_several_trials_keep_the_multivariate_model():
    row = across_modes("pain_interference", "post")
    assert row["status"] == "pooled across delivery modes" and row["k"] == 10
    assert row["note"].startswith("multivariate model with shared-arm covariance")
