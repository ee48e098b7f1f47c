"""Step-function selection models (Vevea & Hedges 1995), as metafor 3.8 ``selmodel()``.

A trial with one-sided p-value pᵢ = 1 - Φ(yᵢ/√vᵢ) (``alternative="greater"``: selection
favours large positive estimates; pass -yᵢ for effects where negative is "significant in
the hoped-for direction") is published with relative probability w(pᵢ) = δⱼ when
αⱼ₋₁ < pᵢ ≤ αⱼ, δ₁ = 1. Given mu and tau², yᵢ has the weighted density

    f(yᵢ) = w(pᵢ) φ((yᵢ - mu)/sᵢ) / (sᵢ Aᵢ),   sᵢ² = vᵢ + tau²,
    Aᵢ = Σⱼ δⱼ P(αⱼ₋₁ < pᵢ ≤ αⱼ | mu, tau²),

and pᵢ ≤ α ⟺ yᵢ ≥ √vᵢ Φ⁻¹(1 - α), so each probability is a difference of normal cdfs.

* **Estimated weights** (``steps=(0.025,)``: the three-parameter selection model, 3PSM):
  mu, tau² and the free δⱼ by maximum likelihood; the likelihood-ratio test of
  δ = 1 against the ML random-effects model (metafor's ``LRT``, df = number of δ); standard
  errors from the inverse Hessian of the log-likelihood in (mu, tau², δ), as metafor (which
  differentiates numerically with numDeriv); Wald CI for mu. As metafor, every p-value
  interval needs at least one trial.
* **Fixed weights** (Vevea & Woods 2005, Psychol Methods 10:428): δ fixed at one of their
  four illustrative functions (moderate or severe, one- or two-tailed selection); only mu
  and tau² are estimated: a sensitivity analysis that needs no δ to be identifiable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special, stats

__all__ = ["VEVEA_WOODS", "VEVEA_WOODS_STEPS", "SelectionFit", "interval_counts", "selection_model"]

#: Vevea & Woods (2005) Table 1: cut points of one-sided p and the four weight functions.
VEVEA_WOODS_STEPS = (0.005, 0.01, 0.05, 0.10, 0.25, 0.35, 0.50, 0.65, 0.75, 0.90, 0.95, 0.99, 0.995, 1.0)
VEVEA_WOODS = {
    "moderate one-tailed": (1, 0.99, 0.95, 0.80, 0.75, 0.65, 0.60, 0.55, 0.50, 0.50, 0.50, 0.50, 0.50, 0.50),
    "severe one-tailed": (1, 0.99, 0.90, 0.75, 0.60, 0.50, 0.40, 0.35, 0.30, 0.25, 0.10, 0.10, 0.10, 0.10),
    "moderate two-tailed": (1, 0.99, 0.95, 0.90, 0.80, 0.75, 0.60, 0.60, 0.75, 0.80, 0.90, 0.95, 0.99, 1.00),
    "severe two-tailed": (1, 0.99, 0.90, 0.75, 0.60, 0.50, 0.25, 0.25, 0.50, 0.60, 0.75, 0.90, 0.99, 1.00),
}


@dataclass(frozen=True)
class SelectionFit:
    """A step-function selection model (analysis scale, ``alternative="greater"``).

    ``delta`` holds every interval's weight (the first is 1); ``delta_se`` is None for
    fixed weights. ``lrt``/``lrt_df``/``lrt_p`` test δ = 1 (None for fixed weights).
    """

    steps: tuple[float, ...]
    theta: float
    se: float | None
    ci_lower: float | None
    ci_upper: float | None
    p_value: float | None
    tau2: float
    delta: tuple[float, ...]
    delta_se: tuple[float, ...] | None
    log_lik: float
    lrt: float | None
    lrt_df: int | None
    lrt_p: float | None
    fixed_weights: bool


def _cuts(steps) -> np.ndarray:
    steps = np.asarray(steps, float)
    if steps.size == 0 or np.any(steps <= 0) or np.any(steps > 1) or np.any(np.diff(steps) <= 0):
        raise ValueError(f"selection cut points must be increasing and in (0, 1], got {tuple(steps)}")
    return steps if steps[-1] == 1 else np.append(steps, 1.0)


def interval_counts(yi, vi, steps) -> np.ndarray:
    """Number of trials whose one-sided p-value falls in each interval (α_{j-1}, α_j]."""
    steps = _cuts(steps)
    p = stats.norm.sf(np.asarray(yi, float) / np.sqrt(np.asarray(vi, float)))
    idx = np.searchsorted(steps, p, side="left")
    return np.bincount(np.minimum(idx, steps.size - 1), minlength=steps.size)


class _Likelihood:
    """The selection-model log-likelihood of one data set; p-values and cuts computed once."""

    def __init__(self, y, v, steps):
        self.y, self.v = y, v
        p = special.ndtr(-y / np.sqrt(v))
        self.idx = np.minimum(np.searchsorted(steps, p, side="left"), steps.size - 1)
        # y thresholds of each cut: p <= α ⟺ y >= √v Φ⁻¹(1 - α); α = 1 gives -inf.
        with np.errstate(divide="ignore"):
            z = np.sqrt(v)[:, None] * special.ndtri(1 - steps)[None, :]
        self.bounds = np.concatenate([np.full((y.size, 1), np.inf), z], axis=1)

    def __call__(self, mu, tau2, delta) -> float:
        s2 = self.v + tau2
        s = np.sqrt(s2)
        cdf = special.ndtr((self.bounds - mu) / s[:, None])
        area = (cdf[:, :-1] - cdf[:, 1:]) @ delta
        with np.errstate(divide="ignore", invalid="ignore"):
            log_norm = -0.5 * np.log(2 * np.pi * s2) - 0.5 * (self.y - mu) ** 2 / s2
            return float(np.sum(np.log(delta[self.idx]) + log_norm - np.log(area)))


def _maximise(lik, free: np.ndarray, fixed_delta: np.ndarray, start):
    """ML over (mu, tau² >= 0, log δ_free): L-BFGS-B from three tau² starts, then polished."""
    n_free = int(free.sum())

    def unpack(x):
        return x[0], x[1], _with(fixed_delta, free, np.exp(x[2:]))

    def nll(x):
        value = -lik(*unpack(x))
        return value if np.isfinite(value) else 1e300

    bounds = [(None, None), (0.0, None)] + [(-20.0, 20.0)] * n_free
    best = None
    for t2 in (start[1], 0.01, 0.3):
        x0 = np.concatenate([[start[0], t2], np.zeros(n_free)])
        res = optimize.minimize(nll, x0, method="L-BFGS-B", bounds=bounds, options={"ftol": 1e-15, "gtol": 1e-10})
        if best is None or res.fun < best.fun:
            best = res
    x = best.x
    if x[1] < 1e-8:  # tau² at the boundary: polish mu and δ only
        x[1] = 0.0
        keep = np.r_[True, False, np.ones(n_free, bool)]
    else:
        keep = np.ones(x.size, bool)
    x[keep] = _newton(lambda z: nll(_with(x, keep, z)), x[keep])
    mu, tau2, delta = unpack(x)
    return mu, tau2, delta


def _newton(f, x, steps=8):
    """Newton steps on a smooth minimum with central-difference derivatives (to ~1e-10)."""
    for _ in range(steps):
        h = 1e-5 * np.maximum(np.abs(x), 0.1)
        grad = np.array([(f(x + e) - f(x - e)) / (2 * e[i]) for i, e in enumerate(np.diag(h))])
        try:
            step = np.linalg.solve(_hessian(f, x, 1e-4), grad)
        except np.linalg.LinAlgError:
            break
        f0 = f(x)
        t = 1.0
        while t > 1e-4 and not f(x - t * step) <= f0:
            t /= 2
        if t <= 1e-4:
            break
        x = x - t * step
        if np.all(np.abs(t * step) <= 1e-10 * np.maximum(np.abs(x), 1.0)):
            break
    return x


def _with(base, free, values):
    out = base.copy()
    out[free] = values
    return out


def _hessian(f, x, rel=1e-4):
    """Central-difference Hessian of f at x (step rel * max(|x|, 0.1))."""
    n = x.size
    h = rel * np.maximum(np.abs(x), 0.1)
    H = np.empty((n, n))
    for i in range(n):
        for j in range(i, n):
            ei, ej = np.zeros(n), np.zeros(n)
            ei[i], ej[j] = h[i], h[j]
            H[i, j] = H[j, i] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (4 * h[i] * h[j])
    return H


def selection_model(yi, vi, steps=(0.025,), delta=None, alpha: float = 0.05) -> SelectionFit:
    """Fit a step-function selection model by maximum likelihood (metafor ``selmodel``).

    Parameters
    ----------
    yi, vi : array_like
        Estimates and sampling variances, oriented so that selection favours large values.
    steps : sequence of float
        Increasing cut points of the one-sided p-value in (0, 1]; 1 is appended if absent.
    delta : sequence of float, optional
        Fixed weights for every interval (Vevea & Woods 2005); None estimates them.
    alpha : float
        Two-sided level of the Wald CI of mu.

    References
    ----------
    Vevea JL, Hedges LV (1995). A general linear model for estimating effect size in the
    presence of publication bias. Psychometrika 60:419-435. doi:10.1007/BF02294384
    Vevea JL, Woods CM (2005). Publication bias in research synthesis: sensitivity analysis
    using a priori weight functions. Psychol Methods 10:428-443. doi:10.1037/1082-989X.10.4.428
    """
    y, v = np.asarray(yi, float), np.asarray(vi, float)
    cuts = _cuts(steps)
    m = cuts.size
    fixed = delta is not None
    if fixed:
        fixed_delta = np.asarray(delta, float)
        if fixed_delta.size != m or np.any(fixed_delta <= 0):
            raise ValueError(f"need {m} positive fixed weights, got {tuple(fixed_delta)}")
        free = np.zeros(m, bool)
    else:
        counts = interval_counts(y, v, cuts)
        if np.any(counts == 0):
            raise ValueError(
                f"every p-value interval needs a trial; counts per interval {tuple(int(c) for c in counts)}"
            )
        fixed_delta, free = np.ones(m), np.r_[False, np.ones(m - 1, bool)]
    # start and null model: ML random effects (δ = 1)
    w = 1 / v
    start = (float(np.sum(w * y) / np.sum(w)), float(max(np.var(y) - np.mean(v), 0.01)))
    lik = _Likelihood(y, v, cuts)
    mu0, tau20, _ = _maximise(lik, np.zeros(m, bool), np.ones(m), start)
    ll0 = lik(mu0, tau20, np.ones(m))
    mu, tau2, d = _maximise(lik, free, fixed_delta, (mu0, tau20))
    ll = lik(mu, tau2, d)
    # Hessian in (mu, tau², free δ), tau² dropped at the boundary (metafor: no SE there).
    names = ["mu"] + (["tau2"] if tau2 > 0 else []) + [f"d{j}" for j in np.flatnonzero(free)]

    def f(x):
        t2 = x[1] if tau2 > 0 else 0.0
        dd = _with(d, free, x[2 if tau2 > 0 else 1 :])
        if t2 < 0 or np.any(dd <= 0):
            return np.nan
        return lik(x[0], t2, dd)

    x = np.concatenate([[mu], [tau2] if tau2 > 0 else [], d[free]])
    H = _hessian(f, x)
    try:
        cov = np.linalg.inv(-H)
        se_all = np.sqrt(np.diag(cov))
    except np.linalg.LinAlgError:
        se_all = np.full(len(names), np.nan)
    se = float(se_all[0])
    crit = stats.norm.ppf(1 - alpha / 2)
    delta_se = None
    if not fixed:
        off = 2 if tau2 > 0 else 1
        delta_se = (float("nan"),) + tuple(float(s) for s in se_all[off:])
    lrt = lrt_df = lrt_p = None
    if not fixed:
        lrt = max(0.0, 2 * (ll - ll0))
        lrt_df = int(free.sum())
        lrt_p = float(stats.chi2.sf(lrt, lrt_df))
    return SelectionFit(
        steps=tuple(float(c) for c in cuts),
        theta=float(mu),
        se=se,
        ci_lower=float(mu - crit * se),
        ci_upper=float(mu + crit * se),
        p_value=float(2 * stats.norm.sf(abs(mu / se))),
        tau2=float(tau2),
        delta=tuple(float(x) for x in d),
        delta_se=delta_se,
        log_lik=float(ll),
        lrt=lrt,
        lrt_df=lrt_df,
        lrt_p=lrt_p,
        fixed_weights=fixed,
    )
