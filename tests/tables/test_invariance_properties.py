"""Pairwise analyses do not depend on how the study table is written (issue 21), on random tables
(hypothesis): any order of rows (contrast and arm rows alike) gives the same effects and pooled
results; writing every contrast the other way round (swap treatment and comparator, invert the
effect) mirrors them; renaming trials changes nothing but labels."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evsynth.data.config import Outcome, resolve_settings
from evsynth.tables.pooled import analyse

MODES = ["coach", "online", "usual_care"]
PROPERTY = settings(max_examples=25, deadline=None, derandomize=True)
PROFILES = [resolve_settings({"profile": p}) for p in ("cochrane-2025", "revman5", "metafor")]
OUTCOMES = {m: Outcome("o", "Outcome", m, True) for m in ("RR", "OR", "RD", "MD", "SMD")}
BASE = {"outcome": "o", "timepoint": "3", "window": "3", "timepoint_months": 3.0, "include": True,
        "exclusion_reason": "", "source": "doi:10.0000/test"}


@st.composite
def contrast_rows(draw, measure):
    """Rows of one comparison (coach vs usual_care): counts for binary measures, arm means and SDs
    or a reported contrast with its CI for continuous ones."""
    rows = []
    for i in range(draw(st.integers(1, 5))):
        row = {**BASE, "study": f"Trial {i}", "year": 2010 + i, "treatment": "coach", "comparator": "usual_care"}
        n1, n2 = draw(st.integers(10, 150)), draw(st.integers(10, 150))
        if measure in ("RR", "OR", "RD"):
            row |= {"form": "counts", "events_treat": draw(st.integers(0, n1)), "n_treat": n1,
                    "events_ctrl": draw(st.integers(0, n2)), "n_ctrl": n2}
        elif draw(st.booleans()):
            row |= {"form": "means", "mean_treat": draw(st.floats(-5, 5)), "sd_treat": draw(st.floats(0.5, 3)),
                    "n_treat": n1, "mean_ctrl": draw(st.floats(-5, 5)), "sd_ctrl": draw(st.floats(0.5, 3)),
                    "n_ctrl": n2}
        else:
            effect, half = draw(st.floats(-2, 2)), draw(st.floats(0.05, 1.5))
            row |= {"form": "contrast", "effect_measure": measure, "effect": effect, "ci_lower": effect - half,
                    "ci_upper": effect + half, "effect_direction": "treatment_minus_control", "n_treat": n1,
                    "n_ctrl": n2}
        rows.append(row)
    return rows


@st.composite
def arm_rows(draw):
    """A three-arm trial reported per arm (percent with CI), as RESOLVE is: RR contrasts with shared arms."""
    rows = []
    for arm in MODES:
        p = draw(st.floats(10, 80))
        rows.append({**BASE, "study": "Three-arm 2025", "year": 2025, "treatment": "", "comparator": "",
                     "form": "arm", "arm": arm, "arm_measure": "percent", "arm_estimate": p,
                     "arm_ci_lower": p * 0.8, "arm_ci_upper": min(p * 1.2, 99.0), "n_arm": draw(st.integers(50, 300))})
    return rows


def reverse(row):
    """The same contrast written the other way round."""
    out = {**row, "treatment": row["comparator"], "comparator": row["treatment"]}
    if row["form"] == "counts" or row["form"] == "means":
        for a, b in (("events_treat", "events_ctrl"), ("n_treat", "n_ctrl"), ("mean_treat", "mean_ctrl"),
                     ("sd_treat", "sd_ctrl")):
            if a in row:
                out[a], out[b] = row[b], row[a]
    elif row["form"] == "contrast":
        out["n_treat"], out["n_ctrl"] = row["n_ctrl"], row["n_treat"]
        if row["effect_measure"] in ("RR", "OR"):
            out |= {"effect": 1 / row["effect"], "ci_lower": 1 / row["ci_upper"], "ci_upper": 1 / row["ci_lower"]}
        else:
            out |= {"effect": -row["effect"], "ci_lower": -row["ci_upper"], "ci_upper": -row["ci_lower"]}
    return out


def results(rows, measure, profile):
    effects, comparisons = analyse(rows, OUTCOMES[measure], MODES, profile, 0.5)
    by_study = {(r["study"], r["treatment"], r["comparator"]): (r["yi"], r["vi"], r["estimable"], r["weight_pct"])
                for r in effects.to_dict("records")}
    return by_study, {(c.treatment, c.comparator): c for c in comparisons}


def same_pooled(a, b, sign=1.0):
    assert a.status == b.status and sorted(a.studies) == sorted(b.studies) and a.n_participants == b.n_participants
    if a.pooled is None:
        assert b.pooled is None
        return
    p, q = a.pooled, b.pooled
    assert q.theta == pytest.approx(sign * p.theta, rel=1e-7, abs=1e-10)
    assert q.se == pytest.approx(p.se, rel=1e-7)
    assert q.tau2 == pytest.approx(p.tau2, rel=1e-6, abs=1e-10)
    assert q.q == pytest.approx(p.q, rel=1e-7, abs=1e-10)
    assert q.p_value == pytest.approx(p.p_value, rel=1e-6, abs=1e-12)
    lo, hi = (q.ci_lower, q.ci_upper) if sign > 0 else (-q.ci_upper, -q.ci_lower)
    assert (lo, hi) == (pytest.approx(p.ci_lower, rel=1e-7, abs=1e-10), pytest.approx(p.ci_upper, rel=1e-7, abs=1e-10))


def same_effects(a, b, key=lambda k: k, sign=1.0):
    assert {key(k) for k in a} == set(b)
    for k, (yi, vi, ok, w) in a.items():
        yj, vj, okj, wj = b[key(k)]
        assert ok == okj
        if ok:
            assert (yj, vj) == (pytest.approx(sign * yi, rel=1e-9, abs=1e-12), pytest.approx(vi, rel=1e-9))
            assert np.isnan(w) == np.isnan(wj) and (np.isnan(w) or wj == pytest.approx(w, rel=1e-6, abs=1e-9))


@PROPERTY
@given(measure=st.sampled_from(list(OUTCOMES)), profile=st.sampled_from(PROFILES), data=st.data())
def test_any_order_of_rows_gives_the_same_results(measure, profile, data):
    rows = data.draw(contrast_rows(measure))
    if measure == "RR":
        rows += data.draw(arm_rows())
    order = data.draw(st.permutations(range(len(rows))))
    effects, pooled = results(rows, measure, profile)
    effects2, pooled2 = results([rows[i] for i in order], measure, profile)
    same_effects(effects, effects2)
    assert list(pooled) == list(pooled2)  # comparisons in the configured order, not the table's
    for key in pooled:
        same_pooled(pooled[key], pooled2[key])


@PROPERTY
@given(measure=st.sampled_from(list(OUTCOMES)), profile=st.sampled_from(PROFILES), data=st.data())
def test_reversing_every_contrast_mirrors_the_results(measure, profile, data):
    rows = data.draw(contrast_rows(measure))
    effects, pooled = results(rows, measure, profile)
    effects2, pooled2 = results([reverse(r) for r in rows], measure, profile)
    mirror = lambda k: (k[0], k[2], k[1])  # noqa: E731
    same_effects(effects, effects2, key=mirror, sign=-1.0)
    assert set(pooled2) == {mirror((None, *k))[1:] for k in pooled}
    for (t, c), comparison in pooled.items():
        same_pooled(comparison, pooled2[(c, t)], sign=-1.0)


@PROPERTY
@given(measure=st.sampled_from(list(OUTCOMES)), profile=st.sampled_from(PROFILES),
       prefix=st.text(alphabet="zZa1 -'é&", min_size=1, max_size=5), data=st.data())
def test_renaming_trials_changes_nothing_but_labels(measure, profile, prefix, data):
    rows = data.draw(contrast_rows(measure))
    if measure == "RR":
        rows += data.draw(arm_rows())
    names = {r["study"]: f"{prefix}{len(rows) - i}" for i, r in enumerate(rows)}
    effects, pooled = results(rows, measure, profile)
    effects2, pooled2 = results([{**r, "study": names[r["study"]]} for r in rows], measure, profile)
    same_effects(effects, effects2, key=lambda k: (names[k[0]], *k[1:]))
    for key, comparison in pooled.items():
        renamed = pooled2[key]
        assert sorted(renamed.studies) == sorted(names[s] for s in comparison.studies)
        same_pooled(comparison, renamed.__class__(**{**vars(renamed), "studies": comparison.studies}))
