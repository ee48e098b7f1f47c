"""Many separate meta-analyses in one call, each equal to :func:`evsynth.stats.pooling.pool`'s.

Analyses of equal k are one PyMARE fit on "parallel datasets" (k x D arrays), with
everything else (Fisher scoring, Q, I², H², prediction intervals, the Q-profile CI)
vectorised over analyses; the per-row code is :func:`evsynth.stats.pooling.pool`'s own, so
the fast path cannot drift from the reference (pinned in ``tests/unit/test_pooling_batch.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from evsynth.stats._summary import _check_data, _check_settings
from evsynth.stats.large_k import pool_large_k
from evsynth.stats.pooling import LARGE_K, _pool_rows, _settings_kwargs
from evsynth.stats.profiles import MethodSettings
from evsynth.stats.results import PooledEstimate

#: :func:`pool_many` fits at most this many (study x data set) cells per PyMARE call.
BATCH_CELLS = 1 << 20


def pool_many(
    yis: Sequence,
    vis: Sequence,
    estimator: str = "REML",
    ci_method: str = "wald",
    alpha: float = 0.05,
    prediction_interval: str = "normal",
    i2: str = "tau2",
    tau2_ci: str = "qprofile",
    profile: str = "",
) -> list[PooledEstimate]:
    """:func:`~evsynth.stats.pooling.pool` of many separate meta-analyses, one :class:`PooledEstimate` each, in order.

    ``yis[j]``, ``vis[j]`` are the estimates and variances of analysis j (k may differ).
    The result for each analysis equals ``pool(yis[j], vis[j], ...)`` (to rounding,
    ~1e-15; pinned in ``tests/unit/test_pooling_batch.py``): the same code computes the
    same quantities, but analyses of equal k below ``LARGE_K`` are fitted together,
    as PyMARE "parallel datasets" (y and v as k x D arrays; one ``fit`` per estimator
    and CI method for up to :data:`BATCH_CELLS` cells), with Fisher scoring, Q, I², H²,
    prediction intervals and the Q-profile CI vectorised over analyses in
    :mod:`evsynth.stats.tau2` and :mod:`evsynth.stats.qprofile`. Analyses of k >= LARGE_K go
    through :func:`pool_large_k` one at a time.
    """
    _check_settings(estimator, ci_method, prediction_interval)
    if len(yis) != len(vis):
        raise ValueError("yis and vis must hold the same number of analyses")
    settings = dict(
        estimator=estimator, ci_method=ci_method, alpha=alpha, prediction_interval=prediction_interval, i2=i2,
        tau2_ci=tau2_ci, profile=profile,
    )
    data = [(np.asarray(y, dtype=float), np.asarray(v, dtype=float)) for y, v in zip(yis, vis)]
    by_k: dict[int, list[int]] = {}
    for j, (y, v) in enumerate(data):
        if y.ndim != 1 or y.shape != v.shape:
            raise ValueError(f"analysis {j}: yi and vi must be 1-d and of equal length")
        _check_data(y, v)
        by_k.setdefault(len(y), []).append(j)
    results: list[PooledEstimate | None] = [None] * len(data)
    for k, members in by_k.items():
        if k >= LARGE_K:
            for j in members:
                results[j] = pool_large_k(*data[j], **settings)
            continue
        per_call = max(1, BATCH_CELLS // k)
        for start in range(0, len(members), per_call):
            chunk = members[start : start + per_call]
            yi = np.stack([data[j][0] for j in chunk])
            vi = np.stack([data[j][1] for j in chunk])
            for j, result in zip(chunk, _pool_rows(yi, vi, **settings)):
                results[j] = result
    return results  # type: ignore[return-value]


def pool_many_with(yis: Sequence, vis: Sequence, settings: MethodSettings) -> list[PooledEstimate]:
    """:func:`pool_many` under a resolved method profile."""
    return pool_many(yis, vis, **_settings_kwargs(settings))
