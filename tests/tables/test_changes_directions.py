"""The change log in both directions (issue 21): whatever is reported when a trial, row or analysis
is added must be reported, mirrored, when it is removed; conclusions flip both ways."""

from __future__ import annotations

import pandas as pd
import pytest

from evsynth.reports.changes import render_markdown
from evsynth.tables.changes import compare_results

SWAPPED = {"baseline": "current", "current": "baseline"}


def pooled_row(outcome="o", **values):
    row = {"outcome": outcome, "timepoint": "post", "treatment": "coach", "comparator": "usual_care",
           "measure": "RR", "k": 3, "estimate": 1.5, "ci_lower": 1.2, "ci_upper": 1.9, "pi_lower": 0.9,
           "pi_upper": 2.5, "i2": 30.0, "status": "pooled", "studies": "A 2020; B 2021; C 2022"}
    return {**row, **values}


def effect_row(study, yi=0.4, outcome="o"):
    return {"study": study, "outcome": outcome, "window": "post", "timepoint": "3", "treatment": "coach",
            "comparator": "usual_care", "yi": yi, "vi": 0.1, "status": "in analysis"}


def snapshot(*rows, effects=None):
    return {"pooled": pd.DataFrame(list(rows)), "effects": None if effects is None else pd.DataFrame(effects),
            "provenance": None}


SMALL = snapshot(
    pooled_row(),
    pooled_row(outcome="p", k=2, studies="A 2020; B 2021"),
    effects=[effect_row("A 2020"), effect_row("B 2021"), effect_row("C 2022"),
             effect_row("A 2020", outcome="p"), effect_row("B 2021", outcome="p")],
)
LARGE = snapshot(
    pooled_row(k=4, estimate=1.2, ci_lower=0.95, ci_upper=1.5, pi_lower=1.01, i2=60.0,
               studies="A 2020; B 2021; C 2022; New 2026"),
    pooled_row(outcome="p", k=2, studies="A 2020; B 2021"),
    pooled_row(outcome="extra", k=2, studies="A 2020; New 2026"),
    effects=[effect_row("A 2020"), effect_row("B 2021"), effect_row("C 2022"), effect_row("New 2026"),
             effect_row("A 2020", outcome="p"), effect_row("B 2021", yi=0.5, outcome="p"),
             effect_row("A 2020", outcome="extra"), effect_row("New 2026", outcome="extra")],
)


def by_outcome(records):
    return {r["outcome"]: r for r in records}


def mirrored(record):
    """The record seen from the other side: baseline <-> current, added <-> removed."""
    out = {}
    for key, value in record.items():
        stem, _, side = key.rpartition("_")
        if side in SWAPPED:
            out[f"{stem}_{SWAPPED[side]}"] = value
        else:
            out[key] = value
    out["trials_added"], out["trials_removed"] = record["trials_removed"], record["trials_added"]
    out["change"] = {"analysis added": "analysis removed", "analysis removed": "analysis added"}.get(
        record["change"], record["change"])
    return out


def test_a_trial_removed_from_an_analysis_is_listed():
    """The survivor of issue 21: only added trials were listed."""
    record = by_outcome(compare_results(SMALL, LARGE))["o"]
    assert record["trials_removed"] == "New 2026" and record["trials_added"] == ""
    assert record["change"] == "changed" and (record["k_baseline"], record["k_current"]) == (4, 3)
    assert record["flipped"] == "CI; PI; I² band"
    assert (record["ci_excludes_no_effect_baseline"], record["ci_excludes_no_effect_current"]) == ("no", "yes")
    assert (record["i2_band_baseline"], record["i2_band_current"]) == ("50-75%", "25-50%")


@pytest.mark.parametrize("with_effects", [True, False])
def test_comparing_the_other_way_mirrors_every_record(with_effects):
    def strip(s):
        return s if with_effects else {**s, "effects": None}

    forward = by_outcome(compare_results(strip(LARGE), strip(SMALL)))
    backward = by_outcome(compare_results(strip(SMALL), strip(LARGE)))
    assert set(forward) == set(backward) == {"o", "p", "extra"}
    for outcome, record in forward.items():
        assert backward[outcome] == mirrored(record), outcome
    assert forward["extra"]["change"] == "analysis added" and backward["extra"]["change"] == "analysis removed"
    assert forward["p"]["data_changed"] == backward["p"]["data_changed"] == ("B 2021" if with_effects else "")


@pytest.mark.parametrize("with_effects", [True, False])
def test_markdown_lists_removed_trials_as_it_lists_added_ones(with_effects):
    def strip(s):
        return s if with_effects else {**s, "effects": None}

    grown = render_markdown(compare_results(strip(LARGE), strip(SMALL)), strip(LARGE), strip(SMALL), "v1")
    shrunk = render_markdown(compare_results(strip(SMALL), strip(LARGE)), strip(SMALL), strip(LARGE), "v1")
    # Without effects.tsv the summary counts trials per analysis (A 2020 is new to the added analysis).
    listed = "1 (New 2026)" if with_effects else "2 (A 2020, New 2026)"
    assert f"- Trials added: {listed}" in grown and "- Trials removed: 0" in grown
    assert f"- Trials removed: {listed}" in shrunk and "- Trials added: 0" in shrunk
    assert "## Trials removed" in shrunk and "## Trials added" not in shrunk
    assert "## Trials added" in grown and "## Trials removed" not in grown
    assert ("**New 2026**: o post, coach vs usual_care (1.20 [0.95, 1.50] -> 1.50 [1.20, 1.90]); "
            "extra post, coach vs usual_care (1.50 [1.20, 1.90] -> none)") in shrunk
    assert "| o post, coach vs usual_care | 4 -> 3 | 1.20 [0.95, 1.50] | 1.50 [1.20, 1.90] |  | New 2026 |" in shrunk
    assert "| o post, coach vs usual_care | 3 -> 4 | 1.50 [1.20, 1.90] | 1.20 [0.95, 1.50] | New 2026 |  |" in grown
    assert "## Analyses removed\n\n- extra post" in shrunk and "## Analyses added\n\n- extra post" in grown
    assert "| o post, coach vs usual_care | CI | includes no effect | excludes no effect |" in shrunk
    assert "| o post, coach vs usual_care | CI | excludes no effect | includes no effect |" in grown
    assert "0 added, 1 removed" in shrunk and "1 added, 0 removed" in grown


def test_a_trial_removed_from_the_review_but_no_analysis_is_still_listed():
    """A trial whose rows left effects.tsv altogether (e.g. every row excluded), in no pooled analysis."""
    before = snapshot(pooled_row(), effects=[effect_row("A 2020"), effect_row("Gone 2019")])
    after = snapshot(pooled_row(), effects=[effect_row("A 2020")])
    text = render_markdown(compare_results(after, before), after, before, "v1")
    assert "- Trials removed: 1 (Gone 2019)" in text
    assert "**Gone 2019**: in no pooled comparison" in text
    text = render_markdown(compare_results(before, after), before, after, "v1")
    assert "- Trials added: 1 (Gone 2019)" in text
