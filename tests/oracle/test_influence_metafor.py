"""Leave-one-out and influence diagnostics pinned to metafor's leave1out(), influence() and
baujat() (tests/oracle/data/metafor_sensitivity.json; R calls in each case).

Tolerance 1e-6 relative, except tau² (and I²) near 0: see _oracle.TOL["tau2_abs"].
Measured agreement is better than 4e-9 for Cook's distance, DFFITS, DFBETAS and Baujat y
(squares and differences of nearly equal estimates) and 2e-10 for everything else.
"""

import numpy as np
import pytest

from evsynth.stats.influence import influence, influence_thresholds, leave_one_out
from evsynth.stats.pooling import pool
from evsynth.stats.refit import ESTIMATORS, leave_one_out_fits, single_fit
from oracle._oracle import TOL, load, max_rel_error, rma_inputs

CASES = load("metafor_sensitivity")
CASE_IDS = sorted(CASES)

LOO_FIELDS = {
    "estimate": "theta", "se": "se", "stat": "stat", "pval": "p_value", "ci_lb": "ci_lower",
    "ci_ub": "ci_upper", "Q": "q", "Qp": "q_p", "tau2": "tau2", "I2": "i2", "H2": "h2",
}
INFLUENCE_FIELDS = {
    "rstudent": "rstudent", "dffits": "dffits", "cook_d": "cook_d", "cov_r": "cov_r", "tau2_del": "tau2_del",
    "QE_del": "q_del", "hat": "hat", "weight": "weight", "dfbs": "dfbetas",
}
ATOL = {"tau2": TOL["tau2_abs"], "tau2_del": TOL["tau2_abs"], "I2": TOL["i2_abs"]}


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_leave_one_out_matches_metafor(case_id):
    yi, vi, settings = rma_inputs(CASES[case_id])
    fits = leave_one_out(yi, vi, **settings)
    out = CASES[case_id]["outputs"]["leave1out"]
    for name, attr in LOO_FIELDS.items():
        assert max_rel_error(getattr(fits, attr), out[name], ATOL.get(name, 0.0)) < TOL["rel"], name
    assert fits.converged.all()
    expected_df = len(yi) - 2 if settings["ci_method"] != "wald" else np.nan
    np.testing.assert_array_equal(fits.stat_df, np.full(len(yi), expected_df))


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_influence_matches_metafor(case_id):
    yi, vi, settings = rma_inputs(CASES[case_id])
    result = influence(yi, vi, **settings)
    out = CASES[case_id]["outputs"]
    for name, attr in INFLUENCE_FIELDS.items():
        assert max_rel_error(getattr(result, attr), out["influence"][name], ATOL.get(name, 0.0)) < TOL["rel"], name
    assert list(result.influential) == out["influence"]["inf"]
    assert max_rel_error(result.baujat_x, out["baujat"]["x"]) < TOL["rel"]
    assert max_rel_error(result.baujat_y, out["baujat"]["y"]) < TOL["rel"]


def test_influential_studies_are_the_ones_metafor_stars():
    """normand1999 SMD: Orpington-Moderate; raudenbush1985 REML: Maxwell 1970; bcg3: study 2."""
    flagged = {}
    for case_id in ("normand_smd_reml_z", "raudenbush_smd_reml_z", "bcg3_rr_reml_z"):
        yi, vi, settings = rma_inputs(CASES[case_id])
        result = influence(yi, vi, **settings)
        flagged[case_id] = [CASES[case_id]["inputs"]["study"][i] for i in np.flatnonzero(result.influential)]
        assert all(result.criteria[i] for i in np.flatnonzero(result.influential))
        assert not any(result.criteria[i] for i in np.flatnonzero(~result.influential))
    assert flagged == {
        "normand_smd_reml_z": ["Orpington-Moderate"],
        "raudenbush_smd_reml_z": ["Maxwell 1970"],
        "bcg3_rr_reml_z": ["Ferguson & Simes 1949"],
    }
    yi, vi, settings = rma_inputs(CASES["normand_smd_reml_z"])
    assert influence(yi, vi, **settings).criteria[2] == "dffits; cook_d; dfbetas"


def test_thresholds_are_metafors():
    limits = influence_thresholds(13)
    assert limits["dffits"] == pytest.approx(3 * np.sqrt(1 / 12))
    assert limits["cook_d"] == pytest.approx(0.454936423119572)  # qchisq(0.5, 1)
    assert limits["hat"] == pytest.approx(3 / 13)
    assert limits["dfbetas"] == 1.0


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("ci_method", ["wald", "hksj", "hksj-adhoc"])
def test_each_leave_one_out_fit_is_the_pipelines_pool(estimator, ci_method):
    """Row i equals evsynth.stats.pooling.pool() on the data without study i (bcg log RR)."""
    yi, vi, _ = rma_inputs(CASES["bcg_rr_reml_z"])
    fits = leave_one_out_fits(yi, vi, estimator=estimator, ci_method=ci_method, alpha=0.1)
    for i in range(len(yi)):
        keep = np.arange(len(yi)) != i
        p = pool(yi[keep], vi[keep], estimator=estimator, ci_method=ci_method, alpha=0.1)
        got = (fits.theta[i], fits.se[i], fits.ci_lower[i], fits.ci_upper[i], fits.p_value[i], fits.q[i], fits.h2[i])
        want = (p.theta, p.se, p.ci_lower, p.ci_upper, p.p_value, p.q, p.h2)
        np.testing.assert_allclose(got, want, rtol=1e-8)
        assert fits.tau2[i] == pytest.approx(p.tau2, rel=1e-8, abs=TOL["tau2_abs"])


def test_chunking_does_not_change_the_result():
    """Chunks of 7 cells (many partial chunks) give the default chunking's numbers."""
    rng = np.random.default_rng(5)
    vi = rng.uniform(0.01, 0.5, 40)
    yi = rng.normal(0.3, np.sqrt(vi + 0.1))
    for estimator in ESTIMATORS:
        a = leave_one_out_fits(yi, vi, estimator=estimator, ci_method="hksj")
        b = leave_one_out_fits(yi, vi, estimator=estimator, ci_method="hksj", chunk_elements=7)
        np.testing.assert_allclose(b.theta, a.theta, rtol=1e-12)
        np.testing.assert_allclose(b.tau2, a.tau2, rtol=1e-10, atol=1e-14)


def test_many_studies_agree_with_direct_refits():
    """k = 3000 (several chunks): sampled rows equal pool() without that study."""
    rng = np.random.default_rng(11)
    vi = rng.uniform(0.005, 0.4, 3000)
    yi = rng.normal(-0.2, np.sqrt(vi + 0.05))
    yi[17] += 3.0  # one outlier: its omission moves tau² the most
    fits = leave_one_out_fits(yi, vi, estimator="REML", ci_method="wald")
    assert fits.converged.all()
    for i in (0, 17, 1499, 2999):
        keep = np.arange(len(yi)) != i
        p = pool(yi[keep], vi[keep], estimator="REML", ci_method="wald", alpha=0.05)
        assert fits.theta[i] == pytest.approx(p.theta, rel=1e-9)
        assert fits.tau2[i] == pytest.approx(p.tau2, rel=1e-8)
    assert np.argmin(fits.tau2) == 17


def test_two_studies_leave_single_study_fits():
    """metafor's k = 1 fit: the remaining study, tau² 0, Wald test whatever the CI method."""
    yi, vi = np.array([0.2, -0.4]), np.array([0.04, 0.09])
    fits = leave_one_out_fits(yi, vi, estimator="REML", ci_method="hksj")
    np.testing.assert_allclose(fits.theta, yi[::-1])
    np.testing.assert_allclose(fits.se, np.sqrt(vi[::-1]))
    assert (fits.tau2 == 0).all() and (fits.q == 0).all() and (fits.q_p == 1).all()
    assert np.isnan(fits.stat_df).all()
    assert single_fit(yi[:1], vi[:1]).k[0] == 1


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="at least two"):
        leave_one_out([0.1], [0.01])
    with pytest.raises(ValueError, match="variance positive"):
        leave_one_out([0.1, 0.2], [0.01, 0.0])
    with pytest.raises(ValueError, match="unknown tau² estimator"):
        leave_one_out([0.1, 0.2], [0.01, 0.02], estimator="XX")
    with pytest.raises(ValueError, match="unknown CI method"):
        leave_one_out([0.1, 0.2], [0.01, 0.02], ci_method="t")
