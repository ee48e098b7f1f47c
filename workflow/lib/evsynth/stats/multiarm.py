"""One trial's CBT arms combined into one group against its shared comparator.

With a single trial, the across-modes question ("any remote CBT vs usual care") has one answer
that needs no model of heterogeneity between trials: the trial's own contrast of all its CBT arms
together against its control arm. The Cochrane Handbook (v6.5, §23.3.4) recommends exactly this
for a multi-arm trial whose arms are to be compared as one: "combine all relevant experimental
intervention groups of the study into a single group". How, by kind of data:

* **counts** (§6.5.2.10's rule for dichotomous data): sum the arms' events and participants,
  then the effect of that 2x2 table (:func:`evsynth.stats.escalc.from_counts`, same zero-cell
  correction);
* **means and SDs**: the Handbook's Table 6.5.a, applied arm after arm::

      N = N1 + N2,  M = (N1 M1 + N2 M2) / N,
      SD = sqrt(((N1 - 1) SD1² + (N2 - 1) SD2² + N1 N2 / N (M1² + M2² - 2 M1 M2)) / (N - 1)),

  then MD or SMD (:func:`evsynth.stats.escalc.from_means`);
* **arm-level estimates with CIs** (adjusted percentages or means, as RESOLVE reports): summing
  events is the size-weighted mean of the arms' proportions, ``p = Σ n_a p_a / Σ n_a``, with
  ``var(p) = Σ (n_a / N)² var(p_a)`` from each arm's CI (delta method onto the proportion scale
  and back onto the analysis scale); arm means are combined by Table 6.5.a with
  ``SD_a = SE_a sqrt(n_a)``, so ``var(M) = SD² / N``. The control arm keeps its own estimate
  and variance. Adjusted proportions have no counts, so the binomial mixture term that summed
  counts carry is not added: the variance is the one of the arms' own (adjusted) estimates;
* **reported MD or RD contrasts of two CBT arms against one control**, with their contrast of
  each other: the arm variances are back-calculated from the three contrasts' variances
  (``s_c = (v_1c + v_2c - v_12) / 2``, as netmeta does for multi-arm trials), then as above:
  the combined contrast is ``Σ w_a y_a`` (``w_a = n_a / N``; for MD, Table 6.5.a's combined
  mean minus the control mean) with Table 6.5.a's SD for MD. Ratio and SMD contrasts cannot be
  combined without arm-level data (a mean of log RRs or of SMDs is not the combined group's
  contrast), and neither can contrasts whose arm variances come out non-positive.

References
----------
Higgins JPT, Li T, Deeks JJ (eds). Cochrane Handbook for Systematic Reviews of Interventions
v6.5 (2024), §6.5.2.10 and Table 6.5.a (combining groups), §23.3.4 (multi-arm trials).
Rücker G (2012). Network meta-analysis, electrical networks and graph theory. Res Synth
Methods 3:312-324 (arm variances from the contrasts of a multi-arm trial).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from evsynth.stats.conversions import combine_groups as combine_two_groups
from evsynth.stats.escalc import from_counts, from_means

RULE = (
    "one trial: its CBT arms combined into one group against its control arm (Cochrane Handbook "
    "6.5.2.10, 23.3.4), not a model fitted across trials"
)


@dataclass(frozen=True)
class CombinedArms:
    """The combined-arms contrast of one trial on the analysis scale (log for RR and OR).

    ``n_treat``/``n_ctrl`` are the combined group's and the control arm's sizes (None when
    not known); ``events_treat``/``events_ctrl`` the summed and control events (counts only);
    ``method`` says how it was combined, in words.
    """

    yi: float
    vi: float
    n_treat: float | None
    n_ctrl: float | None
    method: str
    events_treat: float | None = None
    events_ctrl: float | None = None


class NotCombinable(ValueError):
    """The arms cannot be combined from the data given; the message says why."""


def combine_groups(n: Sequence[float], mean: Sequence[float], sd: Sequence[float]) -> tuple[float, float, float]:
    """Sample size, mean and SD of groups combined into one (Cochrane Handbook v6.5, Table 6.5.a),
    the formula applied to the first two groups, then to that result and the third, and so on."""
    n_c, m_c, sd_c = float(n[0]), float(mean[0]), float(sd[0])
    for n2, m2, sd2 in zip(n[1:], mean[1:], sd[1:]):
        n_c, m_c, sd_c = (float(x) for x in combine_two_groups(n_c, m_c, sd_c, n2, m2, sd2))
    return n_c, m_c, sd_c


def combined_counts(
    measure: str, events: Sequence[float], n: Sequence[float], events_ctrl: float, n_ctrl: float, add: float = 0.5
) -> CombinedArms:
    """RR, OR or RD of the arms' summed events and participants against the control arm."""
    a, n1 = float(np.sum(events)), float(np.sum(n))
    y, v, corrected = from_counts(measure, [a], [n1], [events_ctrl], [n_ctrl], add)
    extra = f"; {add:g} added to each cell (zero cell)" if corrected[0] else ""
    how = f"events and participants of the CBT arms summed ({a:g}/{n1:g} vs {events_ctrl:g}/{n_ctrl:g}){extra}"
    return CombinedArms(float(y[0]), float(v[0]), n1, float(n_ctrl), how, a, float(events_ctrl))


def combined_means(
    measure: str,
    n: Sequence[float],
    mean: Sequence[float],
    sd: Sequence[float],
    n_ctrl: float,
    mean_ctrl: float,
    sd_ctrl: float,
    smd_variance: str = "metafor",
) -> CombinedArms:
    """MD or SMD of the CBT arms combined by Table 6.5.a against the control arm."""
    n1, m1, sd1 = combine_groups(n, mean, sd)
    y, v = from_means(measure, [m1], [sd1], [n1], [mean_ctrl], [sd_ctrl], [n_ctrl], smd_variance=smd_variance)
    how = f"CBT arms combined by Cochrane Handbook Table 6.5.a (n = {n1:g}, mean = {m1:.6g}, SD = {sd1:.6g})"
    return CombinedArms(float(y[0]), float(v[0]), n1, float(n_ctrl), how)


_TO_P = {"RR": np.exp, "OR": lambda f: 1 / (1 + np.exp(-f)), "RD": lambda f: f}
_DP_DF = {"RR": lambda p: p, "OR": lambda p: p * (1 - p), "RD": lambda p: np.ones_like(p)}
_FROM_P = {"RR": np.log, "OR": lambda p: np.log(p / (1 - p)), "RD": lambda p: p}


def combined_arm_estimates(
    measure: str,
    n: Sequence[float],
    f: Sequence[float],
    var: Sequence[float],
    f_ctrl: float,
    var_ctrl: float,
    n_ctrl: float | None = None,
) -> CombinedArms:
    """The combined-arms contrast from arm estimates on the analysis scale (module docstring).

    ``f``, ``var``: each CBT arm's log p (RR), logit p (OR), p (RD) or mean (MD) and its variance
    (:func:`evsynth.data.contrasts.arm_scale`); ``n``: the arms' sizes (the weights).
    """
    n, f, var = (np.asarray(x, dtype=float) for x in (n, f, var))
    if not (np.all(np.isfinite(n)) and np.all(n > 0)):
        raise NotCombinable("the CBT arms' sizes are needed to combine them")
    N = float(n.sum())
    if measure == "MD":
        N, m, sd = combine_groups(n, f, np.sqrt(var * n))
        f_c, var_c = m, sd**2 / N
        how = f"arm means combined by Cochrane Handbook Table 6.5.a (SD = SE x sqrt(n); n = {N:g})"
    elif measure in _TO_P:
        p = _TO_P[measure](f)
        w = n / N
        p_c = float(w @ p)
        var_p = float(np.sum(w**2 * var * _DP_DF[measure](p) ** 2))
        f_c = float(_FROM_P[measure](np.asarray(p_c)))
        var_c = var_p / float(_DP_DF[measure](np.asarray(p_c))) ** 2
        how = (f"arm proportions weighted by arm size (= events summed; {100 * p_c:.4g}% of {N:g}), variance "
               "from each arm's CI (delta method)")
    else:
        raise NotCombinable(f"arm estimates give RR, OR, RD or MD, not {measure}")
    return CombinedArms(float(f_c - f_ctrl), float(var_c + var_ctrl), N, n_ctrl, how)


def combined_contrasts(
    measure: str, n: Sequence[float], yi: Sequence[float], vi: Sequence[float], v_between: float
) -> CombinedArms:
    """Two CBT arms' reported MD or RD contrasts against one control, combined (module docstring).

    ``yi``, ``vi``: arm 1 and arm 2 vs control; ``v_between``: the variance of arm 1 vs arm 2's
    reported contrast; ``n``: the two arms' sizes.
    """
    if measure not in ("MD", "RD"):
        raise NotCombinable(
            f"reported {measure} contrasts cannot be combined into one CBT group without arm-level data "
            "(counts, means and SDs, or arm estimates)"
        )
    n, y, v = (np.asarray(x, dtype=float) for x in (n, yi, vi))
    if len(y) != 2:
        raise NotCombinable("combining reported contrasts is implemented for two CBT arms")
    if not (np.all(np.isfinite(n)) and np.all(n > 0)):
        raise NotCombinable("the CBT arms' sizes are needed to combine them")
    s_c = (v[0] + v[1] - v_between) / 2
    s = v - s_c
    if not (s_c > 0 and np.all(s > 0)):
        raise NotCombinable(
            "the arm variances back-calculated from the three reported contrasts are not all positive "
            "(rounded CIs); the arms cannot be combined"
        )
    if measure == "MD":  # arm means relative to the control mean; Table 6.5.a is translation-invariant
        N, m, sd = combine_groups(n, y, np.sqrt(s * n))
        yc, vc = m, sd**2 / N + s_c
        how = "reported MDs combined by Cochrane Handbook Table 6.5.a"
    else:
        N = float(n.sum())
        w = n / N
        yc, vc = float(w @ y), float(np.sum(w**2 * s) + s_c)
        how = "reported RDs weighted by arm size (= events summed)"
    how += (f", arm variances back-calculated from the three reported contrasts (netmeta's rule; "
            f"control arm {s_c:.4g}); n = {N:g}")
    return CombinedArms(float(yc), float(vc), N, None, how)
