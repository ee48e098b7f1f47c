"""The network meta-analysis of one outcome x timepoint window, as tables.

:func:`analyse_network` fits :func:`evsynth.stats.network.fit_network` to the contrasts of an
analysis (``results/analyses/{outcome}/{timepoint}/studies.tsv``) with the configured
method settings, and :func:`network_tables` turns the result into the rows of the four
files of ``results/network/``:

* ``{outcome}_{timepoint}_league.tsv`` (:data:`LEAGUE_COLUMNS`): every ordered pair of
  delivery modes under both models. Pivoting ``cell`` on ``treatment`` x ``comparator``
  (one model) gives netmeta's league table.
* ``..._inconsistency.tsv`` (:data:`INCONSISTENCY_COLUMNS`): direct, indirect and network
  estimates of every comparison with both kinds of evidence, with the test of their
  difference (node splitting by back-calculation, and against the separate indirect
  estimate).
* ``..._ranking.tsv`` (:data:`RANKING_COLUMNS`): P-scores, with their caveat on every row.
* ``..._summary.tsv`` (:data:`SUMMARY_COLUMNS`): one row: status and message, tau², Q and
  its within-/between-design split, settings. Written for every analysis, whatever the
  status; the other three are header-only when there is no network to fit.

Settings (``evsynth.stats.profiles.MethodSettings``): the estimator is used when it is REML, ML
or DL (others fall back to REML, as the multivariate models of ``evsynth.stats.subgroups`` do,
and ``note`` says so). The profile's CI method carries over (:func:`network_test`): under
``hksj`` or ``hksj-adhoc`` the random-effects league uses t on the network's residual df
k - p (metafor ``rma.mv(test = "t")``), under ``wald`` the normal distribution; every table
says which in ``ci_method`` (and ``ci_df``), and node splitting, P-scores and the
common-effect model stay Wald (netmeta's). The prediction interval follows
``prediction_interval`` with the network's Q df in place of k - 1 (``t_k-1``: t on
k_contrasts - (n - 1) df; ``t_k-2``: one fewer, as netmeta; ``t_k-2-wald``, the metapsy
profile's, is taken as ``t_k-2`` with the network estimate's own SE).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from evsynth.data.config import Outcome
from evsynth.data.network import fit_network
from evsynth.stats.network import METHODS, PSCORE_CAVEAT, NetworkFit, NetworkModel
from evsynth.stats.profiles import MethodSettings

__all__ = [
    "LEAGUE_COLUMNS",
    "NUMBER_TEXT_COLUMNS",
    "INCONSISTENCY_COLUMNS",
    "RANKING_COLUMNS",
    "SUMMARY_COLUMNS",
    "network_method",
    "network_test",
    "ci_note",
    "analyse_network",
    "network_tables",
    "format_cell",
]

LEAGUE_COLUMNS = (
    "outcome",
    "timepoint",
    "model",
    "treatment",
    "comparator",
    "measure",
    "theta",
    "se",
    "estimate",
    "ci_lower",
    "ci_upper",
    "pi_lower",
    "pi_upper",
    "stat",
    "p_value",
    "k_direct",
    "cell",
    "tau2",
    "estimator",
    "ci_method",
    "ci_df",
    "pi_method",
    "pi_df",
    "alpha",
)

# Columns of numbers formatted as text here (``cell``: "-0.63 [-1.45, 0.19]"), never labels:
# written verbatim, not formula-neutralised (evsynth.data.io.write_tsv): they hold no input text,
# and the league table keeps the form netmeta prints.
NUMBER_TEXT_COLUMNS = ("cell",)
INCONSISTENCY_COLUMNS = (
    "outcome",
    "timepoint",
    "model",
    "treatment",
    "comparator",
    "measure",
    "k_direct",
    "k_direct_multiarm",
    "direct_studies",
    "direct_theta",
    "direct_se",
    "direct_estimate",
    "direct_ci_lower",
    "direct_ci_upper",
    "indirect_theta",
    "indirect_se",
    "indirect_estimate",
    "indirect_ci_lower",
    "indirect_ci_upper",
    "network_theta",
    "network_se",
    "network_estimate",
    "network_ci_lower",
    "network_ci_upper",
    "prop_direct",
    "difference_theta",
    "difference_se",
    "difference_estimate",
    "z",
    "p_value",
    "separate_indirect_theta",
    "separate_indirect_se",
    "separate_indirect_estimate",
    "separate_indirect_ci_lower",
    "separate_indirect_ci_upper",
    "separate_difference_theta",
    "separate_difference_se",
    "separate_z",
    "separate_p_value",
    "tau2",
    "estimator",
    "ci_method",
    "alpha",
    "method",
    "note",
)

RANKING_COLUMNS = (
    "outcome",
    "timepoint",
    "model",
    "rank",
    "treatment",
    "label",
    "p_score",
    "n_treatments",
    "direction",
    "estimator",
    "ci_method",
    "caveat",
)

SUMMARY_COLUMNS = (
    "outcome",
    "timepoint",
    "measure",
    "status",
    "message",
    "plotted",
    "treatments",
    "reference",
    "modes_without_data",
    "k_trials",
    "k_multiarm",
    "k_contrasts",
    "n_designs",
    "n_participants",
    "estimator",
    "tau2",
    "tau",
    "i2",
    "q_total",
    "q_total_df",
    "q_total_p",
    "q_within",
    "q_within_df",
    "q_within_p",
    "q_between",
    "q_between_df",
    "q_between_p",
    "tau2_within",
    "q_between_random",
    "q_between_random_p",
    "n_nodesplit",
    "min_nodesplit_p",
    "ci_method",
    "ci_df",
    "pi_method",
    "pi_df",
    "alpha",
    "profile",
    "studies",
    "note",
)

SPLIT_METHOD = (
    "back-calculation (netmeta netsplit; Dias et al. 2010): indirect = (network - w direct)/(1 - w), "
    "w = se_network²/se_direct²; separate indirect = network without the direct trials, same tau²; "
    "Wald (z) CIs and tests, as netmeta's, whatever the profile's CI method"
)
#: The profile's CI method (evsynth.stats.profiles) -> the network's test (evsynth.stats.network).
NETWORK_TESTS = {"wald": "z", "hksj": "t", "hksj-adhoc": "t"}


def network_method(settings: MethodSettings) -> tuple[str, str]:
    """The network's tau² estimator for these settings, and a note when it differs."""
    if settings.estimator in METHODS:
        return settings.estimator, ""
    return "REML", f"{settings.estimator} is not available for the network model; REML used"


def network_test(settings: MethodSettings) -> str:
    """The random-effects network's test under these settings: "t" for the HKSJ methods (t on
    k - p df, metafor ``rma.mv(test = "t")``; rma.mv has no Knapp-Hartung rescaling), else "z"."""
    return NETWORK_TESTS[settings.ci_method]


def ci_method_name(model: NetworkModel) -> str:
    """What a model's intervals are, as the ``ci_method`` column says it: "wald" or "t"."""
    return "t" if model.test == "t" else "wald"


def analyse_network(
    studies: pd.DataFrame, outcome: Outcome, modes: Sequence[str], settings: MethodSettings
) -> NetworkFit:
    """Fit the network of one analysis's contrasts (``studies.tsv`` rows) with ``settings``."""
    method, _ = network_method(settings)
    return fit_network(
        studies,
        treatments=list(modes),
        method=method,
        alpha=settings.alpha,
        prediction=settings.prediction_interval,
        higher_is_better=outcome.higher_is_better,
        test=network_test(settings),
    )


def _none(x: Any) -> Any:
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else x


def network_tables(
    fit: NetworkFit,
    outcome: Outcome,
    timepoint: str,
    labels: Mapping[str, str],
    settings: MethodSettings,
) -> dict[str, list[dict[str, Any]]]:
    """Rows of the league, inconsistency, ranking and summary tables (keys of the dict)."""
    back = math.exp if outcome.ratio else (lambda x: x)
    z = _z(settings.alpha)
    key = {"outcome": outcome.id, "timepoint": timepoint}
    league, inconsistency, ranking = [], [], []
    for model in (fit.random, fit.common):
        if model is None:
            continue
        est_name = model.method if model.model == "random" else "common effect"
        for e in model.league:
            league.append({
                **key, "model": model.model, "treatment": e.treatment, "comparator": e.comparator,
                "measure": outcome.measure, "theta": e.theta, "se": e.se, "estimate": back(e.theta),
                "ci_lower": back(e.ci_lower), "ci_upper": back(e.ci_upper),
                "pi_lower": None if e.pi_lower is None else back(e.pi_lower),
                "pi_upper": None if e.pi_upper is None else back(e.pi_upper),
                "stat": e.stat, "p_value": e.p_value, "k_direct": e.k_direct,
                "cell": format_cell(e.theta, e.ci_lower, e.ci_upper, outcome.ratio),
                "tau2": model.tau2, "estimator": est_name, "ci_method": ci_method_name(model),
                "ci_df": model.stat_df, "pi_method": model.pi_method, "pi_df": model.pi_df,
                "alpha": settings.alpha,
            })
        for s in model.nodesplit:
            def ci(theta: float | None, se: float | None) -> tuple[Any, Any, Any]:
                if theta is None or se is None:
                    return None, None, None
                return back(theta), back(theta - z * se), back(theta + z * se)

            d_est, d_lo, d_hi = ci(s.direct, s.direct_se)
            i_est, i_lo, i_hi = ci(s.indirect, s.indirect_se)
            n_est, n_lo, n_hi = ci(s.network, s.network_se)
            si_est, si_lo, si_hi = ci(s.separate_indirect, s.separate_indirect_se)
            inconsistency.append({
                **key, "model": model.model, "treatment": s.treatment, "comparator": s.comparator,
                "measure": outcome.measure, "k_direct": s.k_direct, "k_direct_multiarm": s.k_direct_multiarm,
                "direct_studies": "; ".join(s.direct_studies),
                "direct_theta": s.direct, "direct_se": s.direct_se, "direct_estimate": d_est,
                "direct_ci_lower": d_lo, "direct_ci_upper": d_hi,
                "indirect_theta": s.indirect, "indirect_se": s.indirect_se, "indirect_estimate": i_est,
                "indirect_ci_lower": i_lo, "indirect_ci_upper": i_hi,
                "network_theta": s.network, "network_se": s.network_se, "network_estimate": n_est,
                "network_ci_lower": n_lo, "network_ci_upper": n_hi, "prop_direct": s.prop_direct,
                "difference_theta": s.difference, "difference_se": s.difference_se,
                "difference_estimate": None if s.difference is None else back(s.difference),
                "z": s.z, "p_value": s.p_value,
                "separate_indirect_theta": s.separate_indirect, "separate_indirect_se": s.separate_indirect_se,
                "separate_indirect_estimate": si_est, "separate_indirect_ci_lower": si_lo,
                "separate_indirect_ci_upper": si_hi, "separate_difference_theta": s.separate_difference,
                "separate_difference_se": s.separate_difference_se, "separate_z": s.separate_z,
                "separate_p_value": s.separate_p_value, "tau2": model.tau2, "estimator": est_name,
                "ci_method": ci_method_name(fit.random) if fit.fitted else None,  # no network, no intervals
        "alpha": settings.alpha, "method": SPLIT_METHOD, "note": s.note,
            })
        order = sorted(range(len(fit.treatments)), key=lambda i: (-model.pscores[i], i))
        for rank, i in enumerate(order, start=1):
            t = fit.treatments[i]
            ranking.append({
                **key, "model": model.model, "rank": rank, "treatment": t, "label": labels.get(t, t),
                "p_score": model.pscores[i], "n_treatments": len(fit.treatments),
                "direction": "higher is better" if outcome.higher_is_better else "lower is better",
                "estimator": est_name, "ci_method": ci_method_name(model), "caveat": PSCORE_CAVEAT,
            })
    return {
        "league": league,
        "inconsistency": inconsistency,
        "ranking": ranking,
        "summary": [_summary(fit, outcome, key, settings)],
    }


def format_cell(theta: float, lower: float, upper: float, ratio: bool) -> str:
    """'1.20 [1.03, 1.40]': two decimals on the reporting scale (RR, not log RR), no '-0.00'."""
    back = math.exp if ratio else float

    def two(x: float) -> str:
        text = f"{back(x):.2f}"
        return "0.00" if text == "-0.00" else text

    return f"{two(theta)} [{two(lower)}, {two(upper)}]"


def _z(alpha: float) -> float:
    from scipy.special import ndtri

    return float(ndtri(1 - alpha / 2))


def _summary(fit: NetworkFit, outcome: Outcome, key: dict[str, str], settings: MethodSettings) -> dict[str, Any]:
    method, substituted = network_method(settings)
    notes = [substituted] if substituted else []
    notes.append(ci_note(fit, settings))
    notes += list(fit.notes)
    rec: dict[str, Any] = {
        **key, "measure": outcome.measure, "status": fit.status, "message": fit.message,
        "plotted": fit.status == "fitted", "treatments": "; ".join(fit.treatments), "reference": fit.reference,
        "modes_without_data": "; ".join(fit.missing), "k_trials": fit.k_studies, "estimator": method,
        "ci_method": ci_method_name(fit.random) if fit.fitted else None,  # no network, no intervals
        "alpha": settings.alpha, "profile": settings.label, "studies": "; ".join(fit.studies),
    }
    if fit.fitted:
        r, d = fit.random, fit.decomposition
        known = [n for n in fit.participants]
        splits = r.nodesplit
        rec.update({
            "k_multiarm": fit.k_multiarm, "k_contrasts": fit.k_contrasts, "n_designs": len(fit.designs),
            "n_participants": sum(known) if all(n is not None for n in known) else None,
            "tau2": r.tau2, "tau": math.sqrt(r.tau2), "i2": fit.i2,
            "q_total": fit.q, "q_total_df": fit.q_df, "q_total_p": fit.q_p,
            "q_within": d.q_within, "q_within_df": d.df_within, "q_within_p": d.p_within,
            "q_between": d.q_between, "q_between_df": d.df_between, "q_between_p": d.p_between,
            "tau2_within": d.tau2_within, "q_between_random": d.q_between_random,
            "q_between_random_p": d.p_between_random, "n_nodesplit": len(splits),
            "min_nodesplit_p": min((s.p_value for s in splits if s.p_value is not None), default=None),
            "pi_method": r.pi_method, "pi_df": r.pi_df, "ci_df": r.stat_df,
        })
        if not all(n is not None for n in known):
            notes.append("participants unknown for some arms (arm sizes not reported)")
    return {k: _none(v) for k, v in {**rec, "note": "; ".join(dict.fromkeys(n for n in notes if n))}.items()}


def ci_note(fit: NetworkFit, settings: MethodSettings) -> str:
    """The summary's sentence on the network's intervals under the profile's CI method."""
    profile = f"the {settings.label} profile's {settings.ci_method}"
    if network_test(settings) == "z":
        return (f"network CIs are Wald (z), as {profile} for the pairwise analyses (and netmeta); "
                "node splitting and P-scores on the normal distribution")
    if fit.fitted and fit.random.test == "t":
        return (f"random-effects network CIs and p-values use t on k - p = {fit.random.stat_df:g} df (metafor "
                f"rma.mv test='t', dfs='residual'), for {profile}: same SEs, no Knapp-Hartung rescaling, which "
                "rma.mv does not define; common effect, node splitting and P-scores Wald (z)")
    return ""  # no network fitted, or no residual df: the model's own note says Wald was used
