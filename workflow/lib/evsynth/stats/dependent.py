"""Several effect sizes per trial: the within-trial covariance, aggregation and selection.

A trial that reports several effects for one outcome (instruments, follow-ups, arms) gives
estimates whose sampling errors are correlated. Their covariance is rarely reported, so it is
imputed from the variances with a working correlation (Pustejovsky & Tipton 2022):

* constant correlation ``rho`` within a trial: ``V_ij = rho sqrt(v_i v_j)`` (metafor
  ``vcalc(vi, cluster, obs, rho)``; clubSandwich ``impute_covariance_matrix(vi, cluster, r)``);
* first-order autoregressive over follow-ups: ``V_ij = sqrt(v_i v_j) phi^|t_i - t_j|``
  (metafor ``vcalc(vi, cluster, time1 = t, phi)``; Ishak et al. 2007).

:class:`ClusteredCovariance` holds such a block-diagonal matrix with the trials' blocks
stacked by size, so every model of the package works block-wise and batched (never a k x k
matrix). :func:`aggregate_within` pools each trial's effects into one under that covariance
(Borenstein et al. 2009, ch. 24; metafor ``aggregate.escalc``), and :func:`extreme_per_trial`
picks each trial's lowest or highest effect (metapsyTools' sensitivity analyses).

References
----------
Borenstein M, Hedges LV, Higgins JPT, Rothstein HR (2009). Introduction to Meta-Analysis,
ch. 24: multiple outcomes or time-points within a study. Wiley.
Ishak KJ, Platt RW, Joseph L, Hanley JA, Caro JJ (2007). Meta-analysis of longitudinal
studies. Clin Trials 4:525-539.
Pustejovsky JE, Tipton E (2022). Meta-analysis with robust variance estimation: expanding the
range of working models. Prev Sci 23:425-438.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Aggregated", "ClusteredCovariance", "aggregate_within", "extreme_per_trial", "trial_mean_variances"]


def _codes(cluster: Sequence) -> tuple[np.ndarray, tuple]:
    """Integer codes of ``cluster`` in order of first appearance, and the labels."""
    labels = list(dict.fromkeys(cluster))
    lookup = {c: i for i, c in enumerate(labels)}
    return np.array([lookup[c] for c in cluster], dtype=int), tuple(labels)


def _check_vi(vi: np.ndarray) -> None:
    if not np.all(np.isfinite(vi)) or np.any(vi <= 0):
        raise ValueError("sampling variances must be finite and positive")


@dataclass(frozen=True, eq=False)
class ClusteredCovariance:
    """A k x k covariance, block-diagonal by trial, its blocks stacked by size.

    ``rows[g]`` is an ``(n, s)`` array: the row indices (in input order) of the n trials with s
    effects; ``blocks[g]`` the ``(n, s, s)`` covariance of each. ``trial`` gives every row's
    trial code (0, 1, ... in order of first appearance), ``labels`` the trials.
    """

    k: int
    trial: np.ndarray
    labels: tuple
    rows: tuple[np.ndarray, ...]
    blocks: tuple[np.ndarray, ...]

    @classmethod
    def from_function(cls, vi: Sequence[float], cluster: Sequence, correlation) -> ClusteredCovariance:
        """``V_ij = sqrt(v_i v_j) correlation(i, j)`` within a trial; ``correlation`` maps an
        ``(n, s)`` array of row indices to an ``(n, s, s)`` array of correlations."""
        vi = np.asarray(vi, dtype=float)
        _check_vi(vi)
        trial, labels = _codes(list(cluster))
        if len(trial) != len(vi):
            raise ValueError("vi and cluster differ in length")
        order = np.argsort(trial, kind="stable")
        sizes = np.bincount(trial)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        rows, blocks = [], []
        for s in np.unique(sizes):
            ids = np.flatnonzero(sizes == s)
            idx = order[starts[ids][:, None] + np.arange(s)[None, :]]  # (n, s)
            sd = np.sqrt(vi[idx])
            rows.append(idx)
            blocks.append(sd[:, :, None] * sd[:, None, :] * correlation(idx))
        return cls(len(vi), trial, labels, tuple(rows), tuple(blocks))

    @classmethod
    def constant_correlation(cls, vi: Sequence[float], cluster: Sequence, rho: float = 0.0) -> ClusteredCovariance:
        """Correlation ``rho`` between any two effects of a trial (0: independent effects)."""
        if not (np.isfinite(rho) and 0 <= rho < 1):
            raise ValueError(f"rho must lie in [0, 1); got {rho!r}")

        def correlation(idx):
            s = idx.shape[1]
            return np.broadcast_to(np.where(np.eye(s, dtype=bool), 1.0, rho), (len(idx), s, s))

        return cls.from_function(vi, cluster, correlation)

    @classmethod
    def autoregressive(cls, vi: Sequence[float], cluster: Sequence, time: Sequence[float], phi: float):
        """AR(1) correlation ``phi^|t_i - t_j|`` between a trial's follow-ups at times ``time``."""
        if not (np.isfinite(phi) and 0 <= phi < 1):
            raise ValueError(f"phi must lie in [0, 1); got {phi!r}")
        t = np.asarray(time, dtype=float)

        def correlation(idx):
            return phi ** np.abs(t[idx][:, :, None] - t[idx][:, None, :])

        return cls.from_function(vi, cluster, correlation)

    @classmethod
    def from_dense(cls, V: np.ndarray, cluster: Sequence) -> ClusteredCovariance:
        """The blocks of a dense ``V`` (its entries between trials are ignored)."""
        V = np.asarray(V, dtype=float)
        d = np.sqrt(np.diag(V))
        return cls.from_function(
            np.diag(V),
            cluster,
            lambda idx: V[idx[:, :, None], idx[:, None, :]] / (d[idx][:, :, None] * d[idx][:, None, :]),
        )

    @property
    def n_trials(self) -> int:
        return len(self.labels)

    def variances(self) -> np.ndarray:
        vi = np.empty(self.k)
        for idx, B in zip(self.rows, self.blocks):
            vi[idx] = np.diagonal(B, axis1=1, axis2=2)
        return vi

    def to_dense(self) -> np.ndarray:
        V = np.zeros((self.k, self.k))
        for idx, B in zip(self.rows, self.blocks):
            V[idx[:, :, None], idx[:, None, :]] = B
        return V


@dataclass(frozen=True)
class Aggregated:
    """One effect per trial (:func:`aggregate_within`): ``labels[i]`` has ``yi[i]``, ``vi[i]``
    from ``n_effects[i]`` effects."""

    labels: tuple
    yi: tuple[float, ...]
    vi: tuple[float, ...]
    n_effects: tuple[int, ...]


def aggregate_within(yi: Sequence[float], V: ClusteredCovariance) -> Aggregated:
    """Each trial's effects pooled into one, weighted by the inverse of their covariance.

    ``y_j = (1ᵀ V_j⁻¹ y) / (1ᵀ V_j⁻¹ 1)`` with variance ``1 / (1ᵀ V_j⁻¹ 1)``: the fixed-effect
    (generalised least squares) composite of Borenstein et al. (2009, ch. 24), which is metafor's
    ``aggregate(escalc, cluster, rho)`` (``struct = "CS"``, ``weighted = TRUE``) when ``V`` is
    :meth:`ClusteredCovariance.constant_correlation`. Trials come in order of first appearance.
    """
    y = np.asarray(yi, dtype=float)
    if len(y) != V.k or not np.all(np.isfinite(y)):
        raise ValueError("yi must be finite and match V")
    out_y, out_v = np.empty(V.n_trials), np.empty(V.n_trials)
    counts = np.bincount(V.trial, minlength=V.n_trials)
    for idx, B in zip(V.rows, V.blocks):
        w1 = np.linalg.solve(B, np.ones(idx.shape[:2])[..., None])[..., 0]  # V⁻¹ 1, (n, s)
        total = w1.sum(axis=1)
        code = V.trial[idx[:, 0]]
        out_y[code] = (w1 * y[idx]).sum(axis=1) / total
        out_v[code] = 1.0 / total
    return Aggregated(V.labels, tuple(out_y.tolist()), tuple(out_v.tolist()), tuple(counts.tolist()))


def extreme_per_trial(yi: Sequence[float], cluster: Sequence, which: str) -> np.ndarray:
    """Row index of each trial's lowest (``which="lowest"``) or highest effect, trials in order
    of first appearance; a tie goes to the trial's first such row.

    The sign is the analysis scale's: for an outcome where lower is better, the caller passes
    the effects with the sign that makes "lowest" mean what it reports.
    """
    if which not in ("lowest", "highest"):
        raise ValueError(f"which must be 'lowest' or 'highest', not {which!r}")
    y = np.asarray(yi, dtype=float)
    trial, _ = _codes(list(cluster))
    key = y if which == "lowest" else -y
    order = np.lexsort((np.arange(len(y)), key, trial))  # by trial, then value, then row
    first = np.ones(len(order), dtype=bool)
    first[1:] = trial[order][1:] != trial[order][:-1]
    return order[first]


def trial_mean_variances(vi: Sequence[float], cluster: Sequence) -> np.ndarray:
    """Each effect's variance replaced by the mean variance of its trial's effects.

    clubSandwich's ``impute_covariance_matrix(vi, cluster, r, smooth_vi = TRUE)`` builds the
    CHE working covariance from these (Pustejovsky & Tipton 2022 use it; metapsyTools'
    ``runMetaAnalysis`` does): ``V_j = mean(v_j) ((1 - r) I + r J)``.
    """
    v = np.asarray(vi, dtype=float)
    _check_vi(v)
    trial, _ = _codes(list(cluster))
    if len(trial) != len(v):
        raise ValueError("vi and cluster differ in length")
    return (np.bincount(trial, weights=v) / np.bincount(trial))[trial]
