"""Contrasts, with their shared-arm covariance, from arm-level rows of the study table.

RESOLVE (DeBar et al., JAMA 2025) reports an adjusted percentage with its CI for each of
its three arms. Each arm becomes an estimate ``f(arm)`` on the analysis scale with a
variance read from its CI; every pair of arms of one study x outcome x timepoint gives a
contrast ``yi = f(a) - f(b)``, ``vi = var_a + var_b``, with ``a`` before ``b`` in the
configured order of modes (coach vs online, coach vs usual care, online vs usual care).

Arms of a randomised trial are independent samples, so two contrasts of one study covary
only through an arm they share: ``+var(shared)`` when it is on the same side in both,
``-var(shared)`` when on opposite sides (Gleser & Olkin 2009, §19.3; Cochrane Handbook
v6.5 §23.3.4). Treating the two usual-care contrasts as independent double-counts the
usual-care arm.

Analysis scale of one arm with proportion ``p`` (percent / 100) or mean ``m``:

========  =============  =====================================  ==========================
measure   ``f``           se from a CI at level L                se from ``arm_se`` (delta)
========  =============  =====================================  ==========================
RR        ``ln p``        ``(ln U - ln L) / (2 z)``              ``se / p``
OR        ``logit p``     ``(logit U - logit L) / (2 z)``        ``se / (p (1 - p))``
RD        ``p``           ``(U - L) / (2 z)``                    ``se``
MD        ``m``           ``(U - L) / (2 z)``                    ``se``
========  =============  =====================================  ==========================

An adjusted percentage's CI is typically symmetric on the log (or logit) scale, so the
SE is read on the scale the contrast is formed on (docs/methods.md, entering a trial at the
arm level). A derived contrast is a computation, never a
published number; its ``derivation`` says so.

References
----------
Gleser LJ, Olkin I (2009). Stochastically dependent effect sizes. In Cooper H, Hedges LV,
Valentine JC (eds), The Handbook of Research Synthesis and Meta-Analysis, 2nd ed., ch. 19.
Higgins JPT et al. (eds). Cochrane Handbook for Systematic Reviews of Interventions v6.5,
§6.3 (SE from a CI) and §23.3.4 (multi-arm trials).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from evsynth.data.config import Outcome
from evsynth.data.vocabulary import sort_rows
from evsynth.stats.conversions import smd_from_log_odds_ratio
from evsynth.stats.escalc import (
    RATIO_MEASURES,
    approximate_j,
    from_counts,
    from_means,
    smd_sampling_variance,
    z_for_level,
)
from evsynth.stats.multivariate import BlockCovariance
from evsynth.stats.profiles import MethodSettings

# Columns that let shared_arm_covariance() rebuild V for any subset or order of rows.
COVARIANCE_COLUMNS = ("arm_group", "var_treat_arm", "var_ctrl_arm")
_OTHER_FORM_COLUMNS = (
    "effect",
    "ci_lower",
    "ci_upper",
    "ci_level",
    "events_treat",
    "events_ctrl",
    "mean_treat",
    "sd_treat",
    "mean_ctrl",
    "sd_ctrl",
)
_OPTIONAL_DEFAULTS = {
    "include": True,
    "exclusion_reason": "",
    "source": "",
    "line": None,
    "year": None,
    "window": None,
    "timepoint_months": None,
    "ci_level": None,
    "arm_ci_lower": None,
    "arm_ci_upper": None,
    "arm_se": None,
    "n_arm": None,
}
#: What evsynth.data.conversions did to a row ('' = used as reported); contrasts formed from arm
#: rows are computations of their own, labelled in ``derivation``.
CONVERSION_DEFAULTS = {"conversion": "", "conversion_detail": "", "skew_check": ""}
_SCALE_NAMES = {"RR": "log proportion", "OR": "logit proportion", "RD": "proportion", "MD": "mean"}


@dataclass(frozen=True)
class ContrastCovariance:
    """Covariance of two contrasts (positional rows ``i < j``) through a shared arm."""

    row_i: int
    row_j: int
    cov: float


@dataclass(frozen=True, eq=False)
class ArmContrasts:
    """Contrasts formed from arm rows, and their within-study covariances.

    ``effects`` has the columns of :func:`evsynth.stats.escalc.compute_effects` (``yi``, ``vi``,
    ``se``, ``estimable``, ``derivation`` ...) plus ``arm_group``, ``var_treat_arm``,
    ``var_ctrl_arm`` (from which :func:`shared_arm_covariance` rebuilds the covariance for
    any selection of rows) and the arm estimates ``arm_estimate_treat``/``_ctrl``.
    ``covariance`` lists every non-zero off-diagonal covariance, ``i < j``.
    """

    effects: pd.DataFrame
    covariance: tuple[ContrastCovariance, ...]

    def matrix(self) -> np.ndarray:
        """Dense within-study covariance matrix ``V`` of all contrasts (``vi`` on the diagonal)."""
        return shared_arm_covariance(self.effects)


def arm_scale(
    measure: str,
    kind: str,
    estimate: Sequence[float],
    lower: Sequence[float | None] | None = None,
    upper: Sequence[float | None] | None = None,
    se: Sequence[float | None] | None = None,
    level: Sequence[float | None] | float = 95.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Arm estimates on the analysis scale of ``measure`` and their variances (vectorised).

    Parameters
    ----------
    measure
        The outcome's measure: "RR", "OR", "RD" (from ``kind`` percent or proportion) or
        "MD" (from ``kind`` mean).
    kind
        "percent", "proportion" or "mean": what ``estimate``, the CI limits and ``se`` are.
    estimate, lower, upper, se
        Per arm; an SE (on the arm's own scale) is used when given, else the CI.
    level
        CI level in percent, per arm or one for all.

    Returns
    -------
    (f, var)
        ``f`` = log p, logit p, p or the mean; ``var`` its variance (NaN when neither CI
        nor SE is given). See the module docstring for the formulas.
    """

    def as_float(values) -> np.ndarray:
        if values is None:
            return np.full(len(estimate), np.nan)
        return np.array([np.nan if v is None or pd.isna(v) else v for v in values], dtype=float)

    scale = 100.0 if kind == "percent" else 1.0
    x, lo, hi, s = (as_float(v) / scale for v in (estimate, lower, upper, se))
    levels = np.broadcast_to(
        pd.to_numeric(pd.Series(np.atleast_1d(level)), errors="coerce").fillna(95.0).to_numpy(), x.shape
    )
    z = np.array([z_for_level(v) for v in levels])
    if measure == "RR":
        f, slope = np.log, 1 / x
    elif measure == "OR":
        f, slope = (lambda p: np.log(p / (1 - p))), 1 / (x * (1 - x))
    elif measure in ("RD", "MD"):
        f, slope = (lambda p: p), np.ones_like(x)
    else:
        raise ValueError(f"arm estimates give RR, OR, RD or MD contrasts, not {measure}")
    if (measure == "MD") != (kind == "mean"):
        raise ValueError(f"{kind} arms cannot give a {measure} contrast")
    se_ci = (f(hi) - f(lo)) / (2 * z)
    se_f = np.where(np.isfinite(s), s * slope, se_ci)  # a reported SE wins, as for contrasts
    return f(x), se_f**2


def arm_contrasts(
    rows: Sequence[Mapping[str, Any]] | pd.DataFrame,
    outcomes: Mapping[str, Outcome],
    modes: Sequence[str],
) -> ArmContrasts:
    """Form every pairwise contrast, with covariances, from the arm rows of a study table.

    Parameters
    ----------
    rows
        Typed rows from :func:`evsynth.data.studies.load_studies` (or their records); rows
        whose ``form`` is not "arm" are ignored.
    outcomes
        Configured outcomes (the measure of each row's outcome).
    modes
        Configured modes in order; a pair (a, b) gives treatment a vs comparator b with a
        before b.

    Returns
    -------
    ArmContrasts
        One row per contrast, grouped by study x outcome x timepoint in input order, pairs
        in mode order; a contrast is included only when both arms are.
    """
    frame = pd.DataFrame(rows).reset_index(drop=True)
    if frame.empty or "form" not in frame:
        return ArmContrasts(pd.DataFrame(), ())
    arms = frame[frame["form"] == "arm"].copy()
    if arms.empty:
        return ArmContrasts(pd.DataFrame(), ())
    for column, default in _OPTIONAL_DEFAULTS.items():  # a pooling job may pass a subset of the row
        if column not in arms:
            arms[column] = default
    order = {m: i for i, m in enumerate(modes)}
    arms["_when"] = [
        m if m is not None and not pd.isna(m) else t for m, t in zip(arms["timepoint_months"], arms["timepoint"])
    ]
    records = []
    for (study, outcome_id, _when), group in arms.groupby(["study", "outcome", "_when"], sort=False, dropna=False):
        outcome = outcomes[outcome_id]
        kind = group["arm_measure"].iloc[0]
        f, var = arm_scale(
            outcome.measure,
            kind,
            *(group[c].tolist() for c in ("arm_estimate", "arm_ci_lower", "arm_ci_upper", "arm_se")),
            level=group["ci_level"].tolist(),
        )
        group = group.assign(_f=f, _var=var).sort_values("arm", key=lambda s: s.map(order))
        key = f"{study} | {outcome_id} | {group['timepoint'].iloc[0]}"
        for ia in range(len(group)):
            for ib in range(ia + 1, len(group)):
                records.append(_contrast_record(group.iloc[ia], group.iloc[ib], outcome, kind, key))
    effects = pd.DataFrame.from_records(records)
    return ArmContrasts(effects, covariance_pairs(effects))


def _contrast_record(a: pd.Series, b: pd.Series, outcome: Outcome, kind: str, group_key: str) -> dict[str, Any]:
    measure = outcome.measure
    yi, vi = float(a["_f"] - b["_f"]), float(a["_var"] + b["_var"])
    reasons = [f"arm '{r['arm']}'{_line_note(r)} excluded: {r['exclusion_reason']}" for r in (a, b) if not r["include"]]
    return {
        "study": a["study"],
        "year": a["year"],
        "treatment": a["arm"],
        "comparator": b["arm"],
        "outcome": a["outcome"],
        "timepoint": a["timepoint"],
        "timepoint_months": a["timepoint_months"],
        "window": a["window"],
        "include": bool(a["include"] and b["include"]),
        "exclusion_reason": "; ".join(reasons),
        "effect_measure": "",
        **dict.fromkeys(_OTHER_FORM_COLUMNS),  # so the rows concatenate with compute_effects' output
        "effect_direction": "treatment_minus_control",
        "form": "arm",
        "source": "; ".join(dict.fromkeys([a["source"], b["source"]])),
        "line": a["line"],
        "lines": f"{a['line']}, {b['line']}",
        "arm_measure": kind,
        "arm_estimate_treat": a["arm_estimate"],
        "arm_estimate_ctrl": b["arm_estimate"],
        "n_treat": a.get("n_arm"),
        "n_ctrl": b.get("n_arm"),
        "arm_group": group_key,
        "var_treat_arm": float(a["_var"]),
        "var_ctrl_arm": float(b["_var"]),
        "measure": measure,
        "yi": yi,
        "vi": vi,
        "se": float(np.sqrt(vi)),
        "estimable": bool(np.isfinite(yi) and np.isfinite(vi) and vi > 0),
        "derivation": _derivation(a, b, measure, kind),
        **CONVERSION_DEFAULTS,
    }


def _line_note(row: pd.Series) -> str:
    """' (line 12)' when the spreadsheet line is known (pooling jobs get rows without it)."""
    line = row.get("line")
    return "" if line is None or pd.isna(line) else f" (line {int(line)})"


def _derivation(a: pd.Series, b: pd.Series, measure: str, kind: str) -> str:
    unit = "%" if kind == "percent" else ""
    fn = {"RR": "ln", "OR": "logit", "RD": "", "MD": ""}[measure]

    def show(r: pd.Series) -> str:
        x = f"{r['arm_estimate']:g}{unit}"
        return f"{fn}({x})" if fn or r["arm_estimate"] < 0 else x

    name = {"RR": "log RR", "OR": "log OR"}.get(measure, measure)
    levels = {95.0 if r.get("ci_level") is None or pd.isna(r.get("ci_level")) else float(r["ci_level"]) for r in (a, b)}
    has_se = [r.get("arm_se") is not None and not pd.isna(r.get("arm_se")) for r in (a, b)]
    if all(has_se):
        how = f"arm SEs as reported, converted to the {_SCALE_NAMES[measure]} scale (delta method)"
    else:
        level = "/".join(f"{v:g}" for v in sorted(levels))
        how = f"arm SEs from each arm's {level}% CI on the {_SCALE_NAMES[measure]} scale"
        if any(has_se):
            how += " (or its reported SE)"
    return (
        f"derived from arm-level estimates: {name} = {show(a)} - {show(b)}; {how}; variance = sum of the "
        "two arms' variances (independent arms). Computed, not a published contrast; covariance with "
        "contrasts sharing an arm is kept"
    )


def shared_arm_covariance(effects: pd.DataFrame) -> np.ndarray:
    """Dense covariance matrix of the rows of ``effects``, in their order.

    Rows formed from arms of the same ``arm_group`` covary through shared arms; every other
    pair (including rows not derived from arms) has covariance 0. The diagonal is ``vi``.
    Uses ``O(k²)`` memory: for a long table use :func:`covariance_pairs` or
    :func:`covariance_blocks`.
    """
    k = len(effects)
    V = np.zeros((k, k))
    V[np.diag_indices(k)] = effects["vi"].to_numpy(dtype=float)
    for i, j, c in _pairs(effects):
        V[i, j] = V[j, i] = c
    return V


def covariance_pairs(effects: pd.DataFrame) -> tuple[ContrastCovariance, ...]:
    """Non-zero covariances ``(i, j, cov)``, ``i < j`` positional, between rows of ``effects``."""
    return tuple(ContrastCovariance(i, j, c) for i, j, c in _pairs(effects))


def covariance_blocks(effects: pd.DataFrame):
    """The covariance of ``effects`` as a :class:`evsynth.stats.multivariate.BlockCovariance`."""
    pairs = _pairs(effects)
    return BlockCovariance.from_pairs(
        effects["vi"].to_numpy(dtype=float), [(i, j) for i, j, _ in pairs], [c for _, _, c in pairs]
    )


def _pairs(effects: pd.DataFrame) -> list[tuple[int, int, float]]:
    if effects.empty or "arm_group" not in effects:
        return []
    frame = effects.reset_index(drop=True)
    out = []
    groups = frame["arm_group"].where(frame["arm_group"].notna() & (frame["arm_group"] != ""))
    for _, block in frame[groups.notna()].groupby("arm_group", sort=False):
        if len(block) < 2:
            continue
        idx = block.index.to_numpy()
        t, c = block["treatment"].to_numpy(), block["comparator"].to_numpy()
        vt, vc = block["var_treat_arm"].to_numpy(float), block["var_ctrl_arm"].to_numpy(float)
        # Contrast = f(t) - f(c): a shared arm adds its variance with the product of its signs.
        cov = (
            (t[:, None] == t[None, :]) * vt[:, None]
            + (c[:, None] == c[None, :]) * vc[:, None]
            - (t[:, None] == c[None, :]) * vt[:, None]
            - (c[:, None] == t[None, :]) * vc[:, None]
        )
        for a, b in zip(*np.triu_indices(len(idx), 1)):
            if cov[a, b] != 0:
                out.append((int(idx[a]), int(idx[b]), float(cov[a, b])))
    return out


def compute_effects(
    rows: Sequence[Mapping[str, Any]] | pd.DataFrame,
    outcomes: Mapping[str, Outcome],
    add: float = 0.5,
    smd_variance: str = "metafor",
) -> pd.DataFrame:
    """Compute ``yi``, ``vi`` and a plain-language ``derivation`` for every row.

    Parameters
    ----------
    rows
        Typed study rows as returned by :func:`evsynth.data.studies.load_studies` (or their
        records). Order is kept.
    outcomes
        Configured outcomes, for each row's measure and direction.
    add
        Continuity correction for 2x2 tables with a zero cell.
    smd_variance
        "metafor" (exact J, ``vtype="LS"``) or "revman" (RevMan 5's SMD formulas).

    Returns
    -------
    pandas.DataFrame
        The input columns plus ``measure``, ``yi``, ``vi``, ``se``, ``estimable`` and
        ``derivation`` (for a non-estimable row, the reason).
    """
    frame = pd.DataFrame(rows).reset_index(drop=True)
    k = len(frame)
    yi, vi = np.full(k, np.nan), np.full(k, np.nan)
    derivation = [""] * k
    measures = [outcomes[o].measure for o in frame["outcome"]]
    for i in range(k):
        row = frame.iloc[i]
        outcome = outcomes[row["outcome"]]
        measure = measures[i]
        if row["form"] == "counts":
            chinn = measure == "SMD"  # binary results in an SMD outcome: log OR x sqrt(3)/pi (Chinn 2000)
            y, v, corrected = from_counts(
                "OR" if chinn else measure,
                [row["events_treat"]], [row["n_treat"]], [row["events_ctrl"]], [row["n_ctrl"]], add,
            )
            yi[i], vi[i] = y[0], v[0]
            name = "log OR" if chinn else f"log {measure}" if measure in RATIO_MEASURES else measure
            if np.isnan(yi[i]):
                derivation[i] = "not estimable: no events (or only events) in both arms"
            else:
                extra = f"; {add:g} added to each cell (zero cell)" if corrected[0] else ""
                derivation[i] = f"{name} from counts{extra}"
            if chinn:
                yi[i], vi[i] = smd_from_log_odds_ratio(yi[i], vi[i])
                if smd_variance == "metapsy":  # metapsyTools (esc_2x2): Chinn's d times J = 1 - 3/(4N - 9)
                    yi[i] *= approximate_j(row["n_treat"] + row["n_ctrl"])
                    derivation[i] += "; times J = 1-3/(4N-9) (metapsyTools)"
                if row.get("effect_direction") == "benefit_positive" and not outcome.higher_is_better:
                    yi[i] = -yi[i]
                    derivation[i] += "; sign reversed (events are good; lower is better here)"
        elif row["form"] == "means":
            y, v = from_means(
                measure,
                *[[row[c]] for c in ("mean_treat", "sd_treat", "n_treat", "mean_ctrl", "sd_ctrl", "n_ctrl")],
                smd_variance=smd_variance,
            )
            yi[i], vi[i] = y[0], v[0]
            derivation[i] = "MD from arm means and SDs" if measure == "MD" else SMD_DERIVATION[smd_variance]
        else:
            yi[i], vi[i], derivation[i] = _from_contrast(row, outcome, smd_variance)
    for column, default in CONVERSION_DEFAULTS.items():  # rows from before conversions, or hand-made
        frame[column] = frame[column].fillna(default) if column in frame else default
    # A cluster trial analysed as individually randomised: variance x design effect (Handbook 23.1.4).
    if "design_effect" in frame:
        de = pd.to_numeric(frame["design_effect"], errors="coerce").to_numpy(dtype=float)
        vi = np.where(np.isfinite(de), vi * de, vi)
    # A converted row's derivation says how: which arm, which numbers, which formula and source.
    derivation = [f"{d}; {c}" if c else d for d, c in zip(derivation, frame["conversion_detail"])]
    frame["measure"] = measures
    frame["yi"], frame["vi"] = yi, vi
    frame["se"] = np.sqrt(vi)
    frame["estimable"] = np.isfinite(yi) & np.isfinite(vi)
    frame["derivation"] = derivation
    return frame


SMD_DERIVATION = {
    "metafor": "Hedges' g (exact J) from arm means and SDs; variance 1/n1+1/n2+g²/(2N)",
    "revman": "Hedges' g (RevMan 5: J = 1-3/(4N-9)) from arm means and SDs; variance N/(n1n2)+g²/(2(N-3.94))",
    # No colon before the first clause's end: write_methods names a derivation by that clause.
    "metapsy": "Hedges' g by metapsyTools' formulas (J = 1-3/(4N-9)) from arm means and SDs; variance "
               "N/(n1n2)+d²/(2N) of the uncorrected d",
}


def _from_contrast(row: Mapping[str, Any], outcome: Outcome, smd_variance: str) -> tuple[float, float, str]:
    measure = row["effect_measure"]
    ratio = measure in RATIO_MEASURES
    scale = (lambda x: float(np.log(x))) if ratio else float
    y = scale(row["effect"])
    level = row.get("ci_level")
    level = 95.0 if level is None or pd.isna(level) else float(level)
    name = f"log {measure}" if ratio else measure
    has = lambda col: row.get(col) is not None and not pd.isna(row.get(col))  # noqa: E731
    if has("se"):
        v, how = float(row["se"]) ** 2, f"reported {measure} with SE"
    elif has("ci_lower"):
        z = z_for_level(level)
        se = (scale(row["ci_upper"]) - scale(row["ci_lower"])) / (2 * z)
        v = se**2
        how = f"reported {measure} with {level:g}% CI: se = ({name} upper - lower) / (2 x {z:.4f})"
    elif measure == "SMD" and has("n_treat") and has("n_ctrl"):
        v = float(smd_sampling_variance(y, row["n_treat"], row["n_ctrl"], smd_variance))
        formula = {"revman": "N/(n1n2)+d²/(2(N-3.94))", "metapsy": "N/(n1n2)+d²/(2N)"}.get(
            smd_variance, "1/n1+1/n2+d²/(2N)")
        how = f"reported SMD without CI or SE: variance {formula} from arm sizes"
    else:
        missing = "arm sizes, CI or SE" if measure == "SMD" else "CI or SE"
        return float("nan"), float("nan"), f"not estimable: reported {measure} without {missing}"
    if row.get("effect_direction") == "benefit_positive" and not outcome.higher_is_better:
        y = -y
        how += "; sign reversed (source: positive favours treatment; lower is better here)"
    return y, v, how


def compute_all_effects(
    rows: Sequence[Mapping[str, Any]] | pd.DataFrame,
    outcomes: Mapping[str, Outcome],
    modes: Sequence[str],
    add: float = 0.5,
    smd_variance: str = "metafor",
) -> pd.DataFrame:
    """:func:`compute_effects` for counts, means and contrasts, plus every contrast formed from
    arm-level rows (:func:`evsynth.data.contrasts.arm_contrasts`, with the columns its shared-arm
    covariance is rebuilt from). Input order is kept, derived contrasts follow."""
    frame = pd.DataFrame(rows).reset_index(drop=True)
    is_arm = frame["form"] == "arm" if "form" in frame else pd.Series(False, index=frame.index)
    parts = []
    if (~is_arm).any():
        parts.append(compute_effects(frame[~is_arm], outcomes, add=add, smd_variance=smd_variance))
    if is_arm.any():
        parts.append(arm_contrasts(frame[is_arm], outcomes, modes).effects)
    if not parts:
        return compute_effects(frame, outcomes, add=add, smd_variance=smd_variance)
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def analysis_effects(
    rows: Sequence[Mapping[str, Any]],
    outcome: Outcome,
    modes: Sequence[str],
    settings: MethodSettings,
    continuity_correction: float,
) -> pd.DataFrame:
    """Effect sizes of one analysis's study-table rows, one per trial and comparison, with
    ``estimable``: what :func:`evsynth.tables.pooled.analyse` pools, and what the workflow reads at parse time
    to know which plots an analysis gets (sensitivity plots, network plots): it lives here, below
    ``tables``, because the parse-time plan (:mod:`evsynth.pipeline.plan`) needs it."""
    return compute_all_effects(
        sort_rows(rows, modes), {outcome.id: outcome}, modes, add=continuity_correction,
        smd_variance=settings.smd_variance,
    )
