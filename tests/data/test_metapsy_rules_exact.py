"""The Metapsy importer's rules at and across their bounds, messages in full (issue 21).

One real record, Sander 2020 (Depression psy vs ctr v24.0.2, doi:10.5281/zenodo.7254845, row 638,
tests/data/test_metapsy.py's DEPRESSION), with cells changed to sit on either side of each rule:
event counts whole numbers with 0 <= events <= n and n >= 1, SDs > 0 and whole n >= 1, the
'Author, Year' label with a year letter, the g cross-check's 0.01 tolerance and its sign for event
counts. The changed records are rule fixtures; they never enter a study table.
"""

from __future__ import annotations

import dataclasses
import math

import pytest

from data.test_metapsy import DEPRESSION, OUTCOMES, WINDOWS, mapping
from evsynth.data.metapsy import import_rows, read_metapsy


def sander(tmp_path, **changes):
    """Sander 2020 with ``changes``; the map selects studies by label, so a changed label too."""
    path = tmp_path / "depression.csv"
    path.write_text(DEPRESSION, encoding="utf-8")
    line, cells = read_metapsy(path)[2]
    chosen = mapping("depression-psyctr")
    if "study" in changes:
        chosen = dataclasses.replace(chosen, select={**chosen.select, "study": (changes["study"],)})
    return import_rows([(line, {**cells, **changes})], chosen, OUTCOMES, WINDOWS)


NO_MEANS = {"mean_arm1": "NA", "sd_arm1": "NA", "n_arm1": "NA"}  # the counts are read when the means are not


@pytest.mark.parametrize("counts,ok", [
    ((0, 1, 0, 1), True), ((1, 1, 1, 1), True), ((0, 5, 5, 5), True), ((5, 5, 0, 5), True),
    ((-1, 5, 0, 5), False), ((0, 5, -1, 5), False), ((6, 5, 0, 5), False), ((0, 5, 6, 5), False),
    ((0, 0, 0, 5), False), ((0, 5, 0, 0), False), ((0.5, 5, 0, 5), False), ((0, 5, 0.5, 5), False),
    ((0, 5.5, 0, 5), False), ((0, 5, 0, 5.5), False),
])
def test_event_counts_at_and_across_their_bounds(tmp_path, counts, ok):
    cells = dict(zip(("event_arm1", "totaln_arm1", "event_arm2", "totaln_arm2"), map(str, counts)))
    result = sander(tmp_path, **NO_MEANS, **cells)
    if ok:
        (row,) = result.rows
        assert [float(row[c]) for c in ("events_treat", "n_treat", "events_ctrl", "n_ctrl")] == list(counts)
    else:
        e1, n1, e2, n2 = counts
        (skipped,) = result.skipped
        assert skipped["reason"] == f"events must be whole numbers 0..n (events {e1:g}/{n1:g}, {e2:g}/{n2:g})"


@pytest.mark.parametrize("sds_ns,ok", [
    ((3.45, 149, 3.99, 146), True), ((0.01, 1, 0.01, 3), True), ((0.01, 3, 0.01, 1), True),
    ((0, 149, 3.99, 146), False), ((3.45, 149, 0, 146), False), ((-1, 149, 3.99, 146), False),
    ((3.45, 0, 3.99, 146), False), ((3.45, 149, 3.99, 0), False),
    ((3.45, 149.5, 3.99, 146), False), ((3.45, 149, 3.99, 146.5), False),
])
def test_sds_and_arm_sizes_at_and_across_their_bounds(tmp_path, sds_ns, ok):
    sd1, n1, sd2, n2 = sds_ns
    result = sander(tmp_path, **dict(zip(("sd_arm1", "n_arm1", "sd_arm2", "n_arm2"), map(str, sds_ns))))
    if ok:
        (row,) = result.rows
        assert [float(row[c]) for c in ("sd_treat", "n_treat", "sd_ctrl", "n_ctrl")] == list(sds_ns)
    else:
        (skipped,) = result.skipped
        assert skipped["reason"] == (f"SDs must be > 0 and n whole numbers >= 1 (sd {sd1:g}, {sd2:g}; "
                                     f"n {n1:g}, {n2:g})")


@pytest.mark.parametrize("label,year,study,expected_year", [
    ("Sander, 2020", "2020", "Sander 2020", "2020"), ("Sander, 2020b", "2020", "Sander 2020b", "2020"),
    ("Sander,2020a", "NA", "Sander 2020a", "2020"),  # no year cell: the label's year, without its letter
])
def test_study_label_keeps_a_year_letter(tmp_path, label, year, study, expected_year):
    (row,) = sander(tmp_path, study=label, year=year).rows
    assert (row["study"], row["year"]) == (study, expected_year)


@pytest.mark.parametrize("shift,agrees", [(0.0, True), (0.0099, True), (-0.0099, True), (0.0101, False),
                                          (-0.0101, False), (0.015, False), (-0.019, False), (None, True)])
def test_g_check_tolerance_is_0_01(tmp_path, shift, agrees):
    """Our g -0.4228441 against the database's .g 0.42284428693507, given benefit-positive
    (-0.4228443 on our convention); a .g moved by more than 0.01 is flagged, an NA one is not."""
    g = "NA" if shift is None else f"{0.42284428693507 + shift!r}"
    (check,) = sander(tmp_path, **{".g": g}).g_checks
    assert check["agrees"] is agrees
    assert check["g_ours_arm1_minus_arm2"] == pytest.approx(-0.4228441322, abs=1e-9)
    assert check["g_metapsy_same_convention"] == (None if shift is None else pytest.approx(-0.42284428693507 - shift))


def test_g_check_of_event_counts_is_chinns_smd_with_harms_unturned(tmp_path):
    """PHQ-9 (lower is better, events are harms in the map): our g for counts 3/10 vs 4/10 is
    Chinn's ln(OR) x sqrt(3)/pi (Chinn 2000), unturned."""
    counts = {"event_arm1": "3", "totaln_arm1": "10", "event_arm2": "4", "totaln_arm2": "10"}
    result = sander(tmp_path, **NO_MEANS, **counts)
    (check,) = result.g_checks
    assert check["g_ours_arm1_minus_arm2"] == pytest.approx(math.log(3 * 6 / (7 * 4)) * math.sqrt(3) / math.pi,
                                                            rel=1e-12)
    assert result.rows[0]["effect_direction"] == ""


def test_a_follow_up_without_weeks_takes_its_mapped_window_not_the_first(tmp_path):
    """A record with no usable weeks takes its window from the map's without_weeks (here fu -> 6m),
    so it is not a second measurement of the post window beside a 4-week row of the same trial."""
    path = tmp_path / "depression.csv"
    path.write_text(DEPRESSION, encoding="utf-8")
    line, cells = read_metapsy(path)[2]
    chosen = mapping("depression-psyctr")
    chosen = dataclasses.replace(chosen, timepoint={**chosen.timepoint, "without_weeks": {"post": "post", "fu": "6m"}})
    records = [(line, {**cells, "time": "fu", "time_weeks": "NA"}), (line + 1, {**cells, "time_weeks": "4"})]
    result = import_rows(records, chosen, OUTCOMES, WINDOWS)
    assert [(r["timepoint"], r["include"], r["exclusion_reason"]) for r in result.rows] == [("6m", "yes", ""),
                                                                                          ("4w", "yes", "")]
    records.append((line + 2, {**cells, "time_weeks": "3"}))  # a second post-window row: the later is kept out
    result = import_rows(records, chosen, OUTCOMES, WINDOWS)
    assert [(r["timepoint"], r["include"], r["exclusion_reason"]) for r in result.rows] == [
        ("6m", "yes", ""), ("3w", "yes", ""),
        ("4w", "no", "second measurement in the post window; the first (3w) is pooled")]
