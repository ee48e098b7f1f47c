"""The generalised Q(tau²), its equations Q(tau²) = c, and the Q-profile CI for tau².

* Q-profile CI for tau² (Viechtbauer 2007, Stat Med 26:37): the tau² at which the
  generalised Q equals the chi²(k-1) quantiles; I² and H² CIs follow from its limits (with
  metafor's typical within-study variance ṽ, Higgins & Thompson 2002).
* The PM and EB estimators (:mod:`evsynth.stats.tau2`) solve Q(tau²) = k - 1 here too.

Every equation Q(tau²) = c (PM, EB, both Q-profile limits) is solved by
:func:`solve_q_rows` (or :func:`solve_q_large`): Halley's method on 1/Q(tau²) - 1/c,
safeguarded by a bracket (bisection whenever a step would leave it), for many equations
at once. 1/Q is close to linear in tau² (exactly linear when all vᵢ are equal, where one
step lands on the root), so 2-4 evaluations replace Brent's ~30; rows that have not
converged after ``_NEWTON_MAX_ITER`` steps are handed to Brent's method
(``scipy.optimize.brentq``), as are any the iteration cannot bracket.
The ``*_rows`` functions take ``(D, k)`` arrays (one data set per row, equal k);
``*_large`` functions take one data set of large k and never build more than a few
arrays of length k (:class:`WeightedPass`).

References
----------
Viechtbauer W (2007). Confidence intervals for the amount of heterogeneity in
meta-analysis. Stat Med 26:37-52.
Higgins JPT, Thompson SG (2002). Quantifying heterogeneity in a meta-analysis. Stat Med
21:1539-1558.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from evsynth.stats._iterate import EPS

_NEWTON_MAX_ITER = 60


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """Σ aᵢbᵢ on one thread (BLAS ``dot`` wakes its thread pool, which costs ms under load)."""
    return float(np.einsum("i,i->", a, b))


class WeightedPass:
    """Sums over one large data set at a given tau², in preallocated buffers.

    For k in the hundreds of thousands the cost of a pass is memory traffic, so every
    quantity is formed in place (no temporaries) and reduced with one-thread dot
    products. Nothing is larger than k: the intercept-only model needs no k x k matrix.
    :meth:`at` returns, for wᵢ = 1/(vᵢ + tau²) and rᵢ = yᵢ - μ̂:

    ``sw`` Σw, ``mu`` μ̂ = Σwy/Σw, ``q`` Σw r² (the generalised Q), ``s2`` Σw²r² (the
    REML/ML score's Σ(Py)², and -dQ/dtau²), ``sw2`` Σw², ``sw3`` Σw³ (REML only).
    After a call, :attr:`w` holds the weights at that tau².
    """

    def __init__(self, yi: np.ndarray, vi: np.ndarray):
        self.y, self.v = yi, vi
        self.w = np.empty_like(vi)
        self.r = np.empty_like(vi)
        self.wr = np.empty_like(vi)

    def at(self, tau2: float, want: str = "sw2") -> dict[str, float]:
        """The sums at ``tau2``; ``want`` = "q" (no Σw²), "sw2" (default), "sw3" (both), or
        "halley" (no Σw², plus ``w3r2`` = Σw³r² and ``w2r`` = Σw²r for d²Q/dtau²)."""
        w, r, wr = self.w, self.r, self.wr
        np.add(self.v, tau2, out=w)
        np.divide(1.0, w, out=w)
        sw = float(w.sum())
        mu = _dot(w, self.y) / sw
        np.subtract(self.y, mu, out=r)
        np.multiply(w, r, out=wr)
        out = {"sw": sw, "mu": mu, "q": _dot(wr, r), "s2": _dot(wr, wr)}
        if want == "halley":
            out["w3r2"] = float(np.einsum("i,i,i->", wr, wr, w))
            out["w2r"] = _dot(wr, w)
        elif want != "q":
            out["sw2"] = _dot(w, w)
        if want == "sw3":
            np.multiply(w, w, out=r)  # r is free once q and s2 are formed
            out["sw3"] = _dot(r, w)
        return out


def generalised_q(tau2: float, yi: np.ndarray, vi: np.ndarray) -> float:
    """Σ wᵢ (yᵢ - μ̂)² with wᵢ = 1/(vᵢ + tau²); decreasing in tau²."""
    w = 1.0 / (vi + tau2)
    mu = np.sum(w * yi) / np.sum(w)
    return float(np.sum(w * (yi - mu) ** 2))


def _upper_bracket(yi, vi, target: float) -> float:
    """A tau² at which Q has fallen below ``target`` (doubling from a data-scaled start)."""
    high = max(100.0, 10 * float(np.var(yi)), 10 * float(np.max(vi)))
    for _ in range(200):
        if generalised_q(high, yi, vi) < target:
            return high
        high *= 2
    raise ArithmeticError("could not bracket the generalised Q equation")


def _brent_q(yi, vi, target: float) -> float:
    """Brent's method on Q(tau²) = target (the fallback of :func:`solve_q_rows`)."""
    from scipy import optimize  # lazy: a rare fallback, and the workflow imports this module at parse time

    if generalised_q(0.0, yi, vi) <= target:
        return 0.0
    high = _upper_bracket(yi, vi, target)
    return float(optimize.brentq(lambda t: generalised_q(t, yi, vi) - target, 0.0, high, xtol=1e-14, rtol=1e-14))


def _q_sums_rows(yi: np.ndarray, vi: np.ndarray, tau2: np.ndarray) -> dict[str, np.ndarray]:
    """For each row of ``(m, k)`` arrays at its tau²: Q = Σwr², S = Σw²r² = -dQ/dtau²,
    ``w3r2`` = Σw³r², ``w2r`` = Σw²r and ``sw`` = Σw (r = y - μ̂, w = 1/(v + tau²))."""
    w = 1.0 / (vi + tau2[:, None])
    sw = w.sum(axis=1)
    resid = yi - ((w * yi).sum(axis=1) / sw)[:, None]
    wr = w * resid
    wwr = w * wr
    return {"q": (wr * resid).sum(axis=1), "s2": (wr * wr).sum(axis=1), "w3r2": (wwr * wr).sum(axis=1),
            "w2r": wwr.sum(axis=1), "sw": sw}


def _q_and_slope_rows(yi: np.ndarray, vi: np.ndarray, tau2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Q(tau²) and S(tau²) = Σw²(y - μ̂)² = -dQ/dtau² for each row of ``(m, k)`` arrays."""
    w = 1.0 / (vi + tau2[:, None])
    resid = yi - ((w * yi).sum(axis=1) / w.sum(axis=1))[:, None]
    wr = w * resid
    return (wr * resid).sum(axis=1), (wr * wr).sum(axis=1)


def _halley_q(evaluate, targets: np.ndarray, q_zero: np.ndarray, start: np.ndarray,
              at_start: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Solve Q_i(tau²) = targets[i] for every i by Halley's method on g = 1/Q - 1/c.

    ``evaluate(tau2, rows)`` returns the sums of :func:`_q_sums_rows` for those rows at
    those tau²; ``at_start`` (optional) holds them at ``start`` already. A row with
    Q(0) <= c has root 0. With Q' = -S and Q'' = 2Σw³r² - 2(Σw²r)²/Σw (the μ̂ terms vanish
    because Σwr = 0): g' = S/Q², g'' = 2S²/Q³ - Q''/Q², step -2gg'/(2g'² - gg''). 1/Q is
    close to linear in tau² (exactly, when all vᵢ are equal) and Halley converges
    cubically, so 2-3 evaluations usually suffice. A bracket [lo, hi] with
    Q(lo) > c >= Q(hi) is kept and a step out of it replaced by bisection (or, with no
    upper end yet, by doubling). A row stops when the step is below 1e-13 relative or below
    64 eps Q/S (the tau² resolution rounding in Q allows), when Q equals c, when the
    bracket has closed to 1e-13, or when two Halley steps in a row shrink by 100x or more
    and the error left, predicted from them as |s₂|⁴/|s₁|³, is below 1e-15 relative.
    Returns ``(tau2, converged)``.
    """
    m = len(targets)
    tau2 = np.zeros(m)
    converged = q_zero <= targets
    x = np.maximum(0.0, np.asarray(start, dtype=float)).copy()
    lo, hi = np.zeros(m), np.full(m, np.inf)
    previous = np.full(m, np.nan)  # last Halley step (NaN after a safeguard step)
    active = np.flatnonzero(~converged)
    for iteration in range(_NEWTON_MAX_ITER):
        if active.size == 0:
            break
        xa, c = x[active], targets[active]
        if iteration == 0 and at_start is not None:
            sums = {key: np.broadcast_to(value, (m,))[active] for key, value in at_start.items()}
        else:
            sums = evaluate(xa, active)
        q, s = sums["q"], sums["s2"]
        above = q > c
        lo[active] = np.where(above, xa, lo[active])
        hi[active] = np.where(above, hi[active], xa)
        la, ha = lo[active], hi[active]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            g = 1 / q - 1 / c
            g1 = s / q**2
            g2 = 2 * s**2 / q**3 - (2 * sums["w3r2"] - 2 * sums["w2r"] ** 2 / sums["sw"]) / q**2
            new = xa - 2 * g * g1 / (2 * g1**2 - g * g2)
            resolution = 64 * EPS * q / s
            halley = (new > la) & (new < ha)
            new = np.where(halley, new, np.where(np.isfinite(ha), 0.5 * (la + ha), 2 * xa + q / s))
            step = np.abs(new - xa)
            prev = previous[active]
            predicted = step**4 / prev**3
            done = (
                (q == c)
                | (step <= 1e-13 * new)
                | (step <= resolution)
                | ((ha - la <= 1e-13 * ha) & np.isfinite(ha))
                | (halley & (step <= 1e-2 * prev) & (predicted <= 1e-15 * new))
            )
        new = np.where(q == c, xa, new)
        x[active] = new
        previous[active] = np.where(halley, step, np.nan)
        tau2[active[done]] = new[done]
        converged[active[done]] = True
        active = active[~done]
    return tau2, converged


def _halley_one(evaluate, target: float, start: float, at_start: dict[str, float] | None = None) -> tuple[float, bool]:
    """:func:`_halley_q` for one equation with Q(0) > target, in Python floats (the
    per-step cost of the array version, ~50 µs, is most of the work at small k).
    ``evaluate(tau2)`` returns the sums of :func:`_q_sums_rows` as floats. Same steps,
    safeguards and stopping rules."""
    lo, hi = 0.0, math.inf
    x, sums, previous = max(0.0, start), at_start, None
    for _ in range(_NEWTON_MAX_ITER):
        if sums is None:
            sums = evaluate(x)
        q, s = sums["q"], sums["s2"]
        if q == target:
            return x, True
        if q > target:
            lo = x
        else:
            hi = x
        try:
            g = 1 / q - 1 / target
            g1 = s / q**2
            g2 = 2 * s**2 / q**3 - (2 * sums["w3r2"] - 2 * sums["w2r"] ** 2 / sums["sw"]) / q**2
            new = x - 2 * g * g1 / (2 * g1**2 - g * g2)
            resolution = 64 * EPS * q / s
        except (ZeroDivisionError, OverflowError):
            return x, False
        halley = lo < new < hi
        if not halley:
            new = 0.5 * (lo + hi) if math.isfinite(hi) else 2 * x + q / s
        step = abs(new - x)
        done = (
            step <= 1e-13 * new
            or step <= resolution
            or (math.isfinite(hi) and hi - lo <= 1e-13 * hi)
            or (halley and previous is not None and step <= 1e-2 * previous and step**4 / previous**3 <= 1e-15 * new)
        )
        x, sums, previous = new, None, (step if halley else None)
        if done:
            return x, True
    return x, False


def _sums_one(yi: np.ndarray, vi: np.ndarray, tau2: float) -> dict[str, float]:
    """:func:`_q_sums_rows` of one 1-d data set, as floats."""
    w = 1.0 / (vi + tau2)
    sw = w.sum()
    resid = yi - (w * yi).sum() / sw
    wr = w * resid
    wwr = w * wr
    return {"q": float((wr * resid).sum()), "s2": float((wr * wr).sum()), "w3r2": float((wwr * wr).sum()),
            "w2r": float(wwr.sum()), "sw": float(sw)}


def _solve_one(yi: np.ndarray, vi: np.ndarray, targets) -> np.ndarray:
    """Q(tau²) = target for each of ``targets`` on one 1-d data set (:func:`_halley_one`
    from 0, sharing the evaluation at 0; Brent if it does not converge)."""
    at_zero = _sums_one(yi, vi, 0.0)
    out = np.zeros(len(targets))
    for i, target in enumerate(np.asarray(targets, dtype=float)):
        if at_zero["q"] <= target:
            continue
        out[i], ok = _halley_one(lambda t: _sums_one(yi, vi, t), float(target), 0.0, at_zero)
        if not ok:
            out[i] = _brent_q(yi, vi, float(target))
    return out


def solve_q_rows(yi, vi, targets, start=None) -> np.ndarray:
    """tau² with Q(tau²) = target for each row of ``(D, k)`` arrays (0 when Q(0) <= target).

    Halley's method from 0 (see :func:`_halley_q`); any row not converged is solved by
    Brent's method, so the result never depends on Halley converging.
    """
    yi, vi = np.atleast_2d(np.asarray(yi, float)), np.atleast_2d(np.asarray(vi, float))
    targets = np.broadcast_to(np.asarray(targets, dtype=float), (yi.shape[0],)).copy()
    if yi.shape[0] == 1 and start is None:
        return _solve_one(yi[0], vi[0], targets)
    if start is None:
        at_zero = _q_sums_rows(yi, vi, np.zeros(len(targets)))
        start, known = np.zeros(len(targets)), at_zero
    else:
        at_zero = {"q": _q_and_slope_rows(yi, vi, np.zeros(len(targets)))[0]}
        known = None
    tau2, ok = _halley_q(lambda t, rows: _q_sums_rows(yi[rows], vi[rows], t), targets, at_zero["q"], start, known)
    for row in np.flatnonzero(~ok):
        tau2[row] = _brent_q(yi[row], vi[row], float(targets[row]))
    return tau2


def solve_q_large(yi, vi, targets, start=None, passes: WeightedPass | None = None,
                  q_zero: float | None = None, at_start: dict[str, float] | None = None) -> np.ndarray:
    """:func:`solve_q_rows` for one data set of large k and one or more targets.

    Halley's method (:func:`_halley_one`) from ``start`` (default 0), e.g. the tau²
    estimate, near both Q-profile limits when k is large. ``q_zero`` = Q(0) and
    ``at_start`` = ``WeightedPass.at(start, "halley")``, if already known, save a pass
    each. Every evaluation is one in-place pass of :class:`WeightedPass`;
    a root not found is solved by Brent's method.
    """
    yi, vi = np.asarray(yi, float), np.asarray(vi, float)
    passes = passes or WeightedPass(yi, vi)
    targets = np.atleast_1d(np.asarray(targets, dtype=float))
    q0 = passes.at(0.0, "q")["q"] if q_zero is None else q_zero
    x0 = 0.0 if start is None else max(0.0, float(start))
    known = at_start if start is not None else None
    tau2 = np.zeros(len(targets))
    for i, target in enumerate(targets):
        if q0 <= target:
            continue
        tau2[i], ok = _halley_one(lambda t: passes.at(t, "halley"), float(target), x0, known)
        if not ok:
            tau2[i] = _brent_q(yi, vi, float(target))
    return tau2


def _solve_q(yi, vi, target: float) -> float:
    """tau² with Q(tau²) = target, or 0 when Q(0) is already below it."""
    return float(solve_q_rows(np.asarray(yi, float)[None], np.asarray(vi, float)[None], [target])[0])



def typical_variance(vi) -> float:
    """metafor's ṽ = (k-1) / (Σw - Σw²/Σw), w = 1/vᵢ (Higgins & Thompson 2002, eq. 9)."""
    w = 1.0 / np.asarray(vi, float)
    return (len(w) - 1) / (w.sum() - (w**2).sum() / w.sum())


def typical_variance_rows(vi: np.ndarray) -> np.ndarray:
    """:func:`typical_variance` of each row of a ``(D, k)`` array."""
    w = 1.0 / vi
    sw = w.sum(axis=1)
    return (vi.shape[1] - 1) / (sw - (w**2).sum(axis=1) / sw)


def q_profile_targets(df: int, alpha: float) -> tuple[float, float]:
    """The Q values the (lower, upper) tau² limits solve: chi²_{df}(1 - alpha/2), chi²_{df}(alpha/2).

    ``2 gammaincinv(df/2, p)`` is exactly scipy.stats' ``chi2.ppf(p, df)``.
    """
    return 2 * float(special.gammaincinv(df / 2, 1 - alpha / 2)), 2 * float(special.gammaincinv(df / 2, alpha / 2))


def q_profile_ci(yi, vi, alpha: float = 0.05) -> tuple[float, float]:
    """Q-profile confidence interval for tau² (Viechtbauer 2007); needs k >= 2.

    The upper limit solves Q(tau²) = chi²_{k-1}(alpha/2) and the lower limit
    Q(tau²) = chi²_{k-1}(1 - alpha/2); a limit is 0 when Q(0) is already below its target.
    """
    yi, vi = np.asarray(yi, float), np.asarray(vi, float)
    low, high = q_profile_ci_rows(yi[None], vi[None], alpha)
    return float(low[0]), float(high[0])


def q_profile_ci_rows(yi: np.ndarray, vi: np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """:func:`q_profile_ci` for each row of ``(D, k)`` arrays: ``(lower, upper)``, each ``(D,)``.

    Both limits of every row are solved together by :func:`solve_q_rows`.
    """
    d = yi.shape[0]
    low_target, high_target = q_profile_targets(yi.shape[1] - 1, alpha)
    if d == 1:
        low, high = _solve_one(yi[0], vi[0], (low_target, high_target))
        return np.array([low]), np.array([high])
    rows = np.concatenate((np.arange(d), np.arange(d)))
    targets = np.concatenate((np.full(d, low_target), np.full(d, high_target)))
    limits = solve_q_rows(yi[rows], vi[rows], targets)
    return limits[:d], limits[d:]


def q_profile_ci_large(yi, vi, alpha: float = 0.05, start: float | None = None,
                       passes: WeightedPass | None = None, q_zero: float | None = None,
                       at_start: dict[str, float] | None = None) -> tuple[float, float]:
    """:func:`q_profile_ci` for one data set of large k, Halley's method started at
    ``start`` (arguments as :func:`solve_q_large`)."""
    yi, vi = np.asarray(yi, float), np.asarray(vi, float)
    low, high = solve_q_large(yi, vi, q_profile_targets(len(yi) - 1, alpha), start, passes, q_zero, at_start)
    return float(low), float(high)
