"""Three-level and correlated-and-hierarchical-effects (CHE) models of dependent effects.

The model is metafor's ``rma.mv(yi, V, mods = X, random = ~ 1 | trial/effect)``::

    y = X beta + u_trial + w_effect + e,  u ~ N(0, sigma²_1),  w ~ N(0, sigma²_2),  e ~ N(0, V)

so each trial's block of the marginal covariance is ``M_j = V_j + sigma²_1 J + sigma²_2 I``.
With ``V`` diagonal it is the three-level model (effects within trials; Konstantopoulos 2011,
Cheung 2014); with ``V`` from a constant within-trial correlation rho it is the CHE working
model (Pustejovsky & Tipton 2022). ``within=False`` drops ``w`` (``random = ~ 1 | trial``); with
one effect per trial that is ``rma(yi, vi)``.

The two variance components are estimated by REML (or ML) with Fisher scoring on the score
equations (Harville 1977), the step solved jointly and a component that would turn negative
held at 0 (an active set, released again if its score turns positive). Every quantity is a sum
over trials of block products, computed for all trials of one size at once: the work is
``O(sum s_j³ + k p²)`` per iteration, never a k x k matrix.

Inference (``test``): ``"z"`` (Wald), or ``"t"`` (t and F on k - p df, metafor 3.8's
``rma.mv(test = "t")``). Cluster-robust CR2 inference is :func:`evsynth.stats.robust.cr2`.

References
----------
Harville DA (1977). Maximum likelihood approaches to variance component estimation and to
related problems. J Am Stat Assoc 72:320-338.
Konstantopoulos S (2011). Fixed effects and variance components estimation in three-level
meta-analysis. Res Synth Methods 2:61-76.
Cheung MW-L (2014). Modeling dependent effect sizes with three-level meta-analyses: a
structural equation modeling approach. Psychol Methods 19:211-229.
Pustejovsky JE, Tipton E (2022). Prev Sci 23:425-438 (the CHE working model).
Viechtbauer W (2010). J Stat Softw 36(3) (metafor; numerical reference).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from evsynth.stats._iterate import MAX_ITER, THRESHOLD, halve_overshoot
from evsynth.stats.dependent import ClusteredCovariance
from evsynth.stats.multivariate import coefficient_tests

__all__ = ["MultilevelFit", "WorkingModel", "fit_multilevel", "i2_by_level"]

METHODS = ("REML", "ML")
TESTS = ("z", "t")


@dataclass(frozen=True, eq=False)
class WorkingModel:
    """The fitted model block by block (what :mod:`evsynth.stats.robust` needs).

    Per size group g: ``rows[g]`` (n, s), ``y[g]`` (n, s), ``X[g]`` (n, s, p), the marginal
    covariance ``M[g]`` and its inverse ``W[g]`` (n, s, s). ``bread`` is ``(Xᵀ W X)⁻¹``.
    """

    rows: tuple[np.ndarray, ...]
    y: tuple[np.ndarray, ...]
    X: tuple[np.ndarray, ...]
    M: tuple[np.ndarray, ...]
    W: tuple[np.ndarray, ...]
    beta: np.ndarray
    bread: np.ndarray
    trial: np.ndarray


@dataclass(frozen=True)
class MultilevelFit:
    """Result of :func:`fit_multilevel`; coefficient-wise tuples follow ``names``.

    ``sigma2`` holds the between-trial and (``within=True``) within-trial variance. ``stat`` is z
    or t on ``stat_df`` df; ``qm`` the Wald chi² over ``btt`` (0-based) or, under "t", the F
    statistic on ``qm_df``. ``qe`` tests residual heterogeneity with V alone. ``i2`` is I² by
    level (:func:`i2_by_level`). ``pi_lower``/``pi_upper`` (intercept-only models) are the
    prediction interval, ``beta ± crit sqrt(se² + sum sigma²)`` (metafor ``predict``).
    """

    names: tuple[str, ...]
    beta: tuple[float, ...]
    se: tuple[float, ...]
    vcov: tuple[tuple[float, ...], ...]
    stat: tuple[float, ...]
    p_value: tuple[float, ...]
    ci_lower: tuple[float, ...]
    ci_upper: tuple[float, ...]
    stat_df: float | None
    sigma2: tuple[float, ...]
    i2: tuple[float, ...]
    pi_lower: float | None
    pi_upper: float | None
    qe: float
    qe_df: int
    qe_p: float
    qm: float
    qm_df: tuple[int, ...]
    qm_p: float
    btt: tuple[int, ...]
    k: int
    n_trials: int
    p: int
    loglik: float
    method: str
    test: str
    alpha: float
    converged: bool
    iterations: int
    model: WorkingModel = field(repr=False, compare=False)


def groups_of(y: np.ndarray, X: np.ndarray, V: ClusteredCovariance):
    return [(idx, y[idx], X[idx], B) for idx, B in zip(V.rows, V.blocks)]


def _components(s: int, within: bool) -> list[np.ndarray]:
    return [np.ones((s, s)), np.eye(s)] if within else [np.ones((s, s))]


def gls(groups, Ms):
    """Per group W = M⁻¹; then the bread ``(Xᵀ W X)⁻¹`` and the GLS beta."""
    p = groups[0][2].shape[2]
    xtwx, xtwy, Ws = np.zeros((p, p)), np.zeros(p), []
    for (_, y, X, _), M in zip(groups, Ms):
        W = np.linalg.inv(M)
        WX = W @ X
        xtwx += np.einsum("nsp,nsq->pq", X, WX)
        xtwy += np.einsum("nsp,ns->p", WX, y)
        Ws.append(W)
    bread = np.linalg.inv(xtwx)
    return Ws, bread, bread @ xtwy


def _weights(groups, sigma2, within):
    Ms = [V + sum(s2 * D for s2, D in zip(sigma2, _components(idx.shape[1], within))) for idx, _, _, V in groups]
    return (Ms, *gls(groups, Ms))


def score_information(groups, Ws, bread, beta, Ds, method):
    """REML (or ML) score and Fisher information of covariance parameters theta (Harville 1977):
    ``score_r = (rᵀ W D_r W r - tr(P D_r)) / 2``, ``info_rs = tr(P D_r P D_s) / 2`` (ML: W for P
    in the traces), ``D_r = dM/dtheta_r``; ``Ds[g]`` lists group g's D_r (each (s, s), or
    (n, s, s) when they differ between the group's trials). P's traces are expanded so that
    only block products and p x p matrices appear: ``P = W - G B Gᵀ``, ``G = W X``.
    """
    n_comp = len(Ds[0])
    score, info = np.zeros(n_comp), np.zeros((n_comp, n_comp))
    p = len(beta)
    H = np.zeros((n_comp, p, p))  # sum Gᵀ D_r G
    F = np.zeros((n_comp, n_comp, p, p))  # sum (D_r G)ᵀ W (D_s G)
    for (_, y, X, _), W, D in zip(groups, Ws, Ds):
        Wr = np.einsum("nst,nt->ns", W, y - X @ beta)
        G = W @ X
        DG = [Dr @ G for Dr in D]
        WD = [W @ Dr for Dr in D]
        for r in range(n_comp):
            score[r] += 0.5 * np.einsum("ns,ns->", Wr, np.einsum("...st,nt->ns", D[r], Wr)) - 0.5 * np.einsum(
                "nss->", WD[r]
            )
            H[r] += np.einsum("nsp,nsq->pq", G, DG[r])
            for q in range(r, n_comp):
                info[r, q] += 0.5 * np.einsum("nab,nba->", WD[r], WD[q])
                if method == "REML":
                    F[r, q] += np.einsum("nsp,nst,ntq->pq", DG[r], W, DG[q])
    if method == "REML":
        for r in range(n_comp):
            score[r] += 0.5 * np.trace(bread @ H[r])
            for q in range(r, n_comp):
                info[r, q] += 0.5 * (
                    -np.trace(bread @ F[r, q]) - np.trace(bread @ F[r, q].T) + np.trace(bread @ H[r] @ bread @ H[q])
                )
    return score, np.triu(info) + np.triu(info, 1).T


def _nested_score_information(groups, Ws, bread, beta, within, method):
    """:func:`score_information` for ``D = (J, I)`` in closed form: with ``1ᵀW``, ``1ᵀG`` and
    ``1ᵀW1`` every trace is a sum (``tr(WJWJ) = (1ᵀW1)²``, ``tr(WJW) = |W1|²``, ...), about
    a third of the general function's array operations."""
    n_comp = 2 if within else 1
    p = len(beta)
    score, info = np.zeros(n_comp), np.zeros((n_comp, n_comp))
    H = np.zeros((n_comp, p, p))
    F = np.zeros((n_comp, n_comp, p, p))
    for (_, y, X, _), W in zip(groups, Ws):
        Wr = np.einsum("nst,nt->ns", W, y - X @ beta)
        G = W @ X  # (n, s, p)
        w1 = W.sum(axis=2)  # W 1, (n, s)
        total = w1.sum(axis=1)  # 1ᵀW1
        g1 = G.sum(axis=1)  # 1ᵀG, (n, p)
        score[0] += 0.5 * ((Wr.sum(axis=1) ** 2).sum() - total.sum())
        info[0, 0] += 0.5 * (total**2).sum()
        H[0] += g1.T @ g1
        if method == "REML":
            F[0, 0] += np.einsum("np,n,nq->pq", g1, total, g1)
        if within:
            score[1] += 0.5 * ((Wr**2).sum() - np.einsum("nss->", W))
            info[0, 1] += 0.5 * (w1**2).sum()
            info[1, 1] += 0.5 * (W**2).sum()
            H[1] += np.einsum("nsp,nsq->pq", G, G)
            if method == "REML":
                F[0, 1] += g1.T @ np.einsum("ns,nsq->nq", w1, G)
                F[1, 1] += np.einsum("nsp,nst,ntq->pq", G, W, G)
    if method == "REML":
        for r in range(n_comp):
            score[r] += 0.5 * np.trace(bread @ H[r])
            for q in range(r, n_comp):
                info[r, q] += 0.5 * (
                    -np.trace(bread @ F[r, q]) - np.trace(bread @ F[r, q].T) + np.trace(bread @ H[r] @ bread @ H[q])
                )
    return score, np.triu(info) + np.triu(info, 1).T


def _start(y, X, vi, n_comp) -> np.ndarray:
    r = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
    total = max(float(r @ r) / max(len(y) - X.shape[1], 1) - float(vi.mean()), 0.01 * float(vi.mean()))
    return np.full(n_comp, total / n_comp)


def _fisher(groups, y, X, vi, within, method, start, tol=THRESHOLD, max_iter=MAX_ITER):
    """Fisher scoring projected onto sigma² >= 0; (sigma2, converged, iterations).

    A component at 0 whose score is not positive stays there (the Kuhn-Tucker condition of
    the boundary maximum); the others take the Fisher step, cut short where it would cross 0,
    and a component cut to 0 joins the fixed ones. The expected information can be far
    flatter than the likelihood (few trials, one much larger than the rest): a step that
    overshoots the maximum along its line more than twice over would make the iteration
    oscillate with growing amplitude, so it is halved until the slope at its end, ``score·d``,
    is at least ``-score₀·d`` (a line search: on a quadratic, exactly "the likelihood does
    not fall"). Converged when the step of the free components is below ``tol`` (relative to
    max(1, sigma²)) and every fixed one satisfies its boundary condition.
    """
    sigma2 = np.asarray(start, dtype=float).copy() if start is not None else _start(y, X, vi, 2 if within else 1)

    def score_information_at(sigma2):
        _, Ws, bread, beta = _weights(groups, sigma2, within)
        return _nested_score_information(groups, Ws, bread, beta, within, method)

    score, info = score_information_at(sigma2)
    for it in range(1, max_iter + 1):
        free = (sigma2 > 0) | (score > 0)
        while True:
            step = np.zeros_like(sigma2)
            if free.any():
                step[free] = np.linalg.solve(info[np.ix_(free, free)], score[free])
            stuck = free & (sigma2 == 0) & (step < 0)
            if not stuck.any():
                break
            free &= ~stuck  # at 0 and pushed below it: hold at 0, re-solve for the rest
        step, sigma2, cut, (score, info) = halve_overshoot(
            sigma2, step, score, partial(_projected, tol=tol), score_information_at, tol
        )
        if not cut and np.all(np.abs(step) <= tol * np.maximum(1.0, sigma2)):
            return sigma2, True, it
    return sigma2, False, max_iter


def _projected(sigma2, step, tol):
    """``sigma2 + step``, cut short at the boundary of the first component it would take
    below 0 (that one set to 0); ``(new sigma2, whether it was cut)``."""
    crossing = step < 0
    fraction = np.min(sigma2[crossing] / -step[crossing], initial=np.inf)
    if fraction >= 1:
        return sigma2 + step, False
    step = step * fraction
    moved = sigma2 + step
    moved[crossing & (moved <= tol * np.maximum(1.0, np.abs(step)))] = 0.0
    return np.maximum(moved, 0.0), True


def summarise(groups, Ms, Ws, W0, vb, beta, X, method, test, alpha, btt, total_var) -> dict:
    """The fields every marginal model shares: tests, QE (V alone, weights ``W0``), QM,
    log-likelihood (REML: metafor's, with ``+ log|XᵀX| / 2``) and, intercept-only, the
    prediction interval ``beta ± crit sqrt(se² + total_var)``."""
    from scipy import stats  # lazy: the workflow parses modules that import this one

    k, p = X.shape
    rss, logdet, qe = 0.0, 0.0, 0.0
    xtw0x = sum(np.einsum("nsp,nst,ntq->pq", g[2], W, g[2]) for g, W in zip(groups, W0))
    xtw0y = sum(np.einsum("nsp,nst,nt->p", g[2], W, g[1]) for g, W in zip(groups, W0))
    beta0 = np.linalg.solve(xtw0x, xtw0y)
    for (_, yg, Xg, _), W, M, W_0 in zip(groups, Ws, Ms, W0):
        r, r0 = yg - Xg @ beta, yg - Xg @ beta0
        rss += float(np.einsum("ns,nst,nt->", r, W, r))
        qe += float(np.einsum("ns,nst,nt->", r0, W_0, r0))
        logdet += float(np.linalg.slogdet(M)[1].sum())
    df_resid = k - p
    se, stat, stat_df, crit, pval, btt, qm, qm_df, qm_p = coefficient_tests(beta, vb, X, df_resid, test, alpha, btt)
    if method == "REML":
        loglik = -0.5 * (
            df_resid * np.log(2 * np.pi) - np.linalg.slogdet(X.T @ X)[1] + logdet - np.linalg.slogdet(vb)[1] + rss
        )
    else:
        loglik = -0.5 * (k * np.log(2 * np.pi) + logdet + rss)
    pi_lower = pi_upper = None
    if p == 1 and np.all(X[:, 0] == 1):
        half = crit * np.sqrt(se[0] ** 2 + total_var)
        pi_lower, pi_upper = float(beta[0] - half), float(beta[0] + half)
    as_tuple = lambda a: tuple(float(v) for v in a)  # noqa: E731
    return dict(
        beta=as_tuple(beta),
        se=as_tuple(se),
        vcov=tuple(as_tuple(row) for row in vb),
        stat=as_tuple(stat),
        p_value=as_tuple(pval),
        ci_lower=as_tuple(beta - crit * se),
        ci_upper=as_tuple(beta + crit * se),
        stat_df=stat_df,
        pi_lower=pi_lower,
        pi_upper=pi_upper,
        qe=qe,
        qe_df=df_resid,
        qe_p=float(stats.chi2.sf(qe, df_resid)),
        qm=qm,
        qm_df=qm_df,
        qm_p=qm_p,
        btt=btt,
        k=k,
        p=p,
        loglik=float(loglik),
        method=method,
        test=test,
        alpha=alpha,
    )


def i2_by_level(vi: np.ndarray, X: np.ndarray, sigma2: Sequence[float]) -> np.ndarray:
    """I² of each variance component (percent): metafor's FAQ formula (Cheung 2014)::

        I²_l = 100 sigma²_l / (sum sigma² + (k - p) / tr(P)),  P = W - W X (Xᵀ W X)⁻¹ Xᵀ W,

    W = diag(1 / vi), so the "typical" sampling variance is that of Higgins & Thompson's I².
    """
    vi = np.asarray(vi, dtype=float)
    w = 1.0 / vi
    XtW = X.T * w
    A = np.linalg.inv(XtW @ X)
    trace_p = w.sum() - np.trace(A @ (XtW * w) @ X)
    sigma2 = np.asarray(sigma2, dtype=float)
    return 100 * sigma2 / (sigma2.sum() + (len(vi) - X.shape[1]) / trace_p)


def fit_multilevel(
    yi: Sequence[float],
    V: ClusteredCovariance,
    X: np.ndarray | None = None,
    *,
    names: Sequence[str] | None = None,
    within: bool = True,
    method: str = "REML",
    test: str = "z",
    alpha: float = 0.05,
    btt: Sequence[int] | None = None,
    sigma2: Sequence[float] | None = None,
    start: Sequence[float] | None = None,
) -> MultilevelFit:
    """Fit ``rma.mv(yi, V, mods = X, random = ~ 1 | trial/effect, method, test)``.

    Parameters
    ----------
    yi
        k effect sizes on the analysis scale.
    V
        Their within-trial sampling covariance, which also defines the trials: diagonal
        (:meth:`ClusteredCovariance.constant_correlation` with rho = 0) for the three-level
        model, rho > 0 for CHE.
    X
        k x p design matrix (default: intercept only); a column of ones counts as the intercept
        for the default ``btt``.
    names
        Coefficient names (default ``intrcpt``, ``x1`` ...).
    within
        Include the within-trial component (``~ 1 | trial/effect``); False: ``~ 1 | trial``.
    method
        "REML" (default) or "ML".
    test
        "z" or "t" (module docstring).
    alpha
        Two-sided level of the CIs and prediction interval.
    btt
        0-based coefficients tested by QM (default: all but the intercept, metafor's rule).
    sigma2
        Hold the variance components at these values instead of estimating them.
    start
        Starting values for Fisher scoring.

    Returns
    -------
    MultilevelFit
    """
    y = np.asarray(yi, dtype=float)
    k = len(y)
    X = np.ones((k, 1)) if X is None else np.asarray(X, dtype=float).reshape(k, -1)
    p = X.shape[1]
    if method not in METHODS or test not in TESTS:
        raise ValueError(f"unknown method {method!r} or test {test!r}")
    if V.k != k or not np.all(np.isfinite(y)) or not np.all(np.isfinite(X)):
        raise ValueError("yi and X must be finite and V must be k x k")
    if np.linalg.matrix_rank(X) < p:
        raise ValueError("the design matrix is not of full column rank")
    n_comp = 2 if within else 1
    if k <= p:
        raise ValueError(f"{k} effects cannot estimate {p} coefficients and {n_comp} variance components")
    if V.n_trials < 2 and sigma2 is None:
        raise ValueError("one trial: the between-trial variance is not identifiable (at least 2 trials are needed)")
    if within and V.n_trials == k:
        raise ValueError("every trial has one effect: the within-trial variance is not identifiable (use within=False)")
    groups = groups_of(y, X, V)
    vi = V.variances()
    converged, iterations = True, 0
    if sigma2 is None:
        sig, converged, iterations = _fisher(groups, y, X, vi, within, method, start)
    else:
        sig = np.asarray(sigma2, dtype=float)
        if sig.shape != (n_comp,) or np.any(sig < 0):
            raise ValueError(f"sigma2 must be {n_comp} non-negative values")
    Ms, Ws, vb, beta = _weights(groups, sig, within)
    _, W0, _, _ = _weights(groups, np.zeros(n_comp), within)
    out = summarise(groups, Ms, Ws, W0, vb, beta, X, method, test, alpha, btt, float(sig.sum()))
    model = WorkingModel(
        tuple(g[0] for g in groups),
        tuple(g[1] for g in groups),
        tuple(g[2] for g in groups),
        tuple(Ms),
        tuple(Ws),
        beta,
        vb,
        V.trial,
    )
    return MultilevelFit(
        names=tuple(names) if names is not None else ("intrcpt",) + tuple(f"x{j}" for j in range(1, p)),
        sigma2=tuple(float(v) for v in sig),
        i2=tuple(float(v) for v in i2_by_level(vi, X, sig)),
        n_trials=V.n_trials,
        converged=converged,
        iterations=iterations,
        model=model,
        **out,
    )
