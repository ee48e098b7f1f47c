"""The workflow's tables and page on several effects per trial: the model across timepoint
windows (evsynth.tables.timepoints) against metafor on dat.ishak2007, the dependent-effects rows
of robustness.tsv, and the report page (evsynth.reports.dependent)."""

import numpy as np
import pandas as pd
import pytest

from evsynth.data.config import DependentConfig, Window
from evsynth.data.config import Outcome as ConfigOutcome
from evsynth.reports.dependent import dependent_html
from evsynth.stats.timepoints import MIN_RHO_TRIALS, rho_trials
from evsynth.tables.dependent import dependent_records, dependent_robustness_records
from evsynth.tables.timepoints import TIMEPOINT_COLUMNS, timepoint_records
from oracle._oracle import TOL, load

CASES = load("metafor_dependent")
MD = ConfigOutcome("updrs", "UPDRS", "MD", False)
SMD = ConfigOutcome("pain", "Pain", "SMD", False)
# Ishak 2007's follow-ups coded 1-4 (dat.ishak2007, as the oracle's vcalc(time1 = time) reads them).
WINDOWS = [Window(f"w{t}", t - 0.5, t + 0.5) for t in (1, 2, 3, 4)]


def ishak_effects(case_id="ishak_ar_reml_z") -> pd.DataFrame:
    inputs = CASES[case_id]["inputs"]
    return pd.DataFrame({
        "study": [str(s) for s in inputs["study"]], "treatment": "coach", "comparator": "usual_care",
        "window": [f"w{t}" for t in inputs["time"]], "timepoint_months": [float(t) for t in inputs["time"]],
        "yi": inputs["yi"], "vi": inputs["vi"], "estimable": True,
    })


@pytest.mark.parametrize("case_id", ["ishak_ar_reml_z", "ishak_har_reml_z"])
def test_model_across_windows_matches_rma_mv(case_id):
    """rma.mv(yi, V, mods = ~ factor(time) - 1, random = ~ time | study, struct = "AR"/"HAR"), V
    from vcalc(vi, study, time1 = time, phi = 0.97): tests/oracle/reference/metafor_dependent.R."""
    structure = case_id.split("_")[1].upper()
    effects = ishak_effects(case_id).iloc[::-1]  # the table's order does not matter
    rows = timepoint_records(MD, effects, WINDOWS, ["coach", "usual_care"], structure, test="z")
    out = CASES[case_id]["outputs"]
    assert [r["timepoint"] for r in rows] == ["w1", "w2", "w3", "w4"]
    assert all(set(r) <= set(TIMEPOINT_COLUMNS) and r["status"] == "fitted" for r in rows)
    for j, row in enumerate(rows):  # REML optimum against nlminb's, as in test_dependent_metafor
        assert row["theta"] == pytest.approx(out["beta"][j], rel=TOL["nlminb_rel"])
        assert row["se"] == pytest.approx(out["se"][j], rel=TOL["nlminb_rel"])
        assert row["tau2"] == pytest.approx(out["tau2"][j if structure == "HAR" else 0], rel=TOL["nlminb_rel"])
    assert rows[0]["rho"] == pytest.approx(out["rho"][0], rel=TOL["nlminb_rel"])
    assert sum(r["k_trials_window"] for r in rows) == rows[0]["k_effects"] == len(effects)


def test_comparisons_the_model_cannot_add_to_say_why():
    one_window = ishak_effects()
    one_window = one_window[one_window["window"] == "w1"]
    rows = timepoint_records(MD, one_window, WINDOWS, ["coach", "usual_care"])
    assert {r["status"] for r in rows} == {"one timepoint window: see the per-window analysis"}
    distinct = ishak_effects().drop_duplicates("study")  # each trial in one window only
    rows = timepoint_records(MD, distinct, WINDOWS, ["coach", "usual_care"])
    assert rows and all(r["status"].startswith("no trial reports several windows") for r in rows)
    assert all("theta" not in r for r in rows)


def _assink_dependent():
    inputs = CASES["assink_che_reml_t"]["inputs"]
    y, v, study = np.array(inputs["yi"]), np.array(inputs["vi"]), [str(s) for s in inputs["study"]]
    return dependent_records(SMD, "post", "coach", "usual_care", y, v, study, DependentConfig(rho=0.6))


def test_robustness_rows_compare_each_model_with_the_chosen_conclusion():
    dependent = _assink_dependent()
    for chosen_excludes in (True, False):
        chosen = [{"treatment": "coach", "comparator": "usual_care", "chosen": True,
                   "ci_excludes_no_effect": chosen_excludes}]
        rows = dependent_robustness_records(dependent, chosen)
        assert [r["profile"] for r in rows] == ["dependent: three-level, CR2", "dependent: che (rho 0.6), CR2",
                                                "dependent: aggregated (rho 0.6)", "dependent: lowest",
                                                "dependent: highest"]
        che = rows[1]
        source = dependent[1]
        assert (che["ci_lower"], che["ci_upper"]) == (source["robust_ci_lower"], source["robust_ci_upper"])
        for row in rows:
            excludes = row["ci_lower"] > 0 or row["ci_upper"] < 0
            assert row["ci_excludes_no_effect"] == excludes
            assert row["conclusion_differs_from_chosen"] == (excludes != chosen_excludes)
    # One effect per trial: every model is the primary analysis again, so no rows; nor without a chosen row.
    single = dependent_records(SMD, "post", "a", "b", [0.1, 0.3, 0.2], [0.1, 0.1, 0.1], ["x", "y", "z"],
                               DependentConfig())
    assert dependent_robustness_records(single, [{"treatment": "a", "comparator": "b", "chosen": True,
                                                  "ci_excludes_no_effect": False}]) == []
    assert dependent_robustness_records(dependent, []) == []


def test_report_page_puts_the_models_beside_the_primary_analysis_and_escapes_labels():
    dependent = _assink_dependent()
    pooled = [{"outcome": "pain", "timepoint": "post", "treatment": "coach", "comparator": "usual_care", "k": 17,
               "estimate": 0.4, "ci_lower": 0.1, "ci_upper": 0.7, "p_value": 0.01, "tau2": 0.2,
               "profile": "cochrane-2025", "status": "pooled"}]
    timepoints = timepoint_records(MD, ishak_effects(), WINDOWS, ["coach", "usual_care"], "AR", test="z")
    page = dependent_html(pooled, dependent, timepoints, {"pain": "Pain <b>", "updrs": "UPDRS"},
                          {"coach": "Coach-led", "usual_care": "Usual care"}, "cochrane-2025")
    assert "Pain &lt;b&gt;: Coach-led vs Usual care, post" in page and "<b>" not in page
    assert "primary analysis (cochrane-2025)" in page and "CHE (rho 0.6), CR2" in page
    che = dependent[1]
    assert f"{che['estimate']:.2f} [{che['robust_ci_lower']:.2f}, {che['robust_ci_upper']:.2f}]" in page
    assert "UPDRS: Coach-led vs Usual care (AR" in page and page.count("<tr><td>w") == 4


def _ishak_windows(keep):
    """Ishak et al.'s effects (dat.ishak2007) in the windows ``keep`` (trial -> windows)."""
    effects = ishak_effects()
    return effects[[w in keep.get(s, ()) for s, w in zip(effects["study"], effects["window"])]]


def test_rho_is_not_reported_when_the_data_cannot_estimate_it():
    # Every trial at w1, one of them (Barichella 2003) also at w3, which no other trial
    # reports: w3's mean takes that effect and the restricted likelihood is flat in rho
    # (rma.mv returns its start, 0.5; the shipped depression rows, post and 6m, are this case).
    w1 = {s: ("w1",) for s in ishak_effects().query("window == 'w1'")["study"]}
    alone = _ishak_windows({**w1, "Barichella (2003)": ("w1", "w3")})
    assert rho_trials(alone["study"], alone["window"]) == ()
    rows = timepoint_records(MD, alone, WINDOWS, ["coach", "usual_care"], "AR", test="z")
    assert [r["timepoint"] for r in rows] == ["w1", "w3"]
    (status,) = {r["status"] for r in rows}
    assert status.startswith("not identifiable: 1 trial(s) report more than one window (Barichella (2003): w1, w3)")
    assert "only one trial reports w3" in status and f"at least {MIN_RHO_TRIALS} such trials" in status
    assert all("theta" not in r and "rho" not in r for r in rows)
    # The report page says why instead of claiming no trial reports several windows.
    page = dependent_html([], [], rows, {"updrs": "UPDRS"}, {"coach": "Coach-led", "usual_care": "Usual care"},
                          "metafor")
    assert "<h2>UPDRS: Coach-led vs Usual care</h2>" in page and "Barichella (2003): w1, w3" in page
    assert "No comparison has a trial reporting several windows" not in page
    # Two trials at w1 and w2 beside w1-only trials: rho from one residual contrast (the shipped
    # pain-intensity rows gave rho = -0.72 so) is not reported either; a third such trial fits.
    two = {**w1, "Burchiel (1999)": ("w1", "w2"), "DBS for PD Study Grp. (2001)": ("w1", "w2")}
    effects = _ishak_windows(two)
    assert rho_trials(effects["study"], effects["window"]) == ("Burchiel (1999)", "DBS for PD Study Grp. (2001)")
    rows = timepoint_records(MD, effects, WINDOWS, ["coach", "usual_care"], "AR", test="z")
    assert all(r["status"].startswith("not identifiable: 2 trial(s)") for r in rows)
    effects = _ishak_windows({**two, "Simuni (2002)": ("w1", "w2")})
    rows = timepoint_records(MD, effects, WINDOWS, ["coach", "usual_care"], "AR", test="z")
    assert {r["status"] for r in rows} == {"fitted"} and -1 < rows[0]["rho"] < 1
