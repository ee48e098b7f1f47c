"""Statistics-layer behaviour the seed-3004 mutation sample (mutation/report-seed3004.md) found
untested in the model fits, pinned by pattern: the Fisher information of the multilevel model
against Harville's dense formula; the parameter space a held fit accepts, at its boundary; a
public covariance method on its smallest input; leave-one-out fits on a raw (large-variance)
scale; a one-study fit without numpy warnings; the batched step halving against the scalar one at
its threshold."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from evsynth.stats._iterate import THRESHOLD, halve, halve_rows
from evsynth.stats.dependent import ClusteredCovariance
from evsynth.stats.multilevel import (
    _components,
    _nested_score_information,
    _weights,
    fit_multilevel,
    groups_of,
    score_information,
)
from evsynth.stats.multivariate import BlockCovariance
from evsynth.stats.refit import leave_one_out_fits, single_fit
from evsynth.stats.tau2 import fisher_scoring_tau2
from evsynth.stats.timepoints import fit_timepoints
from oracle._oracle import TOL, expected, load, max_rel_error


# --------------------------------------- Fisher information of the multilevel model (Harville 1977)
def _che_data():
    """Seven trials of 1-4 effects, a covariate, CHE sampling covariance (rho = 0.6)."""
    rng = np.random.default_rng(3004)
    trial = np.repeat(np.arange(7), [1, 2, 3, 4, 2, 3, 1])
    k = len(trial)
    vi = rng.uniform(0.02, 0.2, k)
    X = np.column_stack([np.ones(k), rng.normal(size=k)])
    y = X @ [0.4, 0.1] + rng.normal(0, 0.3, 7)[trial] + rng.normal(0, np.sqrt(vi))
    return y, X, ClusteredCovariance.constant_correlation(vi, trial, 0.6), trial


def _dense_score_information(y, X, V, trial, sigma2, method):
    """Harville (1977) with dense k x k matrices: M = V + sigma²_1 J_trial + sigma²_2 I,
    score_r = (y'P D_r P y - tr(P D_r)) / 2, info_rs = tr(P D_r P D_s) / 2, P = W - WX(X'WX)⁻¹X'W
    (ML: W for P, residuals from the GLS fit)."""
    D = [(trial[:, None] == trial[None, :]).astype(float), np.eye(len(y))]
    W = np.linalg.inv(V + sigma2[0] * D[0] + sigma2[1] * D[1])
    P = W - W @ X @ np.linalg.solve(X.T @ W @ X, X.T @ W)
    A = P if method == "REML" else W
    r = P @ y  # = W (y - X beta)
    score = np.array([0.5 * (r @ Dr @ r - np.trace(A @ Dr)) for Dr in D])
    info = np.array([[0.5 * np.trace(A @ Dr @ A @ Ds) for Ds in D] for Dr in D])
    return score, info


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_multilevel_fisher_information_is_harvilles(method):
    """The score and information that drive Fisher scoring of ``fit_multilevel`` (and, through
    ``score_information``, of ``fit_timepoints``) are those of Harville (1977), as their docstrings
    say: both the general block form and the closed form for D = (J, I) against the dense formula
    on a CHE model with a covariate (a wrong information may still reach the same root, by other
    steps, but it is no longer Fisher scoring).
    Kills multilevel.py:197:12:813 (``info[0, 1] -=``), :197:26:2128 (``1.0 * (w1**2)``) and
    :169:30:2629 (the REML trace terms doubled in the general form)."""
    y, X, V, trial = _che_data()
    groups = groups_of(y, X, V)
    sigma2 = np.array([0.05, 0.02])
    _, Ws, bread, beta = _weights(groups, sigma2, True)
    want_score, want_info = _dense_score_information(y, X, V.to_dense(), trial, sigma2, method)
    Ds = [_components(idx.shape[1], True) for idx, *_ in groups]
    for score, info in (
        score_information(groups, Ws, bread, beta, Ds, method),
        _nested_score_information(groups, Ws, bread, beta, True, method),
    ):
        np.testing.assert_allclose(score, want_score, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(info, want_info, rtol=1e-10, atol=0)


# ---------------------------------------------- the parameter space of a held timepoint fit, at its edge
TRIAL, TIME = ["a", "a", "b", "b", "c", "d", "d", "e"], [0, 1, 0, 1, 1, 0, 1, 0]
YI = np.array([0.3, 0.5, 0.1, 0.2, 0.6, 0.4, 0.45, 0.2])
VI = np.array([0.02, 0.03, 0.05, 0.04, 0.02, 0.06, 0.03, 0.04])


def _held(tau2, rho):
    V = ClusteredCovariance.constant_correlation(VI, TRIAL, 0.5)
    return fit_timepoints(YI, V, TIME, structure="HAR", tau2=tau2, rho=rho)


@pytest.mark.parametrize("tau2", [(0.0, 0.05), (0.05, 0.0), (0.05, -0.01)])
def test_held_timepoint_fit_refuses_a_variance_of_zero_in_any_window(tau2):
    """``tau2, rho: hold G at these values`` and the error "tau2 must be 2 positive values": a
    heteroscedastic AR G with a variance of 0 (or below) in the first or the LAST window is not a
    covariance metafor's struct="HAR" fits. Kills timepoints.py:160:30:1900 (``theta[:-1]`` ->
    ``theta[:1]``, only the first window checked)."""
    with pytest.raises(ValueError, match="tau2 must be 2 positive values and rho in"):
        _held(tau2, 0.5)


@pytest.mark.parametrize("rho", [1.0, -1.0, 1.5])
def test_held_timepoint_fit_refuses_a_correlation_of_one(rho):
    """An AR(1) correlation must lie strictly inside (-1, 1): |rho| = 1 makes G singular (every
    window the same random effect), so it is refused like |rho| > 1, with the message naming the
    range; just inside the edge the held fit is returned with rho as given. Kills
    timepoints.py:160:60:1279 (``abs(rho) < 1`` -> ``< 2``)."""
    with pytest.raises(ValueError, match=r"rho in \(-1, 1\)"):
        _held((0.05, 0.04), rho)
    assert _held((0.05, 0.04), np.sign(rho) * 0.999).rho == np.sign(rho) * 0.999


# ------------------------------------------------------- a public covariance method on its smallest input
@pytest.mark.parametrize(
    "cov",
    [
        BlockCovariance.from_variances([]),
        BlockCovariance.from_variances([0.3]),
        BlockCovariance.from_pairs([0.1, 0.2, 0.3, 0.4], [(0, 2)], [0.05]),
        BlockCovariance.from_pairs([0.1, 0.2, 0.3], [(0, 1), (1, 2)], [0.05, -0.04]),
    ],
    ids=["empty", "one", "pair-and-singles", "one-block"],
)
def test_block_covariance_rotation_has_the_eigenvalues_of_v(cov):
    """``BlockCovariance.rotation`` (public: ``evsynth.stats.BlockCovariance``) returns the
    eigenvalues of V, one per row, k of them, with rotations whose rows cover the k rows once;
    the empty covariance (``from_variances([])`` builds it on purpose) has none. Kills
    multivariate.py:130:57:2425 (``np.zeros(0)`` -> ``np.zeros(1)``: one eigenvalue of nothing)."""
    lam, parts = cov.rotation()
    assert lam.shape == (cov.k,)
    np.testing.assert_allclose(np.sort(lam), np.linalg.eigvalsh(cov.to_dense()), rtol=1e-12, atol=1e-15)
    rows = np.concatenate([r.ravel() for r, _ in parts]) if parts else np.zeros(0, dtype=int)
    np.testing.assert_array_equal(np.sort(rows), np.arange(cov.k))


# ------------------------------------------------ leave-one-out on a raw scale (weights summing below 1)
def test_leave_one_out_means_do_not_depend_on_the_units():
    """Mean differences in pain intensity on a 0-100 mm VAS have sampling variances of tens
    (SD ~ 25, ~30 per arm), so the inverse-variance weights of a leave-one-out subset sum to well
    below 1. Each subset's estimate is still its weighted mean (tau² = 0 here: homogeneous
    effects), the same as ``single_fit`` of that subset, and re-expressing the data in cm (y / 10,
    v / 100) divides every estimate by 10 (metafor leave1out() is equivariant under a change of
    units). Kills refit.py:162:32:2198 (the pooled mean taken as 0 when the weights sum to <= 1)."""
    y = np.array([-12.0, -9.5, -14.2, -11.1, -10.4])  # mm
    v = np.array([41.0, 38.5, 52.3, 44.8, 36.9])
    mm = leave_one_out_fits(y, v, estimator="REML")
    cm = leave_one_out_fits(y / 10, v / 100, estimator="REML")
    assert np.all(mm.tau2 == 0) and np.all(cm.tau2 == 0)
    for i in range(len(y)):
        rest = np.arange(len(y)) != i
        want = np.sum(y[rest] / v[rest]) / np.sum(1 / v[rest])
        assert mm.theta[i] == pytest.approx(want, rel=1e-12)
        assert mm.theta[i] == pytest.approx(single_fit(y[rest], v[rest], estimator="REML").theta[0], rel=1e-12)
    np.testing.assert_allclose(mm.theta, 10 * cm.theta, rtol=1e-12)
    np.testing.assert_allclose(mm.ci_lower, 10 * cm.ci_lower, rtol=1e-12)


# ------------------------------------------------------------ a one-study fit, without numpy warnings
@pytest.mark.parametrize("vi", [0.1, 40.0])
def test_ml_tau2_of_one_study_is_zero_without_a_warning(vi):
    """metafor: k = 1 fits tau² = 0. ``fisher_scoring_tau2``'s default start (metafor's HE start,
    floored at 0) is 0 for one study without computing a variance on 0 degrees of freedom, so
    the fit is quiet (numpy's "Degrees of freedom <= 0" RuntimeWarning would otherwise reach the
    pipeline's logs; ``he_start`` of the batched path is quiet too). Kills tau2.py:65:69:562
    (``len(yi) > 1`` -> ``>= 1``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fisher_scoring_tau2(np.array([-0.4]), np.array([vi]), "ML") == (0.0, True)


# ------------------------------------------- the batched step halving takes exactly the scalar steps
def test_batched_halving_takes_the_scalar_step_at_the_threshold():
    """``fisher_scoring_rows`` promises the scalar steps row by row (``fisher_scoring_tau2_rows``
    "gives exactly the result of ``fisher_scoring_tau2``"); their halving stops at the same
    threshold, so a step that halves to exactly ``THRESHOLD`` is kept by both (|step| < THRESHOLD
    snaps to the boundary, = does not), as are steps on either side of it and ordinary ones.
    Kills _iterate.py:39:11:143 (``<`` -> ``<=`` in the scalar ``halve`` only)."""
    t = THRESHOLD
    rng = np.random.default_rng(3004)
    tau2 = np.concatenate([[1.5 * t, 3 * t, 1.5 * t, 0.75 * t, 0.0, 0.0, 2.5 * t], rng.uniform(0, 0.2, 50)])
    step = np.concatenate([[-2 * t, -4 * t, -2.2 * t, -2 * t, -t, -3 * t, -8 * t], rng.normal(0, 0.3, 50)])
    scalar = np.array([halve(a, b) for a, b in zip(tau2, step)])
    np.testing.assert_array_equal(halve_rows(tau2, step), scalar)
    assert scalar[0] == -t and tau2[0] + scalar[0] > 0  # halved to exactly the threshold: kept


# ---------------------------- multilevel fits where Fisher scoring overshoots (a bug found in triage)
FLAT = load("metafor_multilevel_flat_information")


@pytest.mark.parametrize("name", sorted(FLAT))
def test_multilevel_fit_converges_where_the_information_is_flat(name):
    """Generated data sets (tests/oracle/reference/metafor_multilevel_flat_information.R) on which
    Fisher scoring overshot the REML/ML maximum more than twice over and oscillated for 1,000
    steps: the fit was reported "did not converge: last values" with, e.g., sigma² 0.0301 where
    the maximum is 0.0104. Now it converges to metafor's rma.mv(yi, V, random = ~ 1 | trial(/effect),
    mods, method) (nlminb): sigma² to TOL["nlminb_rel"], and a log-likelihood at least as high
    (to 1e-9: nlminb stops a little short of the maximum)."""
    case = FLAT[name]
    i, want = case["inputs"], case["outputs"]
    V = ClusteredCovariance.constant_correlation(i["vi"], i["trial"], i["rho"])
    X = None if i["x1"] is None else np.column_stack([np.ones(len(i["yi"])), i["x1"]])
    fit = fit_multilevel(i["yi"], V, X, within=case["within"], method=case["method"])
    assert fit.converged
    assert max_rel_error(fit.sigma2, expected(want["sigma2"])) <= TOL["nlminb_rel"]
    assert max_rel_error(fit.beta, expected(want["beta"])) <= TOL["nlminb_rel"]
    assert fit.loglik >= want["loglik"] - 1e-9
