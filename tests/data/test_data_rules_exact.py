"""Rules of the data layer checked exactly, not only executed (issue 21, mutation/report-seed3002.md).

The seed-3002 sample's data-layer survivors were rules the suite ran but never pinned: a line
number in a message, one side of a bound, a derivation text, the order or index of a result.
Each test below pins the whole output of a rule on cases at and across each of its boundaries,
so that a changed operator, a constant off by one or a swapped branch changes what is asserted.
"""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from conftest import REPO
from evsynth.data.arm_groups import combine_arm_groups
from evsynth.data.borrowed_sd import borrow_missing_sds
from evsynth.data.config import Outcome, check_sof_settings
from evsynth.data.contrasts import compute_all_effects, compute_effects, covariance_pairs, shared_arm_covariance
from evsynth.data.conversions import check_fivenum
from evsynth.data.reconcile import ReconcileError, reconcile_tables
from evsynth.data.sensitivity_cells import plotted_comparisons
from evsynth.data.studies import read_table

CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
NAMES = {"a": "a.tsv", "b": "b.tsv", "adjudication": "adjudication.tsv"}
MODES = ["coach", "online", "usual_care"]


# --- arm_group: one form, counts or means, in every row of a group ---------------------------------------
GROUP = {"study": "T 2020", "outcome": "o", "window": "post", "treatment": "coach", "comparator": "usual_care",
         "arm_group": "g", "include": True, "source": "s"}
COUNTS = [{**GROUP, "line": 5, "form": "counts", "events_treat": 3, "n_treat": 10, "events_ctrl": 4, "n_ctrl": 12},
          {**GROUP, "line": 7, "form": "counts", "events_treat": 5, "n_treat": 11, "events_ctrl": 4, "n_ctrl": 12}]


@pytest.mark.parametrize("forms,shown", [
    (("contrast", "contrast"), "line 5 is contrast, this row contrast"),  # one form, but not counts or means
    (("arm", "arm"), "line 5 is arm, this row arm"),
    (("counts", "means"), "line 5 is counts, this row means"),  # counts and means mixed
    (("means", "counts"), "line 5 is means, this row counts"),
    ((None, "means"), "line 5 is invalid, this row means"),
])
def test_an_arm_group_of_other_or_mixed_forms_is_refused(forms, shown):
    rows = [{**r, "form": f} for r, f in zip(COUNTS, forms)]
    out, problems = combine_arm_groups(rows)
    rule = f"arm_group 'g' combines arms given as counts or arm means, all in one form ({shown})"
    assert problems == [(7, "arm_group", "g", rule)]


def test_an_arm_group_of_counts_sums_the_treatment_arms_and_counts_control_once():
    out, problems = combine_arm_groups([dict(r) for r in COUNTS])
    assert problems == []
    (row,) = out
    assert (row["events_treat"], row["n_treat"], row["events_ctrl"], row["n_ctrl"], row["line"]) == (8, 21, 4, 12, 5)
    assert row["conversion_detail"] == ("treatment events 8 / n 21 summed over lines 5, 7; control arm counted once "
                                        "(Cochrane Handbook v6.5 §6.5.2.10, Table 6.5.a)")


# --- borrowed SDs: donors are included rows reporting SDs directly ----------------------------------------
def _means(line, study, sd, include=True, conversion=""):
    return {"line": line, "study": study, "outcome": "o", "window": "post", "form": "means", "include": include,
            "conversion": conversion, "sd_treat": sd, "sd_ctrl": sd}


@pytest.mark.parametrize("donor", [
    _means(2, "D 2019", 3.0, include=False),  # an excluded row lends nothing
    _means(2, "D 2019", 3.0, conversion="sd_from_se"),  # nor does an SD that is itself converted
    {**_means(2, "D 2019", 3.0), "form": "counts"},  # nor a row that is not arm means
    _means(2, "T 2020", 3.0),  # nor the row's own trial
])
def test_only_an_included_directly_reported_sd_of_another_trial_is_borrowed(donor):
    needy = _means(3, "T 2020", None)
    problems = borrow_missing_sds([donor, needy], {"effects": {"borrow_missing_sd": True}})
    assert [(line, column) for line, column, _, _ in problems] == [(3, "sd_treat")]
    assert needy["sd_treat"] is None


def test_a_direct_sd_is_borrowed_as_the_mean_of_the_donors():
    needy = _means(3, "T 2020", None)
    donors = [_means(2, "D 2019", 3.0), _means(4, "E 2021", 5.0)]
    assert borrow_missing_sds([*donors, needy], {"effects": {"borrow_missing_sd": True}}) == []
    assert needy["sd_treat"] == needy["sd_ctrl"] == 4.0 and needy["conversion"] == "sd_borrowed"


# --- summary_of_findings MIDs: a ratio MID above 1, a risk-difference MID below 1 --------------------------
SOF_OUTCOMES = {"rd": Outcome("rd", "Response", "RD", True), "rr": Outcome("rr", "Response", "RR", True)}


@pytest.mark.parametrize("oid,value,problem", [
    ("rd", 0.99, None), ("rd", 1.0, "a risk difference MID is a proportion below 1"),
    ("rd", 1.5, "a risk difference MID is a proportion below 1"),
    ("rr", 1.01, None), ("rr", 1.0, "for a ratio measure give the MID as a ratio above 1"),
    ("rr", 0.8, "for a ratio measure give the MID as a ratio above 1"),
])
def test_mid_bounds_at_and_across_1(oid, value, problem):
    found = check_sof_settings({"mid": {oid: value}}, SOF_OUTCOMES)
    if problem is None:
        assert found == []
    else:
        (text,) = found
        assert text.startswith(f"config.yaml: summary_of_findings.mid.{oid} = {value}: {problem}")


# --- effects: derivation text, index of the result, covariance whatever the frame's index ----------------
EFFECT_OUTCOMES = {"md": Outcome("md", "Pain", "MD", False), "smd": Outcome("smd", "Pain", "SMD", False)}
MEANS = {"study": "A 2020", "form": "means", "treatment": "coach", "comparator": "usual_care", "mean_treat": 3.0,
         "sd_treat": 1.0, "n_treat": 20, "mean_ctrl": 4.0, "sd_ctrl": 1.2, "n_ctrl": 22}


def test_derivation_of_means_rows_names_md_or_the_smd_formula():
    frame = compute_effects([{**MEANS, "outcome": "md"}, {**MEANS, "outcome": "smd"}], EFFECT_OUTCOMES)
    assert list(frame["derivation"]) == [
        "MD from arm means and SDs", "Hedges' g (exact J) from arm means and SDs; variance 1/n1+1/n2+g²/(2N)"]
    assert frame["yi"].iloc[0] == -1.0


def _arm(name, mean, lower, upper):
    return {"study": "T 2020", "year": 2020, "outcome": "md", "timepoint": "3", "timepoint_months": 3.0, "form": "arm",
            "arm": name, "arm_measure": "mean", "arm_estimate": mean, "arm_se": None, "arm_ci_lower": lower,
            "arm_ci_upper": upper, "ci_level": None, "n_arm": 40}


def test_all_effects_are_numbered_from_0_with_derived_contrasts_last():
    rows = [{**MEANS, "outcome": "md"}, _arm("coach", 2.0, 1.0, 3.0), _arm("usual_care", 3.0, 2.2, 3.8),
            {**MEANS, "outcome": "md", "study": "B 2021"}]
    frame = compute_all_effects(rows, EFFECT_OUTCOMES, MODES)
    assert list(frame.index) == [0, 1, 2]
    assert list(frame["study"]) == ["A 2020", "B 2021", "T 2020"]
    assert frame.loc[2, "yi"] == pytest.approx(-1.0)


def _trial_effects():
    variance = {"coach": 0.011, "online": 0.017, "usual_care": 0.023}
    return pd.DataFrame([
        {"study": "T", "treatment": t, "comparator": c, "arm_group": "T | o | 3", "var_treat_arm": variance[t],
         "var_ctrl_arm": variance[c], "vi": variance[t] + variance[c]}
        for t, c in [("coach", "usual_care"), ("online", "usual_care"), ("coach", "online")]
    ])


@pytest.mark.parametrize("reindex", [
    lambda f: f.set_index("study", drop=False),  # an index named as a column
    lambda f: f.assign(index=[7, 8, 9]),  # a column named "index"
    lambda f: f.set_axis([30, 20, 10]),  # an index not in row order
])
def test_shared_arm_covariance_is_positional_whatever_the_index(reindex):
    frame = _trial_effects()
    expected = shared_arm_covariance(frame)
    assert (shared_arm_covariance(reindex(frame)) == expected).all()
    assert [(p.row_i, p.row_j) for p in covariance_pairs(reindex(frame))] == [(0, 1), (0, 2), (1, 2)]
    assert expected[0, 1] == 0.023 and expected[0, 2] == 0.011 and expected[1, 2] == -0.017


# --- medians: min <= q1 <= median <= q3 <= max, boundaries allowed -----------------------------------------
def _fivenum_problems(treat):
    ctrl = {"median": 10.0, "q1": 8.0, "q3": 12.0, "min": 5.0, "max": 15.0}
    values = {**{f"{s}_treat": v for s, v in treat.items()}, **{f"{s}_ctrl": v for s, v in ctrl.items()},
              "n_treat": 30, "n_ctrl": 30}
    row = {k: "" if v is None else f"{v:g}" for k, v in values.items()}
    found = []
    check_fivenum(row, values, "MD", lambda column, rule: found.append((column, rule)))
    return found


@pytest.mark.parametrize("treat,problems", [
    ({"median": 10, "q1": 8, "q3": 12, "min": 8, "max": 12}, []),  # min = q1 and max = q3 are allowed
    ({"median": 8, "q1": 8, "q3": 12, "min": 5, "max": 15}, []),  # the median on a quartile
    ({"median": 12, "q1": 8, "q3": 12, "min": 5, "max": 15}, []),
    ({"median": 5, "q1": None, "q3": None, "min": 5, "max": 15}, []),  # the median on the range's ends
    ({"median": 15, "q1": None, "q3": None, "min": 5, "max": 15}, []),
    ({"median": 10, "q1": 8, "q3": 12, "min": 8.5, "max": 15}, [("min_treat", "min above q1 (8)")]),
    ({"median": 10, "q1": 8, "q3": 12, "min": 5, "max": 11.5}, [("max_treat", "max below q3 (12)")]),
    ({"median": 10, "q1": 12, "q3": 8, "min": 5, "max": 15}, [("q1_treat", "quartiles out of order: q1 above q3 (8)")]),
    ({"median": 10, "q1": 9, "q3": 9, "min": 5, "max": 15},
     [("q3_treat", "q1 equals q3: an interquartile range of 0 gives no SD")]),
    ({"median": 7.9, "q1": 8, "q3": 12, "min": 5, "max": 15}, [("median_treat", "lies outside its quartiles [8, 12]")]),
    ({"median": 12.1, "q1": 8, "q3": 12, "min": 5, "max": 15},
     [("median_treat", "lies outside its quartiles [8, 12]")]),
    ({"median": 10, "q1": None, "q3": None, "min": 15, "max": 5},
     [("min_treat", "range out of order: min above max (5)")]),
    ({"median": 10, "q1": None, "q3": None, "min": 10, "max": 10},
     [("max_treat", "min equals max: a range of 0 gives no SD")]),
    ({"median": 4.9, "q1": None, "q3": None, "min": 5, "max": 15},
     [("median_treat", "lies outside its range [5, 15]")]),
    ({"median": 15.1, "q1": None, "q3": None, "min": 5, "max": 15},
     [("median_treat", "lies outside its range [5, 15]")]),
])
def test_five_number_summary_order_at_and_across_each_boundary(treat, problems):
    assert _fivenum_problems(treat) == problems


# --- reconciliation: a repeated key names both spreadsheet lines -------------------------------------------
def test_a_repeated_row_names_its_line_and_the_first():
    table = read_table(REPO / "studies.tsv")
    a = table[table["outcome"] == "pain_interference"].head(3).reset_index(drop=True)
    twice = pd.concat([a, a.iloc[[0]]], ignore_index=True)  # row 4 (line 5) repeats row 1 (line 2)
    with pytest.raises(ReconcileError) as err:
        reconcile_tables(twice, a, None, NAMES, CONFIG)
    key = ", ".join([a.loc[0, "study"], "pain_interference", a.loc[0, "timepoint"], "coach_vs_usual_care"])
    assert (f"a.tsv, line 5: same study, outcome, timepoint and comparison ({key}) as line 2; the two extractions "
            "are matched on these, so no two rows of one extraction may share them") in str(err.value)


# --- plots: comparisons with >= 3 estimable trials, in order of first appearance ------------------------------
def test_plotted_comparisons_keep_the_order_of_first_appearance():
    rows = [("waitlist", "usual_care", True)] * 3 + [("coach", "usual_care", True)] * 3 + [("online", "x", True)] * 2
    rows += [("online", "x", False)] + [("b", "a", True)] * 4
    table = pd.DataFrame(rows, columns=["treatment", "comparator", "estimable"])
    assert plotted_comparisons(table) == ["waitlist_vs_usual_care", "coach_vs_usual_care", "b_vs_a"]
    assert plotted_comparisons(table.iloc[::-1]) == ["b_vs_a", "coach_vs_usual_care", "waitlist_vs_usual_care"]


def test_a_borrowed_sd_is_the_mean_of_every_donor_arm_sd_and_says_so():
    """Furukawa et al. 2006: the mean of the 6 arm SDs of the other trials (3, 3, 5, 6, 4, 4 -> 25/6);
    a reported control SD is kept; the conversion ids and details are appended once."""
    donors = [_means(2, "D 2019", 3.0), {**_means(3, "E 2021", 5.0), "sd_ctrl": 6.0}, _means(4, "D 2019", 4.0)]
    needy = {**_means(5, "T 2020", None), "sd_ctrl": 2.5, "conversion": "sd_from_se", "conversion_detail": "x"}
    assert borrow_missing_sds([*donors, needy], {"effects": {"borrow_missing_sd": True}}) == []
    assert (needy["sd_treat"], needy["sd_ctrl"]) == (pytest.approx(25 / 6, rel=1e-15), 2.5)
    assert needy["conversion"] == "sd_from_se; sd_borrowed"
    assert needy["conversion_detail"] == ("x; treatment SD 4.16667 borrowed: mean of the 6 arm SDs reported by "
                                          "D 2019, E 2021 (Furukawa et al. 2006, J Clin Epidemiol 59:7)")
    untouched = _means(6, "U 2022", None)
    assert borrow_missing_sds([*donors, untouched], {"effects": {"borrow_missing_sd": False}}) == []
    assert untouched["sd_treat"] is None


MEANS_GROUP = {**GROUP, "form": "means", "mean_ctrl": 5.0, "sd_ctrl": 2.0, "n_ctrl": 40, "source": "s1"}


def test_an_arm_group_of_means_combines_three_arms_by_the_handbook_formula():
    """Handbook Table 6.5.a applied pairwise equals the pooled SD of all three groups:
    sqrt((sum (n-1) sd² + sum n (mean - grand mean)²) / (N - 1))."""
    arms = [(20, 3.0, 1.0), (30, 4.0, 1.5), (10, 2.0, 1.2)]
    rows = [{**MEANS_GROUP, "line": line, "n_treat": n, "mean_treat": m, "sd_treat": s}
            for line, (n, m, s) in zip((2, 3, 4), arms)]
    rows[1] = {**rows[1], "source": "s2", "conversion": "sd_from_se", "conversion_detail": "y"}
    (row,), problems = combine_arm_groups(rows)
    assert problems == []
    grand = sum(n * m for n, m, _ in arms) / 60
    sd = ((sum((n - 1) * s**2 + n * (m - grand) ** 2 for n, m, s in arms)) / 59) ** 0.5
    assert (row["n_treat"], row["mean_treat"], row["sd_treat"]) == (60, pytest.approx(grand), pytest.approx(sd))
    assert (row["line"], row["source"], row["conversion"]) == (2, "s1; s2", "sd_from_se; combined_arms")
    assert row["conversion_detail"] == (
        "y; treatment arms of lines 2, 3, 4 combined: n 60, mean 3.33333, SD 1.48748 (Cochrane Handbook v6.5 Table "
        "6.5.a); control arm counted once (Cochrane Handbook v6.5 §6.5.2.10, Table 6.5.a)")


def test_every_row_of_an_arm_group_must_give_the_same_control_arm():
    rows = [{**MEANS_GROUP, "line": 2, "n_treat": 20, "mean_treat": 3.0, "sd_treat": 1.0},
            {**MEANS_GROUP, "line": 3, "n_treat": 30, "mean_treat": 4.0, "sd_treat": 1.5, "sd_ctrl": 2.1},
            {**MEANS_GROUP, "line": 4, "n_treat": 10, "mean_treat": 2.0, "sd_treat": 1.2, "n_ctrl": 41,
             "mean_ctrl": 4.0}]
    out, problems = combine_arm_groups(rows)
    rule = ("the shared control arm differs from line 2 ({}): the rows of arm_group 'g' share one control arm, "
            "counted once")
    assert problems == [(3, "sd_ctrl", "2.1", rule.format(2.0)), (4, "mean_ctrl", "4.0", rule.format(5.0))]
    assert out == [{k: v for k, v in r.items() if k != "arm_group"} for r in rows]  # nothing combined
    single, problems = combine_arm_groups([rows[0], {**rows[1], "arm_group": "h"}])
    assert problems == [(2, "arm_group", "g", "arm_group names a single row: give the other arms of the group the "
                                              "same label, or leave it empty"),
                        (3, "arm_group", "h", "arm_group names a single row: give the other arms of the group the "
                                              "same label, or leave it empty")]


def test_covariance_pairs_follow_the_table_order_of_their_trials():
    """Trials in table order (not sorted by label): the pairs of 'Z 2020' (rows 0-1) come first."""
    def trial(label):
        frame = _trial_effects().iloc[:2]
        return frame.assign(study=label, arm_group=f"{label} | o | 3")

    frame = pd.concat([trial("Z 2020"), trial("A 2019")], ignore_index=True)
    assert [(p.row_i, p.row_j) for p in covariance_pairs(frame)] == [(0, 1), (2, 3)]


@pytest.mark.parametrize("needy", [
    {**_means(3, "T 2020", None), "form": "counts"},  # not arm means: nothing to borrow for
    _means(3, "T 2020", None),  # a row already refused (in failed_lines): left alone
])
def test_rows_not_borrowing_are_left_alone(needy):
    problems = borrow_missing_sds([_means(2, "D 2019", 3.0), needy], {"effects": {"borrow_missing_sd": True}},
                                  failed_lines={3} if needy["form"] == "means" else ())
    assert problems == [] and needy["sd_treat"] is None and needy["conversion"] == ""


def test_raw_cells_of_a_reconciled_table_are_numbered_from_0_with_its_own_columns():
    from evsynth.data.sensitivity_cells import raw_cells

    table = pd.DataFrame({"study": ["A 2020", "B 2021"], "extra_rob": ["high", "low"]}, index=[7, 3])
    raw, name = raw_cells(table)
    assert (list(raw.columns), list(raw.index), name) == (["study", "extra_rob"], [0, 1], "the reconciled study table")
    assert list(raw["study"]) == ["A 2020", "B 2021"]


def test_rows_without_a_form_are_refused_not_dropped():
    """Typed rows always carry 'form' (load_studies); rows without it cannot be classified, so
    compute_all_effects fails loudly rather than returning no effects."""
    with pytest.raises(KeyError, match="form"):
        compute_all_effects([{k: v for k, v in MEANS.items() if k != "form"} | {"outcome": "md"}], EFFECT_OUTCOMES,
                            MODES)


def test_a_negative_arm_mean_is_bracketed_in_the_derivation_and_zero_is_not():
    rows = [_arm("coach", 0.0, -1.0, 1.0), _arm("usual_care", -1.5, -2.5, -0.5)]
    (contrast,) = compute_all_effects(rows, EFFECT_OUTCOMES, MODES).to_dict("records")
    assert contrast["derivation"].startswith("derived from arm-level estimates: MD = 0 - (-1.5); ")
    assert contrast["yi"] == 1.5
