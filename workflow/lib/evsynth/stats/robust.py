"""Cluster-robust (CR2) inference with Satterthwaite degrees of freedom and the HTZ test.

For a model fitted by weighted least squares with working weights ``W_j = M_j⁻¹`` per trial
(:class:`evsynth.stats.multilevel.WorkingModel`), the bias-reduced linearisation estimator
(Bell & McCaffrey 2002; Pustejovsky & Tipton 2018) is::

    V^CR2 = B [sum_j X_jᵀ W_j A_j e_j e_jᵀ A_j W_j X_j] B,   B = (Xᵀ W X)⁻¹,
    A_j = U_jᵀ (U_j (I - H_jj) M_j U_jᵀ)^(-1/2) U_j,   M_j = U_jᵀ U_j,  H_jj = X_j B X_jᵀ W_j,

with the working model itself as the target covariance, which is clubSandwich's
``vcovCR(rma.mv, type = "CR2")`` (weights the inverse of the fitted M: ``inverse_var``).

A coefficient (or contrast c) is tested with t on Satterthwaite degrees of freedom. With
``g_j = L_jᵀ A_j W_j X_j B c`` (``M_j = L_j L_jᵀ``) and ``h_j = L_Bᵀ X_jᵀ A_j W_j X_j B c``
(``B = L_B L_Bᵀ``), clubSandwich's ``get_GH`` arrays, ``P = diag(|g_j|²) - [h_j · h_l]`` is
the covariance (up to a factor 2) of the trials' contributions under the working model, and
``df = (tr P)² / sum(P²)`` (Pustejovsky & Tipton 2018, with the working model as target).
Several coefficients at once are tested with the Hotelling T² approximation "HTZ" (Tipton &
Pustejovsky 2015): ``F = (nu - q + 1) / (nu q) Q`` on ``(q, nu - q + 1)`` df. Everything is
batched over trials of one size and is ``O(J² q² + sum s_j³)``, J trials.

References
----------
Bell RM, McCaffrey DF (2002). Bias reduction in standard errors for linear regression with
multi-stage samples. Surv Methodol 28:169-181.
Tipton E, Pustejovsky JE (2015). Small-sample adjustments for tests of moderators and model fit
using robust variance estimation in meta-regression. J Educ Behav Stat 40:604-634.
Pustejovsky JE, Tipton E (2018). Small-sample methods for cluster-robust variance estimation
and hypothesis testing in fixed effects models. J Bus Econ Stat 36:672-683.
Pustejovsky JE (2022). clubSandwich 0.5.8: ``coef_test(vcov = "CR2", test = "Satterthwaite")``,
``Wald_test(test = "HTZ")`` (numerical reference).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from evsynth.stats.multilevel import WorkingModel

__all__ = ["Contrasts", "RobustFit", "WaldTest", "cr2", "linear_contrasts", "wald_htz"]


@dataclass(frozen=True)
class WaldTest:
    """HTZ test of ``coefficients`` (0-based) being 0: ``F`` on ``(df_num, df_denom)``;
    ``q_stat`` is the Wald statistic with the CR2 covariance."""

    coefficients: tuple[int, ...]
    q_stat: float
    f_stat: float
    df_num: int
    df_denom: float
    p_value: float


@dataclass(frozen=True)
class RobustFit:
    """CR2 inference for the coefficients ``beta``: SE, t on Satterthwaite ``df`` and CIs.

    ``pi_lower``/``pi_upper`` (intercept-only): ``beta ± t(df) sqrt(se² + sum sigma²)``, metafor's
    ``predict(robust(res, cluster, clubSandwich = TRUE))``. ``wald`` tests the coefficients
    ``btt`` together (None when nothing is tested beside the intercept).
    """

    beta: tuple[float, ...]
    se: tuple[float, ...]
    vcov: tuple[tuple[float, ...], ...]
    stat: tuple[float, ...]
    df: tuple[float, ...]
    p_value: tuple[float, ...]
    ci_lower: tuple[float, ...]
    ci_upper: tuple[float, ...]
    n_clusters: int
    wald: WaldTest | None
    pi_lower: float | None = None
    pi_upper: float | None = None


def _inv_sqrt(S: np.ndarray) -> np.ndarray:
    """Symmetric ``S^(-1/2)`` of a stack of symmetric matrices, eigenvalues at or below 1e-12
    taken as 0 (a generalised inverse): clubSandwich's ``matrix_power(x, -1/2)``. ``(I - H_jj)
    M_j`` is singular when a coefficient rests on trial j alone (a category one trial has)."""
    w, Q = np.linalg.eigh((S + np.swapaxes(S, -1, -2)) / 2)
    w_p = np.where(w > 1e-12, 1 / np.sqrt(np.where(w > 1e-12, w, 1.0)), 0.0)
    return (Q * w_p[..., None, :]) @ np.swapaxes(Q, -1, -2)


class _Pieces:
    """clubSandwich's G and H arrays of every trial (``get_GH`` with ``inverse_var``)."""

    def __init__(self, model: WorkingModel):
        B = model.bread
        p = B.shape[0]
        L_B = np.linalg.cholesky(B)
        meat = np.zeros((p, p))
        g, h = [], []
        for idx, y, X, M, W in zip(model.rows, model.y, model.X, model.M, model.W):
            s = idx.shape[1]
            L = np.linalg.cholesky(M)  # M = L Lᵀ; clubSandwich's chol(M) is U = Lᵀ
            U = np.swapaxes(L, -1, -2)
            WX = W @ X
            IH = np.eye(s) - X @ B @ np.swapaxes(WX, -1, -2)  # I - X_j B X_jᵀ W_j
            A = L @ _inv_sqrt(U @ IH @ M @ L) @ U
            E = np.swapaxes(WX, -1, -2) @ A  # X_jᵀ W_j A_j, (n, p, s)
            e = y - X @ model.beta
            u = np.einsum("nps,ns->np", E, e)
            meat += u.T @ u
            g.append(B @ E @ L)  # B E_j U_jᵀ, (n, p, s)
            h.append(B @ E @ X @ L_B)  # B E_j X_j L_B, (n, p, p)
        self.vcov = B @ meat @ B
        self.g_parts, self.H = g, np.concatenate(h)

    def projected(self, C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``Gram[j, a, b] = (C G_j)_a · (C G_j)_b`` (J, q, q) and ``C H_j`` (J, q, p)."""
        gram = np.concatenate([np.einsum("qp,nps,rt,nts->nqr", C, g, C, g) for g in self.g_parts])
        return gram, np.einsum("qp,npr->nqr", C, self.H)


def _satterthwaite(pieces: _Pieces, C: np.ndarray) -> np.ndarray:
    """df of each row c of C (a coefficient when C = I): (tr P)² / sum(P²), P = diag(|g_j|²) - [h_j · h_l]."""
    gram, Hc = pieces.projected(C)
    d = np.einsum("jaa->aj", gram)  # |g_j|² per coefficient, (p, J)
    Ha = np.swapaxes(Hc, 0, 1)  # (p, J, p): h_j for coefficient a
    hh = np.einsum("ajr,ajr->aj", Ha, Ha)  # |h_j|²
    cross = np.einsum("ajr,ajs->ars", Ha, Ha)  # sum_j h_j h_jᵀ
    trace = d.sum(axis=1) - hh.sum(axis=1)
    squares = (d**2).sum(axis=1) - 2 * (d * hh).sum(axis=1) + np.einsum("ars,ars->a", cross, cross)
    return trace**2 / squares


def wald_htz(pieces: _Pieces, beta: np.ndarray, vcov: np.ndarray, C: np.ndarray) -> WaldTest:
    """HTZ test of ``C beta = 0`` (clubSandwich ``Wald_test(test = "HTZ")``)."""
    from scipy import stats

    C = np.atleast_2d(np.asarray(C, dtype=float))
    q = C.shape[0]
    gram, Hc = pieces.projected(C)
    # Omega = sum_j tr P_st: the expected CR2 covariance of C beta under the working model.
    omega = gram.sum(axis=0) - np.einsum("jar,jbr->ab", Hc, Hc)
    w, Q = np.linalg.eigh(omega)
    root = (Q / np.sqrt(w)) @ Q.T
    gram = np.einsum("ab,jbc,cd->jad", root, gram, root)
    Hc = np.einsum("ab,jbr->jar", root, Hc)
    # B[s, t, j, l] = δ_jl gram_j[s, t] - h_js · h_lt
    Bst = -np.einsum("jsr,ltr->stjl", Hc, Hc)
    J = len(Hc)
    Bst[:, :, np.arange(J), np.arange(J)] += np.moveaxis(gram, 0, -1)
    var = np.einsum("stjl,tsjl->st", Bst, Bst) + np.einsum("ssjl,ttjl->st", Bst, Bst)
    nu = q * (q + 1) / var.sum()
    cb = C @ beta
    q_stat = float(cb @ np.linalg.solve(C @ vcov @ C.T, cb))
    delta = max((nu - q + 1) / nu, 0.0)
    df2 = nu - q + 1
    f_stat = delta * q_stat / q
    p_value = float(stats.f.sf(f_stat, q, df2)) if df2 > 0 else float("nan")
    coefs = tuple(int(i) for i in np.flatnonzero(np.abs(C).sum(axis=0)))
    return WaldTest(coefs, q_stat, float(f_stat), q, float(df2), p_value)


@dataclass(frozen=True)
class Contrasts:
    """Linear combinations ``C beta`` of a model's coefficients, one entry per row of C.

    ``df`` is None under a normal (z) reference; otherwise each row's t degrees of freedom.
    """

    estimate: np.ndarray
    se: np.ndarray
    df: np.ndarray | None
    ci_lower: np.ndarray
    ci_upper: np.ndarray


def linear_contrasts(fit, C, alpha: float | None = None) -> Contrasts:
    """CR2 estimates of ``C beta``, each with its own Satterthwaite df (clubSandwich's
    ``linear_contrast(fit, vcov = "CR2", contrasts = C, test = "Satterthwaite")``).

    Parameters
    ----------
    fit
        A :class:`evsynth.stats.multilevel.MultilevelFit` (clusters: its trials).
    C : array_like
        Rows of contrast weights, one column per coefficient.
    alpha
        Two-sided level of the CIs (default: the fit's).

    Returns
    -------
    Contrasts
    """
    from scipy import stats

    C = np.atleast_2d(np.asarray(C, dtype=float))
    model = fit.model
    alpha = fit.alpha if alpha is None else alpha
    if len(np.unique(model.trial)) < 2:
        raise ValueError("cluster-robust inference needs at least 2 trials")
    pieces = _Pieces(model)
    estimate = C @ model.beta
    se = np.sqrt(np.einsum("qa,ab,qb->q", C, pieces.vcov, C))
    df = _satterthwaite(pieces, C)
    crit = stats.t.ppf(1 - alpha / 2, df)
    return Contrasts(estimate, se, df, estimate - crit * se, estimate + crit * se)


def cr2(fit, alpha: float | None = None, btt: Sequence[int] | None = None) -> RobustFit:
    """CR2 standard errors, Satterthwaite t tests and the HTZ test of a fitted model.

    Parameters
    ----------
    fit
        A :class:`evsynth.stats.multilevel.MultilevelFit`; the clusters are its trials
        (clubSandwich's ``cluster`` = the outer random factor).
    alpha
        Two-sided level of the CIs (default: the fit's).
    btt
        0-based coefficients tested together (default: the fit's ``btt``).

    Returns
    -------
    RobustFit
    """
    from scipy import stats

    model = fit.model
    alpha = fit.alpha if alpha is None else alpha
    beta = model.beta
    p = len(beta)
    n_clusters = len(np.unique(model.trial))
    if n_clusters < 2:
        raise ValueError("cluster-robust inference needs at least 2 trials")
    pieces = _Pieces(model)
    vcov = pieces.vcov
    se = np.sqrt(np.diag(vcov))
    df = _satterthwaite(pieces, np.eye(p))
    stat = beta / se
    pval = 2 * stats.t.sf(np.abs(stat), df)
    crit = stats.t.ppf(1 - alpha / 2, df)
    btt = tuple(fit.btt if btt is None else btt)
    intercept_only = p == 1
    wald = None if intercept_only else wald_htz(pieces, beta, vcov, np.eye(p)[list(btt)])
    pi_lower = pi_upper = None
    if intercept_only and fit.pi_lower is not None:
        half = crit[0] * np.sqrt(se[0] ** 2 + sum(fit.sigma2))
        pi_lower, pi_upper = float(beta[0] - half), float(beta[0] + half)
    as_tuple = lambda a: tuple(float(v) for v in a)  # noqa: E731
    return RobustFit(
        beta=as_tuple(beta),
        se=as_tuple(se),
        vcov=tuple(as_tuple(r) for r in vcov),
        stat=as_tuple(stat),
        df=as_tuple(df),
        p_value=as_tuple(pval),
        ci_lower=as_tuple(beta - crit * se),
        ci_upper=as_tuple(beta + crit * se),
        n_clusters=n_clusters,
        wald=wald,
        pi_lower=pi_lower,
        pi_upper=pi_upper,
    )
