"""Pooled estimates pinned to metafor.

Every expected value comes from tests/data/metafor_reference.json, written by
tests/reference/metafor_reference.R with metafor 3.8-1 (R 4.2.2). Each case records its
R call: ``rma(yi, vi, method=<method>, test=<z|knha>, control=list(threshold=1e-12))``
on the data built by ``r_setup``. Tolerance: 1e-6 relative (the foundation issue's),
with 1e-9 absolute where the target is 0; measured agreement is better than 1e-11.
"""

import numpy as np
import pytest

from conftest import as_array
from evsynth.pooling import pool

RTOL, ATOL = 1e-6, 1e-9
TESTS = {"z": "wald", "knha": "hksj"}


def _fit(case):
    yi, vi = as_array(case["inputs"]["yi"]), as_array(case["inputs"]["vi"])
    keep = np.isfinite(yi)  # metafor omits studies with NA (double-zero tables)
    return pool(yi[keep], vi[keep], case["method"], TESTS[case["test"]], 0.05), case["outputs"]


CASE_IDS = [
    "bcg_rr_reml_z", "bcg_rr_reml_knha", "bcg_rr_dl_z", "bcg_rr_dl_knha", "bcg_rr_ml_z",
    "bcg_rr_ml_knha", "bcg_rr_he_z", "bcg_rr_he_knha", "bcg_or_dl_z", "bcg_rd_dl_z",
    "normand_smd_reml_z", "normand_smd_reml_knha", "normand_smd_dl_z", "normand_smd_dl_knha",
    "normand_md_reml_z", "normand_md_dl_z", "zero_cells_or_dl_z", "zero_cells_rr_dl_z",
    "zero_cells_rd_dl_z", "reported_ci_mixed_reml_z", "reported_ci_mixed_dl_z",
    "huge_variance_reml", "k2_reml_z", "k2_dl_knha",
    "shipped_interference_coach_reml_z", "shipped_interference_coach_reml_knha",
    "shipped_interference_coach_dl_z", "shipped_interference_coach_dl_knha",
]


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_random_effects_matches_metafor(metafor, case_id):
    result, expected = _fit(metafor[case_id])
    stat = expected.get("zval", expected.get("tval"))
    pairs = {
        "beta": (result.theta, expected["beta"]),
        "se": (result.se, expected["se"]),
        "ci_lb": (result.ci_lower, expected["ci_lb"]),
        "ci_ub": (result.ci_upper, expected["ci_ub"]),
        "stat": (result.stat, stat),
        "pval": (result.p_value, expected["pval"]),
        "tau2": (result.tau2, expected["tau2"]),
        "I2": (result.i2, expected["I2"]),
        "H2": (result.h2, expected["H2"]),
        "QE": (result.q, expected["QE"]),
        "QEp": (result.q_p, expected["QEp"]),
    }
    for name, (ours, theirs) in pairs.items():
        assert ours == pytest.approx(theirs, rel=RTOL, abs=ATOL), name
    assert result.k == expected["k"]
    assert result.stat_df == (None if expected["df"] is None else pytest.approx(expected["df"]))
    weights = [w for w in expected["weights"] if w is not None]
    np.testing.assert_allclose(result.weights, weights, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("case_id", ["bcg_rr_reml_z", "bcg_rr_dl_z", "normand_smd_reml_z", "zero_cells_or_dl_z"])
def test_common_effect_matches_metafor(metafor, case_id):
    """metafor: rma(yi, vi, method="EE") on the same data."""
    result, expected = _fit(metafor[case_id])
    common = expected["common_effect"]
    assert result.common_theta == pytest.approx(common["beta"], rel=RTOL)
    assert result.common_se == pytest.approx(common["se"], rel=RTOL)
    assert result.common_ci_lower == pytest.approx(common["ci_lb"], rel=RTOL)
    assert result.common_ci_upper == pytest.approx(common["ci_ub"], rel=RTOL)
    assert result.common_p_value == pytest.approx(common["pval"], rel=RTOL, abs=1e-300)


def test_huge_variance_guard_replaces_pymare_reml(metafor):
    """dat.bcg with vi[1] = 1e10: PyMARE 0.0.13's REML search returns tau² 2.49; metafor 0.336157."""
    result, expected = _fit(metafor["huge_variance_reml"])
    assert result.tau2 == pytest.approx(expected["tau2"], rel=RTOL)
    assert "Fisher scoring used" in result.note


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
