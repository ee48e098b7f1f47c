"""The Metapsy importer's behaviours the full mutation run of data/metapsy.py found untested
(issue 21, mutation/report-metapsy.md).

Real records where the databases have the case: six rows of Depression psy vs ctr v24.0.2
(doi:10.5281/zenodo.7254845) as the database gives them (a subset of its columns, checked
against ../shared/external/metapsy when it is there): rows 11 (Alexopoulos 2016, individual
format) and 193 (Fissler 2016, 'other ctr' control), which the map lists with its reason; row 22
(Araya 2021, response counts, events are good); rows 47-49 (Baumeister 2021, three depression
instruments at one time). Otherwise one real record with cells changed to sit on either side of
a rule (Sander 2020, tests/data/test_metapsy_rules_exact.py; Friesen 2017's FIQ, stored negated);
those changed records are rule fixtures and never enter a study table.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import math

import pytest
import yaml

from data.test_metapsy import BODILY, CONFIG, DEPRESSION, OUTCOMES, REPO, SHARED, WINDOWS, mapping
from data.test_metapsy_rules_exact import sander
from evsynth.data.io import write_tsv
from evsynth.data.metapsy import IMPORT_COLUMNS, import_rows, load_map, read_metapsy
from evsynth.data.studies import load_studies

COLUMNS = ("", "study", "condition_arm1", "condition_arm2", ".g", "outcome_type", "instrument", "mean_arm1", "sd_arm1",
           "n_arm1", "mean_arm2", "sd_arm2", "n_arm2", "event_arm1", "event_arm2", "totaln_arm1", "totaln_arm2", "year",
           "time_weeks", "time", "format", "target_group", "sg", "ac", "ba", "itt", "rob", "full_ref")
BAUMEISTER = ("Baumeister, H., Paganini, S., Sander, L. B., Lin, J., Schlicker, S., Terhorst, Y., Moshagen, M., "
              "Bengel, J., Lehr, D., & Ebert, D. D. (2021). Effectiveness of a Guided Internet- and Mobile-Based "
              "Intervention for Patients with Chronic Back Pain and Depression (WARD-BP): A Multicenter, Pragmatic "
              "Randomized Controlled Trial. Psychother Psychosom, 90(4), 255-268. "
              "https://doi.org/10.1159/000511881 \n")
NA6 = ("NA",) * 6
NA4 = ("NA",) * 4
RECORDS = (
    ("11", "Alexopoulos, 2016", "pst", "other ctr", "-0,215183490629242", "response (50%)", "hdrs-24", *NA6,
     "28", "37", "84", "87", "2016", "12", "post", "ind", "med", "1", "0", "1", "1", "3",
     "Alexopoulos GS, Raue PJ, McCulloch C, Kanellopoulos D, Seirup JK, Sirey JA, et al. Clinical case management "
     "versus case management with problem-solving therapy in low-income, disabled elders with major depression: A "
     "randomized clinical trial. American Journal of Geriatric Psychiatry. 2016;24(1):50-9."),
    ("22", "Araya, 2021", "bat", "cau", "0,265099475177847", "response (50%)", "phq-9", *NA6,
     "159", "114", "440", "440", "2021", "19", "post", "gsh", "med", "1", "1", "1", "1", "4",
     "Araya, R., Menezes, P. R., Claro, H. G., Brandt, L. R., Daley, K. L., Quayle, J., Diez-Canseco, F., Peters, T. "
     "J., Vera Cruz, D., Toyama, M., Aschar, S., Hidalgo-Padilla, L., Martins, H., Cavero, V., Rocha, T., Scotton, G., "
     "de Almeida Lopes, I. F., Begale, M., Mohr, D. C., & Miranda, J. J. (2021, May 11). Effect of a Digital "
     "Intervention on Depressive Symptoms in Patients With Comorbid Hypertension or Diabetes in Brazil and Peru: Two "
     "Randomized Clinical Trials. Jama, 325(18), 1852-1862. https://doi.org/10.1001/jama.2021.4348 \n"),
    ("47", "Baumeister, 2021", "cbt", "cau", "0,213812285331136", "msd", "hdrs-17", "9,67", "6,41", "104", "11,14",
     "7,26", "105", *NA4, "2021", "9", "post", "gsh", "med", "1", "1", "1", "1", "4", BAUMEISTER),
    ("48", "Baumeister, 2021", "cbt", "cau", "0,279126137510261", "msd", "qids", "7,29", "4,27", "104", "8,56", "4,78",
     "105", *NA4, "2021", "9", "post", "gsh", "med", "1", "1", "1", "1", "4", BAUMEISTER),
    ("49", "Baumeister, 2021", "cbt", "cau", "0,445813726797858", "msd", "phq-9", "8,92", "4,71", "104", "11,29",
     "5,82", "105", *NA4, "2021", "9", "post", "gsh", "med", "1", "1", "1", "1", "4", BAUMEISTER),
    ("193", "Fissler, 2016", "3rd", "other ctr", "1,17482706806709", "msd", "bdi-2", "10", "6,8", "36", "19,4", "9",
     "32", *NA4, "2017", "NA", "post", "gsh", "adul", "1", "1", "sr", "0", "3",
     "Fissler, M., Winnebeck, E., Schroeter, T. A., Gummbersbach, M., Huntenburg, J. M., Gärtner, M., & Barnhofer, T. "
     "(2017). Brief training in mindfulness may normalize a blunted error-related negativity in chronically depressed "
     "patients. Cognitive, Affective & Behavioral Neuroscience, 17(6), 1164-1175. doi:10.3758/s13415-017-0540-x"),
)


@functools.cache
def _database_rows() -> dict[str, dict[str, str]]:
    path = SHARED / "data-depression-psyctr" / "data.csv"
    return {cells["row"]: cells for _, cells in read_metapsy(path)} if path.is_file() else {}


def depression_records(tmp_path):
    """The six records as a ``;`` file (the two long references span two lines, as in the database)."""
    path = tmp_path / "depression.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, delimiter=";", lineterminator="\n").writerows([COLUMNS, *RECORDS])
    records = read_metapsy(path)
    database = _database_rows()
    for _, cells in records:  # the copy is the database's, cell for cell, when the database is at hand
        assert not database or {k: database[cells["row"]][k] for k in cells} == cells, cells["row"]
    return records


def depression_map(tmp_path):
    """The shipped depression map selecting these trials, with behavioural activation as a therapy
    and, before the symptom scales, response counts as good events (stored_higher_is_better)."""
    raw = yaml.safe_load((REPO / "examples" / "metapsy" / "chronic_pain_depression_map.yaml").read_text())
    raw["select"] = {"target_group": ["med", "adul"], "study": sorted({r[1] for r in RECORDS})}
    raw["therapy"].append({"when": {"condition_arm1": ["bat"]}, "class": "behavioural activation"})
    raw["outcomes"].insert(0, {"when": {"outcome_type": ["response (50%)"], "instrument": ["phq-9"]},
                               "outcome": "depression", "stored_higher_is_better": True})
    path = tmp_path / "map.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return load_map(path, OUTCOMES, list(CONFIG["modes"]))


def depression_import(tmp_path):
    return import_rows(depression_records(tmp_path), depression_map(tmp_path), OUTCOMES, WINDOWS)


def test_a_delivery_or_control_the_map_does_not_review_is_listed_with_the_maps_reason(tmp_path):
    """A rule mapping to nothing (mode: null) lists the row with that rule's reason."""
    reasons = {s["row"]: s["reason"] for s in depression_import(tmp_path).skipped}
    assert reasons["11"] == "treatment not reviewed here: face-to-face or mixed format, not remote"
    assert reasons["193"] == ("comparator not reviewed here: other control conditions are not coded specifically "
                              "enough to call them usual care")


def test_a_second_instrument_names_the_line_and_instrument_imported(tmp_path):
    """Baumeister 2021 rows 47 (HDRS-17, file lines 5-6) and 48 (QIDS, 7-8) are listed against
    row 49 (PHQ-9, first in the map's order), which starts on file line 9."""
    result = depression_import(tmp_path)
    (imported,) = [r for r in result.rows if r["study"] == "Baumeister 2021"]
    assert imported["extra_metapsy_instrument"] == "phq-9" and "row 49 " in imported["source"]
    reasons = {(s["line"], s["row"]): s["reason"] for s in result.skipped if s["study"] == "Baumeister, 2021"}
    expected = "depression at 9w for this comparison is already imported from line 9 (instrument phq-9, earlier in " \
               "the map's order)"
    assert reasons == {("5", "47"): expected, ("7", "48"): expected}


def test_the_trials_reference_is_noted_on_one_line_and_an_na_reference_is_not(tmp_path):
    (row,) = [r for r in depression_import(tmp_path).rows if r["study"] == "Baumeister 2021"]
    assert f"Trial: {' '.join(BAUMEISTER.split())} " in row["notes"]  # the database's line break made a space
    (unknown,) = sander(tmp_path, full_ref="NA").rows
    assert "Trial:" not in unknown["notes"] and "Sander LB et al." not in unknown["notes"]


def test_response_counts_are_checked_against_a_benefit_positive_g(tmp_path):
    """Araya 2021 (row 22), PHQ-9 response 159/440 vs 114/440, events good: our g is Chinn's SMD
    of not responding, -ln(OR) sqrt(3)/pi (Chinn 2000; negative favours arm 1, as for symptom
    scores); the database's .g 0.2651 is benefit positive, so -0.2651 on that convention."""
    result = depression_import(tmp_path)
    ((row, check),) = [(r, c) for r, c in zip(result.rows, result.g_checks) if r["study"] == "Araya 2021"]
    assert (row["events_treat"], row["n_treat"], row["events_ctrl"], row["n_ctrl"]) == ("159", "440", "114", "440")
    assert row["effect_direction"] == "benefit_positive" and "more events are better" in row["notes"]
    log_or = math.log(159 * (440 - 114) / ((440 - 159) * 114))
    assert check["g_ours_arm1_minus_arm2"] == pytest.approx(-log_or * math.sqrt(3) / math.pi, rel=1e-12)
    assert check["g_metapsy_same_convention"] == -0.265099475177847
    assert check["agrees"] is True


@pytest.mark.parametrize("year,expected", [("2017", "2017"), ("NA", "2016"), ("", "2016"), ("17", "2016")])
def test_the_year_column_wins_over_the_labels_year(tmp_path, year, expected):
    """Eight records of Depression psy vs ctr give a year other than the label's, e.g. row 193
    'Fissler, 2016' with year 2017, the year of its reference; a cell that is not a year falls
    back to the label's."""
    (row,) = sander(tmp_path, study="Fissler, 2016", year=year).rows
    assert (row["study"], row["year"]) == ("Fissler 2016", expected)


@pytest.mark.parametrize("weeks,timepoint", [("1", "1w"), ("0,5", "0.5w"), ("9", "9w"), ("0", "post"), ("NA", "post")])
def test_any_number_of_weeks_above_zero_names_the_timepoint(tmp_path, weeks, timepoint):
    """time_weeks 1 is in the databases (depression rows 333 and 477, self-guided row 156); 0
    means not reported (Buhrman 2015), so the map's without_weeks names the timepoint."""
    (row,) = sander(tmp_path, time_weeks=weeks).rows
    assert row["timepoint"] == timepoint


@pytest.mark.parametrize("first", [{"time_weeks": "0,5"}, {"time_weeks": "NA", "time": "pre"}])
def test_a_measurement_in_the_first_weeks_is_the_first_of_the_post_window(tmp_path, first):
    """The post window is [0, 4] months and takes 0 (config.yaml, as the study-table check
    places rows): a row at half a week, or at 0 weeks (a map may name '0w'), is the window's first
    measurement, so a later one in the window is kept out and the rows pass the check."""
    path = tmp_path / "depression.csv"
    path.write_text(DEPRESSION, encoding="utf-8")
    line, cells = read_metapsy(path)[2]
    chosen = mapping("depression-psyctr")
    chosen = dataclasses.replace(chosen, timepoint={**chosen.timepoint, "without_weeks": {"post": "post", "pre": "0w"}})
    result = import_rows([(line, {**cells, **first}), (line + 1, {**cells, "time_weeks": "4"})], chosen, OUTCOMES,
                         WINDOWS)
    start = "0.5w" if first["time_weeks"] == "0,5" else "0w"
    assert [(r["timepoint"], r["include"], r["exclusion_reason"]) for r in result.rows] == [
        (start, "yes", ""), ("4w", "no", f"second measurement in the post window; the first ({start}) is pooled")]
    out = tmp_path / "imported.tsv"
    write_tsv(result.rows, IMPORT_COLUMNS, out)
    assert len(load_studies(out, CONFIG)) == 2


@pytest.mark.parametrize("arm", ["mean_arm1", "mean_arm2"])
def test_a_mean_of_zero_turned_back_is_written_0_not_minus_0(tmp_path, arm):
    """Friesen 2017's FIQ (bodily distress row 115) is stored negated and turned back; a stored
    mean of 0 stays "0" (FIQ runs 0-100), never "-0" in the table a reviewer reads."""
    path = tmp_path / "bodily.csv"
    path.write_text(BODILY, encoding="utf-8")
    records = [(line, {**cells, arm: "0"} if cells["row"] == "115" else cells) for line, cells in read_metapsy(path)]
    result = import_rows(records, mapping("bodily-distress-psyctr"), OUTCOMES, WINDOWS)
    (fiq,) = [r for r in result.rows if r["extra_metapsy_instrument"] == "fiq"]
    means = {"mean_arm1": ("0", "64.59"), "mean_arm2": ("53.39", "0")}[arm]
    assert (fiq["mean_treat"], fiq["mean_ctrl"]) == means


@pytest.mark.parametrize("g,agrees", [("0,01", True), (repr(math.nextafter(0.01, 1)), False),
                                      ("-0,01", True), (repr(-math.nextafter(0.01, 1)), False)])
def test_a_g_exactly_0_01_from_ours_agrees(tmp_path, g, agrees):
    """Equal arm means give our g = 0 exactly, so |ours - theirs| is |.g|: a difference of
    exactly 0.01 (G_CHECK_TOLERANCE, 'above 0.01 is printed', docs/metapsy.md) agrees, the next
    double above it does not."""
    (check,) = sander(tmp_path, mean_arm2="6,28", **{".g": g}).g_checks
    assert check["g_ours_arm1_minus_arm2"] == 0.0
    assert check["agrees"] is agrees
