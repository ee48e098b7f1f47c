"""Pooled estimates pinned to metafor.

Every expected value comes from tests/oracle/data/metafor_reference.json, written by
tests/oracle/reference/metafor_reference.R with metafor 3.8-1 (R 4.2.2). Each case records its
R call: ``rma(yi, vi, method=<method>, test=<z|knha>, control=list(threshold=1e-12))``
on the data built by ``r_setup``. Tolerance: 1e-6 relative (the foundation issue's),
with 1e-9 absolute where the target is 0; measured agreement is better than 1e-11.
"""

import numpy as np
import pytest

from conftest import as_array
from evsynth.stats.pooling import pool
from oracle._oracle import DEFAULT_PI, POOLING_CASES, TESTS, TOL, rma_pairs


def _fit(case, **kw):
    yi, vi = as_array(case["inputs"]["yi"]), as_array(case["inputs"]["vi"])
    keep = np.isfinite(yi)  # metafor omits studies with NA (double-zero tables)
    kw.setdefault("prediction_interval", DEFAULT_PI[case["test"]])
    return pool(yi[keep], vi[keep], case["method"], TESTS[case["test"]], 0.05, **kw), case["outputs"]


@pytest.mark.parametrize("case_id", POOLING_CASES)
def test_random_effects_matches_metafor(metafor, case_id):
    result, expected = _fit(metafor[case_id])
    pairs = rma_pairs(result, expected)
    for name, (ours, theirs) in pairs.items():
        assert ours == pytest.approx(theirs, rel=TOL["rel"], abs=TOL["abs"]), name
    assert result.k == expected["k"]
    assert result.stat_df == (None if expected["df"] is None else pytest.approx(expected["df"]))
    weights = [w for w in expected["weights"] if w is not None]
    np.testing.assert_allclose(result.weights, weights, rtol=TOL["rel"], atol=TOL["abs"])


@pytest.mark.parametrize("case_id", ["bcg_rr_reml_z", "bcg_rr_dl_z", "normand_smd_reml_z", "zero_cells_or_dl_z"])
def test_common_effect_matches_metafor(metafor, case_id):
    """metafor: rma(yi, vi, method="EE") on the same data."""
    result, expected = _fit(metafor[case_id])
    common = expected["common_effect"]
    assert result.common_theta == pytest.approx(common["beta"], rel=TOL["rel"])
    assert result.common_se == pytest.approx(common["se"], rel=TOL["rel"])
    assert result.common_ci_lower == pytest.approx(common["ci_lb"], rel=TOL["rel"])
    assert result.common_ci_upper == pytest.approx(common["ci_ub"], rel=TOL["rel"])
    assert result.common_p_value == pytest.approx(common["pval"], rel=TOL["rel"], abs=1e-300)


@pytest.mark.parametrize("case_id", POOLING_CASES)
def test_q_profile_cis_match_confint(metafor, case_id):
    """metafor: confint(res, control=list(tol=1e-12, tau2.max=1e7)) -> tau², I²(%), H² rows
    (Viechtbauer 2007); the lifted cap lets metafor solve upper limits beyond 100."""
    result, expected = _fit(metafor[case_id])
    for ours, theirs in [("tau2_ci_lower", "tau2_ci_lb"), ("tau2_ci_upper", "tau2_ci_ub"),
                         ("i2_ci_lower", "I2_ci_lb"), ("i2_ci_upper", "I2_ci_ub"),
                         ("h2_ci_lower", "H2_ci_lb"), ("h2_ci_upper", "H2_ci_ub")]:
        assert getattr(result, ours) == pytest.approx(expected[theirs], rel=TOL["rel"], abs=TOL["abs"]), ours


@pytest.mark.parametrize("case_id", ["bcg_rr_reml_z", "bcg_rr_reml_knha", "normand_smd_dl_z", "bcg_rr_pm_knha"])
def test_prediction_interval_on_t_k_minus_2(metafor, case_id):
    """Higgins, Thompson & Spiegelhalter (2009): beta ± qt(.975, k-2)·sqrt(tau² + se²), computed in R."""
    result, expected = _fit(metafor[case_id], prediction_interval="t_k-2")
    assert result.pi_lower == pytest.approx(expected["pi_tk2_lb"], rel=TOL["rel"])
    assert result.pi_upper == pytest.approx(expected["pi_tk2_ub"], rel=TOL["rel"])
    assert result.pi_df == metafor[case_id]["outputs"]["k"] - 2


def test_hksj_narrower_than_wald_is_flagged(metafor):
    """anchors.md c.8: Q = 0.030 < k-1 = 3, so plain HKSJ is 6x narrower than Wald."""
    hksj, expected = _fit(metafor["smallk_dl_knha"])
    adhoc, _ = _fit(metafor["smallk_dl_adhoc"])
    assert hksj.hksj_narrower_than_wald and "narrower than the Wald CI" in hksj.note
    assert hksj.ci_upper - hksj.ci_lower == pytest.approx(0.037030, abs=1e-6)
    assert not adhoc.hksj_narrower_than_wald
    assert adhoc.ci_upper - adhoc.ci_lower == pytest.approx(0.367477, abs=1e-6)


def test_normand_conclusion_flips_between_profiles(metafor):
    """anchors.md c.7: DL-Wald CI excludes 0 (p = 0.041), REML-HKSJ does not (p = 0.121)."""
    dl_wald, _ = _fit(metafor["normand_smd_dl_z"])
    reml_hksj, _ = _fit(metafor["normand_smd_reml_knha"])
    assert dl_wald.ci_upper < 0 < reml_hksj.ci_upper


def test_huge_variance_reml_is_fisher_scoring_not_pymare(metafor):
    """dat.bcg with vi[1] = 1e10: metafor 0.336157; PyMARE 0.0.13's REML search returns
    2.49, which is why REML/ML tau² comes from Fisher scoring (metafor's algorithm)."""
    from evsynth.stats.pooling import _pymare_tau2

    case = metafor["huge_variance_reml"]
    result, expected = _fit(case)
    assert result.tau2 == pytest.approx(expected["tau2"], rel=TOL["rel"])
    assert result.note == ""
    yi, vi = np.asarray(case["inputs"]["yi"], float), np.asarray(case["inputs"]["vi"], float)
    assert abs(_pymare_tau2(yi, vi, "REML") - expected["tau2"]) > 1.0


def test_pymare_search_restarts_fisher_scoring_that_did_not_converge(metafor, monkeypatch):
    """dat.bcg REML (metafor 0.313243): were Fisher scoring from metafor's start not to
    converge, PyMARE's search gives the second start, and the result is still metafor's."""
    import evsynth.stats.pooling

    monkeypatch.setattr(evsynth.stats.pooling, "fisher_scoring_tau2", lambda yi, vi, estimator: (0.0, False))
    result, expected = _fit(metafor["bcg_rr_reml_z"])
    assert result.tau2 == pytest.approx(expected["tau2"], rel=TOL["rel"])
    assert result.note == ""


def test_i2_q_is_revman5_definition(metafor):
    """Q-based I² (RevMan 5, PyMARE): dat.bcg REML 92.117347% (anchors.md c.2) vs tau²-based 92.22%."""
    result, _ = _fit(metafor["bcg_rr_reml_z"])
    assert result.i2_q == pytest.approx(92.117347, abs=1e-6)


def test_pool_rejects_bad_input():
    with pytest.raises(ValueError, match="at least two"):
        pool([0.1], [0.01])
    with pytest.raises(ValueError, match="variance positive"):
        pool([0.1, 0.2], [0.01, 0.0])
    with pytest.raises(ValueError, match="unknown estimator"):
        pool([0.1, 0.2], [0.01, 0.02], estimator="XX")
