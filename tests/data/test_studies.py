"""Study-table checks: every problem reported at once, with file, line, column, value, rule."""

import shutil

import pandas as pd
import pytest
import yaml

from conftest import REPO
from evsynth.data.config import ConfigError, windows_from_config
from evsynth.data.studies import StudyTableError, load_studies, read_table

CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
HEADER = ["study", "year", "treatment", "comparator", "outcome", "timepoint", "effect_measure", "effect",
          "ci_lower", "ci_upper", "events_treat", "n_treat", "events_ctrl", "n_ctrl", "source"]
GOOD_COUNTS = ["Trial 2020", "2020", "coach", "usual_care", "pain_severity_response", "3", "", "", "", "",
               "12", "50", "8", "50", "doi:10.1000/xyz, Table 2"]
GOOD_CONTRAST = ["Trial 2021", "2021", "online", "usual_care", "pain_severity_response", "12w", "RR", "1.28",
                 "1.06", "1.55", "", "", "", "", "PMID 12345678"]


def write(tmp_path, rows, header=HEADER, name="studies.tsv"):
    path = tmp_path / name
    pd.DataFrame(rows, columns=header).to_csv(path, sep="\t", index=False)
    return path


def problems(path):
    with pytest.raises(StudyTableError) as err:
        load_studies(path, CONFIG)
    return err.value.problems


def test_good_rows_load_with_windows(tmp_path):
    studies = load_studies(write(tmp_path, [GOOD_COUNTS, GOOD_CONTRAST]), CONFIG)
    assert list(studies["form"]) == ["counts", "contrast"]
    assert list(studies["window"]) == ["post", "post"]  # 12 weeks = 2.77 months
    assert studies["timepoint_months"][1] == pytest.approx(12 * 12 / 52)
    assert list(studies["line"]) == [2, 3]


def test_every_problem_reported_with_line_column_value(tmp_path):
    bad_events = GOOD_COUNTS.copy()
    bad_events[HEADER.index("events_treat")] = "60"  # events > n
    bad_outcome = GOOD_CONTRAST.copy()
    bad_outcome[HEADER.index("outcome")] = "pain_sevrity_response"
    bad_number = GOOD_CONTRAST.copy()
    bad_number[HEADER.index("effect")] = "12 (34%)"
    bad_mode = GOOD_COUNTS.copy()
    bad_mode[HEADER.index("treatment")] = "phone"
    found = problems(write(tmp_path, [bad_events, bad_outcome, bad_number, bad_mode]))
    summary = {(p.line, p.column, p.value) for p in found}
    assert (2, "events_treat", "60") in summary
    assert (3, "outcome", "pain_sevrity_response") in summary
    assert (4, "effect", "12 (34%)") in summary
    assert (5, "treatment", "phone") in summary
    text = "\n".join(str(p) for p in found)
    assert "did you mean 'pain_severity_response'" in text
    assert "must not exceed n_treat (50)" in text
    assert all(p.file.endswith("studies.tsv") for p in found)


def test_missing_and_misspelt_columns(tmp_path):
    header = [c if c != "events_treat" else "event_treat" for c in HEADER if c != "source"]
    rows = [GOOD_COUNTS[: HEADER.index("source")]]
    found = problems(write(tmp_path, rows, header))
    messages = {(p.column, p.rule.split(";")[0]) for p in found}
    assert ("source", "required column is missing") in messages
    assert ("event_treat", "unknown column (did you mean 'events_treat'?)") in messages


@pytest.mark.parametrize(
    "column,value,rule",
    [
        ("comparator", "coach", "must differ from treatment"),
        ("ci_lower", "1.60", "CI is reversed"),
        ("effect", "0", "must be greater than 0"),
        ("effect", "1.70", "lies outside its own CI"),
        ("timepoint", "three months", "must be months"),
        ("source", "the paper", "must name a DOI"),
        ("year", "20", "between 1900 and 2100"),
    ],
)
def test_contrast_rules(tmp_path, column, value, rule):
    row = GOOD_CONTRAST.copy()
    if column == "comparator":
        row[HEADER.index("treatment")] = "coach"
    row[HEADER.index(column)] = value
    assert any(p.column == column and rule in p.rule for p in problems(write(tmp_path, [row])))


def test_measure_must_match_outcome(tmp_path):
    row = GOOD_CONTRAST.copy()
    row[HEADER.index("effect_measure")] = "OR"
    assert any("analysed as RR" in p.rule for p in problems(write(tmp_path, [row])))


def test_duplicate_comparison_in_one_window(tmp_path):
    found = problems(write(tmp_path, [GOOD_COUNTS, GOOD_COUNTS]))
    assert [(p.line, p.column) for p in found] == [(3, "primary")]
    assert "same study, outcome, timepoint window 'post'" in found[0].rule


def test_header_only_empty_and_unsupported(tmp_path):
    assert "no rows" in problems(write(tmp_path, []))[0].rule
    (tmp_path / "empty.tsv").write_text("")
    assert "empty" in problems(tmp_path / "empty.tsv")[0].rule
    (tmp_path / "studies.ods").write_text("x")
    assert "unsupported file type" in problems(tmp_path / "studies.ods")[0].rule


def test_csv_and_xlsx_read_like_tsv(tmp_path):
    tsv = write(tmp_path, [GOOD_COUNTS, GOOD_CONTRAST])
    table = read_table(tsv)
    table.to_csv(tmp_path / "studies.csv", index=False)
    table.to_excel(tmp_path / "studies.xlsx", index=False)
    for name in ("studies.csv", "studies.xlsx"):
        pd.testing.assert_frame_equal(read_table(tmp_path / name), table)


def test_overlapping_windows_rejected():
    with pytest.raises(ConfigError, match="overlap"):
        windows_from_config({"timepoints": {"a": [0, 5], "b": [4, 9]}})


def test_shipped_table_loads_and_cites_every_row(tmp_path):
    shutil.copy(REPO / "studies.tsv", tmp_path / "studies.tsv")
    studies = load_studies(tmp_path / "studies.tsv", CONFIG)
    assert studies["source"].str.len().min() > 10
    resolve = studies[(studies["study"] == "DeBar 2025")]
    # Table 2 at arm level (27 arm rows; its 27 published RRs kept, excluded, for comparison)
    # and Table 3's 45 MDs as contrasts.
    assert len(resolve) == 99
    assert (resolve["form"] == "arm").sum() == 27
    published_rr = resolve[resolve["effect_measure"] == "RR"]
    assert len(published_rr) == 27 and not published_rr["include"].any()
    primary = published_rr[(published_rr["outcome"] == "pain_severity_response") & (published_rr["timepoint"] == "3")]
    published = {("coach", "usual_care"): (1.54, 1.30, 1.82), ("online", "usual_care"): (1.28, 1.06, 1.55),
                 ("coach", "online"): (1.20, 1.03, 1.40)}
    for row in primary.to_dict("records"):
        assert (row["effect"], row["ci_lower"], row["ci_upper"]) == published[(row["treatment"], row["comparator"])]
    arms = resolve[(resolve["form"] == "arm") & (resolve["outcome"] == "pain_severity_response")
                   & (resolve["timepoint"] == "3")]
    assert {r["arm"]: (r["arm_estimate"], r["arm_ci_lower"], r["arm_ci_upper"]) for r in arms.to_dict("records")} == {
        "coach": (32.0, 29.3, 35.0), "online": (26.6, 23.4, 30.2), "usual_care": (20.8, 18.0, 24.0)}


# Several effects per trial (primary, instrument): docs/study_table.md#several-effects-per-trial.
SEVERAL = [*HEADER, "primary", "instrument", "n_arm", "arm", "arm_measure", "arm_estimate", "arm_se", "include",
           "exclusion_reason"]


def several(row, primary="", instrument="", timepoint=None, **cells):
    out = dict(zip(HEADER, row), primary=primary, instrument=instrument, **cells)
    if timepoint:
        out["timepoint"] = timepoint
    return [out.get(c, "") for c in SEVERAL]


def test_secondary_effects_load_and_are_marked(tmp_path):
    rows = [several(GOOD_COUNTS, "", "bpi"), several(GOOD_COUNTS, "no", "pdi"),
            several(GOOD_COUNTS, "no", "bpi", timepoint="2")]  # another follow-up inside the window
    studies = load_studies(write(tmp_path, rows, SEVERAL), CONFIG)
    assert studies["primary"].tolist() == [True, False, False]
    assert studies["instrument"].tolist() == ["bpi", "pdi", "bpi"]
    assert studies["window"].tolist() == ["post"] * 3


def test_metapsy_instrument_column_is_read_when_instrument_is_empty(tmp_path):
    header = [*SEVERAL, "extra_metapsy_instrument"]
    rows = [[*several(GOOD_COUNTS), "phq-9"], [*several(GOOD_COUNTS, "no"), "bdi-ii"]]
    assert load_studies(write(tmp_path, rows, header), CONFIG)["instrument"].tolist() == ["phq-9", "bdi-ii"]
    rows[1][-1] = "phq-9"
    assert [(p.line, p.column) for p in problems(write(tmp_path, rows, header))] == [(3, "instrument")]


def test_excluded_rows_keep_their_meaning(tmp_path):
    # An excluded secondary row needs no primary; an excluded primary row leaves its secondary an orphan.
    alone = several(GOOD_COUNTS, "no", "pdi", include="no", exclusion_reason="not reported")
    assert load_studies(write(tmp_path, [alone], SEVERAL), CONFIG)["include"].tolist() == [False]
    rows = [several(GOOD_COUNTS, "", "bpi", include="no", exclusion_reason="x"), several(GOOD_COUNTS, "no", "pdi")]
    assert [(p.line, p.column, p.value) for p in problems(write(tmp_path, rows, SEVERAL))] == [(3, "primary", "no")]


def test_a_secondary_effect_is_one_contrast_row(tmp_path):
    arm = dict(treatment="", comparator="", arm="coach", arm_measure="proportion", arm_estimate="0.3",
               arm_se="0.05", n_arm="50", events_treat="", n_treat="", events_ctrl="", n_ctrl="")
    rows = [several(GOOD_COUNTS), several(GOOD_COUNTS, "no", "pdi", **arm)]
    found = problems(write(tmp_path, rows, SEVERAL))
    assert any(p.line == 3 and p.column == "arm" and "secondary effect" in p.rule for p in found)
