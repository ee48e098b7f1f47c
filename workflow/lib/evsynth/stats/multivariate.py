"""Multivariate random-effects meta-regression with a known within-study covariance V.

The model is metafor's ``rma.mv(yi, V, mods = X, random = ~ 1 | id)`` with ``id`` indexing
the estimates::

    y = X beta + u + e,   u ~ N(0, tau² I),   e ~ N(0, V),

V block-diagonal (studies independent; contrasts of one study correlated, e.g. through a
shared arm; Gleser & Olkin 2009) and one common tau². tau² is estimated by REML or ML with
Fisher scoring (Viechtbauer 2005), or fixed (``method="EE"``: tau² = 0).

Why no k x k inverse: with each block diagonalised once, ``V_b = Q_b diag(lambda_b) Q_bᵀ``,
the orthogonal rotation ``Qᵀ`` leaves ``tau² I`` unchanged, so the rotated model
``Qᵀy = QᵀX beta + N(0, diag(lambda + tau²))`` is a univariate meta-regression with
"sampling variances" ``lambda``. Likelihoods, estimates and every quadratic form are
invariant under the rotation, so all traces below are sums over k and the work is
``O(sum b_i³ + k p²)``.

Inference (``test``):

* ``"z"`` — Wald z, QM ~ chi²(m): metafor ``test="z"``.
* ``"t"`` — t on k - p df, QM/m ~ F(m, k - p), no rescaling: metafor 3.8 ``rma.mv(test="t")``.
* ``"knha"`` — Knapp & Hartung (2003): the variance of beta is multiplied by
  ``s² = rᵀ (V + tau² I)⁻¹ r / (k - p)``, then t and F on k - p df. This is metafor's
  ``rma(test="knha")``; metafor 3.8's ``rma.mv`` does not offer it (``test`` is "z" or
  "t"), so for non-diagonal V it is this same formula with V in place of ``diag(vi)``.
* ``"adhoc"`` — as "knha" with ``s²`` floored at 1 (metafor ``rma(test="adhoc")``; Jackson
  et al. 2017), so the interval is never narrower than the Wald one.

References
----------
Gleser LJ, Olkin I (2009). Stochastically dependent effect sizes. Handbook of Research
Synthesis and Meta-Analysis, 2nd ed., ch. 19.
Viechtbauer W (2005). J Educ Behav Stat 30(3):261-293 (Fisher scoring for tau²).
Knapp G, Hartung J (2003). Improved tests for a random effects meta-regression with a
single covariate. Stat Med 22:2693-2710.
Viechtbauer W (2010). J Stat Softw 36(3) (metafor; numerical reference).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from evsynth.stats._iterate import MAX_ITER, THRESHOLD, fisher_scoring

METHODS = ("REML", "ML", "EE")
TESTS = ("z", "t", "knha", "adhoc")
DENSE_LIMIT = 3000  # refuse to densify V beyond this many estimates


@dataclass(frozen=True, eq=False)
class BlockCovariance:
    """A block-diagonal k x k covariance: ``index[b]`` rows carry the matrix ``blocks[b]``."""

    k: int
    index: tuple[np.ndarray, ...]
    blocks: tuple[np.ndarray, ...]

    @classmethod
    def from_variances(cls, vi: Sequence[float]) -> BlockCovariance:
        vi = np.asarray(vi, dtype=float)
        return cls(len(vi), (np.arange(len(vi)),), (vi.reshape(-1, 1, 1),)) if len(vi) else cls(0, (), ())

    @classmethod
    def from_pairs(
        cls, vi: Sequence[float], pairs: Sequence[tuple[int, int]], cov: Sequence[float]
    ) -> BlockCovariance:
        """Variances plus off-diagonal covariances; blocks are the connected groups of ``pairs``."""
        vi = np.asarray(vi, dtype=float)
        parent = list(range(len(vi)))

        def root(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for i, j in pairs:
            parent[root(i)] = root(j)
        members: dict[int, list[int]] = {}
        for i in range(len(vi)):
            members.setdefault(root(i), []).append(i)
        lookup = {(min(i, j), max(i, j)): c for (i, j), c in zip(pairs, cov)}
        by_size: dict[int, tuple[list, list]] = {}  # blocks of one size are stacked for batched numpy
        for m in members.values():
            B = np.diag(vi[m])
            for a in range(len(m)):
                for b in range(a + 1, len(m)):
                    B[a, b] = B[b, a] = lookup.get((m[a], m[b]), 0.0)
            rows, mats = by_size.setdefault(len(m), ([], []))
            rows.append(m)
            mats.append(B)
        sizes = sorted(by_size)
        index = tuple(np.array(by_size[s][0], dtype=int).ravel() for s in sizes)
        return cls(len(vi), index, tuple(np.stack(by_size[s][1]) for s in sizes))

    @classmethod
    def from_dense(cls, V: np.ndarray) -> BlockCovariance:
        V = np.asarray(V, dtype=float)
        if V.ndim == 1:
            return cls.from_variances(V)
        if V.shape[0] != V.shape[1] or not np.allclose(V, V.T, rtol=0, atol=1e-14 * np.abs(V).max()):
            raise ValueError("V must be a symmetric square matrix")
        i, j = np.nonzero(np.triu(V, 1))
        return cls.from_pairs(np.diag(V), list(zip(i.tolist(), j.tolist())), V[i, j].tolist())

    def to_dense(self) -> np.ndarray:
        if self.k > DENSE_LIMIT:
            raise ValueError(f"refusing to form a dense {self.k} x {self.k} covariance matrix")
        V = np.zeros((self.k, self.k))
        for idx, B in zip(self.index, self.blocks):
            rows = idx.reshape(len(B), -1)
            for r, b in zip(rows, B):
                V[np.ix_(r, r)] = b
        return V

    def rotation(self) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
        """Eigenvalues ``lambda`` (in rotated order) and per-block-size ``(rows, Q)`` stacks."""
        lam, parts = [], []
        for idx, B in zip(self.index, self.blocks):
            w, Q = np.linalg.eigh(B)  # batched over blocks of one size
            # Relative to each block, so one huge variance elsewhere does not count as singular.
            if np.any(w <= 1e-12 * np.abs(w).max(axis=1, keepdims=True)) or np.any(w <= 0):
                raise ValueError("V is not positive definite (e.g. all three contrasts of a three-arm trial)")
            lam.append(w.ravel())
            parts.append((idx.reshape(len(B), -1), Q))
        return (np.concatenate(lam) if lam else np.zeros(0)), parts

    def sandwich(self, A: np.ndarray) -> np.ndarray:
        """``Aᵀ V A`` for a k x m matrix A, block by block."""
        out = np.zeros((A.shape[1], A.shape[1]))
        for idx, B in zip(self.index, self.blocks):
            rows = idx.reshape(len(B), -1)
            Ab = A[rows]  # (n_blocks, size, m)
            out += np.einsum("nim,nij,njl->ml", Ab, B, Ab)
        return out


def _rotate(parts, x: np.ndarray) -> np.ndarray:
    """Apply ``Qᵀ`` block-wise to the rows of x (k or k x p), in the rotated (concatenated) order."""
    x2 = x.reshape(len(x), -1)
    out = [np.einsum("nji,njp->nip", Q, x2[rows]).reshape(-1, x2.shape[1]) for rows, Q in parts]
    out = np.concatenate(out) if out else x2[:0]
    return out.ravel() if x.ndim == 1 else out


@dataclass(frozen=True)
class MultivariateFit:
    """Result of :func:`rma_mv`. Coefficient-wise tuples follow ``names``.

    ``stat`` is z (test "z") or t on ``stat_df`` df ("t", "knha"). ``qm`` is the Wald
    chi² over coefficients ``btt`` (0-based) or, under "t"/"knha", the F statistic, with
    ``qm_df`` = (m,) or (m, k - p). ``qe`` is the test of residual heterogeneity with V
    alone (tau² = 0) on ``qe_df = k - p``. ``knha_s2`` is the Knapp-Hartung factor (1.0
    unless ``test`` is "knha" or "adhoc"). ``loglik`` is metafor's (REML: includes
    ``+ log|XᵀX|/2``).
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
    tau2: float
    qe: float
    qe_df: int
    qe_p: float
    qm: float
    qm_df: tuple[int, ...]
    qm_p: float
    btt: tuple[int, ...]
    k: int
    p: int
    loglik: float
    knha_s2: float
    method: str
    test: str
    alpha: float
    converged: bool
    note: str = ""


def _gls(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    XtW = X.T * w
    A_inv = np.linalg.inv(XtW @ X)
    beta = A_inv @ (XtW @ y)
    return beta, A_inv, y - X @ beta


def _fisher_tau2(y, X, lam, method, tol=THRESHOLD, max_iter=MAX_ITER) -> tuple[float, bool]:
    """REML/ML tau² by Fisher scoring with step halving at 0 (metafor's rma.uni algorithm)."""
    k, p = X.shape
    _, _, r_ols = _gls(X, y, np.ones(k))

    def step_at(tau2: float) -> float:
        w = 1.0 / (lam + tau2)
        _, A_inv, r = _gls(X, y, w)
        py = w * r  # P y
        if method == "REML":
            H2 = A_inv @ ((X.T * w**2) @ X)
            trace_p = w.sum() - np.trace(H2)
            trace_pp = (w**2).sum() - 2 * np.trace(A_inv @ ((X.T * w**3) @ X)) + np.trace(H2 @ H2)
            return (py @ py - trace_p) / trace_pp
        return (py @ py - w.sum()) / (w**2).sum()

    start = max(0.0, float(r_ols @ r_ols) / (k - p) - float(lam.mean()))  # moment start
    return fisher_scoring(step_at, start, tol, max_iter)


def rma_mv(
    yi: Sequence[float],
    V: np.ndarray | BlockCovariance | Sequence[float],
    X: np.ndarray | None = None,
    *,
    names: Sequence[str] | None = None,
    method: str = "REML",
    test: str = "z",
    alpha: float = 0.05,
    btt: Sequence[int] | None = None,
    tau2: float | None = None,
) -> MultivariateFit:
    """Fit ``rma.mv(yi, V, mods = X, random = ~ 1 | id, method, test)``.

    Parameters
    ----------
    yi
        k estimates on the analysis scale.
    V
        Their sampling covariance: a :class:`BlockCovariance`, a dense k x k matrix, or a
        vector of variances (independent estimates: metafor ``rma(yi, vi, mods)``). Must
        be positive definite.
    X
        k x p design matrix (default: intercept only). Include the intercept column
        yourself; a column of ones is taken as the intercept for the default ``btt``.
    names
        Coefficient names (default ``intrcpt``, ``x1`` ...).
    method
        "REML" (default), "ML", or "EE" (no random effect: ``rma.mv`` without ``random``).
    test
        "z", "t", "knha" or "adhoc" (module docstring).
    alpha
        Two-sided level of the CIs.
    btt
        0-based coefficients tested by QM (default: all but the intercept, metafor's rule).
    tau2
        Fix tau² at this value instead of estimating it.

    Returns
    -------
    MultivariateFit
    """
    from scipy import stats  # lazy: ~0.35 s to import, and the workflow parses this module
    y = np.asarray(yi, dtype=float)
    k = len(y)
    X = np.ones((k, 1)) if X is None else np.asarray(X, dtype=float).reshape(k, -1)
    p = X.shape[1]
    if method not in METHODS or test not in TESTS:
        raise ValueError(f"unknown method {method!r} or test {test!r}")
    cov = V if isinstance(V, BlockCovariance) else BlockCovariance.from_dense(np.asarray(V, dtype=float))
    if cov.k != k or not np.all(np.isfinite(y)):
        raise ValueError("yi must be finite and V must be k x k")
    if np.linalg.matrix_rank(X) < p:
        raise ValueError("the design matrix is not of full column rank")
    estimate_tau2 = tau2 is None and method != "EE"
    note = ""
    if k < p or (k == p and test != "z"):
        raise ValueError(f"{p} coefficients cannot be estimated and tested from {k} estimates")
    if k == p and estimate_tau2:
        # Saturated: the likelihood is flat in tau². metafor 3.8 returns 0 without a word; so do
        # we, and say so.
        estimate_tau2, note = False, "saturated model (k = p): tau² is not estimable and was set to 0, as metafor does"
    lam, parts = cov.rotation()
    y_r, X_r = _rotate(parts, y), _rotate(parts, X)

    converged = True
    if estimate_tau2:
        tau2_hat, converged = _fisher_tau2(y_r, X_r, lam, method)
        if not converged:
            note = f"{method} Fisher scoring did not converge in 1000 steps; last tau² used"
    else:
        tau2_hat = 0.0 if tau2 is None else float(tau2)
    w = 1.0 / (lam + tau2_hat)
    beta, vb, r = _gls(X_r, y_r, w)
    _, _, r0 = _gls(X_r, y_r, 1.0 / lam)
    qe = float((r0**2 / lam).sum())
    rss = float((w * r**2).sum())
    df_resid = k - p

    s2 = rss / df_resid if test in ("knha", "adhoc") and df_resid > 0 else 1.0
    if test == "knha" and not s2 > 0:
        # Residuals exactly 0 (e.g. identical estimates): the Knapp-Hartung variance would be 0
        # and every test degenerate; use the ad hoc floor, as evsynth.stats.pooling does.
        s2 = 1.0
        note = "; ".join(n for n in (note, "Knapp-Hartung scale is 0 (zero residuals): ad hoc floor used") if n)
    if test == "adhoc":
        s2 = max(1.0, s2)
    vb = vb * s2
    se, stat, stat_df, crit, pval, btt, qm, qm_df, qm_p = coefficient_tests(beta, vb, X, df_resid, test, alpha, btt)

    logdet = float(np.log(lam + tau2_hat).sum())
    if method == "REML":
        loglik = -0.5 * (
            df_resid * np.log(2 * np.pi)
            - np.linalg.slogdet(X.T @ X)[1]
            + logdet
            + np.linalg.slogdet((X_r.T * w) @ X_r)[1]
            + rss
        )
    else:
        loglik = -0.5 * (k * np.log(2 * np.pi) + logdet + rss)
    as_tuple = lambda a: tuple(float(v) for v in a)  # noqa: E731
    return MultivariateFit(
        names=tuple(names) if names is not None else ("intrcpt",) + tuple(f"x{j}" for j in range(1, p)),
        beta=as_tuple(beta),
        se=as_tuple(se),
        vcov=tuple(as_tuple(row) for row in vb),
        stat=as_tuple(stat),
        p_value=as_tuple(pval),
        ci_lower=as_tuple(beta - crit * se),
        ci_upper=as_tuple(beta + crit * se),
        stat_df=stat_df,
        tau2=float(tau2_hat),
        qe=qe,
        qe_df=df_resid,
        qe_p=float(stats.chi2.sf(qe, df_resid)) if df_resid > 0 else 1.0,  # metafor: 1 at df 0
        qm=qm,
        qm_df=qm_df,
        qm_p=qm_p,
        btt=btt,
        k=k,
        p=p,
        loglik=float(loglik),
        knha_s2=float(s2),
        method=method,
        test=test,
        alpha=alpha,
        converged=converged,
        note=note,
    )


def dummies(
    labels: Sequence[str], levels: Sequence[str] | None = None, intercept: bool = True
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Design matrix of a factor, as R's ``~ factor(x)`` (``intercept``) or ``~ 0 + factor(x)``.

    ``levels`` fixes the order (the first is the reference with an intercept).
    """
    labels = [str(x) for x in labels]
    levels = list(dict.fromkeys(labels)) if levels is None else [str(x) for x in levels]
    onehot = (np.asarray(labels)[:, None] == np.asarray(levels)[None, :]).astype(float)
    if not intercept:
        return onehot, tuple(levels)
    return np.column_stack([np.ones(len(labels)), onehot[:, 1:]]), ("intrcpt", *levels[1:])


def coefficient_tests(beta, vb, X, df_resid: int, test: str, alpha: float, btt):
    """Wald-type tests of each coefficient and the omnibus test of ``btt`` (default: every
    coefficient but the intercept), as metafor's ``rma.mv``: z and chi² for ``test="z"``, else
    t and F on ``df_resid`` (= k - p) df. Returns ``(se, stat, stat_df, crit, pval, btt, qm,
    qm_df, qm_p)``."""
    from scipy import stats  # lazy: ~0.35 s to import, and the workflow parses this module

    p = X.shape[1]
    se = np.sqrt(np.diag(vb))
    stat = beta / se
    if test == "z":
        stat_df, crit = None, stats.norm.ppf(1 - alpha / 2)
        pval = 2 * stats.norm.sf(np.abs(stat))
    else:
        stat_df, crit = float(df_resid), stats.t.ppf(1 - alpha / 2, df_resid)
        pval = 2 * stats.t.sf(np.abs(stat), df_resid)
    intercept = [j for j in range(p) if np.all(X[:, j] == 1)]
    btt = tuple(int(b) for b in (btt if btt is not None else [j for j in range(p) if j not in intercept[:1]] or [0]))
    b = beta[list(btt)]
    qm_chi2 = float(b @ np.linalg.solve(vb[np.ix_(btt, btt)], b))
    m = len(btt)
    if test == "z":
        qm, qm_df, qm_p = qm_chi2, (m,), float(stats.chi2.sf(qm_chi2, m))
    else:
        qm, qm_df = qm_chi2 / m, (m, df_resid)
        qm_p = float(stats.f.sf(qm, m, df_resid))
    return se, stat, stat_df, crit, pval, btt, qm, qm_df, qm_p
