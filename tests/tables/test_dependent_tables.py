"""Rows of results/dependent/ and results/metaregression/ (evsynth.tables.dependent).

The numbers come from the statistics pinned in tests/oracle/test_dependent_metafor.py; here the
CHE row is checked against the same clubSandwich values (dat.assink2016, rho = 0.6, CR2 by study,
from tests/oracle/data/metafor_dependent.json), and every row that cannot be fitted must say why.
"""

import numpy as np
import pytest

from evsynth.data.config import DependentConfig, Moderator, dependent_config
from evsynth.data.config import Outcome as ConfigOutcome
from evsynth.tables.dependent import (
    DEPENDENT_COLUMNS,
    METAREGRESSION_COLUMNS,
    MODELS,
    dependent_records,
    metaregression_records,
)
from oracle._oracle import load

CASES = load("metafor_dependent")
SMD = ConfigOutcome("pain", "Pain", "SMD", False)
RR = ConfigOutcome("resp", "Response", "RR", True)


def _assink():
    inputs = CASES["assink_che_reml_t"]["inputs"]
    return np.array(inputs["yi"]), np.array(inputs["vi"]), [str(s) for s in inputs["study"]], inputs


def test_dependent_rows_match_the_oracle_and_name_every_column():
    y, v, study, _ = _assink()
    rows = dependent_records(SMD, "post", "coach", "usual_care", y, v, study, DependentConfig(rho=0.6))
    assert [r["model"] for r in rows] == list(MODELS)
    assert all(set(r) <= set(DEPENDENT_COLUMNS) for r in rows)
    che = next(r for r in rows if r["model"] == "che")
    ref, out = CASES["assink_che_reml_t"]["cr2"], CASES["assink_che_reml_t"]["outputs"]
    assert che["theta"] == pytest.approx(out["beta"][0], rel=1e-8)
    assert che["robust_se"] == pytest.approx(ref["se"][0], rel=1e-8)
    assert che["robust_df"] == pytest.approx(ref["df"][0], rel=1e-8)
    assert (che["sigma2_between"], che["sigma2_within"]) == pytest.approx(out["sigma2"], rel=1e-8)
    assert (che["pi_lower"], che["pi_upper"]) == pytest.approx((ref["pi_lb"], ref["pi_ub"]), rel=1e-8)
    agg = next(r for r in rows if r["model"] == "aggregated")
    assert agg["k_trials"] == 17 and agg["status"] == "fitted"


def test_ratio_measures_are_reported_as_ratios():
    y, v, study, _ = _assink()
    row = dependent_records(RR, "post", "coach", "usual_care", y / 4, v, study, DependentConfig())[1]
    assert row["estimate"] == pytest.approx(np.exp(row["theta"]))
    assert row["robust_ci_lower"] < row["estimate"] < row["robust_ci_upper"]


def test_rows_that_cannot_be_fitted_say_why():
    one_each = dependent_records(
        SMD, "post", "a", "b", [0.1, 0.3, 0.2], [0.1, 0.1, 0.1], ["x", "y", "z"], DependentConfig()
    )
    status = {r["model"]: r["status"] for r in one_each}
    assert status["che"].startswith("one effect per trial") and status["aggregated"] == "fitted"
    single = dependent_records(SMD, "post", "a", "b", [0.1, 0.3], [0.1, 0.1], ["x", "x"], DependentConfig())
    assert {r["status"] for r in single} == {"fewer than 2 trials: not modelled"}


def test_metaregression_rows_che_with_cr2_and_htz():
    y, v, study, inputs = _assink()
    rows = metaregression_records(
        SMD, "post", "a", "b", y, v, study, {"deltype": (inputs["deltype"], "categorical")}, DependentConfig(rho=0.6)
    )
    ref = CASES["assink_che_deltype_reml_t"]["cr2"]
    assert [r["coefficient"] for r in rows] == ["intrcpt", "deltype[general]", "deltype[overt]"]
    assert all(set(r) <= set(METAREGRESSION_COLUMNS) and r["model"] == "che" for r in rows)
    np.testing.assert_allclose([r["se"] for r in rows], ref["se"], rtol=1e-8)
    np.testing.assert_allclose([r["stat_df"] for r in rows], ref["df"], rtol=1e-8)
    assert rows[0]["qm_df2"] == pytest.approx(ref["htz"]["df_denom"], rel=1e-8)


def test_metaregression_rows_one_effect_per_trial_with_permutations_and_r2():
    case = CASES["r2_bcg_ablat"]
    inputs, out = case["inputs"], case["outputs"]
    config = DependentConfig(permutations=200, seed=5)
    trials = [str(t) for t in inputs["trial"]]
    rows = metaregression_records(
        RR, "post", "a", "b", inputs["yi"], inputs["vi"], trials, {"ablat": (inputs["ablat"], "continuous")}, config
    )
    assert [r["coefficient"] for r in rows] == ["intrcpt", "ablat"] and rows[0]["model"] == "trial-level"
    assert rows[1]["r2"] == pytest.approx(out["R2"], rel=1e-8)
    assert rows[1]["p_value"] == pytest.approx(out["pval"][1], rel=1e-8)
    assert 0 < rows[1]["permutation_p"] <= 1 and "200 random, seed 5" in rows[1]["note"]


def test_bad_moderators_give_a_row_that_says_why():
    y, v, study, _ = _assink()
    rows = metaregression_records(
        SMD,
        "post",
        "a",
        "b",
        y,
        v,
        study,
        {"sessions": (["8"] * len(y), "continuous"), "minutes": (["x"] + ["1"] * (len(y) - 1), "continuous")},
        DependentConfig(),
    )
    assert [r["moderator"] for r in rows] == ["sessions", "minutes"]
    assert "constant (8)" in rows[0]["status"] and "'x' is not a number" in rows[1]["status"]


def test_dependent_config():
    assert dependent_config(None) == (None, [])
    config, problems = dependent_config({"rho": 0.5, "moderators": [{"column": "year", "kind": "continuous"}]})
    assert problems == [] and config.rho == 0.5 and config.moderators == (Moderator("year", "continuous"),)
    assert config.permutations == 1000 and config.seed == 20240101
    _, problems = dependent_config({"rho": 1.0, "moderators": [{"column": "y", "kind": "continuous"}] * 2})
    assert any("rho = 1.0" in p for p in problems) and any("'y' is listed more than once" in p for p in problems)


def test_che_on_trial_mean_variances_is_the_smoothed_model_and_says_so():
    y, v, study, _ = _assink()
    config, problems = dependent_config({"rho": 0.6, "che_variances": "trial-mean"})
    assert problems == [] and config.as_dict()["che_variances"] == "trial-mean"
    assert "che_variances" not in DependentConfig().as_dict()  # params of older configs unchanged
    rows = {r["model"]: r for r in dependent_records(SMD, "post", "coach", "usual_care", y, v, study, config)}
    plain = {r["model"]: r for r in dependent_records(SMD, "post", "coach", "usual_care", y, v, study,
                                                      DependentConfig(rho=0.6))}
    assert "mean variance" in rows["che"]["note"] and plain["che"]["note"] == ""
    assert rows["che"]["theta"] != pytest.approx(plain["che"]["theta"], rel=1e-6)
    for model in ("three-level", "aggregated", "lowest", "highest"):  # only CHE's V changes
        assert rows[model]["theta"] == plain[model]["theta"]
    _, problems = dependent_config({"che_variances": "smooth"})
    assert problems == ["config.yaml: dependent_effects.che_variances = 'smooth': one of as-given, trial-mean"]
