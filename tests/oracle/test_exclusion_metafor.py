"""Outlier and influence exclusion re-runs pinned to metafor 3.8 (tests/oracle/data/metafor_exclusion.json,
written by tests/oracle/reference/metafor_exclusion.R; R calls in each case).

Which trials are excluded must be identical: outliers by metapsyTools' rule (a trial's Wald CI
entirely outside ``res``'s CI), influential trials as ``influence(res)$is.infl``. The re-run is
``rma(yi, vi, subset = !excluded, method=, test=)``, compared at 1e-6 relative (tau² near 0:
absolute, _oracle.TOL["tau2_abs"]); measured agreement is in docs/sensitivity.md.
"""

import numpy as np
import pytest

from evsynth.stats.exclusion import EXCLUSIONS, ci_outliers, exclusion_reruns
from evsynth.stats.profiles import MethodSettings
from oracle._oracle import TOL, load, max_rel_error, rma_inputs

CASES = load("metafor_exclusion")
FIELDS = {"beta": "theta", "se": "se", "ci_lb": "ci_lower", "ci_ub": "ci_upper", "pval": "p_value",
          "tau2": "tau2", "I2": "i2", "QE": "q"}
ATOL = {"tau2": TOL["tau2_abs"], "I2": TOL["i2_abs"]}


def _settings(case) -> tuple[np.ndarray, np.ndarray, MethodSettings]:
    yi, vi, kw = rma_inputs(case)
    settings = MethodSettings(profile="oracle", prediction_interval="normal", i2="tau2", tau2_ci="none",
                              smd_variance="hedges", **kw)
    return yi, vi, settings


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_excluded_trials_and_reruns_match_metafor(case_id):
    case = CASES[case_id]
    yi, vi, settings = _settings(case)
    out = case["outputs"]
    outliers, influential = exclusion_reruns(yi, vi, settings)
    assert list(outliers.side) == out["outlier_side"]
    assert outliers.excluded.tolist() == out["outlier"]
    assert influential.excluded.tolist() == out["influential"]
    for rerun in (outliers, influential):
        expected = out.get(f"rerun_{rerun.analysis}")
        if expected is None:  # nothing excluded: metafor is not re-run, nor are we
            assert rerun.pooled is None and not rerun.excluded.any()
            continue
        assert rerun.pooled.k == expected["k"]
        for name, attr in FIELDS.items():
            assert max_rel_error(getattr(rerun.pooled, attr), expected[name], ATOL.get(name, 0.0)) < TOL["rel"], name


def test_cases_cover_both_sides_and_no_exclusion():
    """The fixture exercises outliers above and below, an influential trial, and a case with neither."""
    sides = {s for case in CASES.values() for s in case["outputs"]["outlier_side"]}
    assert sides == {"", "above", "below"}
    assert "rerun_outliers" not in CASES["bcg3_rr_reml_z"]["outputs"]
    assert "rerun_influential" not in CASES["bcg_rr_reml_z"]["outputs"]


def test_touching_intervals_overlap():
    """Strict inequalities, as metapsyTools: a trial CI ending exactly at the pooled bound is kept."""
    z = 1.959963984540054
    yi = np.array([1.0 + z, -1.0 - z, 0.0, 1.0 + z + 1e-9])
    assert ci_outliers(yi, np.ones(4), -1.0, 1.0) == ("", "", "", "above")


def test_fewer_than_three_trials_are_refused():
    yi, vi, settings = _settings(CASES["bcg_rr_reml_z"])
    with pytest.raises(ValueError, match="at least 3"):
        exclusion_reruns(yi[:2], vi[:2], settings)
    assert EXCLUSIONS == ("outliers", "influential")
