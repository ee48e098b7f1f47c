"""Effect sizes pinned to metafor's escalc (tests/oracle/data/metafor_reference.json).

R calls are in each case's ``r_setup``: e.g. ``escalc(measure="RR", ai=tpos, bi=tneg,
ci=cpos, di=cneg, data=dat.bcg)``; zero cells use ``add=1/2, to="only0"`` with
``drop00=TRUE`` for RR/OR (RevMan) and FALSE for RD (metafor keeps them).
"""

import numpy as np
import pytest

from conftest import as_array
from evsynth.data.config import Outcome
from evsynth.data.contrasts import compute_effects
from evsynth.stats.escalc import from_counts, from_means, hedges_correction, z_for_level
from oracle._oracle import TOL


@pytest.mark.parametrize("case_id", ["bcg_rr_dl_z", "bcg_or_dl_z", "bcg_rd_dl_z"])
def test_counts_dat_bcg(metafor, case_id):
    inputs = metafor[case_id]["inputs"]
    measure = case_id.split("_")[1].upper()
    yi, vi, _ = from_counts(measure, inputs["events_treat"], inputs["n_treat"], inputs["events_ctrl"], inputs["n_ctrl"])
    np.testing.assert_allclose(yi, as_array(inputs["yi"]), rtol=TOL["escalc_rel"], atol=TOL["escalc_abs"])
    np.testing.assert_allclose(vi, as_array(inputs["vi"]), rtol=TOL["escalc_rel"])


@pytest.mark.parametrize("case_id", ["zero_cells_or_dl_z", "zero_cells_rr_dl_z", "zero_cells_rd_dl_z"])
def test_zero_and_double_zero_cells(metafor, case_id):
    """Study 4 has no events in either arm: dropped for RR/OR (NaN), kept for RD."""
    inputs = metafor[case_id]["inputs"]
    measure = case_id.split("_")[2].upper()
    yi, vi, corrected = from_counts(measure, inputs["ai"], inputs["n1i"], inputs["ci"], inputs["n2i"])
    np.testing.assert_allclose(yi, as_array(inputs["yi"]), rtol=TOL["escalc_rel"], atol=TOL["escalc_abs"])
    np.testing.assert_allclose(vi, as_array(inputs["vi"]), rtol=TOL["escalc_rel"])
    assert list(corrected) == [True, False, False, True]


@pytest.mark.parametrize("case_id,measure", [("normand_smd_dl_z", "SMD"), ("normand_md_dl_z", "MD")])
def test_means_dat_normand1999(metafor, case_id, measure):
    i = metafor[case_id]["inputs"]
    yi, vi = from_means(measure, i["m1i"], i["sd1i"], i["n1i"], i["m2i"], i["sd2i"], i["n2i"])
    np.testing.assert_allclose(yi, as_array(i["yi"]), rtol=TOL["escalc_rel"])
    np.testing.assert_allclose(vi, as_array(i["vi"]), rtol=TOL["escalc_rel"])


def test_hedges_exact_correction():
    """J(df) = Γ(df/2)/(√(df/2) Γ((df-1)/2)); J(10) = 0.9227456 (Hedges 1981, Table 2 gives .9227)."""
    assert hedges_correction(10) == pytest.approx(0.92274560, rel=1e-7)


def test_reported_ci_reproduces_metafor_input(metafor):
    """RESOLVE's published RRs with 95% CIs: se = (ln ub - ln lb) / (2 qnorm(.975))."""
    case = metafor["reported_ci_mixed_reml_z"]["inputs"]
    outcome = Outcome("resp", "Response", "RR", True)
    rows = [
        {"outcome": "resp", "form": "contrast", "effect_measure": "RR", "effect": r, "ci_lower": lb, "ci_upper": ub,
         "se": None, "ci_level": None, "effect_direction": "treatment_minus_control", "n_treat": None, "n_ctrl": None}
        for r, lb, ub in zip(case["ratio"], case["ratio_ci_lb"], case["ratio_ci_ub"])
    ]
    effects = compute_effects(rows, {"resp": outcome})
    np.testing.assert_allclose(effects["yi"], case["yi"], rtol=TOL["escalc_rel"])
    np.testing.assert_allclose(effects["se"], case["sei"], rtol=TOL["escalc_rel"])


def _contrast(**kw):
    row = {"outcome": "pain", "form": "contrast", "effect_measure": "SMD", "effect": 0.5, "ci_lower": None,
           "ci_upper": None, "se": None, "ci_level": None, "effect_direction": "treatment_minus_control",
           "n_treat": None, "n_ctrl": None}
    row.update(kw)
    return row


PAIN = {"pain": Outcome("pain", "Pain", "SMD", higher_is_better=False)}


def test_benefit_positive_is_reversed_for_lower_is_better():
    """Cohen's d 0.87 'positive = improvement' on pain (lower is better) becomes -0.87."""
    row = _contrast(effect=0.87, effect_direction="benefit_positive", n_treat=30, n_ctrl=30)
    effects = compute_effects([row], PAIN)
    assert effects["yi"][0] == pytest.approx(-0.87)
    # Large-sample SMD variance from arm sizes: 1/30 + 1/30 + 0.87²/120.
    assert effects["vi"][0] == pytest.approx(2 / 30 + 0.87**2 / 120)
    assert "sign reversed" in effects["derivation"][0]


def test_smd_without_ci_or_arm_sizes_is_not_estimable():
    effects = compute_effects([_contrast(n_treat=31)], PAIN)
    assert not effects["estimable"][0]
    assert effects["derivation"][0].startswith("not estimable")


def test_ci_level_other_than_95():
    """A 90% CI: se = (ub - lb) / (2 x 1.6449)."""
    effects = compute_effects([_contrast(effect=0.5, ci_lower=0.2, ci_upper=0.8, ci_level=90.0)], PAIN)
    assert effects["se"][0] == pytest.approx(0.6 / (2 * 1.6448536269514722))
    assert z_for_level(95) == pytest.approx(1.959963984540054)
