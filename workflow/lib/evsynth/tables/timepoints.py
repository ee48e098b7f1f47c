"""Rows of ``results/dependent/{outcome}_timepoints.tsv``: time-specific effects from one model.

Per outcome and comparison, the primary effects of every timepoint window (one per trial and
window) are fitted together by :func:`evsynth.stats.timepoints.fit_timepoints` (Ishak et al.
2007): one mean per window, the trials' true effects correlated across windows (AR(1) or
heteroscedastic AR over the windows' positions in config order). Beside the per-window
analyses (``pooled.tsv``), a window with few trials borrows strength from the trials' other
follow-ups. The sampling errors of one trial's follow-ups are correlated as Ishak et al.
imputed them, ``phi^|t_i - t_j|`` with phi = 0.97 and t in months. Columns are
``TIMEPOINT_COLUMNS`` (docs/outputs.md); a comparison that cannot be fitted gets rows saying why.
The model is fitted only when at least :data:`~evsynth.stats.timepoints.MIN_RHO_TRIALS` trials
inform rho (:func:`~evsynth.stats.timepoints.rho_trials`: effects in 2 or more windows that
other trials report too); otherwise rho, and the window means that depend on it, are not
estimable from the data, and the rows say which trials report several windows.

References
----------
Ishak KJ, Platt RW, Joseph L, Hanley JA, Caro JJ (2007). Meta-analysis of longitudinal studies.
Clin Trials 4:525-539.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from evsynth.data.config import Outcome, Window
from evsynth.data.vocabulary import comparison_order
from evsynth.stats.dependent import ClusteredCovariance
from evsynth.stats.timepoints import MIN_RHO_TRIALS, fit_timepoints, rho_trials

TIMEPOINT_COLUMNS = (
    "outcome",
    "treatment",
    "comparator",
    "measure",
    "timepoint",
    "structure",
    "k_effects",
    "k_trials",
    "k_trials_window",
    "theta",
    "se",
    "estimate",
    "ci_lower",
    "ci_upper",
    "p_value",
    "stat_df",
    "tau2",
    "rho",
    "status",
    "note",
)
#: Correlation of one trial's sampling errors one month apart (Ishak et al. 2007).
SAMPLING_PHI = 0.97


def _months(row: dict[str, Any], windows: dict[str, Window]) -> float:
    """The row's follow-up in months; a row giving only a window id is placed at its middle."""
    months = row.get("timepoint_months")
    if months is not None and np.isfinite(months):
        return float(months)
    window = windows[row["window"]]
    return (window.start + window.end) / 2


def _not_identifiable(block: pd.DataFrame, informing: Sequence[str]) -> str:
    """Why rho is not estimable from ``block``: which trials report several windows and how
    many other trials report those windows."""
    windows_of = block.groupby("study", sort=True)["window"].agg(list)
    several = [f"{study}: {', '.join(ws)}" for study, ws in windows_of.items() if len(ws) > 1]
    counts = block["window"].value_counts()
    alone = [w for w in dict.fromkeys(block["window"]) if counts[w] == 1]
    text = (f"not identifiable: {len(several)} trial(s) report more than one window ({'; '.join(several)}), "
            f"{len(informing)} of them in windows other trials report too")
    if alone:
        text += f" (only one trial reports {', '.join(alone)}: that window's mean takes its effect)"
    text += f"; the correlation rho across windows needs at least {MIN_RHO_TRIALS} such trials"
    return text + ": see the per-window analyses"


def timepoint_records(
    outcome: Outcome,
    effects: pd.DataFrame,
    windows: Sequence[Window],
    modes: Sequence[str],
    structure: str = "AR",
    test: str = "t",
    alpha: float = 0.05,
) -> list[dict[str, Any]]:
    """One row per comparison and window with an estimable effect, in comparison then window order.

    Parameters
    ----------
    outcome
        The outcome (its measure and reporting scale).
    effects
        Effect sizes of the outcome's primary rows in every window (``study``, ``treatment``,
        ``comparator``, ``window``, ``yi``, ``vi``, ``estimable``, ``timepoint_months``).
    windows
        The review's timepoint windows in config order (their order gives the AR lags).
    modes
        Delivery mode ids in config order (comparison order, as in pooled.tsv).
    structure, test, alpha
        "AR" or "HAR"; "z" or "t" (k - p df); two-sided level.
    """
    by_id = {w.id: w for w in windows}
    position = {w.id: i for i, w in enumerate(windows)}
    usable = effects[effects["estimable"].astype(bool)].copy()
    order = comparison_order(modes)
    usable["_rank"] = [order.get(pair, 99) for pair in zip(usable["treatment"], usable["comparator"])]
    usable["_position"] = usable["window"].map(position)
    usable = usable.sort_values(["_rank", "_position", "study"], kind="stable")
    back = outcome.to_reporting
    records = []
    for (treatment, comparator), block in usable.groupby(["treatment", "comparator"], sort=False):
        trials = block["study"].astype(str).tolist()
        present = sorted(set(block["window"]), key=position.__getitem__)
        base = {"outcome": outcome.id, "treatment": treatment, "comparator": comparator, "measure": outcome.measure,
                "structure": structure, "k_effects": len(block), "k_trials": len(set(trials)), "note": ""}
        rows = {w: {**base, "timepoint": w, "k_trials_window": int((block["window"] == w).sum())} for w in present}
        repeated = len(set(trials)) < len(trials)
        if len(present) < 2:
            status = "one timepoint window: see the per-window analysis"
        elif len(set(trials)) < 2:
            status = "fewer than 2 trials: not modelled"
        elif not repeated:
            status = "no trial reports several windows: the per-window analyses say it all"
        elif len(informing := rho_trials(trials, block["window"].tolist())) < MIN_RHO_TRIALS:
            status = _not_identifiable(block, informing)
        else:
            status = ""
            months = [_months(r, by_id) for r in block.to_dict("records")]
            V = ClusteredCovariance.autoregressive(block["vi"].to_numpy(float), trials, months, SAMPLING_PHI)
            try:
                fit = fit_timepoints(block["yi"].to_numpy(float), V, block["_position"].tolist(), structure=structure,
                                     test=test, alpha=alpha)
            except np.linalg.LinAlgError:  # REML's information matrix: too little to tell tau² from rho
                status = ("not fitted: singular information matrix (too few trials with several windows to estimate "
                          "the between-trial variance and rho)")
            except ValueError as err:  # too few effects for the window means and G
                status = f"not fitted: {err}"
        if status:
            for row in rows.values():
                row["status"] = status
        else:
            fitted = "fitted" if fit.converged else "fitted (REML did not converge: last values)"
            for j, w in enumerate(present):
                rows[w].update(
                    theta=fit.beta[j], se=fit.se[j], estimate=float(back(fit.beta[j])),
                    ci_lower=float(back(fit.ci_lower[j])), ci_upper=float(back(fit.ci_upper[j])),
                    p_value=fit.p_value[j], stat_df=fit.stat_df, tau2=fit.tau2[j if structure == "HAR" else 0],
                    rho=fit.rho, status=fitted,
                )
        records += rows.values()
    return records
