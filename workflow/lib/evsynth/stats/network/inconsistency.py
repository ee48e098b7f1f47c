"""Inconsistency of a network: the design-based decomposition of Q and node splitting.

* Q of the common-effect model (generalised Cochran's Q, df = k_contrasts - (n - 1)) and its
  design-based decomposition (Krahn, Binder & König 2013; netmeta ``decomp.design``): Q
  within designs = Q of the design-by-treatment interaction model (one set of effects per
  design, i.e. set of arms), Q between designs (the inconsistency) = Q total - Q within; and
  the random-effects between-designs Q (Higgins et al. 2012) at tau² of the interaction model
  by the moment estimator (netmeta's ``tau.within`` and ``Q.inc.random``).
* Node splitting for every comparison A-B with direct evidence (studies with both arms)
  and indirect evidence (A and B still connected without those studies), per model:
  direct = inverse-variance pool of those studies' own A-B contrasts at the model's tau²;
  indirect by **back-calculation** (netmeta ``netsplit``; Dias et al. 2010; Bucher 1997):
  ``w = se_net² / se_dir²``, ``indirect = (network - w direct) / (1 - w)``,
  ``se = se_net / sqrt(1 - w)``; ``z = (direct - indirect) / sqrt(se_dir² + se_ind²)``.
  Back-calculation treats direct and indirect evidence as independent, which is exact when
  every direct study has two arms (at fixed tau²) and approximate when a multi-arm trial
  is among them; so the **separate indirect** estimate (the network fitted without the
  direct studies, at the same tau²; exactly independent) is given beside it, and equals
  the back-calculated one when no direct study is multi-arm.

References
----------
Krahn U, Binder H, König J (2013). A graphical tool for locating inconsistency in network
meta-analyses. BMC Med Res Methodol 13:35.
Higgins JPT, Jackson D, Barrett JK, Lu G, Ades AE, White IR (2012). Consistency and
inconsistency in network meta-analysis: concepts and models for multi-arm studies. Res
Synth Methods 3:98-110.
Dias S, Welton NJ, Caldwell DM, Ades AE (2010). Checking consistency in mixed treatment
comparison meta-analysis. Stat Med 29:932-944.
Bucher HC, Guyatt GH, Griffith LE, Walter SD (1997). The results of direct and indirect
treatment comparisons in meta-analysis of randomized controlled trials. J Clin Epidemiol
50:683-691.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from evsynth.stats.network.results import NodeSplit, QDecomposition
from evsynth.stats.network.rotation import _chi2_p, _gls, _Rotated
from evsynth.stats.network.structure import _design, _Study

_PROP_LIMIT = 1 - 1e-10  # direct-evidence proportion at which no indirect evidence is left


def _design_columns(studies: list[_Study], order: list[str]) -> tuple[list[np.ndarray], list[list[int]], np.ndarray]:
    """Per study, its rows of the design-by-treatment interaction design matrix (one column per
    design x non-first arm); the columns of each design; each study's design index."""
    cells: dict[tuple[str, int], int] = {}
    designs: dict[str, int] = {}
    for s in studies:
        d = _design(s, order)
        designs.setdefault(d, len(designs))
        for a in s.arms[1:]:
            cells.setdefault((d, a), len(cells))
    out = []
    for s in studies:
        d = _design(s, order)
        M = np.zeros((len(s.y), len(cells)))
        for a in s.arms[1:]:
            M[:, cells[(d, a)]] = s.B[:, a]
        out.append(M)
    cols: list[list[int]] = [[] for _ in designs]
    for (d, _), j in cells.items():
        cols[designs[d]].append(j)
    return out, cols, np.array([designs[_design(s, order)] for s in studies])


def _decomposition(rot: _Rotated, X: np.ndarray, q: float, q_df: int, design_cols: list[list[int]],
                   design_of: np.ndarray) -> QDecomposition:
    """Q within designs (block-diagonal interaction model: one small fit per design), the
    moment estimate of tau² in that model (netmeta ``tau.within``) and the random-effects
    between-designs Q at it (netmeta ``Q.inc.random``)."""
    Xf, w0 = rot.extra["design"], 1 / rot.lam
    row_design = design_of[rot.study]
    blocks = [(np.flatnonzero(row_design == d), cols) for d, cols in enumerate(design_cols)]
    q_within, trace = 0.0, float(w0.sum())
    for rows, cols in blocks:
        Xd, wd = Xf[np.ix_(rows, cols)], w0[rows]
        _, cov, rss = _gls(Xd, rot.y[rows], wd)
        q_within += rss
        trace -= float(np.trace(cov @ ((Xd.T * wd**2) @ Xd)))
    df_within = len(rot.y) - Xf.shape[1]
    tau2_within = max(0.0, (q_within - df_within) / trace) if df_within > 0 and trace > 0 else 0.0
    wt = 1 / (rot.lam + tau2_within)
    rss_full = sum(_gls(Xf[np.ix_(rows, cols)], rot.y[rows], wt[rows])[2] for rows, cols in blocks)
    q_random = max(0.0, _gls(X, rot.y, wt)[2] - rss_full)
    df_between = q_df - df_within
    q_between = max(0.0, q - q_within)
    return QDecomposition(
        q_total=q, df_total=q_df, p_total=_chi2_p(q, q_df),
        q_within=q_within, df_within=df_within, p_within=_chi2_p(q_within, df_within),
        q_between=q_between, df_between=df_between, p_between=_chi2_p(q_between, df_between),
        tau2_within=float(tau2_within), q_between_random=q_random, p_between_random=_chi2_p(q_random, df_between),
        n_designs=len(design_cols),
    )



@dataclass
class _Split:
    """What node-splitting A-B needs besides tau²: the direct studies and the rows and columns
    of the network without them (A's sub-network)."""

    a: int
    b: int
    direct: list[int]
    rows: np.ndarray  # rotated rows of the separate indirect network
    cols: list[int]  # its treatment columns (one reference dropped)


def _split_plan(rot: _Rotated, studies: list[_Study], n: int) -> list[_Split]:
    counts = np.zeros((n, n), dtype=int)  # trials linking each pair of treatments
    for s in studies:
        counts[np.ix_(s.arms, s.arms)] += 1
    plan = []
    for a in range(n):
        for b in range(a + 1, n):
            direct = [i for i, s in enumerate(studies) if (a, b) in s.pairs]
            if not direct:
                continue
            rest = counts.copy()
            for i in direct:
                rest[np.ix_(studies[i].arms, studies[i].arms)] -= 1
            comp = _reachable(rest > 0, a)
            if b not in comp:
                continue  # no indirect evidence
            comp_list = sorted(comp)
            direct_set = set(direct)
            keep = np.array([i not in direct_set and set(s.arms) <= comp for i, s in enumerate(studies)])
            plan.append(_Split(a, b, direct, np.flatnonzero(keep[rot.study]), comp_list[:-1]))
    return plan


def _reachable(adjacent: np.ndarray, start: int) -> set[int]:
    seen, frontier = {start}, [start]
    while frontier:
        nxt = set(np.flatnonzero(adjacent[frontier].any(axis=0)).tolist()) - seen
        seen |= nxt
        frontier = list(nxt)
    return seen


def _nodesplit(plan: list[_Split], rot: _Rotated, studies, order, tau2, diff, se) -> tuple[NodeSplit, ...]:
    w_all = 1 / (rot.lam + tau2)
    out = []
    for sp in plan:
        a, b = sp.a, sp.b
        ys = np.array([studies[i].pairs[(a, b)][0] for i in sp.direct])
        w = 1 / (np.array([studies[i].pairs[(a, b)][1] for i in sp.direct]) + tau2)
        d_hat, d_se = float((w * ys).sum() / w.sum()), float(np.sqrt(1 / w.sum()))
        net, net_se = float(diff[a, b]), float(se[a, b])
        prop = net_se**2 / d_se**2
        # Separate indirect evidence: the network without the direct studies, at the same tau².
        beta_s, cov_s, _ = _gls(rot.B[np.ix_(sp.rows, sp.cols)], rot.y[sp.rows], w_all[sp.rows])
        L = np.array([(j == a) - (j == b) for j in sp.cols], dtype=float)
        s_ind, s_se = float(L @ beta_s), float(np.sqrt(L @ cov_s @ L))
        s_diff, s_dse = d_hat - s_ind, float(np.sqrt(d_se**2 + s_se**2))
        s_z = s_diff / s_dse
        multi = sum(len(studies[i].arms) > 2 for i in sp.direct)
        note = ""
        if prop < _PROP_LIMIT:
            ind = (net - prop * d_hat) / (1 - prop)
            ind_se = net_se / np.sqrt(1 - prop)
            dif, dif_se = d_hat - ind, float(np.sqrt(d_se**2 + ind_se**2))
            zval = dif / dif_se
            pval = float(2 * special.ndtr(-abs(zval)))
        else:
            ind = ind_se = dif = dif_se = zval = pval = None
            note = "back-calculation undefined: the network estimate is as precise as the direct one"
        if multi:
            extra = (f"{multi} multi-arm trial(s) among the direct evidence: back-calculation is approximate; "
                     "see the separate indirect estimate")
            note = "; ".join(x for x in (note, extra) if x)
        out.append(NodeSplit(
            treatment=order[a], comparator=order[b], k_direct=len(sp.direct), k_direct_multiarm=multi,
            direct=d_hat, direct_se=d_se, network=net, network_se=net_se, prop_direct=float(prop),
            indirect=None if ind is None else float(ind), indirect_se=None if ind_se is None else float(ind_se),
            difference=None if dif is None else float(dif), difference_se=dif_se,
            z=None if zval is None else float(zval), p_value=pval,
            separate_indirect=s_ind, separate_indirect_se=s_se, separate_difference=float(s_diff),
            separate_difference_se=s_dse, separate_z=float(s_z),
            separate_p_value=float(2 * special.ndtr(-abs(s_z))),
            direct_studies=tuple(studies[i].label for i in sp.direct), note=note,
        ))
    return tuple(out)
