"""The network model as a univariate meta-regression: whitening and rotation of each study's
contrasts, weighted least squares, the moment estimator of tau².

``P_s = B_s B_sᵀ / 2`` (the random-effects structure of study s) does not depend on tau², so
with its Cholesky factor ``P_s = L_s L_sᵀ`` the model for ``L_s⁻¹ y_s`` has random effects
``tau² I`` and sampling covariance ``L_s⁻¹ V_s L_s⁻ᵀ``; rotating each block by the
eigenvectors of that covariance makes it a univariate meta-regression with known variances
``lambda``. Estimates, SEs, tau² (REML, ML) and every quadratic form are invariant under these
block-wise linear maps. DL is the moment estimator ``max(0, (Q - df) / tr(M P))`` (netmeta
``method.tau = "DL"``; Jackson, White & Riley 2012).

References
----------
Jackson D, White IR, Riley RD (2012). Quantifying the impact of between-study
heterogeneity in multivariate meta-analyses. Stat Med 31:3805-3820.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import special

from evsynth.stats.network.structure import _Study


@dataclass
class _Rotated:
    y: np.ndarray  # k
    B: np.ndarray  # k x n (full incidence, whitened and rotated)
    lam: np.ndarray  # k sampling variances after rotation
    study: np.ndarray  # k: index into the study list
    extra: dict[str, np.ndarray]  # other whitened-rotated design matrices (k x m)


def _whiten(studies: list[_Study], extra: Mapping[str, list[np.ndarray]] | None = None) -> _Rotated:
    """``L⁻¹`` (P = L Lᵀ, P = B Bᵀ/2) then the eigenvectors of ``L⁻¹ V L⁻ᵀ``, study by study,
    batched over studies with the same number of contrasts."""
    extra = extra or {}
    by_size: dict[int, list[int]] = {}
    for i, s in enumerate(studies):
        by_size.setdefault(len(s.y), []).append(i)
    ys, Bs, lams, owners = [], [], [], []
    extras: dict[str, list[np.ndarray]] = {name: [] for name in extra}
    for size in sorted(by_size):
        members = by_size[size]
        y = np.stack([studies[i].y for i in members])  # m x s
        B = np.stack([studies[i].B for i in members])  # m x s x n
        V = np.stack([studies[i].V for i in members])  # m x s x s
        E = {name: np.stack([mats[i] for i in members]) for name, mats in extra.items()}
        if size > 1:
            P = np.einsum("msn,mtn->mst", B, B) / 2
            L = np.linalg.cholesky(P)
            y = np.linalg.solve(L, y[..., None])[..., 0]
            B = np.linalg.solve(L, B)
            E = {name: np.linalg.solve(L, M) for name, M in E.items()}
            V = np.linalg.solve(L, np.swapaxes(np.linalg.solve(L, V), 1, 2))
            V = (V + np.swapaxes(V, 1, 2)) / 2
            lam, Q = np.linalg.eigh(V)
            y = np.einsum("mji,mj->mi", Q, y)
            B = np.einsum("mji,mjn->min", Q, B)
            E = {name: np.einsum("mji,mjn->min", Q, M) for name, M in E.items()}
        else:
            lam = V[:, :, 0]
        ys.append(y.reshape(-1))
        Bs.append(B.reshape(-1, B.shape[-1]))
        lams.append(lam.reshape(-1))
        owners.append(np.repeat(members, size))
        for name, M in E.items():
            extras[name].append(M.reshape(-1, M.shape[-1]))
    lam = np.concatenate(lams)
    if np.any(lam <= 0) or np.any(lam <= 1e-12 * np.abs(lam).max()):
        raise ValueError("a study's sampling covariance is not positive definite")
    return _Rotated(np.concatenate(ys), np.vstack(Bs), lam, np.concatenate(owners),
                    {name: np.vstack(mats) for name, mats in extras.items()})


def _gls(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Weighted least squares: coefficients, their covariance (X'WX)⁻¹ and the weighted RSS."""
    XtW = X.T * w
    cov = np.linalg.inv(XtW @ X)
    beta = cov @ (XtW @ y)
    r = y - X @ beta
    return beta, cov, float((w * r**2).sum())


def _moment_tau2(X: np.ndarray, y: np.ndarray, lam: np.ndarray) -> float:
    """max(0, (Q - df) / tr(M)) in rotated coordinates (P = I there): netmeta's DL."""
    k, p = X.shape
    if k <= p:
        return 0.0
    w = 1 / lam
    _, cov, q = _gls(X, y, w)
    trace = w.sum() - np.trace(cov @ ((X.T * w**2) @ X))
    return max(0.0, (q - (k - p)) / trace) if trace > 0 else 0.0


def _chi2_p(q: float, df: int) -> float | None:
    return float(special.chdtrc(df, max(q, 0.0))) if df > 0 else None
