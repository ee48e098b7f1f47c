"""Vectorised refits of the random-effects model on many subsets of one data set.

Leave-one-out, influence diagnostics and cumulative meta-analysis each refit metafor's
intercept-only ``rma.uni`` on k subsets of the same k studies. Here every subset is fitted
at once, with no Python loop over subsets:

* Quantities with the fixed weights 1/vᵢ (Cochran's Q, the DL and HE estimators, the
  typical within-study variance ṽ of I²) come from prefix and suffix sums: O(k) for all
  subsets together. Q is accumulated in Welford/Chan form (West 1979; Chan, Golub &
  LeVeque 1983), a sum of non-negative terms, so it never cancels.
* Quantities at a subset's own tau² (the estimate, its SE, the Knapp-Hartung scale, the
  REML/ML/EB scores, the Paule-Mandel equation) need Σⱼ f(vⱼ + τ²ᵣ) for every subset r,
  i.e. a k x k array. It is computed in row chunks of at most ``CHUNK_ELEMENTS`` cells
  (1 MB per array), so memory stays bounded for any k. Iterative estimators iterate all
  subsets together; a subset drops out as soon as it has converged.

Estimators and tests follow metafor 3.8 ``rma.uni`` (Viechtbauer 2010, J Stat Softw
36(3); Viechtbauer 2005, J Educ Behav Stat 30:261 for Fisher scoring):

======  ==========================================================================
DL      ``(Q - (n-1)) / (Σw - Σw²/Σw)``, truncated at 0 (DerSimonian & Laird 1986)
HE      ``Σ(y - ȳ)²/(n-1) - Σv/n``, truncated at 0 (Hedges 1983)
SJ      ``τ₀ Q(τ₀)/(n-1)``, ``τ₀ = Σ(y - ȳ)²/n`` (Sidik & Jonkman 2005)
PM      root of ``Q(τ²) = n - 1``, 0 when ``Q(0) < n - 1`` (Paule & Mandel 1982)
REML    Fisher scoring from the HE start, step halving at 0, ``|Δτ²| < 1e-12``
ML      the same with the ML score and information
EB      ``τ² += (Q(τ²) n/(n-1) - n) / Σw`` from the HE start (Morris 1983)
======  ==========================================================================

A subset of one study is metafor's ``k = 1`` fit: τ² = 0, Q = 0, I² = 0, H² = 1 and a
Wald (z) test whatever the configured test. When a subset's estimates are all identical
the Knapp-Hartung variance is 0; metafor then reports a zero-width CI, and here, as in
:func:`evsynth.stats.pooling.pool`, the ad hoc floor s² = 1 is used instead. At the boundary, Fisher scoring snaps to
τ² = 0 once a halved step is below the tolerance (as :mod:`evsynth.stats.tau2` does); metafor
keeps halving and stops at ~1e-13.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from evsynth.stats._iterate import EPS, fisher_scoring_rows
from evsynth.stats.profiles import CI_METHODS, ESTIMATORS

__all__ = [
    "CHUNK_ELEMENTS",
    "CI_METHODS",
    "ESTIMATORS",
    "SubsetFits",
    "cumulative_fits",
    "leave_one_out_fits",
    "single_fit",
]

#: Cells of one chunk of the subset x study weight array: 2**17 doubles = 1 MB, so the
#: two arrays of a chunk stay in a 2 MB L2 cache (measured fastest for k = 10,000).
CHUNK_ELEMENTS = 1 << 17


@dataclass(frozen=True)
class SubsetFits:
    """One random-effects fit per subset, as arrays aligned with the subsets.

    ``k`` is the number of studies in each subset. ``stat`` is z (Wald) or t on
    ``stat_df`` = k - 1 degrees of freedom (Knapp-Hartung; NaN under Wald and for k = 1).
    ``sum_w`` is Σ 1/(vⱼ + τ²) over the subset and ``s2w`` the Knapp-Hartung scale factor
    (1 under Wald), so the variance of ``theta`` is ``s2w / sum_w``. ``hksj_floored`` marks
    subsets whose estimates are identical, where the HKSJ variance 0 is replaced by the ad
    hoc floor s² = 1 as :func:`evsynth.stats.pooling.pool` does (metafor: a zero-width CI). ``i2`` and ``h2``
    are metafor's tau²-based I² (percent) and H²; ``i2_q`` is the Q-based I² of RevMan 5.
    """

    k: np.ndarray
    theta: np.ndarray
    se: np.ndarray
    stat: np.ndarray
    stat_df: np.ndarray
    p_value: np.ndarray
    ci_lower: np.ndarray
    ci_upper: np.ndarray
    tau2: np.ndarray
    q: np.ndarray
    q_df: np.ndarray
    q_p: np.ndarray
    i2: np.ndarray
    i2_q: np.ndarray
    h2: np.ndarray
    sum_w: np.ndarray
    s2w: np.ndarray
    converged: np.ndarray
    hksj_floored: np.ndarray
    estimator: str
    ci_method: str
    alpha: float


# ---------------------------------------------------------------------------------------
# Subset families: row r selects the studies of subset r.
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Family:
    """``loo``: row r = every study but r; ``prefix``: studies 0..r; ``all``: one row."""

    kind: str
    k: int

    @property
    def rows(self) -> int:
        return 1 if self.kind == "all" else self.k

    @property
    def sizes(self) -> np.ndarray:
        if self.kind == "loo":
            return np.full(self.k, self.k - 1)
        if self.kind == "prefix":
            return np.arange(1, self.k + 1)
        return np.array([self.k])

    def sums(self, x: np.ndarray) -> np.ndarray:
        """Σ x over each subset (x ≥ 0 here, so exclusive sums do not cancel)."""
        before = np.concatenate(([0.0], np.cumsum(x)))
        if self.kind == "prefix":
            return before[1:]
        if self.kind == "all":
            return before[-1:]
        after = np.concatenate((np.cumsum(x[::-1])[::-1], [0.0]))
        return before[:-1] + after[1:]

    def moments(self, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(Σw, weighted mean, Σw(y - mean)²)`` of each subset, without cancellation."""
        total, mean, m2 = _running_moments(y, w)
        if self.kind == "prefix":
            return total, mean, m2
        if self.kind == "all":
            return total[-1:], mean[-1:], m2[-1:]
        r_total, r_mean, r_m2 = (a[::-1] for a in _running_moments(y[::-1], w[::-1]))
        zero = np.zeros(1)
        return _combine(
            (np.concatenate((zero, total[:-1])), np.concatenate((zero, mean[:-1])), np.concatenate((zero, m2[:-1]))),
            (np.concatenate((r_total[1:], zero)), np.concatenate((r_mean[1:], zero)), np.concatenate((r_m2[1:], zero))),
        )


def _running_moments(y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prefix Σw, weighted mean and Σw(y - mean)² by West's (1979) weighted recurrence."""
    total = np.cumsum(w)
    mean = np.cumsum(w * y) / total
    previous = np.concatenate(([mean[0]], mean[:-1]))
    return total, mean, np.cumsum(w * (y - previous) * (y - mean))


def _combine(a, b) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pool two groups' moments (Chan, Golub & LeVeque 1983); a group may be empty."""
    (wa, ma, sa), (wb, mb, sb) = a, b
    total = wa + wb
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(total > 0, (wa * ma + wb * mb) / total, 0.0)
        cross = np.where(total > 0, wa * wb / total * (ma - mb) ** 2, 0.0)
    return total, mean, sa + sb + cross


# ---------------------------------------------------------------------------------------
# Sums at each subset's own tau², chunked over subsets.
# ---------------------------------------------------------------------------------------


def _random_sums(
    family: _Family,
    y: np.ndarray,
    v: np.ndarray,
    rows: np.ndarray,
    tau2: np.ndarray,
    centre: np.ndarray,
    second_order: bool,
    chunk_elements: int,
) -> dict[str, np.ndarray]:
    """For subsets ``rows`` (ascending) at ``tau2``, with w = 1/(v + τ²) over the subset:

    ``sum_w`` Σw, ``theta`` Σwy/Σw, ``q`` Σw(y - θ)²; with ``second_order`` also ``w2``
    Σw², ``r2`` Σw²(y - θ)² and ``w3`` Σw³. ``centre`` (one value per row, near the
    subset's mean) is subtracted from y before summing so the moments do not cancel.
    """
    m = len(rows)
    out = {name: np.empty(m) for name in ("sum_w", "theta", "q")}
    if second_order:
        out.update({name: np.empty(m) for name in ("w2", "r2", "w3")})
    per_chunk = max(1, min(m, chunk_elements // max(family.k, 1)))
    buffer = np.empty(per_chunk * family.k)
    square = np.empty(per_chunk * family.k) if second_order else None
    for start in range(0, m, per_chunk):
        stop = min(m, start + per_chunk)
        r = rows[start:stop]
        ncols = int(r[-1]) + 1 if family.kind == "prefix" else family.k
        c = centre[start]  # adjacent subsets have nearly the same mean
        yc = y[:ncols] - c
        yc2 = yc * yc
        w = buffer[: len(r) * ncols].reshape(len(r), ncols)
        np.add(tau2[start:stop, None], v[None, :ncols], out=w)
        np.divide(1.0, w, out=w)
        if family.kind == "loo":
            w[np.arange(len(r)), r] = 0.0
        elif family.kind == "prefix":
            # rows ascend, so only the columns from the chunk's first row on need masking
            first = int(r[0])
            tail = w[:, first:]
            tail *= np.arange(first, ncols)[None, :] <= r[:, None]
        s0, s1, s2 = w.sum(axis=1), np.einsum("ij,j->i", w, yc), np.einsum("ij,j->i", w, yc2)
        b = s1 / s0
        out["sum_w"][start:stop] = s0
        out["theta"][start:stop] = b + c
        out["q"][start:stop] = np.maximum(0.0, s2 - s1 * b)
        if second_order:
            w2 = square[: len(r) * ncols].reshape(len(r), ncols)
            np.multiply(w, w, out=w2)
            u0, u1, u2 = w2.sum(axis=1), np.einsum("ij,j->i", w2, yc), np.einsum("ij,j->i", w2, yc2)
            out["w2"][start:stop] = u0
            out["r2"][start:stop] = np.maximum(0.0, u2 - 2 * b * u1 + b * b * u0)
            out["w3"][start:stop] = np.einsum("ij,ij->i", w2, w)
    return out


# ---------------------------------------------------------------------------------------
# tau² for every subset.
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Fixed:
    """Fixed-weight (1/v) and unweighted summaries of every subset."""

    n: np.ndarray
    sum_w: np.ndarray
    mean: np.ndarray
    q: np.ndarray
    sum_w2: np.ndarray
    ss_unweighted: np.ndarray
    sum_v: np.ndarray

    @property
    def trace_p(self) -> np.ndarray:
        return self.sum_w - self.sum_w2 / self.sum_w


def _fixed(family: _Family, y: np.ndarray, v: np.ndarray) -> _Fixed:
    w = 1.0 / v
    sum_w, mean, q = family.moments(y, w)
    _, _, ss = family.moments(y, np.ones_like(y))
    return _Fixed(family.sizes, sum_w, mean, q, family.sums(w * w), ss, family.sums(v))


def _tau2(
    family: _Family, y, v, fixed: _Fixed, estimator: str, chunk: int, start: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """tau² of every subset and whether its iteration converged.

    Iterative estimators start from ``start`` when given (leave-one-out with PM: the
    full-data tau²), else from metafor's start (HE for REML/ML/EB, DL for PM's Newton steps).
    """
    n = fixed.n.astype(float)
    rows_all = np.arange(family.rows)
    many = n >= 2  # a one-study subset is metafor's k = 1 fit: tau² = 0
    tau2 = np.zeros(family.rows)
    converged = np.ones(family.rows, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        he = np.where(many, np.maximum(0.0, fixed.ss_unweighted / (n - 1) - fixed.sum_v / n), 0.0)
        dl = np.where(many, np.maximum(0.0, (fixed.q - (n - 1)) / fixed.trace_p), 0.0)
    if estimator == "DL":
        return dl, converged
    if estimator == "HE":
        return he, converged

    def sums(rows, at, second_order):
        return _random_sums(family, y, v, rows, at, fixed.mean[rows], second_order, chunk)

    if estimator == "SJ":
        start = np.where(many, fixed.ss_unweighted / n, 0.0)
        rows = rows_all[start > 0]
        if len(rows):
            q0 = sums(rows, start[rows], False)["q"]
            tau2[rows] = start[rows] * q0 / (n[rows] - 1)
        return tau2, converged
    if estimator == "PM":
        return _paule_mandel(family, fixed, many, sums, dl if start is None else np.full(family.rows, start))
    if estimator not in ("REML", "ML", "EB"):
        raise ValueError(f"unknown tau² estimator {estimator!r}; expected one of {', '.join(ESTIMATORS)}")

    tau2 = he.copy() if start is None else np.where(many, max(0.0, start), 0.0)
    active = rows_all[many]
    converged[active] = False

    def step_of(active: np.ndarray, t: np.ndarray) -> np.ndarray:
        s = sums(active, t, estimator != "EB")
        if estimator == "REML":
            trace_p = s["sum_w"] - s["w2"] / s["sum_w"]
            trace_pp = s["w2"] - 2 * s["w3"] / s["sum_w"] + (s["w2"] / s["sum_w"]) ** 2
            step = (s["r2"] - trace_p) / trace_pp
        elif estimator == "ML":
            step = (s["r2"] - s["sum_w"]) / s["w2"]
        else:
            k = n[active]
            step = (s["q"] * k / (k - 1) - k) / s["sum_w"]
        return np.nan_to_num(step)  # metafor: an undefined step (NA) is 0

    fisher_scoring_rows(step_of, tau2, active, converged)
    return tau2, converged


def _paule_mandel(
    family: _Family, fixed: _Fixed, many: np.ndarray, sums, start: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Solve Q(τ²) = n - 1 by Newton steps (Q'(τ²) = -Σw²(y - θ)²) kept inside a bracket."""
    n = fixed.n.astype(float)
    tau2 = np.zeros(family.rows)
    converged = np.ones(family.rows, dtype=bool)
    active = np.arange(family.rows)[many & (fixed.q >= n - 1)]
    if not len(active):
        return tau2, converged
    converged[active] = False
    tau2[active] = np.maximum(0.0, start[active])
    lo = np.zeros(family.rows)
    hi = np.full(family.rows, np.inf)
    for _ in range(200):
        t = tau2[active]
        s = sums(active, t, True)
        f = s["q"] - (n[active] - 1)
        lo[active] = np.where(f > 0, t, lo[active])
        hi[active] = np.where(f < 0, t, hi[active])
        with np.errstate(divide="ignore", invalid="ignore"):
            new = t + f / s["r2"]
        outside = ~((new > lo[active]) & (new < hi[active])) | ~np.isfinite(new)
        new = np.where(outside & np.isfinite(hi[active]), (lo[active] + hi[active]) / 2, new)
        new = np.maximum(new, 0.0)
        step = new - t
        tau2[active] = new
        done = (np.abs(step) <= 1e-15 + 1e-13 * new) | (f == 0)
        converged[active[done]] = True
        active = active[~done]
        if not len(active):
            break
    return tau2, converged


# ---------------------------------------------------------------------------------------
# Public entry points.
# ---------------------------------------------------------------------------------------


def _check(yi, vi, estimator: str, ci_method: str, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    yi, vi = np.asarray(yi, dtype=float), np.asarray(vi, dtype=float)
    if yi.ndim != 1 or yi.shape != vi.shape or not len(yi):
        raise ValueError("yi and vi must be one-dimensional, non-empty and of equal length")
    if not (np.all(np.isfinite(yi)) and np.all(np.isfinite(vi)) and np.all(vi > 0)):
        raise ValueError("every estimate must be finite and every variance positive")
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown tau² estimator {estimator!r}; expected one of {', '.join(ESTIMATORS)}")
    if ci_method not in CI_METHODS:
        raise ValueError(f"unknown CI method {ci_method!r}; expected one of {', '.join(CI_METHODS)}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), not {alpha}")
    return yi, vi


def _fit(family: _Family, yi, vi, estimator, ci_method, alpha, chunk_elements, start=None) -> SubsetFits:
    yi, vi = _check(yi, vi, estimator, ci_method, alpha)
    fixed = _fixed(family, yi, vi)
    tau2, converged = _tau2(family, yi, vi, fixed, estimator, chunk_elements, start)
    n = fixed.n.astype(float)

    # The estimate at each subset's tau²; subsets with tau² = 0 use the fixed-weight sums.
    sum_w, theta, rss = fixed.sum_w.copy(), fixed.mean.copy(), fixed.q.copy()
    rows = np.flatnonzero(tau2 > 0)
    if len(rows):
        s = _random_sums(family, yi, vi, rows, tau2[rows], fixed.mean[rows], False, chunk_elements)
        sum_w[rows], theta[rows], rss[rows] = s["sum_w"], s["theta"], s["q"]

    many = n >= 2
    knha = (ci_method != "wald") & many  # metafor: k = 1 always uses test="z"
    with np.errstate(divide="ignore", invalid="ignore"):
        s2w = np.where(rss <= EPS, 0.0, rss / (n - 1))
        # Identical estimates make the HKSJ variance 0; metafor then reports a zero-width
        # CI, evsynth.stats.pooling.pool the ad hoc floor (s² = 1). Follow the pipeline.
        floored = knha & (s2w == 0)
        if ci_method == "hksj-adhoc":
            s2w = np.maximum(s2w, 1.0)
        s2w = np.where(knha, np.where(floored, 1.0, s2w), 1.0)
        se = np.sqrt(s2w / sum_w)
        stat = theta / se
        df = np.where(knha, n - 1, np.nan)
        crit = np.where(knha, stats.t.ppf(1 - alpha / 2, np.where(knha, df, 1.0)), stats.norm.ppf(1 - alpha / 2))
        p_t = 2 * stats.t.sf(np.abs(stat), np.where(knha, df, 1.0))
        p_value = np.where(knha, p_t, 2 * stats.norm.sf(np.abs(stat)))
        typical_v = (n - 1) / fixed.trace_p
        i2 = np.where(many, 100 * tau2 / (tau2 + typical_v), 0.0)
        h2 = np.where(many, tau2 / typical_v + 1, 1.0)
        q = np.where(many, fixed.q, 0.0)
        i2_q = np.where(q > 0, np.maximum(0.0, 100 * (q - (n - 1)) / q), 0.0)
        q_p = np.where(many, stats.chi2.sf(q, np.maximum(n - 1, 1)), 1.0)
    return SubsetFits(
        k=fixed.n.astype(int),
        theta=theta,
        se=se,
        stat=stat,
        stat_df=df,
        p_value=p_value,
        ci_lower=theta - crit * se,
        ci_upper=theta + crit * se,
        tau2=tau2,
        q=q,
        q_df=(n - 1).astype(int),
        q_p=q_p,
        i2=i2,
        i2_q=i2_q,
        h2=h2,
        sum_w=sum_w,
        s2w=s2w,
        converged=converged,
        hksj_floored=floored,
        estimator=estimator,
        ci_method=ci_method,
        alpha=float(alpha),
    )


def leave_one_out_fits(
    yi,
    vi,
    *,
    estimator: str = "REML",
    ci_method: str = "wald",
    alpha: float = 0.05,
    chunk_elements: int = CHUNK_ELEMENTS,
) -> SubsetFits:
    """Fit every leave-one-out subset: row i omits study i (metafor ``leave1out``).

    Parameters
    ----------
    yi, vi : array_like
        Estimates and sampling variances (all finite, variances > 0), k ≥ 2.
    estimator : str
        tau² estimator, metafor's ``method=``: REML, ML, DL, HE, PM, SJ or EB.
    ci_method : str
        "wald" (``test="z"``), "hksj" (``test="knha"``) or "hksj-adhoc" (``test="adhoc"``).
    alpha : float
        Two-sided level of the confidence intervals.
    chunk_elements : int
        Cells of the subset x study array processed at once (memory bound).

    Returns
    -------
    SubsetFits
        Row i is the fit without study i.
    """
    if len(np.atleast_1d(yi)) < 2:
        raise ValueError("leave-one-out needs at least two studies")
    start = None
    if estimator == "PM":
        # Each subset lacks one study, so its tau² is near the full data's: start there. Only
        # for PM, whose Q(tau²) = k - 1 has one root: a REML/ML/EB likelihood may have two
        # maxima (one at tau² = 0), and metafor's leave1out starts each fit from HE.
        start = float(single_fit(yi, vi, estimator=estimator).tau2[0])
    return _fit(_Family("loo", len(yi)), yi, vi, estimator, ci_method, alpha, chunk_elements, start)


def cumulative_fits(
    yi,
    vi,
    *,
    estimator: str = "REML",
    ci_method: str = "wald",
    alpha: float = 0.05,
    chunk_elements: int = CHUNK_ELEMENTS,
) -> SubsetFits:
    """Fit every prefix of the studies as given: row r pools studies 0..r (metafor ``cumul``).

    Parameters are those of :func:`leave_one_out_fits`; the caller orders the studies.
    """
    return _fit(_Family("prefix", len(np.atleast_1d(yi))), yi, vi, estimator, ci_method, alpha, chunk_elements)


def single_fit(
    yi, vi, *, estimator: str = "REML", ci_method: str = "wald", alpha: float = 0.05
) -> SubsetFits:
    """One fit of all studies (k ≥ 1), with the same code as the subset fits."""
    return _fit(_Family("all", len(np.atleast_1d(yi))), yi, vi, estimator, ci_method, alpha, CHUNK_ELEMENTS)
