"""The change log (evsynth.tables.changes, evsynth.reports.changes) and baseline snapshots (evsynth.freeze)."""

from __future__ import annotations

import pandas as pd
import pytest

from evsynth.freeze import freeze, main
from evsynth.reports.changes import render_markdown
from evsynth.tables.changes import compare_results, i2_band, load_snapshot


def pooled_row(outcome="o", treatment="coach", **values):
    row = {"outcome": outcome, "timepoint": "post", "treatment": treatment, "comparator": "usual_care",
           "measure": "RR", "k": 3, "estimate": 1.5, "ci_lower": 1.2, "ci_upper": 1.9, "pi_lower": 0.9,
           "pi_upper": 2.5, "i2": 30.0, "status": "pooled", "studies": "A 2020; B 2021; C 2022"}
    return {**row, **values}


def snapshot(*rows, effects=None, provenance=None):
    return {"pooled": pd.DataFrame(list(rows)), "effects": effects, "provenance": provenance}


def test_i2_bands():
    assert [i2_band(x) for x in (0, 24.9, 25, 49.99, 50, 75, 100)] == [
        "<25%", "<25%", "25-50%", "25-50%", "50-75%", ">=75%", ">=75%"]
    assert i2_band(None) == "" and i2_band(float("nan")) == ""
    assert i2_band(35, [40]) == "<40%"


def test_added_trial_moved_estimate_and_flipped_conclusions():
    before = snapshot(pooled_row(), pooled_row(outcome="p"), pooled_row(outcome="gone"))
    after = snapshot(
        pooled_row(k=4, estimate=1.2, ci_lower=0.95, ci_upper=1.5, pi_lower=1.01, i2=60.0,
                   studies="A 2020; B 2021; C 2022; New 2026"),
        pooled_row(outcome="p", estimate=1.5 * (1 + 1e-9)),  # numerical noise: not a move
        pooled_row(outcome="new"),
    )
    records = {r["outcome"]: r for r in compare_results(after, before)}
    changed = records["o"]
    assert changed["change"] == "changed" and changed["moved"] is True
    assert changed["trials_added"] == "New 2026" and changed["trials_removed"] == ""
    assert changed["flipped"] == "CI; PI; I² band"
    assert (changed["ci_excludes_no_effect_baseline"], changed["ci_excludes_no_effect_current"]) == ("yes", "no")
    assert (changed["i2_band_baseline"], changed["i2_band_current"]) == ("25-50%", "50-75%")
    assert records["p"]["change"] == "unchanged" and records["p"]["moved"] is False
    assert records["new"]["change"] == "analysis added"
    assert records["gone"]["change"] == "analysis removed"
    assert list(records) == ["o", "p", "new", "gone"]


def test_data_changed_names_the_trial_whose_effect_changed():
    def effects(yi):
        return pd.DataFrame([{"study": "A 2020", "outcome": "o", "window": "post", "timepoint": "3",
                              "treatment": "coach", "comparator": "usual_care", "yi": yi, "vi": 0.1,
                              "status": "in analysis"}])
    before = snapshot(pooled_row(), effects=effects(0.4))
    after = snapshot(pooled_row(estimate=1.6), effects=effects(0.5))
    record = compare_results(after, before)[0]
    assert record["data_changed"] == "A 2020" and record["trials_added"] == ""


def test_markdown_names_the_trial_and_the_analyses_it_moved():
    before = snapshot(pooled_row())
    after = snapshot(pooled_row(k=4, estimate=1.2, ci_lower=0.95, ci_upper=1.5,
                                studies="A 2020; B 2021; C 2022; New 2026"))
    text = render_markdown(compare_results(after, before), after, before, "baselines/v1")
    assert "Baseline `baselines/v1`" in text
    assert "- Trials added: 1 (New 2026)" in text
    assert "**New 2026**: o post, coach vs usual_care (1.50 [1.20, 1.90] -> 1.20 [0.95, 1.50])" in text
    assert "| o post, coach vs usual_care | CI | excludes no effect | includes no effect |" in text


def test_markdown_without_baseline_says_how_to_freeze_one():
    text = render_markdown(None, snapshot(pooled_row()), None, "")
    assert "No baseline is configured" in text
    assert "python -m evsynth.freeze results baselines/<name>" in text


def test_freeze_copies_tables_and_refuses_to_overwrite(tmp_path, capsys):
    results = tmp_path / "results"
    (results / "sensitivity" / "x").mkdir(parents=True)
    pd.DataFrame([pooled_row()]).to_csv(results / "pooled.tsv", sep="\t", index=False)
    (results / "effects.tsv").write_text("study\nA 2020\n")
    (results / "changes.tsv").write_text("old comparison\n")
    (results / "sensitivity" / "cumulative.tsv").write_text("order_by\n")
    (results / "sensitivity" / "x" / "deep.tsv").write_text("per-analysis\n")
    target = tmp_path / "baselines" / "v1"
    assert main([str(results), str(target)]) == 0
    assert "name it in config.yaml as changes: baseline:" in capsys.readouterr().out
    kept = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert kept == ["BASELINE.md", "effects.tsv", "pooled.tsv", "sensitivity/cumulative.tsv"]
    assert load_snapshot(target)["pooled"]["estimate"].tolist() == [1.5]
    with pytest.raises(SystemExit, match="exists and is not empty"):
        freeze(results, target)
    (results / "effects.tsv").unlink()
    freeze(results, target, force=True)
    assert not (target / "effects.tsv").exists()
    with pytest.raises(SystemExit, match="pooled.tsv not found"):
        freeze(tmp_path / "nothing", tmp_path / "b2")
    with pytest.raises(SystemExit, match="keep baselines outside results"):
        freeze(results, results / "baseline")
