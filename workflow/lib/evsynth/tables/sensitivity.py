"""Sensitivity, influence and small-study analyses of one analysis, per comparison.

An analysis is one outcome in one timepoint window; each comparison of delivery modes in
it (as in ``pooled.tsv``) gets, from its estimable trials:

* leave-one-out meta-analyses and influence diagnostics (:mod:`evsynth.stats.influence`),
  from 3 trials (with 2, "leaving one out" leaves a single trial);
* cumulative meta-analyses by publication year and by any study-table column named in
  ``config.yaml: sensitivity.cumulative_order_by`` (:mod:`evsynth.stats.cumulative`), from 2;
* Egger's tests, the rank correlation test and trim-and-fill
  (:mod:`evsynth.stats.smallstudy`), from ``sensitivity.small_study_min_k`` trials (default
  10, Cochrane Handbook v6.5 §13.3.5.4); the funnel plot is drawn from 3 trials, with
  the caveat in its caption below 10;
* one re-run per ``sensitivity.exclude_if`` entry without the trials whose study-table
  cell holds one of the listed values, after a first row with all trials, a re-run
  on directly reported data only (without the rows :mod:`evsynth.data.conversions` converted),
  and, from 3 trials, re-runs without outliers and without influential trials
  (:mod:`evsynth.stats.exclusion`; a row saying so when no trial is excluded).

Every comparison gets rows in every table: results, or one row whose ``status`` says why
the analysis was skipped. The pooling settings (tau² estimator, CI method, alpha, I²
definition) are those of the main analysis, resolved from ``config.yaml: pooling``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from evsynth.data.config import Outcome, SensitivityConfig
from evsynth.data.conversions import REPORTED_ONLY, conversion_ids
from evsynth.data.sensitivity_cells import (
    MIN_K_CUMULATIVE,
    MIN_K_FUNNEL,
    MIN_K_LEAVE_ONE_OUT,
    PLOT_KINDS,
    _Cells,
    plotted_comparisons,
    sensitivity_records,
)
from evsynth.data.vocabulary import comparison_id
from evsynth.stats.cumulative import cumulative
from evsynth.stats.exclusion import MIN_K_EXCLUSION, ExclusionRerun, exclusion_reruns
from evsynth.stats.influence import Influence, influence
from evsynth.stats.pooling import pool
from evsynth.stats.profiles import MethodSettings
from evsynth.stats.refit import SubsetFits
from evsynth.stats.smallstudy import TrimFill, egger_test, rank_test, trim_and_fill
from evsynth.tables.small_study_adjusted import adjusted_records

__all__ = [
    "COLUMNS",
    "PLOT_KINDS",
    "SensitivityConfig",
    "analyse_sensitivity",
    "comparison_id",
    "plotted_comparisons",
    "sensitivity_records",
]

_KEYS = ("outcome", "timepoint", "treatment", "comparator", "measure")
_FIT = (
    "k", "theta", "se", "estimate", "ci_lower", "ci_upper", "stat", "stat_df", "p_value",
    "tau2", "i2", "h2", "q", "q_df", "q_p",
)
_SETTINGS = ("profile", "estimator", "ci_method", "alpha")
COLUMNS: dict[str, tuple[str, ...]] = {
    "leave_one_out": (*_KEYS, "omitted", "omitted_year", *_FIT, *_SETTINGS, "status", "note"),
    "influence": (
        *_KEYS, "study", "year", "k", "yi", "vi", "rstudent", "dffits", "cook_d", "cov_r", "tau2_del",
        "q_del", "hat", "weight", "dfbetas", "baujat_x", "baujat_y", "influential", "criteria",
        *_SETTINGS, "status",
    ),
    "cumulative": (
        *_KEYS, "order_by", "step", "study", "year", "order_value", *_FIT, *_SETTINGS, "status", "note",
    ),
    "small_study": (
        *_KEYS, "test", "k", "stat", "stat_df", "p_value", "coefficient", "coefficient_se", "theta", "se",
        "estimate", "ci_lower", "ci_upper", "tau2", "k0", "k0_se", "side", "k_filled", *_SETTINGS,
        "status", "note",
    ),
    "subsets": (
        *_KEYS, "subset", "column", "values", "excluded", *_FIT, *_SETTINGS, "status", "studies", "note",
    ),
    "funnel": (*_KEYS, "study", "yi", "se", "filled"),
}

SMALL_STUDY_TESTS = ("egger_lm", "egger_rma", "rank_correlation", "trim_and_fill")
_TEST_NOTES = {
    "egger_lm": "Egger 1997: weighted regression of yi on SE (weights 1/vi), t on k-2 df; "
    "coefficient = SE slope, theta = intercept (limit estimate as SE -> 0)",
    "egger_rma": "mixed-effects Egger test (metafor regtest default): meta-regression on SE "
    "under the configured tau² estimator and test; theta = limit estimate",
    "rank_correlation": "Begg & Mazumdar 1994: Kendall's tau (coefficient) of standardised "
    "deviates vs variances",
    "trim_and_fill": "Duval & Tweedie 2000, L0 estimator; theta = estimate with k0 filled studies",
}
#: trim_and_fill's trim_estimator per ``pooling.trimfill_trim_model``: None trims under the
#: analysis's estimator (metafor), "FE" under the common-effect model (R meta's default).
_TRIM_ESTIMATORS = {"analysis": None, "common": "FE"}
#: Added to the trim-and-fill note when k0 comes from the common-effect model; the note of the
#: default (analysis) trimming is unchanged, so tables made before the setting keep their bytes.
_COMMON_TRIMMING_NOTE = (
    "; k0 and side estimated under the common-effect model (trimfill_trim_model = common, R meta's "
    "trimfill default), filled-in studies pooled with the analysis's estimator and CI"
)


# ---------------------------------------------------------------------------------------
# The analyses.
# ---------------------------------------------------------------------------------------


def _number(value: Any) -> Any:
    """Plain Python number, None for NaN/inf (no NaN is ever written)."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, (np.bool_,)):
        return bool(value)
    x = float(value)
    if not math.isfinite(x):
        return None
    return int(x) if isinstance(value, (int, np.integer)) else x + 0.0  # + 0.0: no "-0" cells


def _fit_fields(fits: SubsetFits, i: int, ratio: bool, i2_method: str) -> dict[str, Any]:
    back = math.exp if ratio else float
    theta, lo, hi = float(fits.theta[i]), float(fits.ci_lower[i]), float(fits.ci_upper[i])
    finite = all(math.isfinite(x) for x in (theta, lo, hi))
    return {
        "k": int(fits.k[i]),
        "theta": theta,
        "se": fits.se[i],
        "estimate": back(theta) if finite else None,
        "ci_lower": back(lo) if finite else None,
        "ci_upper": back(hi) if finite else None,
        "stat": fits.stat[i],
        "stat_df": fits.stat_df[i],
        "p_value": fits.p_value[i],
        "tau2": fits.tau2[i],
        "i2": fits.i2_q[i] if i2_method in ("q", "q-ht") else fits.i2[i],
        "h2": fits.h2[i],
        "q": fits.q[i],
        "q_df": int(fits.q_df[i]),
        "q_p": fits.q_p[i],
    }


def _pooled_fields(p, ratio: bool, i2_method: str) -> dict[str, Any]:
    back = math.exp if ratio else float
    return {
        "k": p.k,
        "theta": p.theta,
        "se": p.se,
        "estimate": back(p.theta),
        "ci_lower": back(p.ci_lower),
        "ci_upper": back(p.ci_upper),
        "stat": p.stat,
        "stat_df": p.stat_df,
        "p_value": p.p_value,
        "tau2": p.tau2,
        "i2": p.i2_q if i2_method in ("q", "q-ht") else p.i2,
        "h2": p.h2,
        "q": p.q,
        "q_df": p.q_df,
        "q_p": p.q_p,
    }


def _clean(record: dict[str, Any]) -> dict[str, Any]:
    return {key: _number(value) for key, value in record.items()}


@dataclass(frozen=True)
class _Comparison:
    base: dict[str, Any]
    studies: list[str]
    years: list[Any]
    yi: np.ndarray
    vi: np.ndarray
    converted: tuple[str, ...] = ()


def analyse_sensitivity(
    studies: pd.DataFrame,
    rows: Sequence[Mapping[str, Any]],
    outcome: Outcome,
    method: MethodSettings,
    config: SensitivityConfig,
    timepoint: str,
) -> dict[str, list[dict[str, Any]]]:
    """Every sensitivity table of one analysis.

    Parameters
    ----------
    studies : pandas.DataFrame
        The analysis's ``studies.tsv`` (one row per study and comparison: yi, vi, year,
        estimable).
    rows : sequence of dict
        :func:`sensitivity_records` of the analysis (configured study-table columns).
    outcome : Outcome
        The outcome (measure, ratio scale).
    method : MethodSettings
        The main analysis's settings (``config.yaml: pooling``, resolved); every refit uses them.
    config : SensitivityConfig
        ``config.yaml: sensitivity``.
    timepoint : str
        The timepoint window id.

    Returns
    -------
    dict of str to list of dict
        Records for each table of :data:`COLUMNS`.
    """
    settings = method
    cells = _Cells(rows)
    tables: dict[str, list[dict[str, Any]]] = {name: [] for name in COLUMNS}
    # studies.tsv lists comparisons in the forest plots' order (evsynth.tables.pooled.comparison_order).
    for (treatment, comparator), block in studies.groupby(["treatment", "comparator"], sort=False):
        usable = block[block["estimable"].astype(bool)]
        comp = _Comparison(
            base={
                "outcome": outcome.id,
                "timepoint": timepoint,
                "treatment": str(treatment),
                "comparator": str(comparator),
                "measure": outcome.measure,
            },
            studies=[str(s) for s in usable["study"]],
            years=[None if pd.isna(y) else int(y) for y in usable["year"]],
            yi=usable["yi"].to_numpy(dtype=float),
            vi=usable["vi"].to_numpy(dtype=float),
            converted=tuple(str(st) for st, c in zip(usable["study"], _conversions(usable)) if conversion_ids(c)),
        )
        stamp = {
            "profile": settings.label,
            "estimator": settings.estimator,
            "ci_method": settings.ci_method,
            "alpha": settings.alpha,
        }
        kw = {"estimator": settings.estimator, "ci_method": settings.ci_method, "alpha": settings.alpha}
        k = len(comp.yi)
        infl = influence(comp.yi, comp.vi, **kw) if k >= MIN_K_LEAVE_ONE_OUT else None
        filled = (
            trim_and_fill(comp.yi, comp.vi, **kw, trim_estimator=_TRIM_ESTIMATORS[settings.trimfill_trim_model])
            if k >= max(3, config.small_study_min_k)
            else None
        )
        for name, records in (
            ("leave_one_out", _leave_one_out(comp, infl, settings, outcome)),
            ("influence", _influence(comp, infl)),
            ("cumulative", _cumulative(comp, settings, outcome, config, cells)),
            ("small_study", _small_study(comp, filled, settings, outcome, config)
             + adjusted_records(comp.yi, comp.vi, settings, outcome, config)),
            ("subsets", _subsets(comp, settings, outcome, config, cells)
             + _exclusions(comp, infl, settings, outcome)),
        ):
            tables[name] += [_clean({**comp.base, **stamp, **rec}) for rec in records]
        tables["funnel"] += [_clean({**comp.base, **rec}) for rec in _funnel(comp, filled)]
    return tables


def _skip(k: int, what: str, minimum: int, source: str = "") -> str:
    if k == 0:
        return "skipped: no estimable trial"
    return f"skipped: {k} trial{'s' if k != 1 else ''}; {what} needs at least {minimum}{source}"


def _leave_one_out(
    comp: _Comparison, result: Influence | None, settings: MethodSettings, outcome: Outcome
) -> list[dict[str, Any]]:
    k = len(comp.yi)
    if result is None:
        return [{"k": k, "status": _skip(k, "leave-one-out", MIN_K_LEAVE_ONE_OUT)}]
    fits = result.loo
    return [
        {
            "omitted": comp.studies[i],
            "omitted_year": comp.years[i],
            **_fit_fields(fits, i, outcome.ratio, settings.i2),
            "status": "computed",
            "note": _fit_note(fits, i, settings),
        }
        for i in range(k)
    ]


def _fit_note(fits: SubsetFits, i: int, settings: MethodSettings) -> str:
    notes = []
    if not fits.converged[i]:
        notes.append(f"{settings.estimator} iteration did not converge")
    if fits.hksj_floored[i]:
        notes.append("HKSJ variance is 0 (identical estimates): ad hoc floor used")
    return "; ".join(notes)


def _influence(comp: _Comparison, r: Influence | None) -> list[dict[str, Any]]:
    k = len(comp.yi)
    if r is None:
        return [{"k": k, "status": _skip(k, "influence analysis", MIN_K_LEAVE_ONE_OUT)}]
    return [
        {
            "study": comp.studies[i],
            "year": comp.years[i],
            "k": k,
            "yi": comp.yi[i],
            "vi": comp.vi[i],
            "rstudent": r.rstudent[i],
            "dffits": r.dffits[i],
            "cook_d": r.cook_d[i],
            "cov_r": r.cov_r[i],
            "tau2_del": r.tau2_del[i],
            "q_del": r.q_del[i],
            "hat": r.hat[i],
            "weight": r.weight[i],
            "dfbetas": r.dfbetas[i],
            "baujat_x": r.baujat_x[i],
            "baujat_y": r.baujat_y[i],
            "influential": bool(r.influential[i]),
            "criteria": r.criteria[i],
            "status": "computed",
        }
        for i in range(k)
    ]


def _cumulative(
    comp: _Comparison, settings: MethodSettings, outcome: Outcome, config: SensitivityConfig, cells: _Cells
) -> list[dict[str, Any]]:
    k = len(comp.yi)
    orders = ("year", *(col for col in config.cumulative_order_by if col != "year"))
    records: list[dict[str, Any]] = []
    for column in orders:
        if k < MIN_K_CUMULATIVE:
            records.append({"order_by": column, "k": k, "status": _skip(k, "cumulative meta-analysis",
                                                                        MIN_K_CUMULATIVE)})
            continue
        t, c = comp.base["treatment"], comp.base["comparator"]
        values = comp.years if column == "year" else [cells.order_value(s, t, c, column) for s in comp.studies]
        result = cumulative(comp.yi, comp.vi, order=values, estimator=settings.estimator,
                            ci_method=settings.ci_method, alpha=settings.alpha)
        for step, i in enumerate(result.order):
            records.append(
                {
                    "order_by": column,
                    "step": step + 1,
                    "study": comp.studies[i],
                    "year": comp.years[i],
                    "order_value": "" if values[i] is None else str(values[i]),
                    **_fit_fields(result.fits, step, outcome.ratio, settings.i2),
                    "status": "computed",
                    "note": "single trial: its own estimate and Wald CI" if step == 0 else _fit_note(
                        result.fits, step, settings
                    ),
                }
            )
    return records


def _small_study(
    comp: _Comparison, tf: TrimFill | None, settings: MethodSettings, outcome: Outcome, config: SensitivityConfig
) -> list[dict[str, Any]]:
    k = len(comp.yi)
    minimum = config.small_study_min_k
    if tf is None:
        reason = _skip(k, "a small-study test", minimum, " (Cochrane Handbook 13.3.5.4)")
        return [{"test": test, "k": k, "status": reason} for test in SMALL_STUDY_TESTS]
    back = math.exp if outcome.ratio else float
    kw = {"estimator": settings.estimator, "ci_method": settings.ci_method, "alpha": settings.alpha}
    records: list[dict[str, Any]] = []
    for model in ("lm", "rma"):
        e = egger_test(comp.yi, comp.vi, model=model, **kw)
        records.append(
            {
                "test": f"egger_{model}",
                "k": k,
                "stat": e.stat,
                "stat_df": e.stat_df,
                "p_value": e.p_value,
                "coefficient": e.slope,
                "coefficient_se": e.slope_se,
                "theta": e.limit,
                "se": e.limit_se,
                "estimate": back(e.limit),
                "ci_lower": back(e.limit_ci_lower),
                "ci_upper": back(e.limit_ci_upper),
                "tau2": e.tau2,
                "status": "computed",
                "note": _TEST_NOTES[f"egger_{model}"],
            }
        )
    rank = rank_test(comp.yi, comp.vi)
    records.append(
        {
            "test": "rank_correlation",
            "k": k,
            "stat": rank.stat,
            "p_value": rank.p_value,
            "coefficient": rank.tau,
            "status": "computed",
            "note": _TEST_NOTES["rank_correlation"]
            + ("; exact p" if rank.exact else "; normal approximation (ties or k > 300), stat = z"),
        }
    )
    p = tf.pooled
    records.append(
        {
            "test": "trim_and_fill",
            "k": k,
            "stat": p.stat,
            "stat_df": p.stat_df,
            "p_value": p.p_value,
            "theta": p.theta,
            "se": p.se,
            "estimate": back(p.theta),
            "ci_lower": back(p.ci_lower),
            "ci_upper": back(p.ci_upper),
            "tau2": p.tau2,
            "k0": tf.k0,
            "k0_se": tf.se_k0,
            "side": tf.side,
            "k_filled": k + tf.k0,
            "status": "computed",
            "note": _TEST_NOTES["trim_and_fill"]
            + (_COMMON_TRIMMING_NOTE if settings.trimfill_trim_model == "common" else ""),
        }
    )
    return records


def _funnel(comp: _Comparison, tf: TrimFill | None) -> list[dict[str, Any]]:
    """The funnel plot's points: observed trials, plus trim-and-fill's filled ones."""
    if len(comp.yi) < MIN_K_FUNNEL:
        return []
    records = [
        {"study": s, "yi": y, "se": math.sqrt(v), "filled": False} for s, y, v in zip(comp.studies, comp.yi, comp.vi)
    ]
    if tf is not None:
        records += [
            {"study": f"Filled {i + 1}", "yi": y, "se": math.sqrt(v), "filled": True}
            for i, (y, v) in enumerate(zip(tf.filled_yi, tf.filled_vi))
        ]
    return records


def _subsets(
    comp: _Comparison, settings: MethodSettings, outcome: Outcome, config: SensitivityConfig, cells: _Cells
) -> list[dict[str, Any]]:
    subsets: list[tuple[str, str, str, list[str]]] = [("all trials", "", "", [])]
    for column, values in config.exclude_if:
        t, c = comp.base["treatment"], comp.base["comparator"]
        excluded = [s for s in comp.studies if cells.matches(s, t, c, column, values)]
        shown = ", ".join(_show(v) for v in values)
        subsets.append((f"excluding {column} in {{{shown}}}", column, shown, excluded))
    # Every comparison is re-run without the rows the pipeline converted (evsynth.data.conversions).
    subsets.append((REPORTED_ONLY, "conversion", "any conversion", list(comp.converted)))
    records = []
    for label, column, shown, excluded in subsets:
        keep = [i for i, s in enumerate(comp.studies) if s not in excluded]
        record: dict[str, Any] = {
            "subset": label,
            "column": column,
            "values": shown,
            "excluded": "; ".join(excluded),
            "studies": "; ".join(comp.studies[i] for i in keep),
            "k": len(keep),
        }
        note = "" if excluded or not column else "no trial matched: same as all trials"
        if len(keep) >= 2:
            p = pool(comp.yi[keep], comp.vi[keep], estimator=settings.estimator, ci_method=settings.ci_method,
                     alpha=settings.alpha)
            record.update(_pooled_fields(p, outcome.ratio, settings.i2), status="pooled")
            note = "; ".join(x for x in (note, p.note) if x)
        elif len(keep) == 1:
            # As pooled.tsv: the trial's own estimate and Wald CI, labelled as not pooled.
            i = keep[0]
            se = math.sqrt(comp.vi[i])
            z = float(stats.norm.ppf(1 - settings.alpha / 2))
            back = math.exp if outcome.ratio else float
            stat = comp.yi[i] / se
            record.update(
                theta=comp.yi[i], se=se, estimate=back(comp.yi[i]), ci_lower=back(comp.yi[i] - z * se),
                ci_upper=back(comp.yi[i] + z * se), stat=stat, p_value=2 * float(stats.norm.sf(abs(stat))),
                status="single study: shown, not pooled",
            )
        else:
            record["status"] = "no trial left"
        record["note"] = note
        records.append(record)
    return records


#: subsets.tsv's ``subset``, ``column`` and ``values`` of the exclusion re-runs, and what a
#: row says when the rule excludes no trial.
EXCLUSION_ROWS = {
    "outliers": ("excluding outliers", "outliers", "trial CI outside the pooled CI",
                 "no outlier: no re-run needed"),
    "influential": ("excluding influential trials", "influence", "metafor influence(): dffits, cook_d, hat, dfbetas",
                    "no influential trial: no re-run needed"),
}


def _exclusions(
    comp: _Comparison, infl: Influence | None, settings: MethodSettings, outcome: Outcome
) -> list[dict[str, Any]]:
    """The outlier and influence re-runs (metapsyTools' "outliers" and "influence" analyses)."""
    k = len(comp.yi)
    if infl is None:
        return [
            {"subset": label, "column": column, "values": values, "k": k, "studies": "; ".join(comp.studies),
             "status": _skip(k, f"{label[len('excluding '):]} re-run", MIN_K_EXCLUSION)}
            for label, column, values, _ in EXCLUSION_ROWS.values()
        ]
    return [_exclusion_record(comp, rerun, settings, outcome) for rerun in exclusion_reruns(
        comp.yi, comp.vi, settings, infl=infl)]


def _exclusion_record(
    comp: _Comparison, rerun: ExclusionRerun, settings: MethodSettings, outcome: Outcome
) -> dict[str, Any]:
    label, column, values, nothing = EXCLUSION_ROWS[rerun.analysis]
    excluded = [s for s, out in zip(comp.studies, rerun.excluded) if out]
    kept = [s for s, out in zip(comp.studies, rerun.excluded) if not out]
    why = "CI {} the pooled CI" if rerun.analysis == "outliers" else "{}"
    record: dict[str, Any] = {
        "subset": label,
        "column": column,
        "values": values,
        "excluded": "; ".join(excluded),
        "studies": "; ".join(kept),
        "k": len(kept),
        "note": "; ".join(f"{s}: {why.format(side)}" for s, side in zip(comp.studies, rerun.side) if side),
    }
    if not excluded:
        record["status"] = nothing
    elif rerun.pooled is not None:
        record.update(_pooled_fields(rerun.pooled, outcome.ratio, settings.i2), status="pooled")
        record["note"] = "; ".join(x for x in (record["note"], rerun.pooled.note) if x)
    else:
        record["status"] = "fewer than 2 trials left: not re-run"
    return record


def _conversions(block: pd.DataFrame) -> list[Any]:
    """The ``conversion`` cell of each row (none before conversions existed)."""
    return block["conversion"].tolist() if "conversion" in block else [""] * len(block)


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)

