"""Multivariate meta-regression with known V, pinned to metafor's rma.mv.

Every expected value comes from tests/oracle/data/metafor_multivariate.json, written by
tests/oracle/reference/metafor_multivariate.R with metafor 3.8-1 (R 4.2.2); each case records its
r_setup and r_call. Datasets:

* Gleser & Olkin (2009) multiple-treatment SMDs (metafor's analyses:gleser2009; anchors.md
  c.9): ``rma.mv(yi, V, mods=~0+factor(trt))`` gives coef 2.3743, 1.5702 and QE 3.9447;
  intercept-only and ``random=~1|id`` REML/ML fits with test "z" and "t".
* dat.bcg log RR, ``rma(yi, vi, mods=~alloc, method="REML", control threshold 1e-12)``:
  QM(2) = 1.7675, p = 0.4132, tau² 0.3615; ``test="knha"``: F(2,10) = 0.9662, p = 0.4134
  (anchors.md c.5); ``test="adhoc"`` floors the Knapp-Hartung factor (0.915 here) at 1.
* RESOLVE (DeBar 2025) 3-month pain-severity response: coach and online vs usual care from
  the arms, shared usual-care covariance; ``rma.mv(yi, V, random=~1|id)`` and ``mods=~mode``.

metafor's rma.mv finds tau² with nlminb, good to only ~1e-6 relative (5e-9 to 9e-7 here;
1.1e-11 where the optimum is 0). The R script therefore pins tau² to the root of the
REML/ML score equation (uniroot on dense matrix algebra, tol 1e-15) and takes every other
output from ``rma.mv(..., sigma2=tau2)``; the optimiser's value is kept as ``tau2_nlminb``
and checked at 1e-6 relative (1e-10 absolute on the boundary). rma() fits (bcg_alloc_*)
use metafor's Fisher scoring at threshold 1e-12 as they are. Tolerance 1e-6 relative.
"""

import numpy as np
import pytest

from evsynth.stats.multivariate import BlockCovariance, dummies, rma_mv
from oracle._oracle import TOL, load

CASES = load("metafor_multivariate")

# case id -> (moderator column or None, intercept, method, test)
MODELS = {
    "go_trt_ee": ("trt", False, "EE", "z"),
    "go_intercept_ee": (None, True, "EE", "z"),
    "go_intercept_reml_z": (None, True, "REML", "z"),
    "go_intercept_reml_t": (None, True, "REML", "t"),
    "go_intercept_ml_z": (None, True, "ML", "z"),
    "go_intercept_ml_t": (None, True, "ML", "t"),
    "go_trt_reml_z": ("trt", True, "REML", "z"),
    "go_trt_reml_t": ("trt", True, "REML", "t"),
    "go_trt_ml_z": ("trt", True, "ML", "z"),
    "go_trt_ml_t": ("trt", True, "ML", "t"),
    "go_intercept_reml_knha_algebra": (None, True, "REML", "knha"),
    "go_trt_reml_knha_algebra": ("trt", True, "REML", "knha"),
    "bcg_alloc_reml_z": ("alloc", True, "REML", "z"),
    "bcg_alloc_reml_knha": ("alloc", True, "REML", "knha"),
    "bcg_alloc_ml_z": ("alloc", True, "ML", "z"),
    "bcg_alloc_ml_knha": ("alloc", True, "ML", "knha"),
    "bcg_alloc_reml_adhoc": ("alloc", True, "REML", "adhoc"),
    "bcg_alloc_reml_z_mv": ("alloc", True, "REML", "z"),
    "bcg_alloc_reml_t_mv": ("alloc", True, "REML", "t"),
    "bcg_alloc_reml_knha_algebra": ("alloc", True, "REML", "knha"),
    "resolve_ps3_any_reml_z": (None, True, "REML", "z"),
    "resolve_ps3_any_reml_t": (None, True, "REML", "t"),
    "resolve_ps3_any_ml_z": (None, True, "ML", "z"),
    "resolve_ps3_any_ml_t": (None, True, "ML", "t"),
    "resolve_ps3_mode_ee": ("mode", True, "EE", "z"),
    "resolve_ps3_mode_reml_z": ("mode", True, "REML", "z"),
}


def fit_case(case_id, V=None):
    case = CASES[case_id]
    column, intercept, method, test = MODELS[case_id]
    yi = np.array(case["inputs"]["yi"], dtype=float)
    V = np.array(case["inputs"]["V"], dtype=float) if V is None else V
    X = None
    if column is not None:
        labels = [str(v).removesuffix(".0") if isinstance(v, float) else v for v in case["inputs"][column]]
        X, _ = dummies(labels, sorted(set(labels)), intercept)  # R's factor levels: sorted
    return rma_mv(yi, V, X, method=method, test=test), case["outputs"]


def approx(value, rel=TOL["rel"], abs=0.0):
    return pytest.approx(value, rel=rel, abs=abs)


@pytest.mark.parametrize("case_id", list(MODELS))
def test_rma_mv_matches_metafor(case_id):
    fit, out = fit_case(case_id)
    assert fit.k == out["k"] and fit.p == out["p"]
    assert fit.tau2 == approx(out["tau2"])
    if "tau2_nlminb" in out:  # metafor's own optimum
        assert fit.tau2 == approx(out["tau2_nlminb"], abs=TOL["tau2_abs"])
    for name, ours in (("beta", fit.beta), ("se", fit.se), ("ci_lb", fit.ci_lower), ("ci_ub", fit.ci_upper)):
        np.testing.assert_allclose(ours, out[name], rtol=TOL["rel"], err_msg=name)
    np.testing.assert_allclose(fit.vcov, out["vcov"], rtol=TOL["rel"])
    np.testing.assert_allclose(fit.stat, out.get("zval", out.get("tval")), rtol=TOL["rel"])
    np.testing.assert_allclose(fit.p_value, out["pval"], rtol=TOL["rel"])
    assert fit.qe == approx(out["QE"], abs=TOL["zero_abs"]) and fit.qe_df == out["QEdf"]
    assert fit.qe_p == approx(out["QEp"])
    assert fit.qm == approx(out["QM"]) and fit.qm_p == approx(out["QMp"])
    assert list(fit.qm_df) == out["QMdf"] and list(fit.btt) == out["btt"]
    assert (fit.stat_df is None) == (fit.test == "z")
    if fit.method != "EE":  # metafor's logLik of an rma.mv without random effects is a REML one
        assert fit.loglik == approx(out["logLik"], abs=TOL["zero_abs"])  # 0 for the saturated fit


def test_gleser_olkin_published_values():
    """anchors.md c.9: coef 2.3743, 1.5702; vcov [[0.02257, 0.01244], [0.01244, 0.03554]]; QE 3.9447."""
    fit, _ = fit_case("go_trt_ee")
    np.testing.assert_allclose(fit.beta, [2.3743, 1.5702], atol=5e-5)
    np.testing.assert_allclose(fit.vcov, [[0.02257, 0.01244], [0.01244, 0.03554]], atol=5e-6)
    assert fit.qe == pytest.approx(3.9447, abs=5e-5)


def test_bcg_alloc_published_values():
    """anchors.md c.5: QM(2) = 1.7675 (p 0.4132), tau² 0.3615; knha F(2,10) = 0.9662 (p 0.4134)."""
    z, _ = fit_case("bcg_alloc_reml_z")
    knha, _ = fit_case("bcg_alloc_reml_knha")
    assert (round(z.qm, 4), round(z.qm_p, 4), round(z.tau2, 4), z.qm_df) == (1.7675, 0.4132, 0.3615, (2,))
    assert (round(knha.qm, 4), round(knha.qm_p, 4), knha.qm_df) == (0.9662, 0.4134, (2, 10))


def test_knha_equals_rma_knha_with_diagonal_v():
    """Our knha on rma.mv is rma()'s Knapp-Hartung: bcg alloc REML, metafor rma(test="knha")."""
    fit, out = fit_case("bcg_alloc_reml_knha")
    mv, out_mv = fit_case("bcg_alloc_reml_knha_algebra")
    assert mv.knha_s2 == approx(out_mv["s2"])
    assert fit.qm == approx(out["QM"]) and mv.qm == approx(out["QM"])


def test_variance_vector_and_block_inputs_agree():
    """V as a vector, a dense matrix or a BlockCovariance gives one fit (bcg alloc, G&O)."""
    vi = np.diag(CASES["bcg_alloc_reml_z"]["inputs"]["V"])
    dense, _ = fit_case("bcg_alloc_reml_z")
    vector, _ = fit_case("bcg_alloc_reml_z", V=vi)
    assert vector.beta == approx(dense.beta, rel=1e-12) and vector.tau2 == approx(dense.tau2, rel=1e-12)
    V = np.array(CASES["go_intercept_reml_z"]["inputs"]["V"])
    blocks = BlockCovariance.from_pairs(np.diag(V), [(0, 1), (4, 5)], [V[0, 1], V[4, 5]])
    np.testing.assert_array_equal(blocks.to_dense(), V)
    a, _ = fit_case("go_intercept_reml_z")
    b, _ = fit_case("go_intercept_reml_z", V=blocks)
    assert b.beta == approx(a.beta, rel=1e-12) and b.tau2 == approx(a.tau2, rel=1e-12)


def test_row_order_does_not_matter():
    """Permuting estimates (and V, X with them) leaves the fit unchanged (G&O, trt model, REML)."""
    case = CASES["go_trt_reml_z"]
    yi, V = np.array(case["inputs"]["yi"]), np.array(case["inputs"]["V"])
    X, _ = dummies([str(int(t)) for t in case["inputs"]["trt"]])
    perm = np.array([5, 2, 0, 4, 1, 3])
    a = rma_mv(yi, V, X)
    b = rma_mv(yi[perm], V[np.ix_(perm, perm)], X[perm])
    assert b.beta == approx(a.beta, rel=1e-10) and b.qm == approx(a.qm, rel=1e-10)


def test_saturated_model_is_flagged():
    """metafor 3.8 fits rma.mv(yi, V, mods=~mode, random=~1|id) with k = p = 2 silently (sigma2 = 0)."""
    fit, out = fit_case("resolve_ps3_mode_reml_z")
    assert fit.tau2 == 0 == out["tau2"] and "not estimable" in fit.note
    with pytest.raises(ValueError, match="cannot be estimated"):
        rma_mv([0.1, 0.2], [0.01, 0.02], np.eye(2), test="t")


def test_refuses_singular_v():
    """All three contrasts of a three-arm trial have a singular V (c - o = (c - u) - (o - u))."""
    va = np.array([0.002, 0.004, 0.005])  # coach, online, usual care
    V = np.array([[va[0] + va[1], va[0], -va[1]], [va[0], va[0] + va[2], va[2]], [-va[1], va[2], va[1] + va[2]]])
    with pytest.raises(ValueError, match="not positive definite"):
        rma_mv([0.18, 0.43, 0.25], V)


def test_huge_variance_is_not_singular(metafor):
    """dat.bcg with vi[1] = 1e10 (metafor_reference.json huge_variance_reml): rma.mv = rma, tau² 0.336157."""
    case = metafor["huge_variance_reml"]
    fit = rma_mv(case["inputs"]["yi"], case["inputs"]["vi"])
    assert fit.tau2 == approx(case["outputs"]["tau2"]) and fit.beta[0] == approx(case["outputs"]["beta"])
    assert fit.se[0] == approx(case["outputs"]["se"]) and fit.qe == approx(case["outputs"]["QE"])


def test_block_storage_never_densifies_large_k():
    """k = 20000 independent pairs: fitted through 2 x 2 blocks, no k x k matrix."""
    rng = np.random.default_rng(1)
    n = 10000
    va = rng.uniform(0.01, 0.05, size=(n, 3))
    pairs = [(2 * i, 2 * i + 1) for i in range(n)]
    vi = np.column_stack([va[:, 0] + va[:, 2], va[:, 1] + va[:, 2]]).ravel()
    blocks = BlockCovariance.from_pairs(vi, pairs, va[:, 2].tolist())
    yi = rng.normal(0.3, 0.2, size=2 * n)
    fit = rma_mv(yi, blocks)
    assert fit.converged and 0 < fit.tau2 < 0.1
    with pytest.raises(ValueError, match="refusing"):
        blocks.to_dense()
