"""Several effects per trial, pinned to metafor 3.8 rma.mv and clubSandwich 0.5.8.

Every expected value comes from tests/oracle/data/metafor_dependent.json, written by
tests/oracle/reference/metafor_dependent.R (R 4.2.2, metafor 3.8-1, clubSandwich 0.5.8); each
case records its r_setup and r_call (``cr2_call`` for the clubSandwich values). Datasets:

* dat.konstantopoulos2011 (Konstantopoulos 2011): schools within districts,
  ``rma.mv(yi, vi, random = ~ 1 | district/school)``, REML/ML, z/t, and ``mods = ~ I(year - 1990)``;
  CR2 by district.
* dat.assink2016 (Assink & Wibbelink 2016): 100 effects in 17 studies; three-level and CHE
  (``V = vcalc(vi, cluster = study, obs = esid, rho = 0.6)``), intercept-only and with ``year``
  (continuous) or ``factor(deltype)`` (categorical, a level in one study only); CR2 by study
  with ``coef_test(test = "Satterthwaite")``, ``conf_int`` and ``Wald_test(test = "HTZ")``.
* dat.bcg log RR (metafor's test_misc_robust.r): ``rma(yi, vi)`` and ``mods = ~ ablat + year``
  with CR2 by trial (published there: vcov 0.03229357, df 11.04125; SEs 33.655367, 0.011994,
  0.016963 and df 2.724625, 2.112895, 2.745919; HTZ F on (2, 2.528214), p 0.097479).
* dat.ishak2007 (Ishak 2007): four follow-ups, V by AR(1) with phi = 0.97 (vcalc), random
  ``~ time | study`` with struct "HAR" and "AR", and ``~ 1 | study``.
* aggregate(escalc, cluster = study, rho) on dat.assink2016; permutest(exact = TRUE) and R² on dat.bcg.

sigma² of the three-level/CHE fits are the exact REML/ML score roots (Fisher scoring on dense
algebra in R, from nlminb's value); everything else is rma.mv at those values, so we compare
at TOL["dependent_rel"] (measured <= 3e-10). nlminb's own sigma² is checked at
TOL["nlminb_rel"], as are the AR/HAR parameters, whose other outputs are pinned at the values
held fixed (the case's ``fixed`` call).
"""

import numpy as np
import pytest

from evsynth.stats.dependent import ClusteredCovariance, aggregate_within
from evsynth.stats.metaregression import moderator_design, permutation_test, r2
from evsynth.stats.multilevel import fit_multilevel
from evsynth.stats.multivariate import rma_mv
from evsynth.stats.robust import cr2
from evsynth.stats.timepoints import fit_timepoints
from oracle._oracle import TOL, load, max_rel_error

CASES = load("metafor_dependent")
REL = TOL["dependent_rel"]


def _design(case_id: str, inputs: dict) -> np.ndarray | None:
    """The model matrix of the case's mods (names as metafor's)."""
    k = len(inputs["yi"])
    if case_id.startswith("konstantopoulos_year"):
        return moderator_design([("year", np.array(inputs["year"]) - 1990, "continuous")])[0]
    if case_id.startswith("assink") and "_year_" in case_id:
        return moderator_design([("year", inputs["year"], "continuous")])[0]
    if "_deltype_" in case_id:
        return moderator_design([("deltype", inputs["deltype"], "categorical")])[0]
    if "ablat_year" in case_id:
        return moderator_design([("ablat", inputs["ablat"], "continuous"), ("year", inputs["year"], "continuous")])[0]
    return np.ones((k, 1))


def _covariance(case_id: str, inputs: dict) -> ClusteredCovariance:
    if case_id.startswith("bcg"):
        return ClusteredCovariance.constant_correlation(inputs["vi"], inputs["trial"])
    if case_id.startswith("ishak"):
        return ClusteredCovariance.autoregressive(inputs["vi"], inputs["study"], inputs["time"], 0.97)
    cluster = inputs["district"] if case_id.startswith("konstantopoulos") else inputs["study"]
    return ClusteredCovariance.constant_correlation(inputs["vi"], cluster, 0.6 if "_che_" in case_id else 0.0)


def _fit(case_id: str, case: dict, **kwargs):
    inputs = case["inputs"]
    test = "t" if case["test"] == "knha" else case["test"]
    within = not case_id.startswith(("bcg", "ishak"))
    X = _design(case_id, inputs)
    if case_id.startswith("ishak"):
        X = (np.array(inputs["time"])[:, None] == np.arange(1, 5)[None, :]).astype(float)
    return fit_multilevel(
        inputs["yi"], _covariance(case_id, inputs), X, within=within, method=case["method"], test=test, **kwargs
    )


MULTILEVEL = sorted(c for c in CASES if c.startswith(("konstantopoulos", "assink", "ishak_study")))
CR2 = sorted(c for c in CASES if "cr2" in CASES[c])


def test_the_oracle_holds_the_published_values():
    """The JSON itself reproduces the published numbers it is meant to carry (rounded as printed)."""
    k = CASES["konstantopoulos_ml_z"]["outputs"]
    assert np.round(k["beta"][0], 4) == 0.1845 and np.round(k["se"][0], 4) == 0.0805
    assert np.round(k["sigma2"], 4).tolist() == [0.0577, 0.0329]
    assert np.round([k["pi_lb"], k["pi_ub"]], 4).tolist() == [-0.4262, 0.7951]
    r = CASES["konstantopoulos_reml_z"]["outputs"]
    assert np.round(r["beta"][0], 4) == 0.1847 and np.round(r["sigma2"], 4).tolist() == [0.0651, 0.0327]
    assert np.round(r["logLik"], 4) == -7.9587
    h = CASES["ishak_har_reml_z"]["outputs"]
    assert np.round(h["beta"], 4).tolist() == [-25.9047, -27.4608, -28.6559, -26.4934]
    # tau² printed from metafor's default nlminb settings; ours (rel.tol 1e-10) agree to ~5e-6.
    np.testing.assert_allclose(h["tau2"], [22.7258, 33.7295, 26.1426, 31.1803], rtol=1e-5)
    assert np.round(h["rho"][0], 4) == 0.8832
    b = CASES["bcg_cr2_intercept"]["cr2"]
    assert np.round(b["vcov"][0][0], 8) == 0.03229357 and np.round(b["df"][0], 5) == 11.04125
    # test_misc_robust.r fits tau² at metafor's default threshold (1e-5), we at 1e-12: the
    # published meta-regression values agree to ~3e-6 relative.
    m = CASES["bcg_cr2_ablat_year"]["cr2"]
    np.testing.assert_allclose(m["se"], [33.655367, 0.011994, 0.016963], rtol=1e-5, atol=5e-7)  # 6 decimals
    np.testing.assert_allclose(m["df"], [2.724625, 2.112895, 2.745919], rtol=1e-5)
    h = m["htz"]
    np.testing.assert_allclose([h["Fstat"], h["df_denom"], h["p"]], [6.708996, 2.528214, 0.097479], rtol=1e-5)


@pytest.mark.parametrize("case_id", MULTILEVEL)
def test_multilevel_model(case_id):
    """rma.mv(yi, V, random = ~ 1 | trial/effect): sigma², coefficients, tests, QE, QM, logLik, I², PI."""
    case = CASES[case_id]
    out = case["outputs"]
    fit = _fit(case_id, case)
    assert fit.converged
    assert max_rel_error(fit.sigma2, out["sigma2"]) < REL
    assert max_rel_error(fit.sigma2, out["sigma2_nlminb"]) < TOL["nlminb_rel"]
    stat = out.get("zval", out.get("tval"))
    pairs = {
        "beta": (fit.beta, out["beta"]),
        "se": (fit.se, out["se"]),
        "vcov": (np.ravel(fit.vcov), np.ravel(out["vcov"])),
        "stat": (fit.stat, stat),
        "pval": (fit.p_value, out["pval"]),
        "ci_lb": (fit.ci_lower, out["ci_lb"]),
        "ci_ub": (fit.ci_upper, out["ci_ub"]),
        "QE": (fit.qe, out["QE"]),
        "QEp": (fit.qe_p, out["QEp"]),
        "QM": (fit.qm, out["QM"]),
        "QMp": (fit.qm_p, out["QMp"]),
        "logLik": (fit.loglik, out["logLik"]),
        "I2": (fit.i2, out["I2_levels"]),
    }
    if "pi_lb" in out:
        pairs["pi"] = ((fit.pi_lower, fit.pi_upper), (out["pi_lb"], out["pi_ub"]))
    errors = {name: max_rel_error(ours, theirs) for name, (ours, theirs) in pairs.items()}
    assert max(errors.values()) < REL, errors
    assert list(fit.qm_df) == out["QMdf"] and list(fit.btt) == out["btt"]


@pytest.mark.parametrize("case_id", CR2)
def test_cr2_satterthwaite_and_htz(case_id):
    """clubSandwich coef_test(vcov = "CR2", test = "Satterthwaite"), conf_int and Wald_test(HTZ)."""
    case = CASES[case_id]
    ref = case["cr2"]
    robust = cr2(_fit(case_id, case))
    pairs = {
        "se": (robust.se, ref["se"]),
        "vcov": (np.ravel(robust.vcov), np.ravel(ref["vcov"])),
        "t": (robust.stat, ref["tstat"]),
        "df": (robust.df, ref["df"]),
        "p": (robust.p_value, ref["pval"]),
        "ci_lb": (robust.ci_lower, ref["ci_lb"]),
        "ci_ub": (robust.ci_upper, ref["ci_ub"]),
    }
    if "htz" in ref:
        h = ref["htz"]
        assert robust.wald.df_num == h["df_num"] and list(robust.wald.coefficients) == h["btt"]
        pairs["htz"] = (
            (robust.wald.f_stat, robust.wald.df_denom, robust.wald.p_value),
            (h["Fstat"], h["df_denom"], h["p"]),
        )
    else:
        assert robust.wald is None
    if "pi_lb" in ref:  # predict(robust(res, cluster, clubSandwich = TRUE))
        pairs["pi"] = ((robust.pi_lower, robust.pi_upper), (ref["pi_lb"], ref["pi_ub"]))
    errors = {name: max_rel_error(ours, theirs) for name, (ours, theirs) in pairs.items()}
    assert max(errors.values()) < REL, errors


def test_che_covariance_is_vcalc():
    """ClusteredCovariance.constant_correlation(rho = 0.6) is vcalc(vi, study, obs = esid, rho = 0.6)."""
    inputs = CASES["assink_che_reml_z"]["inputs"]
    ours = ClusteredCovariance.constant_correlation(inputs["vi"], inputs["study"], 0.6).to_dense()
    np.testing.assert_allclose(ours, np.array(inputs["V"]), rtol=1e-14, atol=1e-16)


def test_ar1_covariance_is_vcalc():
    """ClusteredCovariance.autoregressive(phi = 0.97) is vcalc(vi, study, time1 = time, phi = 0.97)
    (Barichella 2003's block: [[7.3, 6.0693520102314], [6.0693520102314, 5.7]], test_misc_vcalc.r)."""
    inputs = CASES["ishak_har_reml_z"]["inputs"]
    ours = ClusteredCovariance.autoregressive(inputs["vi"], inputs["study"], inputs["time"], 0.97).to_dense()
    np.testing.assert_allclose(ours, np.array(inputs["V"]), rtol=1e-14, atol=1e-13)
    row = inputs["study"].index("Barichella (2003)")
    assert ours[row, row + 1] == pytest.approx(6.0693520102314, rel=1e-13)


@pytest.mark.parametrize("case_id", ["ishak_har_reml_z", "ishak_ar_reml_z"])
def test_time_specific_effects(case_id):
    """rma.mv(yi, V, mods = ~ factor(time) - 1, random = ~ time | study, struct = "HAR" / "AR")."""
    case = CASES[case_id]
    inputs, out, fixed = case["inputs"], case["outputs"], case["fixed"]["outputs"]
    structure = case_id.split("_")[1].upper()
    V = ClusteredCovariance.autoregressive(inputs["vi"], inputs["study"], inputs["time"], 0.97)
    fit = fit_timepoints(inputs["yi"], V, inputs["time"], structure=structure)
    assert fit.converged and fit.names == ("time=1", "time=2", "time=3", "time=4")
    # Our REML optimum against nlminb's (rel.tol 1e-10): parameters and every output to ~1e-6,
    # and ours is the higher restricted likelihood.
    assert max_rel_error((*fit.tau2, fit.rho), (*out["tau2"], *out["rho"])) < TOL["nlminb_rel"]
    assert max_rel_error(fit.beta, out["beta"]) < TOL["nlminb_rel"]
    assert max_rel_error(fit.se, out["se"]) < TOL["nlminb_rel"]
    assert fit.loglik >= out["logLik"] - 1e-12 * abs(out["logLik"])
    # At metafor's tau² and rho held fixed, the rest is exact.
    held = fit_timepoints(inputs["yi"], V, inputs["time"], structure=structure, tau2=fixed["tau2"], rho=fixed["rho"][0])
    pairs = {
        "beta": (held.beta, fixed["beta"]),
        "vcov": (np.ravel(held.vcov), np.ravel(fixed["vcov"])),
        "z": (held.stat, fixed["zval"]),
        "p": (held.p_value, fixed["pval"]),
        "ci_lb": (held.ci_lower, fixed["ci_lb"]),
        "QE": (held.qe, fixed["QE"]),
        "QM": (held.qm, fixed["QM"]),
        "logLik": (held.loglik, fixed["logLik"]),
    }
    errors = {name: max_rel_error(ours, theirs) for name, (ours, theirs) in pairs.items()}
    assert max(errors.values()) < REL, errors


@pytest.mark.parametrize("case_id", ["aggregate_assink_rho0", "aggregate_assink_rho06"])
def test_aggregation_within_trial(case_id):
    """aggregate(escalc(yi, vi, data = dat.assink2016), cluster = study, rho)."""
    case = CASES[case_id]
    inputs, out = case["inputs"], case["outputs"]
    agg = aggregate_within(
        inputs["yi"], ClusteredCovariance.constant_correlation(inputs["vi"], inputs["study"], case["rho"])
    )
    assert list(agg.labels) == out["study"]
    assert max_rel_error(agg.yi, out["yi"]) < REL and max_rel_error(agg.vi, out["vi"]) < REL
    assert sum(agg.n_effects) == len(inputs["yi"])


@pytest.mark.parametrize("case_id", sorted(c for c in CASES if c.startswith("permutest")))
def test_exact_permutation_test(case_id):
    """permutest(rma(yi, vi, mods, method = "REML", test), exact = TRUE): every p-value equal."""
    case = CASES[case_id]
    inputs, out = case["inputs"], case["outputs"]
    X = None if "intercept" in case_id else moderator_design([("random", inputs["random"], "continuous")])[0]
    result = permutation_test(inputs["yi"], inputs["vi"], X, test=case["test"], exact=True)
    assert result.exact and result.iterations == out["iterations"]
    assert list(result.p_values) == out["pval"] and result.qm_p == out["QMp"]


@pytest.mark.parametrize("case_id", sorted(c for c in CASES if c.startswith("r2_")))
def test_r2_and_knapp_hartung_meta_regression(case_id):
    """rma(yi, vi, mods, test = "knha")$R2 and its coefficient and omnibus tests."""
    case = CASES[case_id]
    inputs, out = case["inputs"], case["outputs"]
    mods = {
        "r2_bcg_ablat": [("ablat", "continuous")],
        "r2_bcg_ablat_year": [("ablat", "continuous"), ("year", "continuous")],
        "r2_bcg_factor_alloc_": [("alloc", "categorical")],
    }[case_id]
    X, names = moderator_design([(name, inputs[name], kind) for name, kind in mods])
    fit = rma_mv(inputs["yi"], inputs["vi"], X, names=names, test="knha")
    empty = rma_mv(inputs["yi"], inputs["vi"], test="knha")
    assert max_rel_error(empty.tau2, out["tau2_re"]) < REL
    assert max_rel_error(r2(empty.tau2, fit.tau2), out["R2"], atol=TOL["zero_abs"]) < REL
    pairs = {
        "beta": (fit.beta, out["beta"]),
        "se": (fit.se, out["se"]),
        "t": (fit.stat, out["tval"]),
        "p": (fit.p_value, out["pval"]),
        "QM": (fit.qm, out["QM"]),
        "QMp": (fit.qm_p, out["QMp"]),
    }
    errors = {name: max_rel_error(ours, theirs) for name, (ours, theirs) in pairs.items()}
    assert max(errors.values()) < REL, errors
    assert len(names) == len(out["names"])
