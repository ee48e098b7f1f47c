"""Time-specific effects from one model across follow-ups (Ishak et al. 2007).

A trial reporting the outcome at several follow-ups gives one effect per timepoint window.
Instead of one analysis per window, one multivariate model estimates every window's mean
while letting a trial's true effects be correlated across its follow-ups; metafor's::

    rma.mv(yi, V, mods = ~ factor(time) - 1, random = ~ time | trial, struct = "AR" | "HAR")

``y = X beta + u_trial[time] + e``, ``u_trial ~ N(0, G)`` over the T windows, with

* ``struct="AR"``: ``G_ab = tau² rho^|a - b|`` (one variance, first-order autoregressive);
* ``struct="HAR"``: ``G_ab = tau_a tau_b rho^|a - b|`` (a variance per window);

a and b the positions of the windows in sorted order (metafor's AR takes the levels, not the
times), and V the sampling covariance (:meth:`ClusteredCovariance.autoregressive` imputes it
as Ishak et al. did, phi = 0.97). The covariance parameters are estimated by REML (or ML) with
Fisher scoring on ``theta = (tau², rho)`` (Harville 1977), the step halved while it leaves the
parameter space and while it overshoots the maximum more than twice over (the expected
information can be far flatter than the likelihood: :func:`evsynth.stats._iterate.halve_overshoot`,
shared with the three-level model); everything is block-wise, trials grouped by their pattern of
windows. Where the likelihood rises to the edge (a tau² 0, |rho| 1: rho is barely identified with
few trials) the fit stops with an error naming that parameter rather than report a boundary value
(metafor's rma.mv, maximising on transformed parameters, returns e.g. rho = 1 - 1e-7 there).

References
----------
Ishak KJ, Platt RW, Joseph L, Hanley JA, Caro JJ (2007). Meta-analysis of longitudinal studies.
Clin Trials 4:525-539.
Harville DA (1977). J Am Stat Assoc 72:320-338.
Viechtbauer W (2010). J Stat Softw 36(3) (metafor; numerical reference).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from evsynth.stats._iterate import MAX_ITER, THRESHOLD, halve_overshoot
from evsynth.stats.dependent import ClusteredCovariance
from evsynth.stats.multilevel import gls, score_information, summarise

__all__ = ["MIN_RHO_TRIALS", "STRUCTURES", "TimepointFit", "fit_timepoints", "rho_trials"]

STRUCTURES = ("AR", "HAR")

#: Fewest trials informing rho (:func:`rho_trials`) for the model to be reported: with 2, a
#: window reported by those 2 trials alone leaves one residual contrast to estimate rho from
#: (the shipped pain-intensity rows gave rho = -0.72 so, its restricted likelihood nearly flat).
MIN_RHO_TRIALS = 3


def rho_trials(trials: Sequence, windows: Sequence) -> tuple:
    """The trials whose effects inform the correlation rho of their true effects across windows.

    With one mean per window, an effect that is its window's only effect adds one observation
    and one coefficient: REML's error contrasts give it no weight, so it carries no information
    on G, and the restricted likelihood is flat in rho when no other effect does (rma.mv then
    returns its starting rho, 0.5). rho is informed by the trials with effects in at least 2
    windows that other trials report too.

    Parameters
    ----------
    trials, windows
        Each effect's trial and window (one effect per trial and window).

    Returns
    -------
    tuple
        Those trials, sorted.
    """
    per_window: dict = {}
    for trial, window in zip(trials, windows):
        per_window.setdefault(window, set()).add(trial)
    shared = {w for w, ts in per_window.items() if len(ts) >= 2}
    reach: dict = {}
    for trial, window in zip(trials, windows):
        if window in shared:
            reach.setdefault(trial, set()).add(window)
    return tuple(sorted(t for t, ws in reach.items() if len(ws) >= 2))


@dataclass(frozen=True)
class TimepointFit:
    """Result of :func:`fit_timepoints`: one coefficient per window (``names``, the windows in
    sorted order) unless a design matrix was given; ``tau2`` (one for AR, one per window for
    HAR) and ``rho`` describe G. Other fields as :class:`evsynth.stats.multilevel.MultilevelFit`."""

    names: tuple[str, ...]
    windows: tuple
    structure: str
    beta: tuple[float, ...]
    se: tuple[float, ...]
    vcov: tuple[tuple[float, ...], ...]
    stat: tuple[float, ...]
    p_value: tuple[float, ...]
    ci_lower: tuple[float, ...]
    ci_upper: tuple[float, ...]
    stat_df: float | None
    tau2: tuple[float, ...]
    rho: float
    pi_lower: float | None
    pi_upper: float | None
    qe: float
    qe_df: int
    qe_p: float
    qm: float
    qm_df: tuple[int, ...]
    qm_p: float
    btt: tuple[int, ...]
    k: int
    n_trials: int
    p: int
    loglik: float
    method: str
    test: str
    alpha: float
    converged: bool
    iterations: int


def _g_and_derivatives(theta: np.ndarray, T: int, structure: str) -> tuple[np.ndarray, list[np.ndarray]]:
    """G(theta) over the T windows and dG/dtheta_r."""
    lag = np.abs(np.arange(T)[:, None] - np.arange(T)[None, :])
    rho = theta[-1]
    R = rho**lag
    dR = np.where(lag > 0, lag * rho ** np.maximum(lag - 1, 0), 0.0)
    if structure == "AR":
        return theta[0] * R, [R, theta[0] * dR]
    tau = np.sqrt(theta[:T])
    G = np.outer(tau, tau) * R
    derivs = []
    for t in range(T):
        # d(tau_a tau_b)/d tau²_t: 1 at (t, t); tau_b / (2 tau_t) on row/column t.
        d = np.zeros((T, T))
        d[t, :] = tau / (2 * tau[t])
        d[:, t] = tau / (2 * tau[t])
        d[t, t] = 1.0
        derivs.append(d * R)
    derivs.append(np.outer(tau, tau) * dR)
    return G, derivs


def _pattern_groups(y, X, V: ClusteredCovariance, pos: np.ndarray):
    """Groups of trials with the same windows: (rows, y, X, V blocks, positions)."""
    out = []
    for idx, B in zip(V.rows, V.blocks):
        patterns, inverse = np.unique(pos[idx], axis=0, return_inverse=True)
        for j, pattern in enumerate(patterns):
            sel = np.flatnonzero(inverse.ravel() == j)
            rows = idx[sel]
            out.append((rows, y[rows], X[rows], B[sel], pattern))
    return out


def _marginal(groups, theta, T, structure):
    G, dG = _g_and_derivatives(theta, T, structure)
    Ms = [B + G[np.ix_(pat, pat)] for _, _, _, B, pat in groups]
    Ds = [[d[np.ix_(pat, pat)] for d in dG] for *_, pat in groups]
    return Ms, Ds


def _added(theta: np.ndarray, step: np.ndarray) -> tuple[np.ndarray, None]:
    return theta + step, None  # the step already stays inside the parameter space


def _edge(theta: np.ndarray) -> str:
    """Which parameters ``theta`` (the last point halving left outside the parameter space) took past its edge; HAR's
    windows counted in time order (callers may label them by position, not by name)."""
    tau2 = theta[:-1]
    out = [("tau²" if len(tau2) == 1 else f"tau² of window {j} of {len(tau2)}") + " at 0"
           for j, t in enumerate(tau2, start=1) if t <= 0]
    if abs(theta[-1]) >= 1:
        out.append(f"rho at {np.sign(theta[-1]):+.0f}")
    return ", ".join(out)


def _valid(theta: np.ndarray) -> bool:
    return bool(np.all(theta[:-1] > 0) and abs(theta[-1]) < 1)


def fit_timepoints(
    yi: Sequence[float],
    V: ClusteredCovariance,
    time: Sequence,
    *,
    structure: str = "HAR",
    X: np.ndarray | None = None,
    names: Sequence[str] | None = None,
    method: str = "REML",
    test: str = "z",
    alpha: float = 0.05,
    tau2: Sequence[float] | None = None,
    rho: float | None = None,
    tol: float = THRESHOLD,
    max_iter: int = MAX_ITER,
) -> TimepointFit:
    """Fit ``rma.mv(yi, V, mods = ~ factor(time) - 1, random = ~ time | trial, struct)``.

    Parameters
    ----------
    yi
        k effects (one per trial and window).
    V
        Their sampling covariance; its clusters are the trials.
    time
        Each effect's window (any sortable labels; sorted order defines the lags).
    structure
        "AR" or "HAR" (module docstring).
    X
        k x p design (default: one mean per window, ``~ factor(time) - 1``).
    names
        Coefficient names (default: ``time=<window>`` / ``intrcpt``, ``x1`` ...).
    method, test, alpha
        "REML" or "ML"; "z" or "t" (on k - p df); two-sided level.
    tau2, rho
        Hold G at these values instead of estimating it (both or neither).
    tol, max_iter
        Fisher scoring stops when every |step| <= tol max(1, |theta|).

    Returns
    -------
    TimepointFit

    Raises
    ------
    ValueError
        Bad input; or the iteration reached the edge of the parameter space (the message names
        the tau² at 0 or rho at ±1); or a non-finite Fisher step.
    """
    if structure not in STRUCTURES:
        raise ValueError(f"structure must be one of {STRUCTURES}, not {structure!r}")
    y = np.asarray(yi, dtype=float)
    k = len(y)
    windows = tuple(sorted(set(time)))
    T = len(windows)
    pos = np.array([windows.index(t) for t in time], dtype=int)
    if len(pos) != k or V.k != k:
        raise ValueError("yi, time and V differ in length")
    if not np.all(np.isfinite(y)):
        raise ValueError("yi must be finite")
    if X is None:
        X = (pos[:, None] == np.arange(T)[None, :]).astype(float)
        names = names or tuple(f"time={w}" for w in windows)
    X = np.asarray(X, dtype=float).reshape(k, -1)
    p = X.shape[1]
    if np.linalg.matrix_rank(X) < p or k <= p:
        raise ValueError("the design matrix is not of full column rank, or there are no more effects than coefficients")
    if T < 2:
        raise ValueError("a model across timepoints needs at least 2 windows")
    if np.max(np.bincount(V.trial * T + pos)) > 1:
        raise ValueError("a trial has two effects in one window: the model takes one effect per trial and window")
    groups = _pattern_groups(y, X, V, pos)
    blocks = [g[:3] + (g[3],) for g in groups]  # (rows, y, X, V) for gls/score_information
    n_tau = 1 if structure == "AR" else T
    converged, iterations = True, 0
    if (tau2 is None) != (rho is None):
        raise ValueError("give both tau2 and rho, or neither")
    if tau2 is not None:
        theta = np.concatenate([np.asarray(tau2, dtype=float).ravel(), [float(rho)]])
        if len(theta) != n_tau + 1 or not _valid(theta):
            raise ValueError(f"tau2 must be {n_tau} positive values and rho in (-1, 1)")
    else:
        r = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
        vi = V.variances()
        total = max(float(r @ r) / (k - p) - float(vi.mean()), 0.1 * float(vi.mean()))
        theta = np.concatenate([np.full(n_tau, total), [0.5]])
        converged = False

        def score_information_at(theta):
            Ms, Ds = _marginal(groups, theta, T, structure)
            Ws, bread, beta = gls(blocks, Ms)
            return score_information(blocks, Ws, bread, beta, Ds, method)

        score, info = score_information_at(theta)
        for iteration in range(1, max_iter + 1):
            step = np.linalg.solve(info, score)
            if not np.all(np.isfinite(step)):  # halving a NaN step would never end
                raise ValueError(f"{structure} fit: Fisher scoring step is not finite (singular information)")
            while not _valid(theta + step):
                step /= 2
                if np.max(np.abs(step)) < tol:
                    raise ValueError(f"{structure} fit reached the edge of the parameter space "
                                     f"({_edge(theta + 2 * step)}): the {method} "
                                     "likelihood rises towards it")
            step, theta, _, (score, info) = halve_overshoot(theta, step, score, _added, score_information_at, tol)
            iterations = iteration
            if np.all(np.abs(step) <= tol * np.maximum(1.0, np.abs(theta))):
                converged = True
                break
    Ms, _ = _marginal(groups, theta, T, structure)
    Ws, vb, beta = gls(blocks, Ms)
    W0, _, _ = gls(blocks, [g[3] for g in groups])
    out = summarise(blocks, Ms, Ws, W0, vb, beta, X, method, test, alpha, None, float(theta[:n_tau].mean()))
    return TimepointFit(
        names=tuple(names) if names is not None else ("intrcpt",) + tuple(f"x{j}" for j in range(1, p)),
        windows=windows,
        structure=structure,
        tau2=tuple(float(v) for v in theta[:n_tau]),
        rho=float(theta[-1]),
        n_trials=V.n_trials,
        converged=converged,
        iterations=iterations,
        **out,
    )
