"""Edge cases pinned to metafor (issue 21): an arm with all events, both arms with none,
k = 1 and 2, tau² on the boundary, a contrast whose CI touches the null, and ranktest() with
ties of three in both variables (a mutant of the tie correction survived the other cases).

Expected values: tests/oracle/data/metafor_edges.json, written by
tests/oracle/reference/metafor_edges.R (metafor 3.8-1, R 4.2.2); each case stores its
``r_setup`` (data and ``escalc`` call) and ``r_call`` (``rma(yi, vi, method=, test=)``).
Tolerances from tests/oracle/_oracle.py: ``escalc_rel`` for effect sizes, ``rel``/``abs``
for fits, ``tau2_abs`` where metafor's Fisher scoring stops just above tau² = 0.
A single three-arm trial in the network model is pinned in test_network_metafor.py
(``resolve_ps3_*``) and its contrast-direction invariance in tests/stats/test_network_invariance.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import as_array
from evsynth.data.config import Outcome, resolve_settings
from evsynth.stats.escalc import from_counts
from evsynth.stats.pooling import pool
from evsynth.stats.smallstudy import rank_test
from evsynth.tables.changes import _excludes
from evsynth.tables.pooled import analyse
from evsynth.wording import format_p
from oracle._oracle import TESTS, TOL, load

CASES = load("metafor_edges")
MODES = ["coach", "online", "usual_care"]


def counts_rows(case: dict, outcome: str = "o") -> list[dict]:
    i = case["inputs"]
    return [
        {"study": f"S{k}", "year": 2020 + k, "treatment": "coach", "comparator": "usual_care", "outcome": outcome,
         "timepoint": "3", "window": "3", "form": "counts", "events_treat": a, "n_treat": n1, "events_ctrl": c,
         "n_ctrl": n2, "include": True}
        for k, (a, n1, c, n2) in enumerate(zip(i["ai"], i["n1i"], i["ci"], i["n2i"]))
    ]


@pytest.mark.parametrize("case_id", ["all_events_rr", "all_events_or", "all_events_rd"])
def test_all_events_and_no_events_tables_match_escalc(case_id):
    """escalc(add=1/2, to="only0", drop00=TRUE for RR/OR): the all-events arm (20/20) is
    corrected (log RR 0.669, not the uncorrected 0.693; an OR at all), the table with only
    events (15/15 vs 15/15) and the one with none (0/10 vs 0/12) are dropped for RR/OR and
    kept for RD."""
    case = CASES[case_id]
    measure = case_id.rsplit("_", 1)[1].upper()
    i = case["inputs"]
    yi, vi, corrected = from_counts(measure, i["ai"], i["n1i"], i["ci"], i["n2i"], add=0.5)
    np.testing.assert_allclose(yi, as_array(i["yi"]), rtol=TOL["escalc_rel"], atol=TOL["escalc_abs"])
    np.testing.assert_allclose(vi, as_array(i["vi"]), rtol=TOL["escalc_rel"])
    assert list(corrected) == [True, False, False, True, True]
    assert np.isfinite(yi[0])
    if measure == "RR":
        assert yi[0] == pytest.approx(0.6690496289808847, rel=1e-12)


@pytest.mark.parametrize("case_id", ["all_events_rr", "all_events_or", "all_events_rd"])
def test_all_events_tables_pool_as_metafor(case_id):
    """rma(yi, vi, method="REML", test="z") on the same tables, via the pipeline's analyse()."""
    case = CASES[case_id]
    measure = case_id.rsplit("_", 1)[1].upper()
    outcome = Outcome("o", "Response", measure, True)
    settings = resolve_settings({"profile": "metafor"})
    effects, (comparison,) = analyse(counts_rows(case), outcome, MODES, settings, 0.5)
    out = case["outputs"]
    assert comparison.status == "pooled" and len(comparison.studies) == out["k"]
    p = comparison.pooled
    for ours, theirs in ((p.theta, out["beta"]), (p.se, out["se"]), (p.ci_lower, out["ci_lb"]),
                         (p.ci_upper, out["ci_ub"]), (p.p_value, out["pval"]), (p.q, out["QE"])):
        assert ours == pytest.approx(theirs, rel=TOL["rel"], abs=TOL["abs"])
    assert p.tau2 == pytest.approx(out["tau2"], rel=TOL["rel"], abs=TOL["tau2_abs"])
    assert p.tau2_ci_upper == pytest.approx(out["tau2_ci_ub"], rel=TOL["rel"], abs=TOL["abs"])
    if measure != "RD":
        assert "not estimable: S3, S4" in comparison.note
        assert effects["estimable"].tolist() == [True, True, True, False, False]


@pytest.mark.parametrize("case_id", ["k1_z", "k1_knha", "ci_touches_null_z"])
def test_one_study_is_shown_with_metafors_k1_interval(case_id):
    """rma() with k = 1 fixes tau² = 0 and gives the study's own Wald CI (under test="knha" too):
    the pipeline shows the single study, not pooled, with the same interval."""
    case = CASES[case_id]
    out = case["outputs"]
    yi, vi = case["inputs"]["yi"][0], case["inputs"]["vi"][0]
    if case_id == "ci_touches_null_z":
        i = case["inputs"]
        row = {"form": "contrast", "effect_measure": "RR", "effect": i["ratio"][0], "ci_lower": i["ratio_ci_lb"][0],
               "ci_upper": i["ratio_ci_ub"][0], "effect_direction": "treatment_minus_control"}
        outcome = Outcome("o", "Response", "RR", True)
    else:
        row = {"form": "contrast", "effect_measure": "MD", "effect": yi, "se": vi**0.5,
               "effect_direction": "treatment_minus_control"}
        outcome = Outcome("o", "Score", "MD", True)
    row |= {"study": "Only 2020", "year": 2020, "treatment": "coach", "comparator": "usual_care", "outcome": "o",
            "timepoint": "3", "window": "3", "include": True, "n_treat": None, "n_ctrl": None}
    settings = resolve_settings({"profile": "metafor", "ci_method": TESTS[case["test"]]})
    effects, (comparison,) = analyse([row], outcome, MODES, settings, 0.5)
    assert comparison.status == "single study: shown, not pooled" and comparison.pooled is None
    e = effects.iloc[0]
    assert e["yi"] == pytest.approx(out["beta"], rel=TOL["rel"])
    assert e["se"] == pytest.approx(out["se"], rel=TOL["rel"])
    assert e["ci_lower_theta"] == pytest.approx(out["ci_lb"], rel=TOL["rel"], abs=TOL["abs"])
    assert e["ci_upper_theta"] == pytest.approx(out["ci_ub"], rel=TOL["rel"], abs=TOL["abs"])
    assert e["weight_pct"] == 100.0


def test_ci_touching_the_null_reads_as_p_005():
    """RR 1.5 [1.00, 2.25]: metafor's p = 0.0500 (z = 1.96); its lower limit exp(5.6e-17) is
    exactly 1.0 in floating point, which the change log counts as including no effect."""
    out = CASES["ci_touches_null_z"]["outputs"]
    assert format_p(out["pval"]) == "P = 0.05"
    assert _excludes(np.exp(out["ci_lb"]), np.exp(out["ci_ub"]), "RR") == "no"
    assert _excludes(1.0, 2.25, "RR") == "no" and _excludes(0.0, 0.81, "MD") == "no"
    assert _excludes(1.0 + 1e-12, 2.25, "RR") == "yes" and _excludes(-0.5, -1e-12, "MD") == "yes"


@pytest.mark.parametrize("case_id", ["k2_homogeneous_reml_knha", "k2_homogeneous_dl_knha", "boundary_reml_z",
                                     "boundary_dl_z", "boundary_pm_z"])
def test_tau2_on_the_boundary(case_id):
    """Q below its df: tau² = 0 for every estimator (k = 2 and 4), the random-effects fit is the
    common-effect one, and the Q-profile CI of tau² has lower limit 0 ([0, 0] when Q is tiny)."""
    case = CASES[case_id]
    out = case["outputs"]
    yi, vi = as_array(case["inputs"]["yi"]), as_array(case["inputs"]["vi"])
    p = pool(yi, vi, case["method"], TESTS[case["test"]], 0.05, prediction_interval="normal")
    assert p.tau2 == 0 and out["tau2"] == 0
    for ours, theirs in ((p.theta, out["beta"]), (p.se, out["se"]), (p.ci_lower, out["ci_lb"]),
                         (p.ci_upper, out["ci_ub"]), (p.p_value, out["pval"]), (p.q, out["QE"]),
                         (p.q_p, out["QEp"]), (p.i2, out["I2"]), (p.tau2_ci_lower, out["tau2_ci_lb"]),
                         (p.tau2_ci_upper, out["tau2_ci_ub"])):
        assert ours == pytest.approx(theirs, rel=TOL["rel"], abs=TOL["abs"])
    assert p.theta == pytest.approx(p.common_theta, rel=1e-12)
    assert p.stat_df == (None if out["df"] is None else out["df"])


def test_rank_test_with_ties_of_three_in_both_variables():
    """ranktest(): Kendall's tau-b and R's tie-corrected normal approximation, including the term
    for ties of size 3 or more in both the standardised deviates and the variances."""
    case = CASES["ranktest_ties3"]
    ours = rank_test(case["inputs"]["yi"], case["inputs"]["vi"])
    assert not ours.exact
    assert ours.tau == pytest.approx(case["outputs"]["tau"], rel=TOL["rel"])
    assert ours.p_value == pytest.approx(case["outputs"]["pval"], rel=TOL["rel"])
