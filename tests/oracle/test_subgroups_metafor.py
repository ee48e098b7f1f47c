"""Subgroup differences (separate and common tau²), overall estimate, Handbook split.

Expected values come from tests/oracle/data/metafor_multivariate.json, written by
tests/oracle/reference/metafor_multivariate.R (metafor 3.8-1, R 4.2.2); each case records its R
call. Datasets and sources:

* dat.bcg log RR by ``alloc`` (anchors.md c.5): separate DL fits, then
  ``rma(coefs, sei=ses, method="EE")$QE`` -> Q_b(2) = 1.5368, p 0.4638; separate REML
  fits -> Q_b(2) = 1.8614, p 0.3943. Common tau²: ``rma(yi, vi, mods=~alloc)`` QM(2) =
  1.7675, p 0.4132; ``test="knha"`` F(2,10) = 0.9662, p 0.4134.
* Gleser & Olkin (2009) SMDs by treatment (two studies give both treatments against one
  control): separate REML/DL fits with the generalised Q computed by matrix algebra in R
  (r_call); common tau² from ``rma.mv(yi, V, mods=~factor(trt), random=~1|id)``.
* RESOLVE 3-month pain-severity response from its arms: coach vs usual care and online vs
  usual care share the usual-care arm.

Tolerance 1e-6 relative; with no shared arm the Q must equal RevMan's exactly (1e-13).
"""

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from conftest import REPO
from evsynth.data.config import outcomes_from_config
from evsynth.data.contrasts import arm_contrasts, shared_arm_covariance
from evsynth.data.studies import load_studies
from evsynth.stats.subgroups import (
    OVERALL_METHOD,
    common_tau2_test,
    overall_estimate,
    separate_tau2_test,
    split_shared_group,
)
from evsynth.tables.subgroups import subgroup_differences
from oracle._oracle import TOL, load

CASES = load("metafor_multivariate")


def separate(case_id, with_covariance=True):
    case = CASES[case_id]
    ins, out = case["inputs"], case["outputs"]
    V = np.array(ins["V"]) if "V" in ins and with_covariance else None
    test = separate_tau2_test(ins["yi"], ins["vi"], ins["group"], V, levels=out["groups"], estimator=case["method"])
    return test, out


def groups_of(case_id, column):
    return [str(v).removesuffix(".0") if isinstance(v, float) else v for v in CASES[case_id]["inputs"][column]]


@pytest.mark.parametrize(
    "case_id", ["sep_bcg_alloc_dl", "sep_bcg_alloc_reml", "sep_go_trt_dl", "sep_go_trt_reml", "sep_resolve_ps3"]
)
def test_separate_tau2_matches_r(case_id):
    test, out = separate(case_id)
    assert test.stat == pytest.approx(out["Q"], rel=TOL["rel"])
    assert test.df == (out["df"],) and test.p_value == pytest.approx(out["p"], rel=TOL["rel"])
    assert test.i2 == pytest.approx(out["I2"], rel=TOL["rel"], abs=TOL["zero_abs"])
    for name, ours in (
        ("k", [s.k for s in test.subgroups]),
        ("theta", [s.theta for s in test.subgroups]),
        ("se", [s.se for s in test.subgroups]),
        ("tau2", [0.0 if s.tau2 is None else s.tau2 for s in test.subgroups]),
    ):
        np.testing.assert_allclose(ours, out[name], rtol=TOL["rel"], atol=TOL["zero_abs"], err_msg=name)
    assert test.covariance_used == ("S" in out)
    if "S" in out:  # ignoring the shared arm gives R's naive Q
        naive, _ = separate(case_id, with_covariance=False)
        assert naive.stat == pytest.approx(out["Q_naive"], rel=TOL["rel"]) and not naive.covariance_used


def test_bcg_separate_published_values():
    """anchors.md c.5: separate DL Q_b(2) = 1.5368 (p 0.4638); separate REML Q_b(2) = 1.8614 (p 0.3943)."""
    dl, out = separate("sep_bcg_alloc_dl")
    reml, _ = separate("sep_bcg_alloc_reml")
    assert (round(dl.stat, 4), round(dl.p_value, 4), round(reml.stat, 4), round(reml.p_value, 4)) == (
        1.5368,
        0.4638,
        1.8614,
        0.3943,
    )
    assert dl.stat == pytest.approx(out["Q"], rel=1e-13)  # RevMan's Q_b exactly: no covariance
    assert dl.revman_line() == "Test for subgroup differences: Chi² = 1.54, df = 2 (P = 0.46), I² = 0%"


def test_generalised_q_reduces_to_revman_q_without_covariance():
    """d'(CSC')⁻¹d with diagonal S equals Σw(θ-θ̄)² (the algebra the module relies on)."""
    test, _ = separate("sep_bcg_alloc_reml")
    theta = np.array([s.theta for s in test.subgroups])
    S = np.diag([s.se**2 for s in test.subgroups])
    C = np.column_stack([-np.ones(2), np.eye(2)])
    d = C @ theta
    assert float(d @ np.linalg.solve(C @ S @ C.T, d)) == pytest.approx(test.stat, rel=1e-12)


@pytest.mark.parametrize(
    "case_id,data_case,column,test",
    [
        ("bcg_alloc_reml_z", "bcg_alloc_reml_z", "alloc", "z"),
        ("bcg_alloc_reml_knha", "bcg_alloc_reml_z", "alloc", "knha"),
        ("go_trt_reml_z", "go_trt_reml_z", "trt", "wald"),
        ("go_trt_reml_knha_algebra", "go_trt_reml_z", "trt", "hksj"),
        ("resolve_ps3_mode_reml_z", "resolve_ps3_mode_reml_z", "mode", "z"),
    ],
)
def test_common_tau2_matches_metafor(case_id, data_case, column, test):
    """QM (or F under Knapp-Hartung) of rma(.mv)(yi, V, mods=~factor(group)), REML."""
    ins, out = CASES[data_case]["inputs"], CASES[case_id]["outputs"]
    groups = groups_of(data_case, column)
    result = common_tau2_test(ins["yi"], np.array(ins["V"]), groups, levels=sorted(set(groups)), test=test)
    assert result.stat == pytest.approx(out["QM"], rel=TOL["rel"])
    assert result.p_value == pytest.approx(out["QMp"], rel=TOL["rel"])
    assert list(result.df) == out["QMdf"] and result.tau2[0] == pytest.approx(out["tau2"], rel=TOL["rel"])
    assert result.distribution == ("chi2" if len(out["QMdf"]) == 1 else "F")
    assert result.covariance_used == (column != "alloc")


def test_common_tau2_published_values():
    """anchors.md c.5: QM(2) = 1.7675 (p 0.4132), tau² 0.3615; F(2,10) = 0.9662 (p 0.4134)."""
    ins = CASES["bcg_alloc_reml_z"]["inputs"]
    vi, groups = np.diag(ins["V"]), groups_of("bcg_alloc_reml_z", "alloc")
    z = common_tau2_test(ins["yi"], vi, groups)
    f = common_tau2_test(ins["yi"], vi, groups, test="hksj")
    assert (round(z.stat, 4), round(z.p_value, 4), round(z.tau2[0], 4)) == (1.7675, 0.4132, 0.3615)
    assert (round(f.stat, 4), round(f.p_value, 4), f.df) == (0.9662, 0.4134, (2, 10))
    assert f.revman_line() == "Test for subgroup differences: F = 0.97, df = 2, 10 (P = 0.41)"


@pytest.mark.parametrize("case_id", ["go_intercept_reml_z", "resolve_ps3_any_reml_z", "resolve_ps3_any_reml_t"])
def test_overall_estimate_matches_metafor(case_id):
    """Intercept-only rma.mv(yi, V, random=~1|id): 'any remote CBT vs usual care' for RESOLVE."""
    case = CASES[case_id]
    out = case["outputs"]
    overall = overall_estimate(case["inputs"]["yi"], np.array(case["inputs"]["V"]), test=case["test"])
    for ours, theirs in (
        (overall.theta, out["beta"][0]),
        (overall.se, out["se"][0]),
        (overall.tau2, out["tau2"]),
        (overall.ci_lower, out["ci_lb"][0]),
        (overall.ci_upper, out["ci_ub"][0]),
        (overall.p_value, out["pval"][0]),
        (overall.qe, out["QE"]),
    ):
        assert ours == pytest.approx(theirs, rel=TOL["rel"])
    assert overall.method == OVERALL_METHOD == "multivariate model with shared-arm covariance (Gleser & Olkin 2009)"
    assert overall.covariance_used


def test_subgroup_differences_from_resolve_arm_rows(tmp_path):
    """From arm rows to all three results: equals the R cases built from the same arms."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    rows = [
        {
            "study": "DeBar 2025",
            "year": "2025",
            "outcome": "pain_severity_response",
            "timepoint": "3",
            "arm": arm,
            "arm_measure": "percent",
            "arm_estimate": est,
            "arm_ci_lower": lo,
            "arm_ci_upper": hi,
            "source": "doi:10.1001/jama.2025.11178, Table 2",
        }
        for arm, est, lo, hi in (
            ("coach", 32.0, 29.3, 35.0),
            ("online", 26.6, 23.4, 30.2),
            ("usual_care", 20.8, 18.0, 24.0),
        )
    ]
    path = tmp_path / "studies.tsv"
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
    effects = arm_contrasts(load_studies(path, config), outcomes_from_config(config), list(config["modes"])).effects
    vs_usual = effects[effects["comparator"] == "usual_care"]
    result = subgroup_differences(vs_usual, by="treatment", estimator="REML", ci_method="wald")
    sep, mode, anyc = (
        CASES[c]["outputs"] for c in ("sep_resolve_ps3", "resolve_ps3_mode_reml_z", "resolve_ps3_any_reml_z")
    )
    assert result.separate.stat == pytest.approx(sep["Q"], rel=TOL["rel"]) and result.separate.covariance_used
    assert result.common.stat == pytest.approx(mode["QM"], rel=TOL["rel"]) and "not estimable" in result.common.note
    assert result.overall.theta == pytest.approx(anyc["beta"][0], rel=TOL["rel"])
    assert result.overall.tau2 == pytest.approx(anyc["tau2"], rel=TOL["rel"])
    # Both conventions equal the coach vs online test from the arms (one trial, two subgroups).
    coach_online = effects.iloc[0]
    assert result.separate.stat == pytest.approx(coach_online["yi"] ** 2 / coach_online["vi"], rel=1e-12)
    assert result.separate.revman_line() == "Test for subgroup differences: Chi² = 5.43, df = 1 (P = 0.02), I² = 81.6%"
    assert result.common_hksj is None  # k = G = 2: no residual df for an F test
    dl = subgroup_differences(vs_usual, estimator="DL", ci_method="hksj")
    assert dl.overall.note == "DL is not available for the multivariate model; REML used"
    assert dl.overall.stat_df == 1 and dl.overall.theta == pytest.approx(anyc["beta"][0], rel=TOL["rel"])
    with pytest.raises(ValueError, match="cannot be estimated and tested"):
        common_tau2_test(vs_usual["yi"], shared_arm_covariance(vs_usual), vs_usual["treatment"], test="hksj")


def test_correlated_estimates_within_a_subgroup_are_refused():
    """Separate-tau² pooling assumes independence within a subgroup; the common-tau² model does not."""
    V = np.array([[0.02, 0.01, 0.0], [0.01, 0.03, 0.0], [0.0, 0.0, 0.04]])
    with pytest.raises(ValueError, match="within one subgroup are correlated"):
        separate_tau2_test([0.1, 0.2, 0.3], np.diag(V), ["a", "a", "b"], V)
    assert common_tau2_test([0.1, 0.2, 0.3], V, ["a", "a", "b"], method="EE").covariance_used


def test_split_shared_group_handbook_23_3_4():
    """Cochrane Handbook v6.5 §23.3.4: RESOLVE's usual-care arm (777 randomised) split across two comparisons."""
    assert [(s.n, s.events) for s in split_shared_group(777, 2)] == [(389, None), (388, None)]
    assert [(s.n, s.events) for s in split_shared_group(777, 2, events=162)] == [(389, 81), (388, 81)]
    assert [(s.n, s.events) for s in split_shared_group(777, 3, events=163)] == [(259, 55), (259, 54), (259, 54)]
    assert [(s.n, s.events) for s in split_shared_group(777, 2, events=161, integer=False)] == [(388.5, 80.5)] * 2
    with pytest.raises(ValueError):
        split_shared_group(777, 1)
    with pytest.raises(ValueError):
        split_shared_group(10, 2, events=11)


@pytest.mark.parametrize("test,df", [("z", None), ("hksj", 10)])
def test_common_tau2_subgroup_cis_are_wald_or_t_on_the_residual_df(test, df):
    """predict() of metafor's rma.mv(mods = ~ factor(alloc) - 1) style cell means: CI = theta ± q se
    with q = qnorm(0.975), or qt(0.975, k - G) under test = "knha" (dat.bcg by allocation: k = 13,
    G = 3, so df = 10, as the published F(2, 10) above)."""
    ins = CASES["bcg_alloc_reml_z"]["inputs"]
    vi, groups = np.diag(ins["V"]), groups_of("bcg_alloc_reml_z", "alloc")
    result = common_tau2_test(ins["yi"], vi, groups, test=test)
    q = stats.norm.ppf(0.975) if df is None else stats.t.ppf(0.975, df)
    for sub in result.subgroups:
        assert np.isfinite([sub.ci_lower, sub.ci_upper]).all()
        assert sub.ci_lower == pytest.approx(sub.theta - q * sub.se, rel=1e-12)
        assert sub.ci_upper == pytest.approx(sub.theta + q * sub.se, rel=1e-12)
