"""Meta-regression on study-level moderators: design, R², permutation tests.

The fit itself is :func:`evsynth.stats.multivariate.rma_mv` with diagonal V (metafor
``rma(yi, vi, mods, test = "knha")``: coefficients with Knapp-Hartung t tests and the omnibus
F test; Knapp & Hartung 2003), or, with several effects per trial,
:func:`evsynth.stats.multilevel.fit_multilevel` with CR2 inference
(:func:`evsynth.stats.robust.cr2`). This module adds:

* :func:`moderator_design`: the model matrix of continuous and categorical moderators, R's
  ``model.matrix(~ x1 + factor(x2))`` (treatment contrasts, levels sorted, the first the
  reference), refusing a moderator that is constant;
* :func:`r2`: the proportion of heterogeneity explained, metafor's
  ``max(0, 100 (tau²_RE - tau²_ME) / tau²_RE)`` (Raudenbush 2009);
* :func:`permutation_test`: metafor's ``permutest`` (Higgins & Thompson 2004; Viechtbauer et
  al. 2015): the model refitted with the rows of X permuted (intercept-only: the signs of y
  flipped), every permutation when there are at most ``iterations`` of them (or ``exact``),
  otherwise ``iterations`` random ones from a seeded generator (the observed data first), all
  refits at once with batched Fisher scoring.

References
----------
Knapp G, Hartung J (2003). Improved tests for a random effects meta-regression with a single
covariate. Stat Med 22:2693-2710.
Raudenbush SW (2009). Analyzing effect sizes: random-effects models. In: Cooper H, Hedges LV,
Valentine JC (eds.) The Handbook of Research Synthesis and Meta-Analysis, 2nd ed., 295-315.
Higgins JPT, Thompson SG (2004). Controlling the risk of spurious findings from
meta-regression. Stat Med 23:1663-1682.
Viechtbauer W, López-López JA, Sánchez-Meca J, Marín-Martínez F (2015). A comparison of
procedures to test for moderators in mixed-effects meta-regression models. Psychol Methods
20:360-374.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from evsynth.stats._iterate import MAX_ITER, THRESHOLD, fisher_scoring_rows
from evsynth.stats.robust import Contrasts

__all__ = ["PermutationTest", "moderator_design", "permutation_test", "predict", "r2"]

KINDS = ("continuous", "categorical")
#: metafor permutest's control comptol: statistics within this of the observed count as "as
#: extreme" (ties of permutations equivalent to the observed data).
COMPTOL = float(np.sqrt(np.finfo(float).eps))
#: metafor rma()'s control tol for its ll0check: a converged tau² > 0 whose (restricted)
#: log-likelihood is below that at tau² = 0 by more than this is a local maximum, replaced by 0.
LL0_TOL = float(np.finfo(float).eps ** 0.25)


def moderator_design(moderators: Sequence[tuple[str, Sequence, str]]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Model matrix with an intercept for ``(name, values, kind)`` moderators.

    A continuous moderator is one column (finite numbers); a categorical one is a dummy per
    level but the first in sorted order (R's ``factor``), named ``name[level]``. Raises
    ValueError naming every moderator that is non-numeric, non-finite or constant.
    """
    columns, names, problems = [], ["intrcpt"], []
    k = None
    for name, values, kind in moderators:
        values = list(values)
        k = len(values) if k is None else k
        if len(values) != k:
            problems.append(f"{name}: {len(values)} values for {k} effects")
            continue
        if kind == "continuous":
            try:
                x = np.array([float(v) for v in values])
            except (TypeError, ValueError):
                bad = next(v for v in values if not _is_number(v))
                problems.append(f"{name}: declared continuous but {bad!r} is not a number")
                continue
            if not np.all(np.isfinite(x)):
                problems.append(f"{name}: missing or non-finite values")
            elif np.ptp(x) == 0:
                problems.append(f"{name}: constant ({x[0]:g}) in this analysis, so it explains nothing")
            else:
                columns.append(x[:, None])
                names.append(name)
        elif kind == "categorical":
            labels = [str(v) for v in values]
            levels = sorted(set(labels))
            if len(levels) < 2:
                problems.append(f"{name}: one level ({levels[0] if levels else 'none'}) in this analysis")
                continue
            onehot = np.array([[lab == lev for lev in levels[1:]] for lab in labels], dtype=float)
            columns.append(onehot)
            names.extend(f"{name}[{lev}]" for lev in levels[1:])
        else:
            problems.append(f"{name}: kind must be one of {KINDS}, not {kind!r}")
    if problems:
        raise ValueError("moderators: " + "; ".join(problems))
    if k is None:
        raise ValueError("moderators: none given")
    X = np.column_stack([np.ones(k), *columns])
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise ValueError("moderators: the model matrix is not of full rank (moderators confounded)")
    if k <= X.shape[1]:
        raise ValueError(f"moderators: {X.shape[1]} coefficients cannot be estimated from {k} effects")
    return X, tuple(names)


def _is_number(v) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


def r2(tau2_without: float, tau2_with: float) -> float:
    """Percent of tau² explained by the moderators, ``max(0, 100 (t0 - t1) / t0)``; NaN when
    there is no heterogeneity to explain (t0 = 0), where metafor gives NA."""
    if not tau2_without > 0:
        return float("nan")
    return max(0.0, 100 * (tau2_without - tau2_with) / tau2_without)


@dataclass(frozen=True)
class PermutationTest:
    """Permutation p-values of each coefficient (``p_values``) and of the omnibus test (``qm_p``).

    ``iterations`` counts the refits (the observed data included), ``exact`` whether they
    were every distinct permutation; ``seed`` is None when exact.
    """

    p_values: tuple[float, ...]
    qm_p: float
    iterations: int
    exact: bool
    seed: int | None


def _loglik(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: np.ndarray, method: str) -> np.ndarray:
    """The ML or REML log-likelihood of each row at ``tau2`` (D,), without the constant terms."""
    w = 1.0 / (v + tau2[:, None])
    xwx = np.einsum("dkp,dk,dkq->dpq", X, w, X)
    beta = np.linalg.solve(xwx, np.einsum("dkp,dk->dp", X, w * y)[..., None])[..., 0]
    rss = (w * (y - np.einsum("dkp,dp->dk", X, beta)) ** 2).sum(axis=1)
    ll = -0.5 * np.log(v + tau2[:, None]).sum(axis=1) - 0.5 * rss
    return ll - 0.5 * np.linalg.slogdet(xwx)[1] if method == "REML" else ll


def _batched_fits(y: np.ndarray, v: np.ndarray, X: np.ndarray, method: str, test: str, btt: Sequence[int]):
    """rma(y, v, mods = X[d], method, test) for every row d of ``X`` (D, k, p) at once;
    ``y`` is (D, k). Returns the coefficient statistics (D, p) and QM (D,)."""
    D, k, p = X.shape
    tau2 = np.zeros(D)
    # metafor's start: the moment (HE) estimate of the regression, floored at 0.
    XtX = np.einsum("dkp,dkq->dpq", X, X)
    hat = np.einsum("dkp,dpq,dlq->dkl", X, np.linalg.inv(XtX), X)
    resid = y - np.einsum("dkl,dl->dk", hat, y)
    trace_v = (v * (1 - np.einsum("dkk->dk", hat))).sum(axis=1)
    tau2[:] = np.maximum(0.0, ((resid**2).sum(axis=1) - trace_v) / (k - p))
    converged = np.zeros(D, dtype=bool)

    def step_of(active, t):
        Xa, ya = X[active], y[active]
        w = 1.0 / (v[active] + t[:, None])
        A = np.linalg.inv(np.einsum("dkp,dk,dkq->dpq", Xa, w, Xa))
        beta = np.einsum("dpq,dkq,dk->dp", A, Xa, w * ya)
        py = w * (ya - np.einsum("dkp,dp->dk", Xa, beta))
        if method == "ML":
            return ((py**2).sum(axis=1) - w.sum(axis=1)) / (w**2).sum(axis=1)
        H2 = A @ np.einsum("dkp,dk,dkq->dpq", Xa, w**2, Xa)
        H3 = A @ np.einsum("dkp,dk,dkq->dpq", Xa, w**3, Xa)
        trace_p = w.sum(axis=1) - np.einsum("dpp->d", H2)
        trace_pp = (w**2).sum(axis=1) - 2 * np.einsum("dpp->d", H3) + np.einsum("dpq,dqp->d", H2, H2)
        return ((py**2).sum(axis=1) - trace_p) / trace_pp

    fisher_scoring_rows(step_of, tau2, np.arange(D), converged, THRESHOLD, MAX_ITER)
    # rma()'s ll0check (metafor 3.8 rma.uni): the likelihood may have a maximum at 0 as well as inside;
    # a converged tau² > 0 that is the lower of the two is replaced by 0, as metafor does.
    inside = converged & (tau2 > THRESHOLD) & np.all(v > 0, axis=1)
    if inside.any():
        ll0 = _loglik(y[inside], v[inside], X[inside], np.zeros(inside.sum()), method)
        gain = ll0 - _loglik(y[inside], v[inside], X[inside], tau2[inside], method)
        tau2[np.flatnonzero(inside)[gain > LL0_TOL]] = 0.0
    w = 1.0 / (v + tau2[:, None])
    vb = np.linalg.inv(np.einsum("dkp,dk,dkq->dpq", X, w, X))
    beta = np.einsum("dpq,dkq,dk->dp", vb, X, w * y)
    if test == "knha":
        r = y - np.einsum("dkp,dp->dk", X, beta)
        s2 = (w * r**2).sum(axis=1) / (k - p)
        vb = vb * s2[:, None, None]
    stat = beta / np.sqrt(np.einsum("dpp->dp", vb))
    b = beta[:, btt]
    sub = vb[:, btt][:, :, btt]
    qm = np.einsum("dp,dp->d", b, np.linalg.solve(sub, b[..., None])[..., 0])
    if test == "knha":
        qm = qm / len(btt)
    return stat, qm


def _distinct_permutations(codes: Sequence[int]) -> np.ndarray:
    """Every distinct ordering of the multiset ``codes``, as rows of positions into it."""
    counts = Counter(codes)
    by_code = {c: [i for i, x in enumerate(codes) if x == c] for c in counts}
    out, current = [], []
    remaining = dict(counts)

    def extend():
        if len(current) == len(codes):
            used = {c: iter(by_code[c]) for c in by_code}
            out.append([next(used[c]) for c in current])
            return
        for c in sorted(remaining):
            if remaining[c]:
                remaining[c] -= 1
                current.append(c)
                extend()
                current.pop()
                remaining[c] += 1

    extend()
    return np.array(out, dtype=int)


def permutation_test(
    yi: Sequence[float],
    vi: Sequence[float],
    X: np.ndarray | None = None,
    *,
    method: str = "REML",
    test: str = "knha",
    btt: Sequence[int] | None = None,
    iterations: int = 1000,
    exact: bool | None = None,
    seed: int = 20240101,
) -> PermutationTest:
    """metafor's ``permutest(rma(yi, vi, mods = X, method, test), iter, exact)``.

    p-value of coefficient j: the share of refits with ``|stat_j| >= |observed| - 1.5e-8``
    (metafor's two-sided "abs" definition and comparison tolerance); omnibus: the share with
    ``QM >= observed - 1.5e-8``. ``exact=None`` enumerates when the distinct permutations
    (rows of X, or 2^k sign flips for an intercept-only model) number at most ``iterations``,
    as metafor does; ``exact=False`` with more samples ``iterations`` of them, the observed
    data first, from ``numpy.random.default_rng(seed)``: the same p-values on every run.
    Each refit is rma()'s, its ll0check included (a converged tau² whose likelihood is below
    that at tau² = 0 is replaced by 0), so refits agree with permutest's where the likelihood
    has two maxima.
    """
    y, v = np.asarray(yi, dtype=float), np.asarray(vi, dtype=float)
    k = len(y)
    X = np.ones((k, 1)) if X is None else np.asarray(X, dtype=float).reshape(k, -1)
    p = X.shape[1]
    if method not in ("REML", "ML") or test not in ("z", "knha"):
        raise ValueError("permutation tests are for REML/ML fits with test 'z' or 'knha'")
    if iterations < 2:
        raise ValueError("iterations must be >= 2")
    intercept_only = p == 1 and np.all(X[:, 0] == 1)
    if btt is None:
        btt = [0] if intercept_only else [j for j in range(p) if not np.all(X[:, j] == 1)]
    btt = list(btt)
    if intercept_only:
        n_exact = 2**k
    else:
        _, codes = np.unique(X, axis=0, return_inverse=True)
        codes = codes.ravel().tolist()
        n_exact = math.factorial(k) // math.prod(math.factorial(c) for c in Counter(codes).values())
    use_exact = bool(exact) or (exact is None and n_exact <= iterations)
    rng = None if use_exact else np.random.default_rng(seed)
    if intercept_only:
        if use_exact:
            signs = 1 - 2 * ((np.arange(n_exact)[:, None] >> np.arange(k)[None, :]) & 1)
        else:
            signs = np.vstack([np.ones(k), rng.choice([-1.0, 1.0], size=(iterations - 1, k))])
        Y, XX = signs * y, np.broadcast_to(X, (len(signs), k, p))
    else:
        if use_exact:
            perms = _distinct_permutations(codes)
        else:
            perms = np.vstack([np.arange(k)] + [rng.permutation(k) for _ in range(iterations - 1)])
        Y, XX = np.broadcast_to(y, (len(perms), k)), X[perms]
    V = np.broadcast_to(v, Y.shape)
    Y, V, XX = (np.ascontiguousarray(a) for a in (Y, V, XX))
    stat, qm = _batched_fits(Y, V, XX, method, test, btt)
    obs_stat, obs_qm = _batched_fits(y[None], v[None], X[None], method, test, btt)
    pvals = (np.abs(stat) >= np.abs(obs_stat) - COMPTOL).mean(axis=0)
    qm_p = float((qm >= obs_qm[0] - COMPTOL).mean())
    return PermutationTest(
        tuple(float(x) for x in np.minimum(pvals, 1.0)), qm_p, len(Y), use_exact, None if use_exact else seed
    )


def predict(fit, C, alpha: float | None = None) -> Contrasts:
    """Fitted values ``C beta`` of an :func:`~evsynth.stats.multivariate.rma_mv` fit with their CIs,
    metafor's ``predict(res, newmods = C[, -1])`` (the bubble plot's line and band).

    The variance is ``c' Var(beta) c`` (Knapp-Hartung scaled when the fit is); the critical value
    is t on the fit's ``stat_df`` (k - p under "knha"), or normal when it has none.

    Parameters
    ----------
    fit : MultivariateFit
    C : array_like
        Rows of design values (with the intercept's 1), one column per coefficient.
    alpha : float, optional
        Two-sided level (default: the fit's).

    Returns
    -------
    Contrasts
    """
    from scipy import stats

    C = np.atleast_2d(np.asarray(C, dtype=float))
    alpha = fit.alpha if alpha is None else alpha
    estimate = C @ np.asarray(fit.beta)
    se = np.sqrt(np.einsum("qa,ab,qb->q", C, np.asarray(fit.vcov), C))
    df = None if fit.stat_df is None else np.full(len(C), float(fit.stat_df))
    crit = stats.norm.ppf(1 - alpha / 2) if df is None else stats.t.ppf(1 - alpha / 2, df)
    return Contrasts(estimate, se, df, estimate - crit * se, estimate + crit * se)
