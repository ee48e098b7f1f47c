"""The fit: random- and common-effect network models on :func:`evsynth.stats.multivariate.rma_mv`.

The contrast-based consistency model (Higgins & Whitehead 1996; Lu & Ades 2004; Salanti
2008), frequentist, with one common tau² (as netmeta and metafor)::

    y_s = B_s d + delta_s + e_s,   e_s ~ N(0, V_s),   delta_s ~ N(0, tau² B_s B_sᵀ / 2),

``y_s`` the contrasts of study s (a spanning tree of its arms: for a multi-arm trial, its
arms against its first arm in ``treatments`` order, so ``V_s`` is not singular), ``B_s``
their rows of the arm incidence matrix (+1 treatment, -1 comparator), ``d`` the treatment
effects against ``reference``. ``B_s B_sᵀ / 2`` has 1 on the diagonal and ±1/2 between
contrasts sharing an arm: tau²/2 between two contrasts against one baseline (Higgins &
Whitehead 1996), which is metafor's ``rma.mv(yi, V, mods = ~ 0 + <treatments>, random =
~ comp | study, rho = 1/2)``, and netmeta's REML/ML fit.

:mod:`evsynth.stats.network.rotation` turns it, study by study, into a univariate
meta-regression, so ``rma_mv`` fits the rotated data exactly (``random = ~ 1 | id``), at
O(sum b³ + k p²) cost. DL is the moment estimator, REML and ML are rma_mv's Fisher scoring.
Intervals of the random-effects model are Wald (z), as in netmeta and the Cochrane Handbook
ch. 11 (``test="z"``), or t-based (``test="t"``: metafor's ``rma.mv(..., test = "t")`` with its
default ``dfs = "residual"``): the same SEs with t quantiles and p-values on ``k - p`` df, k
the contrasts (each trial's spanning tree) and p = treatments - 1, the network's Q df. This is
the small-sample adjustment metafor offers for ``rma.mv``; it does not rescale the variance
as Knapp & Hartung's factor does for ``rma()``. With no residual df (a single trial) the
t interval does not exist and Wald is used, with a note. The common-effect model, the
P-scores and node splitting stay on the normal distribution (netmeta's). Agreement with
metafor 3.8's ``rma.mv`` on dat.senn2013 and dat.hasselblad1998 (both with multi-arm trials)
and RESOLVE is pinned in ``tests/data/metafor_network.json``
(``tests/reference/metafor_network.R``).

Outputs, per model: every pairwise relative effect (both orientations) with Wald CI and
prediction interval ``theta ± crit sqrt(se² + tau²)`` (none for the common-effect model or
when tau² is not estimable); P-scores (Rücker & Schwarzer 2015):
``P_i = mean_{j≠i} Φ((d_i - d_j) / se_ij)`` with the sign set by ``higher_is_better``
(:data:`~evsynth.stats.network.results.PSCORE_CAVEAT`); Q of the common-effect model with I²
from it (netmeta) and its decomposition, and node splitting
(:mod:`evsynth.stats.network.inconsistency`).

References
----------
Higgins JPT, Whitehead A (1996). Borrowing strength from external trials in a
meta-analysis. Stat Med 15:2733-2749.
Lu G, Ades AE (2004). Combination of direct and indirect evidence in mixed treatment
comparisons. Stat Med 23:3105-3124.
Salanti G, Higgins JPT, Ades AE, Ioannidis JPA (2008). Evaluation of networks of
randomized trials. Stat Methods Med Res 17:279-301.
Rücker G (2012). Network meta-analysis, electrical networks and graph theory. Res Synth
Methods 3:312-324.
Rücker G, Schwarzer G (2015). Ranking treatments in frequentist network meta-analysis
works without resampling methods. BMC Med Res Methodol 15:58.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import special

from evsynth.stats.multivariate import BlockCovariance, rma_mv
from evsynth.stats.network.inconsistency import _decomposition, _design_columns, _nodesplit, _split_plan
from evsynth.stats.network.results import (
    METHODS,
    PREDICTIONS,
    STATUS_DISCONNECTED,
    STATUS_EMPTY,
    STATUS_FAILED,
    STATUS_FITTED,
    TESTS,
    NetworkFit,
    NetworkModel,
    PairwiseEffect,
)
from evsynth.stats.network.rotation import _chi2_p, _moment_tau2, _whiten
from evsynth.stats.network.structure import (
    Contrasts,
    _design,
    _edges,
    _order,
    _participants,
    _prepare,
    network_status,
)


def fit_network(
    contrasts: Contrasts,
    *,
    treatments: Sequence[str] | None = None,
    reference: str | None = None,
    method: str = "REML",
    alpha: float = 0.05,
    prediction: str = "normal",
    higher_is_better: bool = True,
    covariance: np.ndarray | BlockCovariance | None = None,
    nodesplit: bool = True,
    test: str = "z",
) -> NetworkFit:
    """Fit the random- and common-effect network models (module docstring).

    Parameters
    ----------
    contrasts
        The contrast rows (:class:`~evsynth.stats.network.structure.Contrasts`).
    treatments
        The order of treatments (default: order of first appearance). It fixes each study's
        baseline arm (its first arm in this order), the orientation of every comparison
        (earlier vs later) and the ranking table's order; treatments listed but without data
        are reported in ``NetworkFit.missing``.
    reference
        The treatment the coefficients are expressed against (default: the last treatment of
        the network, usual care with the configured modes); it changes no estimate.
    method
        tau² estimator of the random-effects model, "REML" (default), "ML" or "DL"; the
        common-effect model is always fitted too.
    alpha
        Two-sided level of every interval.
    prediction
        "none", "normal", "t_k-1" (t on the Q df of the network, k_contrasts - (n - 1)) or
        "t_k-2" (that minus 1, netmeta's).
    higher_is_better
        Direction of the ranking.
    covariance
        An explicit sampling covariance of the rows (dense k x k or
        :class:`evsynth.stats.multivariate.BlockCovariance`) in place of the one rebuilt from the
        arm columns.
    nodesplit
        Compute the inconsistency (node-splitting) table.
    test
        Intervals and p-values of the random-effects model: "z" (Wald) or "t" (t on the
        network's residual df k - p, metafor ``rma.mv(test = "t")``; module docstring).

    Returns
    -------
    NetworkFit
        Never raises for a network that cannot be fitted: ``status`` is "fitted", "single
        trial" (fitted: the estimates are that trial's own contrasts), "disconnected", "no
        estimable data" or "not fitted" (numerical failure), and ``message`` says why in words.

    Raises
    ------
    ValueError
        Only for malformed input (unknown method or prediction, reference without data,
        covariance of the wrong size).
    """
    if method not in METHODS:
        raise ValueError(f"network tau² estimator must be one of {', '.join(METHODS)}, not {method!r}")
    if prediction not in PREDICTIONS:
        raise ValueError(f"prediction must be one of {', '.join(PREDICTIONS)}, not {prediction!r}")
    if test not in TESTS:
        raise ValueError(f"network test must be one of {', '.join(TESTS)}, not {test!r}")
    if not isinstance(contrasts, Contrasts):
        raise TypeError("fit_network takes Contrasts; evsynth.data.network reads them from a table of rows")
    ok = contrasts.usable
    order, missing = _order(contrasts, ok, treatments)
    status = network_status(contrasts, treatments)
    dropped = contrasts.study[~ok].tolist()
    notes = [f"not estimable, left out: {', '.join(dict.fromkeys(dropped))}"] if dropped else []
    base = dict(
        method=method, alpha=alpha, prediction=prediction, higher_is_better=higher_is_better,
        treatments=tuple(order), missing=tuple(missing), components=status.components, studies=status.studies,
    )
    message = status.message
    if status.status in (STATUS_EMPTY, STATUS_DISCONNECTED):
        return _unfitted(status.status, message, notes, **base)
    reference = order[-1] if reference is None else str(reference)
    if reference not in order:
        raise ValueError(f"reference {reference!r} has no data in the network")
    studies, prep_notes = _prepare(contrasts, ok, order, covariance)
    notes += prep_notes
    try:
        result = _fit(studies, order, reference, method, alpha, prediction, higher_is_better, nodesplit, test)
    except (ValueError, np.linalg.LinAlgError) as err:
        return _unfitted(STATUS_FAILED, f"the network model could not be fitted: {err}", notes, **base)
    random, common, q, q_df, decomposition = result
    n_multi = sum(len(s.arms) > 2 for s in studies)
    if status.status == STATUS_FITTED:
        message = f"network of {len(order)} treatments from {len(studies)} trials ({n_multi} multi-arm); "
        if random.nodesplit:
            message += f"{len(random.nodesplit)} comparison(s) with both direct and indirect evidence"
        else:
            message += ("no comparison has both direct and indirect evidence (no closed loop), so consistency "
                        "cannot be checked")
        if missing:
            message += f"; no estimable data for {', '.join(missing)} (not in the network)"
    notes += [n for n in (random.note, common.note) if n]
    i2 = max(0.0, 100 * (q - q_df) / q) if q_df > 0 and q > 0 else (0.0 if q_df > 0 else None)
    return NetworkFit(
        status=status.status,
        message=message,
        reference=reference,
        k_contrasts=sum(len(s.y) for s in studies),
        k_multiarm=n_multi,
        designs=tuple(dict.fromkeys(_design(s, order) for s in sorted(studies, key=lambda s: s.arms))),
        edges=_edges(studies, order),
        participants=_participants(studies, len(order)),
        random=random,
        common=common,
        q=q,
        q_df=q_df,
        q_p=_chi2_p(q, q_df),
        i2=i2,
        decomposition=decomposition,
        notes=tuple(dict.fromkeys(notes)),
        **base,
    )


def _unfitted(status: str, message: str, notes: list[str], **base) -> NetworkFit:
    return NetworkFit(
        status=status, message=message, reference=None, k_contrasts=0, k_multiarm=0, designs=(), edges=(),
        participants=tuple(None for _ in base["treatments"]), random=None, common=None, q=None, q_df=None,
        q_p=None, i2=None, decomposition=None, notes=tuple(notes), **base,
    )



def _fit(studies, order, reference, method, alpha, prediction, higher_is_better, nodesplit, test):
    n = len(order)
    ref = order.index(reference)
    keep = [j for j in range(n) if j != ref]
    design_mats, design_cols, design_of = _design_columns(studies, order)
    rot = _whiten(studies, {"design": design_mats})
    X = rot.B[:, keep]
    k, p = X.shape
    names = tuple(order[j] for j in keep)
    common_fit = rma_mv(rot.y, rot.lam, X, names=names, method="EE", test="z", alpha=alpha)
    if method == "DL":
        tau2 = _moment_tau2(X, rot.y, rot.lam)
        random_fit = rma_mv(rot.y, rot.lam, X, names=names, method="REML", test="z", alpha=alpha, tau2=tau2)
        note = "saturated model (k = p): tau² is not estimable and was set to 0" if k == p else ""
    else:
        random_fit = rma_mv(rot.y, rot.lam, X, names=names, method=method, test="z", alpha=alpha)
        note = random_fit.note
    q, q_df = common_fit.qe, k - p
    decomposition = _decomposition(rot, X, q, q_df, design_cols, design_of)
    plan = _split_plan(rot, studies, len(order)) if nodesplit else []
    models = []
    for name, fit, est in (("random", random_fit, method), ("common", common_fit, "common effect")):
        models.append(
            _model(name, est, fit, rot, studies, order, keep, alpha, prediction if name == "random" else "none",
                   q_df, higher_is_better, plan, note if name == "random" else "", test if name == "random" else "z")
        )
    return models[0], models[1], q, q_df, decomposition



def _model(name, method, fit, rot, studies, order, keep, alpha, prediction, q_df, higher_is_better, plan, note, test):
    n = len(order)
    beta = np.zeros(n)
    beta[keep] = fit.beta
    vcov = np.zeros((n, n))
    vcov[np.ix_(keep, keep)] = np.array(fit.vcov)
    tau2 = fit.tau2
    diff = beta[:, None] - beta[None, :]
    var = np.diag(vcov)[:, None] + np.diag(vcov)[None, :] - 2 * vcov
    se = np.sqrt(np.maximum(var, 0.0))
    z_crit = float(special.ndtri(1 - alpha / 2))
    stat_df: float | None = None
    ci_crit, test_note = z_crit, ""
    if test == "t" and q_df >= 1:
        stat_df = float(q_df)
        ci_crit = float(special.stdtrit(stat_df, 1 - alpha / 2))
    elif test == "t":
        test = "z"
        test_note = "t intervals need residual df (k - p = 0, e.g. a single trial): Wald (z) intervals used"

    def p_value(stat: float) -> float:
        if stat_df is None:
            return float(2 * special.ndtr(-abs(stat)))
        return float(2 * special.stdtr(stat_df, -abs(stat)))

    pi_df: float | None = None
    pi_crit: float | None = None
    pi_note = ""
    if prediction != "none":
        if q_df < 1:
            pi_note = "no prediction interval: tau² is not estimable (no residual df)"
        elif prediction == "normal":
            pi_crit = z_crit
        else:
            # t_k-2-wald (metapsy profile): t_k-2 with the network estimate's own SE.
            pi_df = float(q_df if prediction == "t_k-1" else q_df - 1)
            if pi_df >= 1:
                pi_crit = float(special.stdtrit(pi_df, 1 - alpha / 2))
            else:
                pi_note, pi_df = f"no prediction interval: {prediction} leaves {pi_df:g} df", None
    k_direct = {}
    for s in studies:
        for a_i, a in enumerate(s.arms):
            for b in s.arms[a_i + 1:]:
                k_direct[(a, b)] = k_direct.get((a, b), 0) + 1
    league = []
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            theta, s_ij = float(diff[i, j]) + 0.0, float(se[i, j])  # + 0.0: no "-0" in tables
            stat = theta / s_ij
            half = None if pi_crit is None else pi_crit * float(np.sqrt(s_ij**2 + tau2))
            league.append(PairwiseEffect(
                treatment=order[i], comparator=order[j], theta=theta, se=s_ij,
                ci_lower=theta - ci_crit * s_ij, ci_upper=theta + ci_crit * s_ij, stat=stat,
                p_value=p_value(stat),
                pi_lower=None if half is None else theta - half, pi_upper=None if half is None else theta + half,
                k_direct=k_direct.get((min(i, j), max(i, j)), 0),
            ))
    sign = 1.0 if higher_is_better else -1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        prob = special.ndtr(sign * diff / se)
    np.fill_diagonal(prob, 0.0)
    pscores = tuple(float(v) for v in prob.sum(axis=1) / (n - 1)) if n > 1 else (1.0,)
    splits = _nodesplit(plan, rot, studies, order, tau2, diff, se) if plan else ()
    return NetworkModel(
        model=name, method=method, tau2=float(tau2), beta=tuple(float(b) for b in beta),
        vcov=tuple(tuple(float(v) for v in row) for row in vcov), league=tuple(league), pscores=pscores,
        nodesplit=splits, pi_method=prediction if pi_crit is not None else "none", pi_df=pi_df,
        test=test, stat_df=stat_df, converged=fit.converged,
        note="; ".join(x for x in (note, test_note, pi_note) if x),
    )
