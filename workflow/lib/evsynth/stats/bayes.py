"""Bayesian random-effects meta-analysis: the exact posterior by quadrature over tau, no MCMC.

The normal-normal hierarchical model yᵢ ~ N(θᵢ, vᵢ), θᵢ ~ N(mu, tau²), with a prior p(tau)
(:mod:`evsynth.stats.bayes_priors`) and a normal or flat prior on mu, is computed as the
bayesmeta package does (Röver 2020, J Stat Softw 93(6), doi:10.18637/jss.v093.i06):

* Given tau, mu is integrated out analytically. With weights wᵢ = 1/(vᵢ + tau²) (and the
  prior N(m₀, s₀²) as one more "study" with weight 1/s₀², absent under a flat prior),
  mu | tau, y ~ N(m(tau), V(tau)), m = Σwy/Σw, V = 1/Σw, and the marginal likelihood is
  p(y | tau) ∝ Π(vᵢ + tau²)^(-1/2) (s₀²)^(-1/2) V^(1/2) exp(-½ Σ wᵢ (yᵢ - m)²), the prior
  term included (Röver 2020, eq. 9-11; under a flat prior, the restricted likelihood).
* p(tau | y) ∝ p(tau) p(y | tau) is integrated by composite Gauss-Legendre quadrature
  (12 panels of 16 nodes) in u = tau / (c + tau), which maps [0, ∞) onto [0, 1) and leaves
  a smooth integrand for every prior here, heavy tails included; c and the panels come
  from a coarse pass on a log grid (c the posterior median, panels at its quantiles). The nodes give the
  posterior of mu (and of a new trial's effect, variance V + tau², and each trial's
  shrunken effect) as a mixture of normals, which bayesmeta approximates with its DIRECT
  grid; here the mixture is the quadrature rule itself, accurate to ~1e-10.
* Quantiles: Newton steps on the mixture's cdf (tau: on the quadrature cdf, the partial
  panel integrated afresh). Shortest 95% intervals: the equal-density pair f(a) = f(b)
  with F(b) - F(a) = 0.95, by Newton, or [0, Q(0.95)] when the density falls from tau = 0.

With ``TauPrior("fixed", value=0)`` the posterior of mu is N(common-effect estimate, 1/Σwᵢ)
under a flat prior: the common-effect model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from evsynth.stats.bayes_priors import TauPrior

__all__ = ["BayesFit", "Interval", "MuPrior", "bayes_meta"]

_PANELS = 12
_LOCATOR_POINTS = 241
#: Panel edges at the posterior's Φ(z)-quantiles, z evenly spaced in ±5.5: the tails, where
#: the 2.5% and 97.5% quantiles lie, get panels as narrow as the body's.
_EDGE_Z = 5.5
_NODES_PER_PANEL = 16
_GL_X, _GL_W = np.polynomial.legendre.leggauss(_NODES_PER_PANEL)
_SQRT2 = np.sqrt(2.0)
_LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)


@dataclass(frozen=True)
class MuPrior:
    """Prior on mu: normal with ``mean`` and ``sd``, or flat (improper) when ``sd`` is inf."""

    mean: float = 0.0
    sd: float = np.inf

    def __post_init__(self):
        if not (self.sd > 0):
            raise ValueError(f"mu prior sd must be > 0 (inf for flat), got {self.sd!r}")

    @property
    def flat(self) -> bool:
        return not np.isfinite(self.sd)

    @property
    def label(self) -> str:
        return "flat" if self.flat else f"normal({self.mean:g}, {self.sd:g})"


@dataclass(frozen=True)
class Interval:
    """A posterior summary: median, mean, central and shortest intervals at ``level``."""

    median: float
    mean: float
    central_lower: float
    central_upper: float
    shortest_lower: float
    shortest_upper: float


@dataclass(frozen=True)
class BayesFit:
    """The posterior of one Bayesian random-effects meta-analysis (analysis scale).

    ``mu``, ``tau`` and ``prediction`` (a new trial's effect) are :class:`Interval`;
    ``shrunken_*`` are each trial's posterior median and central interval. ``prob_above``
    is P(mu > t | y) for each threshold of ``thresholds``, ``prob_above_prediction`` the
    same for a new trial's effect.
    """

    k: int
    level: float
    tau_prior: str
    mu_prior: str
    mu: Interval
    tau: Interval
    prediction: Interval
    thresholds: tuple[float, ...]
    prob_above: tuple[float, ...]
    prob_above_prediction: tuple[float, ...]
    shrunken_median: tuple[float, ...]
    shrunken_lower: tuple[float, ...]
    shrunken_upper: tuple[float, ...]


def _phi(z):
    return np.exp(-0.5 * z * z - _LOG_SQRT_2PI)


def _ncdf(z):
    return 0.5 * special.erfc(-z / _SQRT2)


def _conditional(y, v, tau, prior: MuPrior):
    """m(tau), V(tau) and log p(y | tau) (up to a constant) at every tau of the array ``tau``."""
    t2 = tau[:, None] ** 2
    w = 1.0 / (v[None, :] + t2)
    sw, swy = w.sum(1), (w * y[None, :]).sum(1)
    log_det = np.log(v[None, :] + t2).sum(1)
    if not prior.flat:
        p = 1.0 / prior.sd**2
        sw, swy = sw + p, swy + p * prior.mean
        log_det = log_det + 2.0 * np.log(prior.sd)
    m = swy / sw
    rss = (w * (y[None, :] - m[:, None]) ** 2).sum(1)
    if not prior.flat:
        rss = rss + (prior.mean - m) ** 2 / prior.sd**2
    return m, 1.0 / sw, -0.5 * (log_det + np.log(sw) + rss)


def _locate_mass(y, v, tau_prior: TauPrior, mu_prior: MuPrior):
    """The map's scale c and panel edges in u holding equal posterior mass, from a coarse pass.

    The posterior of tau is first tabulated on a log grid spanning the prior's and the data's
    scales (within-trial sd √(k/Σ1/vᵢ)), which finds it however narrow or wide; c is its
    median and the panels' edges its (k/24)-quantiles, so a sharp posterior (many trials) gets
    as many nodes as a diffuse one (few trials, heavy-tailed prior).
    """
    scale = np.sqrt(y.size / np.sum(1 / v))
    lo = 1e-6 * min(scale, max(tau_prior.median(), 1e-300))
    hi = 1e3 * max(scale, tau_prior.median())
    x = np.linspace(np.log(lo), np.log(hi), _LOCATOR_POINTS)
    t = np.exp(x)
    _, _, loglik = _conditional(y, v, t, mu_prior)
    log_g = tau_prior.log_density(t) + loglik + x  # density in log tau
    g = np.exp(log_g - log_g.max())
    cdf = np.concatenate([[g[0]], g[0] + np.cumsum(0.5 * (g[1:] + g[:-1]) * np.diff(x))])
    cdf /= cdf[-1]
    probs = special.ndtr(np.linspace(-_EDGE_Z, _EDGE_Z, _PANELS - 1))
    inner = np.exp(np.interp(probs, cdf, x))
    c = float(np.exp(np.interp(0.5, cdf, x)))
    u = inner / (c + inner)
    edges = np.concatenate([[0.0], u, [1.0]])
    # Distinct, increasing edges (a posterior narrower than the grid step collapses them).
    gap = 1e-3 / _PANELS
    edges = np.maximum.accumulate(edges)
    for i in range(1, _PANELS + 1):
        edges[i] = max(edges[i], edges[i - 1] + gap)
    edges = np.minimum(edges, 1.0 - gap * (_PANELS - np.arange(_PANELS + 1)))
    edges[-1] = 1.0
    return c, edges


class _TauRule:
    """Composite Gauss-Legendre rule for the posterior of tau on u = tau / (c + tau).

    On each panel the posterior density in u is the degree-15 Legendre interpolant of its
    values at the 16 nodes (accurate to the rule's own error), so the cdf and the density
    anywhere are polynomial evaluations: quantiles cost no further likelihood evaluations.
    """

    def __init__(self, y, v, tau_prior: TauPrior, mu_prior: MuPrior):
        self.c, self.edges = _locate_mass(y, v, tau_prior, mu_prior)
        half = 0.5 * np.diff(self.edges)
        self.half = half
        u = (self.edges[:-1, None] + half[:, None] * (_GL_X[None, :] + 1)).ravel()
        self.tau = self.c * u / (1 - u)
        m, var, loglik = _conditional(y, v, self.tau, mu_prior)
        log_post = tau_prior.log_density(self.tau) + loglik + np.log(self.c / (1 - u) ** 2)
        g = np.exp(log_post - log_post.max())
        dens = g * (half[:, None] * _GL_W[None, :]).ravel()
        g = (g / dens.sum()).reshape(_PANELS, _NODES_PER_PANEL)  # density in u, normalised
        self.weights, self.m, self.var = dens / dens.sum(), m, var
        self.coef = g @ _TO_LEGENDRE.T  # (panels, 16): density in u on each panel
        self.anti = self.coef @ _ANTIDERIVATIVE.T * half[:, None]  # (panels, 17): cdf within panel
        self.dcoef = self.coef @ _DERIVATIVE.T  # (panels, 15): d/dx of the density
        self.cum_edges = np.concatenate([[0.0], np.cumsum(self.weights.reshape(_PANELS, -1).sum(1))])

    def _locate(self, u):
        panel = np.clip(np.searchsorted(self.edges, u, side="right") - 1, 0, _PANELS - 1)
        x = (u - self.edges[panel]) / self.half[panel] - 1.0
        return panel, x

    def evaluate(self, u):
        """cdf of u, density of u and its derivative in u, from one Legendre basis."""
        panel, x = self._locate(u)
        basis = _legendre(x, _NODES_PER_PANEL + 1)
        F = self.cum_edges[panel] + np.einsum("ij,ij->i", basis, self.anti[panel])
        g = np.einsum("ij,ij->i", basis[:, :-1], self.coef[panel])
        dg = np.einsum("ij,ij->i", basis[:, :-2], self.dcoef[panel]) / self.half[panel]
        return F, g, dg

    def density_tau(self, u):
        """Density of tau at u and its derivative in u: g(u) du/dtau, du/dtau = (1 - u)²/c."""
        _, g, dg = self.evaluate(u)
        return g * (1 - u) ** 2 / self.c, (dg * (1 - u) ** 2 - 2 * g * (1 - u)) / self.c

    def quantile_u(self, p):
        p = np.atleast_1d(np.asarray(p, float))
        u_nodes = self.tau / (self.c + self.tau)
        u = np.interp(p, np.cumsum(self.weights), u_nodes)
        lo, hi = np.zeros_like(u), np.ones_like(u)
        for _ in range(100):
            F, g, _ = self.evaluate(u)
            below = F < p
            lo, hi = np.where(below, u, lo), np.where(below, hi, u)
            u_new = u - (F - p) / np.maximum(g, 1e-300)
            u_new = np.where((u_new >= lo) & (u_new <= hi), u_new, 0.5 * (lo + hi))
            done = np.all(np.abs(u_new - u) <= 1e-12)
            u = u_new
            if done:
                break
        return u

    def tau_of(self, u):
        return self.c * u / (1 - u)


_TO_LEGENDRE = (
    (2 * np.arange(_NODES_PER_PANEL) + 1)[:, None]
    / 2
    * (np.polynomial.legendre.legvander(_GL_X, 15) * _GL_W[:, None]).T
)
_DERIVATIVE = np.stack(
    [np.polynomial.legendre.legder(np.eye(_NODES_PER_PANEL)[n]) for n in range(_NODES_PER_PANEL)], axis=1
)
_ANTIDERIVATIVE = np.stack(
    [np.polynomial.legendre.legint(np.eye(_NODES_PER_PANEL)[n], lbnd=-1) for n in range(_NODES_PER_PANEL)], axis=1
)


def _legendre(x, n):
    """P_0(x) .. P_{n-1}(x) as columns (Bonnet's recurrence)."""
    out = np.empty((x.size, n))
    out[:, 0] = 1.0
    if n > 1:
        out[:, 1] = x
    for j in range(2, n):
        out[:, j] = ((2 * j - 1) * x * out[:, j - 1] - (j - 1) * out[:, j - 2]) / j
    return out


def _mixture_quantile(p, wts, m, s):
    """Quantiles of normal mixtures Σⱼ wⱼ N(mⱼ, sⱼ²) by safeguarded Halley steps.

    ``m`` and ``s`` are (nodes,) for one mixture or (targets, nodes) for one each. The
    root is bracketed from the start by the components' own p-quantiles (F is at most p
    below the smallest and at least p above the largest); a step leaving the bracket is
    replaced by bisection, and Halley's factor is kept within [1/2, 2] of Newton's step, so
    where the cdf is saturated (a far tail, or the gap between well-separated humps) the
    step leaves the bracket instead of creeping by the tail's scale s²/(x - m).
    """
    p = np.atleast_1d(np.asarray(p, float))
    m, s = np.broadcast_to(m, (p.size, wts.size)), np.broadcast_to(s, (p.size, wts.size))
    mean = m @ wts
    sd = np.sqrt((s * s + m * m) @ wts - mean * mean)
    own = np.where(wts > 0, m + s * special.ndtri(p)[:, None], np.nan)  # zero weights (batched path) bound nothing
    lo, hi = np.nanmin(own, axis=1), np.nanmax(own, axis=1)
    x = np.clip(mean + sd * special.ndtri(p), lo, hi)
    for _ in range(100):
        z = (x[:, None] - m) / s
        dens = _phi(z) / s
        cdf = _ncdf(z) @ wts
        pdf = dens @ wts
        dpdf = (-z / s * dens) @ wts
        below = cdf < p
        lo, hi = np.where(below, x, lo), np.where(below, hi, x)
        # Halley's step (cubic convergence): the cdf's second derivative is the pdf's slope.
        newton = (cdf - p) / np.maximum(pdf, 1e-300)
        x_new = x - newton / np.clip(1 - 0.5 * newton * dpdf / np.maximum(pdf, 1e-300), 0.5, 2.0)
        x_new = np.where((x_new >= lo) & (x_new <= hi), x_new, 0.5 * (lo + hi))
        # Newton converges quadratically: a step this small leaves x at rounding level.
        done = np.all(np.abs(x_new - x) <= 1e-10 * np.maximum(np.abs(x), sd))
        x = x_new
        if done:
            break
    return x


def _mixture_shortest(level, wts, m, s, central):
    """Shortest interval of a unimodal normal mixture: f(a) = f(b), F(b) - F(a) = level."""
    a, b = central
    for _ in range(100):
        z = (np.array([a, b])[:, None] - m[None, :]) / s[None, :]
        pdf_terms = _phi(z) / s[None, :]
        F = _ncdf(z) @ wts
        f = pdf_terms @ wts
        df = (-z / s[None, :] * pdf_terms) @ wts
        r0, r1 = F[1] - F[0] - level, f[1] - f[0]
        det = -f[0] * df[1] + f[1] * df[0]  # Newton on (r0, r1) with the 2x2 Jacobian inverted
        step = np.array([(df[1] * r0 - f[1] * r1) / det, (df[0] * r0 - f[0] * r1) / det])
        a, b = a - step[0], b - step[1]
        if np.all(np.abs(step) <= 1e-10 * max(abs(a), abs(b), b - a)):
            break
    F = _ncdf((np.array([a, b])[:, None] - m[None, :]) / s[None, :]) @ wts
    converged = np.isfinite(a) and a < b and abs(F[1] - F[0] - level) < 1e-9
    if not (converged and b - a <= (central[1] - central[0]) * (1 + 1e-9)):
        # not unimodal enough for Newton (rare): minimise the width over the lower tail probability
        def width(p):
            lo, hi = _mixture_quantile([p, p + level], wts, m, s)
            return hi - lo

        p = optimize.minimize_scalar(width, bounds=(1e-12, 1 - level - 1e-12), method="bounded",
                                     options={"xatol": 1e-12}).x  # fmt: skip
        a, b = _mixture_quantile([p, p + level], wts, m, s)
    return a, b


def _mixture_interval(level, wts, m, s) -> Interval:
    lo_p, hi_p = (1 - level) / 2, (1 + level) / 2
    q = _mixture_quantile([0.5, lo_p, hi_p], wts, m, s)
    a, b = _mixture_shortest(level, wts, m, s, (q[1], q[2]))
    return Interval(float(q[0]), float(wts @ m), float(q[1]), float(q[2]), float(a), float(b))


def _tau_interval(level, rule: _TauRule) -> Interval:
    lo_p, hi_p = (1 - level) / 2, (1 + level) / 2
    u = rule.quantile_u([0.5, lo_p, hi_p, level])
    q = rule.tau_of(u)
    mean = float(rule.weights @ rule.tau)
    # Shortest: the shorter of [0, Q(level)] and the interior equal-density pair f(a) = f(b)
    # (Newton in (u_a, u_b) from the central interval), when the latter exists.
    best = (0.0, float(q[3]))
    interior = _tau_equal_density(level, rule, u[1], u[2])
    if interior is not None and interior[1] - interior[0] < best[1] - best[0]:
        best = interior
    return Interval(float(q[0]), mean, float(q[1]), float(q[2]), *best)


def _tau_equal_density(level, rule: _TauRule, ua: float, ub: float) -> tuple[float, float] | None:
    """The interval (a, b) with F(b) - F(a) = level and f(a) = f(b), 0 < a, or None."""
    for _ in range(30):
        uu = np.array([ua, ub])
        F, g, dg = rule.evaluate(uu)
        f = g * (1 - uu) ** 2 / rule.c
        df = (dg * (1 - uu) ** 2 - 2 * g * (1 - uu)) / rule.c
        r0, r1 = F[1] - F[0] - level, f[1] - f[0]
        det = -g[0] * df[1] + g[1] * df[0]
        if not det:
            return None
        s0, s1 = (df[1] * r0 - g[1] * r1) / det, (df[0] * r0 - g[0] * r1) / det
        ua, ub = ua - s0, ub - s1
        if not 0 < ua < ub < 1:  # pushed to tau = 0 or beyond: no interior pair (density falls from 0)
            return None
        if abs(s0) <= 1e-13 and abs(s1) <= 1e-13:
            break
    else:
        return None
    F, g, _ = rule.evaluate(np.array([ua, ub]))
    f = g * (1 - np.array([ua, ub])) ** 2 / rule.c
    if not (0 < ua < ub < 1 and abs(F[1] - F[0] - level) < 1e-10 and abs(f[1] - f[0]) <= 1e-8 * max(f)):
        return None
    a, b = rule.tau_of(np.array([ua, ub]))
    return float(a), float(b)


def bayes_meta(
    yi,
    vi,
    tau_prior: TauPrior,
    mu_prior: MuPrior = MuPrior(),
    level: float = 0.95,
    thresholds=(0.0,),
    shrinkage: bool = True,
) -> BayesFit:
    """Posterior summaries of the Bayesian normal-normal random-effects model.

    Parameters
    ----------
    yi, vi : array_like
        Effect estimates and sampling variances (analysis scale), k >= 1.
    tau_prior : TauPrior
        Prior of tau; ``fixed`` fixes it.
    mu_prior : MuPrior
        Normal prior on mu, or flat (default). A flat prior needs a proper ``tau_prior``.
    level : float
        Probability of the central and shortest intervals.
    thresholds : sequence of float
        Values t for P(mu > t | y) and P(new trial > t | y).
    shrinkage : bool
        Compute each trial's shrunken effect (empty tuples when False).

    Returns
    -------
    BayesFit

    References
    ----------
    Röver C (2020). Bayesian random-effects meta-analysis using the bayesmeta R package.
    J Stat Softw 93(6):1-51. doi:10.18637/jss.v093.i06
    """
    y, v = np.asarray(yi, float), np.asarray(vi, float)
    if y.ndim != 1 or y.shape != v.shape or y.size == 0:
        raise ValueError("yi and vi must be 1-d arrays of the same length >= 1")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(v)) and np.all(v > 0)):
        raise ValueError("yi must be finite and vi finite and > 0")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    thresholds = tuple(float(t) for t in thresholds)
    if tau_prior.family == "fixed":
        taus = np.array([tau_prior.value])
        m, var, _ = _conditional(y, v, taus, mu_prior)
        wts = np.ones(1)
        t_int = Interval(*(float(tau_prior.value),) * 6)
    else:
        rule = _TauRule(y, v, tau_prior, mu_prior)
        taus, m, var, wts = rule.tau, rule.m, rule.var, rule.weights
        t_int = _tau_interval(level, rule)
    keep = wts > 1e-16 * wts.max()  # nodes with no mass cost time, not accuracy
    taus, m, var, wts = taus[keep], m[keep], var[keep], wts[keep] / wts[keep].sum()
    s_mu, s_new = np.sqrt(var), np.sqrt(var + taus**2)
    mu_int = _mixture_interval(level, wts, m, s_mu)
    pred_int = _mixture_interval(level, wts, m, s_new)
    thr = np.array(thresholds)
    above = 1 - _ncdf((thr[:, None] - m[None, :]) / s_mu[None, :]) @ wts if thr.size else np.array([])
    above_new = 1 - _ncdf((thr[:, None] - m[None, :]) / s_new[None, :]) @ wts if thr.size else np.array([])
    # Trial i given tau: N(b yᵢ + (1 - b) m, b vᵢ + (1 - b)² V), b = tau² / (tau² + vᵢ).
    lo_p, hi_p = (1 - level) / 2, (1 + level) / 2
    shrunk = np.empty((0, 3))
    if shrinkage:
        b = taus[None, :] ** 2 / (taus[None, :] ** 2 + v[:, None])
        sm = np.repeat(b * y[:, None] + (1 - b) * m[None, :], 3, axis=0)
        ss = np.repeat(np.sqrt(b * v[:, None] + (1 - b) ** 2 * var[None, :]), 3, axis=0)
        shrunk = _mixture_quantile(np.tile([0.5, lo_p, hi_p], y.size), wts, sm, ss).reshape(y.size, 3)
    return BayesFit(
        k=int(y.size),
        level=float(level),
        tau_prior=tau_prior.label,
        mu_prior=mu_prior.label,
        mu=mu_int,
        tau=t_int,
        prediction=pred_int,
        thresholds=thresholds,
        prob_above=tuple(float(x) for x in above),
        prob_above_prediction=tuple(float(x) for x in above_new),
        shrunken_median=tuple(float(x) for x in shrunk[:, 0]),
        shrunken_lower=tuple(float(x) for x in shrunk[:, 1]),
        shrunken_upper=tuple(float(x) for x in shrunk[:, 2]),
    )
