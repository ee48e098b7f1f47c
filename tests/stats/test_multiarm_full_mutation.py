"""Combining a trial's CBT arms (evsynth.stats.multiarm) where the full-module mutation run
(mutation/report-multiarm-metaregression.md) found no test: the default zero-cell correction, the
wording of the combined proportion, the MD branch of arm estimates, the RD branch of reported
contrasts, and the bounds of the sizes and back-calculated variances those contrasts accept.

Expected values:

* tests/oracle/data/metafor_multiarm_zero_cell.json (tests/oracle/reference/
  metafor_multiarm_zero_cell.R): dat.dong2013 (Dong et al. 2013, Thorax 68:48-56) trial 33, two
  active arms summed vs placebo with a zero cell, metafor 3.8.1 ``escalc(RR | OR | RD)`` at its
  default ``add = 1/2, to = "only0"``;
* tests/oracle/data/metafor_multiarm.json (tests/oracle/reference/metafor_multiarm.R):
  dat.senn2013 Willms (1999), metformin and acarbose by Table 6.5.a, ``escalc(MD, vtype = "LS")``;
  dat.hasselblad1998 Cottraux et al. (1983), counselling arms summed, ``escalc(RD)``; RESOLVE
  (DeBar et al., JAMA 2025, Table 2) arm percentages, the combined percentage ``100 sum(n p)/N``;
* closed forms: the variance of a weighted sum of independent arms, ``sum w_a² var_a + var_c``.

Tolerance: TOL["escalc_rel"] / TOL["escalc_abs"] against metafor; 1e-13 relative for closed forms
(a few roundings of double arithmetic).
"""

from __future__ import annotations

import numpy as np
import pytest

from evsynth.data.contrasts import arm_scale
from evsynth.stats.multiarm import NotCombinable, combined_arm_estimates, combined_contrasts, combined_counts
from oracle._oracle import TOL, load

ZERO_CELL = load("metafor_multiarm_zero_cell")
MULTIARM = load("metafor_multiarm")
CLOSED = 1e-13


def close(actual, expected):
    assert actual == pytest.approx(expected, rel=TOL["escalc_rel"], abs=TOL["escalc_abs"])


# ------------------------------------------------------- counts: the default zero-cell correction


@pytest.mark.parametrize("measure", ["rr", "or", "rd"])
def test_summed_counts_with_a_zero_cell_default_to_escalcs_correction(measure):
    """Kills stats/multiarm.py:89:111:129 (default ``add`` 0.5 -> 1.0). dat.dong2013 trial 33:
    deaths 1/131 + 0/131 summed vs placebo 0/125. The placebo arm has no event, so the combined
    table gets metafor escalc()'s default 1/2 in every cell; called without ``add``, the function
    must give escalc()'s defaults (the module promises "same zero-cell correction")."""
    case = ZERO_CELL[f"dong_33_{measure}"]
    c = combined_counts(case["measure"], case["events"], case["n"], case["events_ctrl"], case["n_ctrl"])
    close(c.yi, case["yi"])
    close(c.vi, case["vi"])
    assert c.method.endswith("; 0.5 added to each cell (zero cell)")
    assert (c.events_treat, c.n_treat, c.events_ctrl, c.n_ctrl) == (1.0, 262.0, 0.0, 125.0)


# ------------------------------------------------ arm estimates: the combined proportion, in words


@pytest.mark.parametrize("measure", ["RR", "OR", "RD"])
def test_the_method_states_the_combined_percentage_of_the_arms(measure):
    """Kills stats/multiarm.py:150:73:1177 (``100 * p_c`` -> ``100 / p_c``) and :150:73:1274
    (``100`` -> ``101``). The method text goes into pooled.tsv's note of a single trial's
    across-modes row; for RESOLVE's pain-severity response (coach 32.0% of 690, online 26.6% of
    643) it must state the events-summed percentage metafor_multiarm.R computes (29.395...%),
    whichever scale (log, logit, identity) the arms were combined on."""
    case = MULTIARM["resolve_ps3_rr"]
    f, var = arm_scale(measure, "percent", case["percent"], case["lower"], case["upper"])
    c = combined_arm_estimates(measure, case["n"], f, var, 0.0, 0.01, case["n_ctrl"])
    assert f"{case['combined_percent']:.4g}" == "29.4"
    assert "(= events summed; 29.4% of 1333)" in c.method


# ------------------------------------------------------- arm estimates: MD (arm means and their SEs)


def test_arm_means_with_their_standard_errors_give_escalcs_md_of_the_combined_group():
    """Kills stats/multiarm.py:140:48:981 (``var * n`` -> ``var / n``), :141:24:721
    (``sd**2 / N`` -> ``* N``), :141:24:985 (``sd**2`` -> ``sd*2``) and :141:28:1153
    (``sd**2`` -> ``sd**3``). dat.senn2013, Willms (1999), given as each arm's mean and its
    SE² = SD²/n (as a trial reporting adjusted means with CIs would give them): the combined MD
    and its variance are metafor ``escalc(MD, vtype = "LS")`` on the Table 6.5.a group (SD =
    SE sqrt(n)), var = SD²/N + SE_ctrl²."""
    case = MULTIARM["senn_willms_md"]
    n, sd = np.array(case["n"], float), np.array(case["sd"], float)
    c = combined_arm_estimates("MD", n, case["mean"], sd**2 / n, case["mean_ctrl"],
                               case["sd_ctrl"] ** 2 / case["n_ctrl"], case["n_ctrl"])
    close(c.yi, case["yi"])
    close(c.vi, case["vi"])
    assert (c.n_treat, c.n_ctrl) == (case["combined_n"], case["n_ctrl"])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_arm_means_combine_to_the_pooled_raw_data_mean_and_its_standard_error(seed):
    """The same branch on raw data: three arms' means and SE² = var/n combine to the mean of all
    their participants, with variance var(all)/N (the SE² of that mean)."""
    rng = np.random.default_rng(seed)
    arms = [rng.normal(rng.uniform(-3, 3), rng.uniform(0.5, 4), rng.integers(5, 80)) for _ in range(3)]
    n = np.array([a.size for a in arms], float)
    c = combined_arm_estimates("MD", n, [a.mean() for a in arms], [a.var(ddof=1) / a.size for a in arms],
                               f_ctrl=0.0, var_ctrl=0.0)
    raw = np.concatenate(arms)
    assert c.yi == pytest.approx(raw.mean(), rel=CLOSED)
    assert c.vi == pytest.approx(raw.var(ddof=1) / raw.size, rel=CLOSED)


# --------------------------------------------------------------- reported contrasts: RD (and MD)


def cottraux_contrasts():
    """dat.hasselblad1998, Cottraux et al. (1983): the two counselling arms' RDs vs no contact
    and vs each other, as a report would give them, from the arms' binomial variances."""
    case = MULTIARM["hasselblad_cottraux_rd"]
    n = np.array(case["n"], float)
    p, pc = np.array(case["events"]) / n, case["events_ctrl"] / case["n_ctrl"]
    s, s_c = p * (1 - p) / n, pc * (1 - pc) / case["n_ctrl"]
    return case, n, p, pc, s, s_c


def test_reported_rd_contrasts_combine_to_the_summed_events_rd():
    """Kills stats/multiarm.py:188:12:483 (``n / N`` -> ``n * N``), :189:37:1088 (``+ s_c`` ->
    ``- s_c``), :189:44:1303 (``w**2 * s`` -> ``w**2 / s``), :189:44:1329 (``w**2`` -> ``w*2``)
    and :189:47:1347 (``w**2`` -> ``w**3``). The size-weighted mean of the reported RDs is the RD
    of the summed events (metafor ``escalc(RD)`` on 33/278 vs 9/140); its variance is that of a
    weighted sum of independent arms, sum (n_a/N)² s_a + s_ctrl, with the arm variances
    back-calculated from the three contrasts."""
    case, n, p, pc, s, s_c = cottraux_contrasts()
    c = combined_contrasts("RD", n, p - pc, s + s_c, float(s.sum()))
    close(c.yi, case["yi"])
    w = n / n.sum()
    assert c.vi == pytest.approx(w[0] ** 2 * s[0] + w[1] ** 2 * s[1] + s_c, rel=CLOSED)
    assert c.n_treat == 278.0 and f"control arm {s_c:.4g}); n = 278" in c.method


@pytest.mark.parametrize("measure", ["RD", "MD"])
def test_reported_contrasts_combine_as_the_arm_estimates_they_come_from(measure):
    """Two paths, one answer: the contrasts of two arms against a control (and of each other)
    give the same combined contrast as the arm estimates themselves (Cottraux's proportions for
    RD; Willms's means with SE² = SD²/n for MD)."""
    if measure == "RD":
        _, n, f, f_c, s, s_c = cottraux_contrasts()
    else:
        case = MULTIARM["senn_willms_md"]
        n, sd = np.array(case["n"], float), np.array(case["sd"], float)
        f, f_c, s, s_c = np.array(case["mean"]), case["mean_ctrl"], sd**2 / n, case["sd_ctrl"] ** 2 / case["n_ctrl"]
    from_arms = combined_arm_estimates(measure, n, f, s, f_c, s_c)
    from_contrasts = combined_contrasts(measure, n, f - f_c, s + s_c, float(s.sum()))
    assert from_contrasts.yi == pytest.approx(from_arms.yi, rel=CLOSED)
    assert from_contrasts.vi == pytest.approx(from_arms.vi, rel=1e-12)


# ------------------------------------------------------ reported contrasts: what they must not accept


def test_reported_contrasts_need_every_arm_size_positive_and_accept_an_arm_of_one():
    """Kills stats/multiarm.py:173:12:458 (``and`` -> ``or``: finite sizes would pass whatever
    their sign), :173:46:1053 (``n > 0`` -> ``n >= 0``) and :173:50:1202 (``n > 0`` -> ``n > 1``).
    The sizes are the weights: an arm of 0 or fewer participants (or of unknown size) has none,
    and the study table accepts an arm of 1 (evsynth.data.validate: "must be at least 1"), whose
    weight is 1/51 of the combined group here."""
    y, v, s_c = np.array([0.1, 0.3]), np.array([0.02, 0.03]), 0.005  # arm variances 0.015, 0.025
    for sizes in ([0.0, 50.0], [-3.0, 50.0], [np.nan, 50.0]):
        with pytest.raises(NotCombinable, match="the CBT arms' sizes are needed to combine them"):
            combined_contrasts("RD", sizes, y, v, float(np.sum(v - s_c)))
    c = combined_contrasts("RD", [1.0, 50.0], y, v, float(np.sum(v - s_c)))
    assert c.yi == pytest.approx((0.1 + 50 * 0.3) / 51, rel=CLOSED)
    assert c.vi == pytest.approx(0.015 / 51**2 + 0.025 * (50 / 51) ** 2 + s_c, rel=CLOSED)
    assert c.n_treat == 51.0


@pytest.mark.parametrize("measure", ["RD", "MD"])
def test_back_calculated_arm_variances_of_zero_are_refused(measure):
    """Kills stats/multiarm.py:177:12:793 (``s_c > 0`` -> ``>=``) and :177:31:1063 (``s > 0`` ->
    ``>=``). Rounded CIs can make v_1 + v_2 = v_12 exactly (control-arm variance 0) or v_12 = v_1
    (a CBT arm's variance 0); an arm whose mean is known without error is an artefact, and the
    module refuses arm variances that are not positive. Powers of two keep the sums exact; the
    smallest positive variances next to them are accepted."""
    v1, v2 = 2.0**-8, 2.0**-7
    for v_between in (v1 + v2, v1):  # s_c = 0; s_1 = 0
        with pytest.raises(NotCombinable, match="back-calculated from the three reported contrasts are not all "
                                                "positive"):
            combined_contrasts(measure, [40.0, 60.0], [0.2, 0.4], [v1, v2], v_between)
    for v_between in (np.nextafter(v1 + v2, 0.0), np.nextafter(v1, 1.0)):
        c = combined_contrasts(measure, [40.0, 60.0], [0.2, 0.4], [v1, v2], float(v_between))
        assert c.yi == pytest.approx(0.32, rel=CLOSED) and np.isfinite(c.vi) and c.vi > 0
