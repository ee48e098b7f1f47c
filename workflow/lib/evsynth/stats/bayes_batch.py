"""Many Bayesian random-effects posteriors in one call, each equal to :func:`evsynth.stats.bayes.bayes_meta`'s.

:func:`bayes_many` runs :mod:`evsynth.stats.bayes`'s algorithm (Röver 2020, J Stat Softw 93(6),
doi:10.18637/jss.v093.i06: mu integrated out analytically, the posterior of tau by composite
Gauss-Legendre quadrature in u = tau / (c + tau)) with one more array axis, the analyses:
each keeps its own map scale c and panels (from its own coarse pass), so the rule is the same
as the single path's, and every Newton / Halley iteration runs on all analyses at once, an
analysis frozen once it has converged. Where the single path would fall back to a scalar
search (a shortest interval of a mixture that Newton does not find), that analysis goes
through the single path's own code. Analyses of different k are grouped; a ``fixed`` tau
prior is the single path (one node, nothing to batch).

Per analysis the cost is a few array operations instead of a few hundred small numpy
calls: numpy's per-call overhead, which dominates :func:`bayes_meta` at small k, is paid
once per chunk. Agreement with :func:`bayes_meta` (to ~1e-13; the oracle's tolerances) is
pinned in ``tests/stats/test_bayes_batch.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import special

from evsynth.stats import bayes as _b
from evsynth.stats.bayes import BayesFit, Interval, MuPrior, bayes_meta
from evsynth.stats.bayes_priors import TauPrior

__all__ = ["bayes_many"]

#: Analyses per chunk x k x nodes bounds the largest temporary array (~10^6 cells, ~8 MB).
CHUNK_CELLS = 1 << 20
_FLAT = MuPrior()


def _conditional(y, v, tau, prior: MuPrior):
    """:func:`evsynth.stats.bayes._conditional` for ``y``, ``v`` (n, k) and ``tau`` (n, G)."""
    t2 = tau[:, :, None] ** 2
    w = 1.0 / (v[:, None, :] + t2)
    sw, swy = w.sum(2), (w * y[:, None, :]).sum(2)
    log_det = np.log(v[:, None, :] + t2).sum(2)
    if not prior.flat:
        p = 1.0 / prior.sd**2
        sw, swy = sw + p, swy + p * prior.mean
        log_det = log_det + 2.0 * np.log(prior.sd)
    m = swy / sw
    rss = (w * (y[:, None, :] - m[:, :, None]) ** 2).sum(2)
    if not prior.flat:
        rss = rss + (prior.mean - m) ** 2 / prior.sd**2
    return m, 1.0 / sw, -0.5 * (log_det + np.log(sw) + rss)


def _interp(p, xp, fp):
    """``np.interp(p[j], xp[j], fp[j])`` for every row j; ``p`` is (P,) or (n, P)."""
    p = np.broadcast_to(p, (xp.shape[0], np.shape(p)[-1]))
    idx = (xp[:, None, :] <= p[:, :, None]).sum(2) - 1
    j = np.clip(idx, 0, xp.shape[1] - 2)
    x0, x1 = np.take_along_axis(xp, j, 1), np.take_along_axis(xp, j + 1, 1)
    f0, f1 = np.take_along_axis(fp, j, 1), np.take_along_axis(fp, j + 1, 1)
    span = x1 - x0
    t = np.where(span > 0, (p - x0) / np.where(span > 0, span, 1.0), 0.0)
    out = f0 + t * (f1 - f0)
    return np.where(idx < 0, fp[:, :1], np.where(idx >= xp.shape[1] - 1, fp[:, -1:], out))


def _locate_mass(y, v, tau_prior: TauPrior, mu_prior: MuPrior):
    """:func:`evsynth.stats.bayes._locate_mass` for every row."""
    k = y.shape[1]
    scale = np.sqrt(k / np.sum(1 / v, 1))
    lo = 1e-6 * np.minimum(scale, max(tau_prior.median(), 1e-300))
    hi = 1e3 * np.maximum(scale, tau_prior.median())
    step = np.linspace(0.0, 1.0, _b._LOCATOR_POINTS)
    x = np.log(lo)[:, None] + (np.log(hi) - np.log(lo))[:, None] * step
    t = np.exp(x)
    _, _, loglik = _conditional(y, v, t, mu_prior)
    log_g = tau_prior.log_density(t) + loglik + x
    g = np.exp(log_g - log_g.max(1, keepdims=True))
    cum = g[:, :1] + np.cumsum(0.5 * (g[:, 1:] + g[:, :-1]) * np.diff(x, axis=1), axis=1)
    cdf = np.concatenate([g[:, :1], cum], axis=1)
    cdf /= cdf[:, -1:]
    probs = special.ndtr(np.linspace(-_b._EDGE_Z, _b._EDGE_Z, _b._PANELS - 1))
    inner = np.exp(_interp(probs, cdf, x))
    c = np.exp(_interp(np.array([0.5]), cdf, x))[:, 0]
    u = inner / (c[:, None] + inner)
    n, panels = y.shape[0], _b._PANELS
    edges = np.concatenate([np.zeros((n, 1)), u, np.ones((n, 1))], axis=1)
    gap = 1e-3 / panels
    edges = np.maximum.accumulate(edges, axis=1)
    for i in range(1, panels + 1):
        edges[:, i] = np.maximum(edges[:, i], edges[:, i - 1] + gap)
    edges = np.minimum(edges, 1.0 - gap * (panels - np.arange(panels + 1)))
    edges[:, -1] = 1.0
    return c, edges


class _TauRules:
    """:class:`evsynth.stats.bayes._TauRule` for n analyses: arrays with a leading analysis axis."""

    def __init__(self, y, v, tau_prior: TauPrior, mu_prior: MuPrior):
        P, N = _b._PANELS, _b._NODES_PER_PANEL
        self.c, self.edges = _locate_mass(y, v, tau_prior, mu_prior)
        n = y.shape[0]
        self.rows = np.arange(n)[:, None]
        self.half = half = 0.5 * np.diff(self.edges, axis=1)
        u = (self.edges[:, :-1, None] + half[:, :, None] * (_b._GL_X + 1)).reshape(n, P * N)
        self.u_nodes = u
        self.tau = self.c[:, None] * u / (1 - u)
        m, var, loglik = _conditional(y, v, self.tau, mu_prior)
        log_post = tau_prior.log_density(self.tau) + loglik + np.log(self.c[:, None] / (1 - u) ** 2)
        g = np.exp(log_post - log_post.max(1, keepdims=True))
        dens = g * (half[:, :, None] * _b._GL_W).reshape(n, P * N)
        total = dens.sum(1, keepdims=True)
        g = (g / total).reshape(n, P, N)
        self.weights, self.m, self.var = dens / total, m, var
        self.coef = g @ _b._TO_LEGENDRE.T
        self.anti = self.coef @ _b._ANTIDERIVATIVE.T * half[:, :, None]
        self.dcoef = self.coef @ _b._DERIVATIVE.T
        panel_mass = self.weights.reshape(n, P, N).sum(2)
        self.cum_edges = np.concatenate([np.zeros((n, 1)), np.cumsum(panel_mass, 1)], axis=1)

    def evaluate(self, u):
        """cdf, density in u and its derivative at ``u`` (n, Q)."""
        panel = np.clip((self.edges[:, None, :] <= u[:, :, None]).sum(2) - 1, 0, _b._PANELS - 1)
        half = np.take_along_axis(self.half, panel, 1)
        x = (u - np.take_along_axis(self.edges, panel, 1)) / half - 1.0
        basis = _legendre(x, _b._NODES_PER_PANEL + 1)
        F = np.take_along_axis(self.cum_edges, panel, 1) + np.einsum("nqj,nqj->nq", basis, self.anti[self.rows, panel])
        g = np.einsum("nqj,nqj->nq", basis[..., :-1], self.coef[self.rows, panel])
        dg = np.einsum("nqj,nqj->nq", basis[..., :-2], self.dcoef[self.rows, panel]) / half
        return F, g, dg

    def quantile_u(self, p):
        u = _interp(p, np.cumsum(self.weights, 1), self.u_nodes)
        lo, hi = np.zeros_like(u), np.ones_like(u)
        active = np.ones(u.shape[0], bool)
        for _ in range(100):
            F, g, _ = self.evaluate(u)
            below = F < p
            lo, hi = np.where(below, u, lo), np.where(below, hi, u)
            u_new = u - (F - p) / np.maximum(g, 1e-300)
            u_new = np.where((u_new >= lo) & (u_new <= hi), u_new, 0.5 * (lo + hi))
            done = np.all(np.abs(u_new - u) <= 1e-12, axis=1)
            u = np.where(active[:, None], u_new, u)
            active &= ~done
            if not active.any():
                break
        return u

    def tau_of(self, u):
        return self.c[:, None] * u / (1 - u)


def _legendre(x, n):
    """P_0(x) .. P_{n-1}(x) along a new last axis (Bonnet's recurrence, as the single path)."""
    out = np.empty(x.shape + (n,))
    out[..., 0] = 1.0
    out[..., 1] = x
    for j in range(2, n):
        out[..., j] = ((2 * j - 1) * x * out[..., j - 1] - (j - 1) * out[..., j - 2]) / j
    return out


def _tau_intervals(level, rules: _TauRules) -> list[Interval]:
    """:func:`evsynth.stats.bayes._tau_interval` for every analysis."""
    u = rules.quantile_u(np.array([0.5, (1 - level) / 2, (1 + level) / 2, level]))
    q = rules.tau_of(u)
    mean = (rules.weights * rules.tau).sum(1)
    # Equal-density pair by Newton in (u_a, u_b), as the single path; a row that leaves
    # 0 < u_a < u_b < 1 or meets a singular Jacobian has no interior pair.
    ua, ub = u[:, 1].copy(), u[:, 2].copy()
    ok, active = np.ones(ua.size, bool), np.ones(ua.size, bool)
    c = rules.c
    for _ in range(30):
        uu = np.stack([ua, ub], 1)
        F, g, dg = rules.evaluate(uu)
        f = g * (1 - uu) ** 2 / c[:, None]
        df = (dg * (1 - uu) ** 2 - 2 * g * (1 - uu)) / c[:, None]
        r0, r1 = F[:, 1] - F[:, 0] - level, f[:, 1] - f[:, 0]
        det = -g[:, 0] * df[:, 1] + g[:, 1] * df[:, 0]
        singular = active & (det == 0)
        ok &= ~singular
        active &= ~singular
        safe = np.where(det == 0, 1.0, det)
        s0, s1 = (df[:, 1] * r0 - g[:, 1] * r1) / safe, (df[:, 0] * r0 - g[:, 0] * r1) / safe
        na, nb = np.where(active, ua - s0, ua), np.where(active, ub - s1, ub)
        outside = active & ~((0 < na) & (na < nb) & (nb < 1))
        ok &= ~outside
        active &= ~outside
        ua, ub = np.where(active, na, ua), np.where(active, nb, ub)
        active &= ~((np.abs(s0) <= 1e-13) & (np.abs(s1) <= 1e-13))
        if not active.any():
            break
    ok &= ~active  # not converged in 30 steps
    uu = np.stack([ua, ub], 1)
    F, g, _ = rules.evaluate(uu)
    f = g * (1 - uu) ** 2 / c[:, None]
    ok &= (0 < ua) & (ua < ub) & (ub < 1) & (np.abs(F[:, 1] - F[:, 0] - level) < 1e-10)
    ok &= np.abs(f[:, 1] - f[:, 0]) <= 1e-8 * f.max(1)
    ab = rules.tau_of(uu)
    out = []
    for j in range(ua.size):
        best = (0.0, float(q[j, 3]))
        if ok[j] and ab[j, 1] - ab[j, 0] < best[1] - best[0]:
            best = (float(ab[j, 0]), float(ab[j, 1]))
        out.append(Interval(float(q[j, 0]), float(mean[j]), float(q[j, 1]), float(q[j, 2]), *best))
    return out


def _mixture_quantile(p, wts, m, s):
    """:func:`evsynth.stats.bayes._mixture_quantile` for n mixtures: ``wts`` (n, N), ``m`` and
    ``s`` (n, 1 or Q, N), ``p`` (Q,) or (n, Q).

    Each (analysis, target) pair is frozen once its step is below the single path's
    threshold, and later iterations evaluate only the pairs still moving: the last few
    Halley steps of a slow target do not recompute every converged one.
    """
    n, nodes = wts.shape
    p = np.broadcast_to(p, (n, np.shape(p)[-1]))
    q = p.shape[1]
    m = np.broadcast_to(m, p.shape + (nodes,)).reshape(n * q, nodes)
    s = np.broadcast_to(s, p.shape + (nodes,)).reshape(n * q, nodes)
    p = p.reshape(-1)
    w_all = np.repeat(wts, q, axis=0)
    mean = np.einsum("an,an->a", m, w_all)
    sd = np.sqrt(np.einsum("an,an->a", s * s + m * m, w_all) - mean * mean)
    own = np.where(w_all > 0, m + s * special.ndtri(p)[:, None], np.nan)  # the single path's bracket
    lo, hi = np.nanmin(own, axis=1), np.nanmax(own, axis=1)
    x = np.clip(mean + sd * special.ndtri(p), lo, hi)
    act = np.arange(x.size)
    for _ in range(100):
        ma, sa, wa, xa, pa, sda = m[act], s[act], w_all[act], x[act], p[act], sd[act]
        z = (xa[:, None] - ma) / sa
        dens = _b._phi(z) / sa
        cdf = np.einsum("an,an->a", _b._ncdf(z), wa)
        pdf = np.einsum("an,an->a", dens, wa)
        dpdf = np.einsum("an,an->a", -z / sa * dens, wa)
        below = cdf < pa
        la, ha = np.where(below, xa, lo[act]), np.where(below, hi[act], xa)
        newton = (cdf - pa) / np.maximum(pdf, 1e-300)
        x_new = xa - newton / np.clip(1 - 0.5 * newton * dpdf / np.maximum(pdf, 1e-300), 0.5, 2.0)
        x_new = np.where((x_new >= la) & (x_new <= ha), x_new, 0.5 * (la + ha))
        done = np.abs(x_new - xa) <= 1e-10 * np.maximum(np.abs(xa), sda)
        x[act], lo[act], hi[act] = x_new, la, ha
        act = act[~done]
        if not act.size:
            break
    return x.reshape(n, q)


def _mixture_intervals(level, wts, m, s) -> list[Interval]:
    """:func:`evsynth.stats.bayes._mixture_interval` for n mixtures (``m``, ``s``: (n, N))."""
    lo_p, hi_p = (1 - level) / 2, (1 + level) / 2
    q = _mixture_quantile(np.array([0.5, lo_p, hi_p]), wts, m[:, None, :], s[:, None, :])
    mean = (wts * m).sum(1)
    a, b = q[:, 1].copy(), q[:, 2].copy()
    w = wts[:, :, None]
    active = np.ones(a.size, bool)
    for _ in range(100):
        z = (np.stack([a, b], 1)[:, :, None] - m[:, None, :]) / s[:, None, :]
        terms = _b._phi(z) / s[:, None, :]
        F, f = (_b._ncdf(z) @ w)[..., 0], (terms @ w)[..., 0]
        df = ((-z / s[:, None, :] * terms) @ w)[..., 0]
        r0, r1 = F[:, 1] - F[:, 0] - level, f[:, 1] - f[:, 0]
        det = -f[:, 0] * df[:, 1] + f[:, 1] * df[:, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            s0, s1 = (df[:, 1] * r0 - f[:, 1] * r1) / det, (df[:, 0] * r0 - f[:, 0] * r1) / det
        na, nb = a - s0, b - s1
        done = (np.abs(s0) <= 1e-10 * np.maximum(np.maximum(abs(na), abs(nb)), nb - na)) & (
            np.abs(s1) <= 1e-10 * np.maximum(np.maximum(abs(na), abs(nb)), nb - na)
        )
        a, b = np.where(active, na, a), np.where(active, nb, b)
        active &= ~(done | ~np.isfinite(na) | ~np.isfinite(nb))
        if not active.any():
            break
    with np.errstate(invalid="ignore"):
        F = (_b._ncdf((np.stack([a, b], 1)[:, :, None] - m[:, None, :]) / s[:, None, :]) @ w)[..., 0]
        good = np.isfinite(a) & (a < b) & (np.abs(F[:, 1] - F[:, 0] - level) < 1e-9)
        good &= b - a <= (q[:, 2] - q[:, 1]) * (1 + 1e-9)
    out = []
    for j in range(a.size):
        lo, hi = (a[j], b[j]) if good[j] else _b._mixture_shortest(level, wts[j], m[j], s[j], (q[j, 1], q[j, 2]))
        out.append(Interval(float(q[j, 0]), float(mean[j]), float(q[j, 1]), float(q[j, 2]), float(lo), float(hi)))
    return out


def _chunk(y, v, tau_prior, mu_prior, level, thresholds, shrinkage) -> list[BayesFit]:
    rules = _TauRules(y, v, tau_prior, mu_prior)
    t_int = _tau_intervals(level, rules)
    taus, m, var, wts = rules.tau, rules.m, rules.var, rules.weights
    wts = np.where(wts > 1e-16 * wts.max(1, keepdims=True), wts, 0.0)
    wts = wts / wts.sum(1, keepdims=True)
    s_mu, s_new = np.sqrt(var), np.sqrt(var + taus**2)
    mu_int = _mixture_intervals(level, wts, m, s_mu)
    pred_int = _mixture_intervals(level, wts, m, s_new)
    thr = np.array(thresholds)
    w = wts[:, :, None]
    above = 1 - (_b._ncdf((thr[None, :, None] - m[:, None, :]) / s_mu[:, None, :]) @ w)[..., 0]
    above_new = 1 - (_b._ncdf((thr[None, :, None] - m[:, None, :]) / s_new[:, None, :]) @ w)[..., 0]
    n, k = y.shape
    shrunk = np.empty((n, 0, 3))
    if shrinkage:
        b = taus[:, None, :] ** 2 / (taus[:, None, :] ** 2 + v[:, :, None])  # (n, k, nodes)
        sm = np.repeat(b * y[:, :, None] + (1 - b) * m[:, None, :], 3, axis=1)
        ss = np.repeat(np.sqrt(b * v[:, :, None] + (1 - b) ** 2 * var[:, None, :]), 3, axis=1)
        lo_p, hi_p = (1 - level) / 2, (1 + level) / 2
        shrunk = _mixture_quantile(np.tile([0.5, lo_p, hi_p], k), wts, sm, ss).reshape(n, k, 3)
    return [
        BayesFit(
            k=k, level=float(level), tau_prior=tau_prior.label, mu_prior=mu_prior.label, mu=mu_int[j], tau=t_int[j],
            prediction=pred_int[j], thresholds=thresholds, prob_above=tuple(above[j].tolist()),
            prob_above_prediction=tuple(above_new[j].tolist()), shrunken_median=tuple(shrunk[j, :, 0].tolist()),
            shrunken_lower=tuple(shrunk[j, :, 1].tolist()), shrunken_upper=tuple(shrunk[j, :, 2].tolist()),
        )
        for j in range(n)
    ]  # fmt: skip


def bayes_many(
    yis: Sequence,
    vis: Sequence,
    tau_prior: TauPrior,
    mu_prior: MuPrior = _FLAT,
    level: float = 0.95,
    thresholds=(0.0,),
    shrinkage: bool = True,
) -> list[BayesFit]:
    """:func:`~evsynth.stats.bayes.bayes_meta` of many separate meta-analyses under one prior, in order.

    ``yis[j]``, ``vis[j]`` are the estimates and variances of analysis j (k may differ); the
    other arguments are :func:`bayes_meta`'s, shared by every analysis. Each result equals
    ``bayes_meta(yis[j], vis[j], ...)`` to ~1e-13 (the same quadrature rule and iterations,
    vectorised over analyses of equal k; pinned in ``tests/stats/test_bayes_batch.py``).

    References
    ----------
    Röver C (2020). Bayesian random-effects meta-analysis using the bayesmeta R package.
    J Stat Softw 93(6):1-51. doi:10.18637/jss.v093.i06
    """
    if len(yis) != len(vis):
        raise ValueError("yis and vis must hold the same number of analyses")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    thresholds = tuple(float(t) for t in thresholds)
    data = [(np.asarray(y, float), np.asarray(v, float)) for y, v in zip(yis, vis)]
    if tau_prior.family == "fixed":
        return [bayes_meta(y, v, tau_prior, mu_prior, level, thresholds, shrinkage) for y, v in data]
    by_k: dict[int, list[int]] = {}
    for j, (y, v) in enumerate(data):
        if y.ndim != 1 or y.shape != v.shape or y.size == 0:
            raise ValueError(f"analysis {j}: yi and vi must be 1-d arrays of the same length >= 1")
        if not (np.all(np.isfinite(y)) and np.all(np.isfinite(v)) and np.all(v > 0)):
            raise ValueError(f"analysis {j}: yi must be finite and vi finite and > 0")
        by_k.setdefault(y.size, []).append(j)
    results: list[BayesFit | None] = [None] * len(data)
    nodes = _b._PANELS * _b._NODES_PER_PANEL
    for k, members in by_k.items():
        per_chunk = max(1, CHUNK_CELLS // (nodes * (3 * k if shrinkage else max(k, 3))))
        for start in range(0, len(members), per_chunk):
            chunk = members[start : start + per_chunk]
            y = np.stack([data[j][0] for j in chunk])
            v = np.stack([data[j][1] for j in chunk])
            for j, fit in zip(chunk, _chunk(y, v, tau_prior, mu_prior, level, thresholds, shrinkage)):
                results[j] = fit
    return results  # type: ignore[return-value]
