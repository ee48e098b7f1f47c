"""The sensitivity tables of one analysis (evsynth.tables.sensitivity) and their plots
(evsynth.figures.sensitivity): skip rules, subsets, orderings, and byte-stable figures."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest

from evsynth.data.config import Outcome, resolve_settings, sensitivity_config
from evsynth.data.io import read_tsv, write_tsv
from evsynth.data.sensitivity_cells import _cell_matches
from evsynth.figures._base import save_figure
from evsynth.figures.sensitivity import MAX_ROWS, sensitivity_figures
from evsynth.stats.influence import influence
from evsynth.stats.profiles import PROFILES
from evsynth.tables.sensitivity import (
    COLUMNS,
    analyse_sensitivity,
    plotted_comparisons,
    sensitivity_records,
)
from evsynth.tables.small_study_adjusted import ADJUSTED_TESTS
from oracle._oracle import load

OUTCOME = Outcome("teacher_expectancy", "IQ gain (SMD)", "SMD", True)
POOLING = resolve_settings({"estimator": "REML", "ci_method": "wald", "alpha": 0.05})
LABELS = {"coach": "Coach", "online": "Online", "usual_care": "Usual care"}
CASES = load("metafor_sensitivity")  # dat.raudenbush1985 and metafor's leave1out/cumul of it


def studies_table() -> pd.DataFrame:
    """studies.tsv-like rows: raudenbush1985 (k = 19) as coach vs usual care, its first two
    studies as online vs usual care, one as coach vs online, and a non-estimable row."""
    case = CASES["raudenbush_smd_reml_z"]["inputs"]
    rows = []
    for i, (study, year, yi, vi) in enumerate(zip(case["study"], case["year"], case["yi"], case["vi"])):
        rows.append({"treatment": "coach", "comparator": "usual_care", "study": study, "year": year,
                     "yi": yi, "vi": vi, "estimable": True})
        if i < 2:
            rows.append({"treatment": "online", "comparator": "usual_care", "study": study, "year": year,
                         "yi": yi, "vi": vi, "estimable": True})
    rows.append({"treatment": "online", "comparator": "usual_care", "study": "Unreported 2001", "year": 2001,
                 "yi": np.nan, "vi": np.nan, "estimable": False})
    rows.append({"treatment": "coach", "comparator": "online", "study": case["study"][0], "year": case["year"][0],
                 "yi": case["yi"][0], "vi": case["vi"][0], "estimable": True})
    table = pd.DataFrame(rows)
    table.insert(0, "outcome", OUTCOME.id)
    table.insert(1, "timepoint", "post")
    return table


def extra_rows(table: pd.DataFrame) -> list[dict[str, str]]:
    """Configured study-table columns: a test-only flag on 3 coach trials, and a size."""
    flagged = set(CASES["raudenbush_smd_reml_z"]["inputs"]["study"][:3])
    return [
        {"study": r.study, "treatment": r.treatment, "comparator": r.comparator,
         "extra_flag": "Yes " if r.study in flagged and r.treatment == "coach" else "no",
         "extra_size": str(1000 - i)}
        for i, r in enumerate(table.itertuples())
    ]


SENSITIVITY = sensitivity_config({
    "exclude_if": {"extra_flag": ["yes"], "extra_size": [12345]},
    "cumulative_order_by": ["extra_size"],
    "small_study_min_k": 10,
})


@pytest.fixture(scope="module")
def tables() -> dict[str, list[dict]]:
    table = studies_table()
    return analyse_sensitivity(table, extra_rows(table), OUTCOME, POOLING, SENSITIVITY, "post")


def frame(records: list[dict], name: str) -> pd.DataFrame:
    return pd.DataFrame(records, columns=list(COLUMNS[name]))


def test_every_comparison_gets_rows_or_a_reason(tables):
    loo = frame(tables["leave_one_out"], "leave_one_out")
    by_comparison = loo.groupby(["treatment", "comparator"], sort=False)["status"].agg(list).to_dict()
    assert by_comparison[("coach", "usual_care")] == ["computed"] * 19
    assert by_comparison[("online", "usual_care")] == ["skipped: 2 trials; leave-one-out needs at least 3"]
    assert by_comparison[("coach", "online")] == ["skipped: 1 trial; leave-one-out needs at least 3"]
    small = frame(tables["small_study"], "small_study")
    online = small[small["treatment"] == "online"]
    tests = ["egger_lm", "egger_rma", "rank_correlation", "trim_and_fill"]
    assert list(online["test"]) == tests + list(ADJUSTED_TESTS)  # adjusted estimates: issue 16
    assert set(online.loc[online["test"].isin(tests), "status"]) == {
        "skipped: 2 trials; a small-study test needs at least 10 (Cochrane Handbook 13.3.5.4)"
    }
    assert online["status"].str.startswith("skipped: 2 trials; needs at least").sum() == len(ADJUSTED_TESTS)
    cumul = frame(tables["cumulative"], "cumulative")
    single = cumul[cumul["comparator"] == "online"]
    assert list(single["status"]) == ["skipped: 1 trial; cumulative meta-analysis needs at least 2"] * 2


def test_leave_one_out_and_influence_rows_are_the_models(tables):
    case = CASES["raudenbush_smd_reml_z"]
    loo = frame(tables["leave_one_out"], "leave_one_out")
    coach = loo[loo["comparator"] == "usual_care"].iloc[:19]
    np.testing.assert_allclose(coach["theta"], case["outputs"]["leave1out"]["estimate"], rtol=1e-6)
    assert list(coach["omitted"]) == case["inputs"]["study"]
    assert set(coach["estimator"]) == {"REML"} and set(coach["ci_method"]) == {"wald"}
    infl = frame(tables["influence"], "influence")
    coach = infl[infl["comparator"] == "usual_care"].iloc[:19]
    assert list(coach["influential"]) == case["outputs"]["influence"]["inf"]
    assert coach.loc[coach["influential"], "criteria"].tolist() == ["dffits; cook_d"]


def test_cumulative_orders_by_year_then_each_configured_column(tables):
    cumul = frame(tables["cumulative"], "cumulative")
    coach = cumul[(cumul["treatment"] == "coach") & (cumul["comparator"] == "usual_care")]
    by_year = coach[coach["order_by"] == "year"]
    expected = [CASES["raudenbush_smd_reml_z"]["inputs"]["study"][i - 1]
                for i in CASES["raudenbush_smd_reml_z"]["outputs"]["cumul"]["order"]]
    assert list(by_year["study"]) == expected and list(by_year["step"]) == list(range(1, 20))
    by_size = coach[coach["order_by"] == "extra_size"]
    assert [int(v) for v in by_size["order_value"]] == sorted(int(v) for v in by_size["order_value"])
    assert by_size["theta"].iloc[-1] == pytest.approx(by_year["theta"].iloc[-1], rel=1e-12)


def test_small_study_rows(tables):
    small = frame(tables["small_study"], "small_study")
    coach = small[(small["treatment"] == "coach") & (small["comparator"] == "usual_care")].set_index("test")
    out = CASES["raudenbush_smd_reml_z"]["outputs"]
    assert coach.loc["egger_lm", "p_value"] == pytest.approx(out["regtest_lm"]["pval"], rel=1e-6)
    assert coach.loc["egger_rma", "p_value"] == pytest.approx(out["regtest_rma"]["pval"], rel=1e-6)
    assert coach.loc["rank_correlation", "coefficient"] == pytest.approx(out["ranktest"]["tau"], rel=1e-6)
    assert coach.loc["trim_and_fill", "k0"] == 3 and coach.loc["trim_and_fill", "side"] == "left"
    assert coach.loc["trim_and_fill", "k_filled"] == 22
    assert coach.loc["trim_and_fill", "theta"] == pytest.approx(out["trimfill"]["beta"], rel=1e-6)
    funnel = frame(tables["funnel"], "funnel")
    coach_funnel = funnel[funnel["comparator"] == "usual_care"]
    assert coach_funnel["filled"].sum() == 3 and len(coach_funnel) == 22
    assert funnel[funnel["comparator"] == "online"].empty  # < 3 trials: no funnel


def test_subsets_exclude_flagged_trials(tables):
    subsets = frame(tables["subsets"], "subsets")
    coach = subsets[(subsets["treatment"] == "coach") & (subsets["comparator"] == "usual_care")]
    assert list(coach["subset"]) == ["all trials", "excluding extra_flag in {yes}", "excluding extra_size in {12345}",
                                     "directly reported data only", "excluding outliers",
                                     "excluding influential trials"]
    first = CASES["raudenbush_smd_reml_z"]["inputs"]["study"][:3]
    assert coach["excluded"].iloc[1] == "; ".join(first)
    assert list(coach["k"]) == [19, 16, 19, 19, 17, 18]
    assert coach["note"].iloc[2] == coach["note"].iloc[3] == "no trial matched: same as all trials"
    assert coach["theta"].iloc[0] == pytest.approx(CASES["raudenbush_smd_reml_z"]["outputs"]["model"]["beta"], rel=1e-9)
    assert coach["theta"].iloc[2] == coach["theta"].iloc[0]
    single = subsets[subsets["comparator"] == "online"]  # coach vs online: one (flagged) trial
    assert list(single["status"]) == ["single study: shown, not pooled", "no trial left",
                                      "single study: shown, not pooled", "single study: shown, not pooled",
                                      "skipped: 1 trial; outliers re-run needs at least 3",
                                      "skipped: 1 trial; influential trials re-run needs at least 3"]


def test_outlier_and_influence_reruns_match_metafor(tables):
    """raudenbush1985 REML (k = 19): metafor_exclusion.json names the trials and the rma(subset=) re-runs."""
    subsets = frame(tables["subsets"], "subsets")
    coach = subsets[(subsets["treatment"] == "coach") & (subsets["comparator"] == "usual_care")].set_index("subset")
    case = load("metafor_exclusion")["raudenbush_smd_reml_z"]
    study = np.array(case["inputs"]["study"])
    for subset, flags, rerun in (("excluding outliers", "outlier", "rerun_outliers"),
                                 ("excluding influential trials", "influential", "rerun_influential")):
        row = coach.loc[subset]
        assert row["excluded"] == "; ".join(study[case["outputs"][flags]])
        assert row["status"] == "pooled" and row["k"] == case["outputs"][rerun]["k"]
        assert row["theta"] == pytest.approx(case["outputs"][rerun]["beta"], rel=1e-9)
        assert row["ci_upper"] == pytest.approx(case["outputs"][rerun]["ci_ub"], rel=1e-9)
    assert coach.loc["excluding outliers", "note"] == "; ".join(
        f"{s}: CI above the pooled CI" for s in study[case["outputs"]["outlier"]])
    assert coach.loc["excluding influential trials", "note"].startswith("Maxwell 1970: ")
    # online vs usual care has 2 trials: both rows say why there is no re-run.
    online = subsets[subsets["treatment"] == "online"]
    assert list(online["status"].iloc[-2:]) == ["skipped: 2 trials; outliers re-run needs at least 3",
                                                "skipped: 2 trials; influential trials re-run needs at least 3"]


def test_no_excluded_trial_says_so():
    """First three bcg trials: no outlier, so the row says no re-run is needed (never a silent absence)."""
    case = load("metafor_exclusion")["bcg3_rr_reml_z"]["inputs"]
    table = pd.DataFrame({"outcome": "o", "timepoint": "post", "treatment": "coach", "comparator": "usual_care",
                          "study": case["study"], "year": 2000, "yi": case["yi"], "vi": case["vi"], "estimable": True})
    subsets = frame(analyse_sensitivity(table, [], OUTCOME, POOLING, sensitivity_config({}), "post")["subsets"],
                    "subsets").set_index("subset")
    row = subsets.loc["excluding outliers"]
    assert row["status"] == "no outlier: no re-run needed" and row["excluded"] == "" and row["k"] == 3
    assert pd.isna(row["theta"])
    assert subsets.loc["excluding influential trials", "status"] == "pooled"


def test_tables_write_without_nan(tables, tmp_path):
    for name, records in tables.items():
        path = tmp_path / f"{name}.tsv"
        write_tsv(records, COLUMNS[name], path)
        cells = {cell.lower() for line in path.read_text().splitlines() for cell in line.split("\t")}
        assert not cells & {"nan", "inf", "-inf", "none"}, name


def test_cell_matching():
    assert _cell_matches(" Yes ", ["yes"]) and _cell_matches("TRUE", [True]) and _cell_matches("no", [False])
    assert _cell_matches("3.0", [3]) and not _cell_matches("3.5", [3])
    assert _cell_matches("", [""]) and _cell_matches(None, [""]) and not _cell_matches("x", [""])
    assert not _cell_matches("yes", [False])


def test_configured_columns_and_parse_time_records(tmp_path):
    section = {"exclude_if": {"extra_flag": ["yes"]}, "cumulative_order_by": ["year", "extra_flag", "se"]}
    section = sensitivity_config(section)
    assert section.columns == ["extra_flag", "se"]
    assert sensitivity_config({}).columns == []
    path = tmp_path / "studies.tsv"
    pd.DataFrame({"study": ["B", "A", "C"], "extra_flag": ["yes", "", "no"], "se": ["0.1", "0.2", ""]}).to_csv(
        path, sep="\t", index=False)
    studies = pd.DataFrame({"study": ["B", "A", "C"], "treatment": ["coach"] * 3, "comparator": ["usual_care"] * 3,
                            "outcome": ["o", "o", "p"], "window": ["post"] * 3, "line": [2, 3, 4]})
    records = sensitivity_records(studies, str(path), section, "o", "post")
    assert records == [
        {"study": "A", "treatment": "coach", "comparator": "usual_care", "arm": "", "extra_flag": "", "se": "0.2"},
        {"study": "B", "treatment": "coach", "comparator": "usual_care", "arm": "", "extra_flag": "yes", "se": "0.1"},
    ]
    with pytest.raises(ValueError, match="extra_rob"):
        sensitivity_records(studies, str(path), sensitivity_config({"exclude_if": {"extra_rob": ["high"]}}), "o",
                            "post")
    assert sensitivity_records(studies, str(path), sensitivity_config({}), "o", "post") == []


def test_plotted_comparisons_are_those_with_three_estimable_trials(tables):
    funnel = pd.DataFrame(tables["funnel"], columns=list(COLUMNS["funnel"]))
    funnel["filled"] = funnel["filled"].map({True: "yes", False: "no"})
    assert plotted_comparisons(funnel) == ["coach_vs_usual_care"]


def test_parse_time_plot_choice_equals_the_funnel_tables(tables):
    """The workflow declares the plots from the effect sizes before any job runs; online vs
    usual care has 3 rows but 2 estimable trials, so neither source plots it."""
    funnel = pd.DataFrame(tables["funnel"], columns=list(COLUMNS["funnel"]))
    funnel["filled"] = funnel["filled"].map({True: "yes", False: "no"})
    assert plotted_comparisons(studies_table()) == plotted_comparisons(funnel) == ["coach_vs_usual_care"]


def test_arm_rows_give_their_cells_to_the_contrasts_formed_from_them():
    """A trial reported per arm (treatment/comparator empty): its contrast reads both arms."""
    table = studies_table()
    first = CASES["raudenbush_smd_reml_z"]["inputs"]["study"][0]
    rows = [{"study": first, "treatment": "", "comparator": "", "arm": arm, "extra_flag": flag, "extra_size": ""}
            for arm, flag in (("coach", "no"), ("usual_care", "yes"), ("online", "no"))]
    config = sensitivity_config({"exclude_if": {"extra_flag": ["yes"]}})
    result = analyse_sensitivity(table, rows, OUTCOME, POOLING, config, "post")
    subsets = frame(result["subsets"], "subsets").set_index(["treatment", "comparator", "subset"])["excluded"]
    assert subsets[("coach", "usual_care", "excluding extra_flag in {yes}")] == first  # usual-care arm flagged
    assert subsets[("coach", "online", "excluding extra_flag in {yes}")] == ""  # neither arm flagged


def test_refits_use_the_main_analysis_settings():
    method = resolve_settings({"estimator": "DL", "ci_method": "wald", "alpha": 0.1})
    assert (method.estimator, method.ci_method, method.alpha) == ("DL", "wald", 0.1)
    assert method.label == "cochrane-2025 (estimator=DL, ci_method=wald)"


def _figures(tables, tmp_path, min_k=10):
    frames = {}
    for name, records in tables.items():
        write_tsv(records, COLUMNS[name], tmp_path / f"{name}.tsv")
        frames[name] = read_tsv(tmp_path / f"{name}.tsv")
    pooled = pd.DataFrame([{"treatment": "coach", "comparator": "usual_care", "theta": 0.08, "estimate": 0.08,
                            "ci_lower": -0.02, "ci_upper": 0.18, "tau2": 0.02, "i2": 42.0}])
    settings = PROFILES["metafor"]
    return {
        comparison: sensitivity_figures(frames, pooled, title="IQ gain, post", measure="Std. Mean Difference",
                                        ratio=False, labels=LABELS, comparison=comparison, settings=settings,
                                        small_study_min_k=min_k)
        for comparison in ("coach_vs_usual_care", "online_vs_usual_care")
    }


def _bytes(fig, fmt: str) -> bytes:
    out = io.BytesIO()
    from evsynth.figures._base import figure_context

    with figure_context():
        fig.savefig(out, format=fmt, metadata={"svg": {"Date": None}, "pdf": {"CreationDate": None},
                                               "png": {"Software": None}}[fmt])
    return out.getvalue()


def test_plots_are_drawn_and_byte_stable(tables, tmp_path):
    first, second = _figures(tables, tmp_path), _figures(tables, tmp_path)
    assert set(first["coach_vs_usual_care"]) == {"leave_one_out", "baujat", "cumulative", "funnel"}
    for kind, fig in first["coach_vs_usual_care"].items():
        for fmt in ("svg", "png"):
            assert _bytes(fig, fmt) == _bytes(second["coach_vs_usual_care"][kind], fmt), (kind, fmt)
    # Two trials: the plots that need 3 say why they are empty rather than failing.
    online = first["online_vs_usual_care"]
    assert all(online[kind].get_size_inches()[1] < 2 for kind in ("leave_one_out", "baujat", "funnel"))
    assert online["cumulative"].get_size_inches()[1] > 2
    paths = {fmt: tmp_path / f"funnel.{fmt}" for fmt in ("svg", "png", "pdf")}
    save_figure(first["coach_vs_usual_care"]["funnel"], paths)
    assert all(p.stat().st_size > 1000 for p in paths.values())


def test_large_analyses_keep_plots_bounded(tmp_path):
    """k = 200: the forest-style plots show at most MAX_ROWS rows per block."""
    rng = np.random.default_rng(4)
    k = 200
    vi = rng.uniform(0.01, 0.2, k)
    table = pd.DataFrame({"outcome": "o", "timepoint": "post", "treatment": "coach", "comparator": "usual_care",
                          "study": [f"Trial {i:03d}" for i in range(k)], "year": 1990 + np.arange(k) % 30,
                          "yi": rng.normal(0.2, np.sqrt(vi + 0.03)), "vi": vi, "estimable": True})
    tables = analyse_sensitivity(table, [], OUTCOME, POOLING, sensitivity_config({}), "post")
    assert len(tables["leave_one_out"]) == k and len(tables["cumulative"]) == k
    figures = _figures(tables, tmp_path)["coach_vs_usual_care"]
    for kind in ("leave_one_out", "cumulative"):
        assert figures[kind].get_size_inches()[1] < (MAX_ROWS + 12) * 0.2 + 3, kind
    assert math.isfinite(influence(table["yi"], table["vi"]).cook_d.max())
