"""The screening log behind the PRISMA 2020 flow diagram (evsynth.data.screening).

Both forms of one hand-made review give the same counts; every bad log of the corpus
(tests/fixtures/bad_screening/, expected.yaml) reports exactly its problems, with file, line,
column, value and rule, all at once; the shipped screening.yaml is accepted against the shipped
table; a living review counts the baseline's studies as the previous version.
"""

from dataclasses import replace

import pandas as pd
import pytest
import yaml

from conftest import REPO
from evsynth.data.screening import (
    UNKNOWN,
    ScreeningError,
    counts_as_dict,
    counts_from_dict,
    load_screening,
)
from evsynth.pipeline.filing import previous_studies

FIXTURES = REPO / "tests" / "fixtures"
CORPUS = FIXTURES / "bad_screening"
EXPECTED = yaml.safe_load((CORPUS / "expected.yaml").read_text())
TABLE = EXPECTED.pop("_table")
REASONS = EXPECTED.pop("_reasons")


def test_corpus_is_complete():
    assert sorted(p.name for p in CORPUS.iterdir() if p.name != "expected.yaml") == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_log_reports_every_problem_at_once(name):
    with pytest.raises(ScreeningError) as err:
        load_screening(CORPUS / name, REASONS, TABLE, "studies.tsv")
    found = err.value.problems
    assert [(p.line, p.column) for p in found] == [(line, column) for _, line, column, _ in EXPECTED[name]]
    for problem, (kind, _, _, words) in zip(found, EXPECTED[name]):
        assert words in problem.rule
        assert problem.file == (str(CORPUS / name) if kind == "log" else "studies.tsv")
    message = str(err.value)
    assert message.startswith(f"The screening log has {len(found)} problem(s); no flow diagram was drawn:")
    # file, line, column and value in every line of the message
    for problem in found:
        assert f"{problem.file}, line {problem.line}, column '{problem.column}'" in message


def test_log_and_counts_forms_give_the_same_diagram():
    log = load_screening(FIXTURES / "screening" / "good_log.tsv", REASONS, TABLE, "studies.tsv")
    counts = load_screening(FIXTURES / "screening" / "good_counts.yaml", REASONS, TABLE, "studies.tsv")
    db, other = log.databases, log.other
    assert dict(db.identified) == {"MEDLINE": 2, "Embase": 2, "CENTRAL": 1}
    assert dict(db.registers) == {"ClinicalTrials.gov": 1}
    assert (db.duplicates_removed, db.screened, db.screening_excluded, db.sought, db.not_retrieved, db.assessed) == (
        1, 5, 1, 4, 1, 3)
    assert db.excluded == (("wrong comparator", 1),)
    assert (other.sought, other.not_retrieved, other.assessed, other.excluded) == (2, 0, 2, (("not randomised", 1),))
    assert (log.studies, log.reports, log.included_studies) == (2, 3, ("Allen 2019", "Dear 2013"))
    assert replace(log, form="counts", included_studies=()) == counts
    assert counts_from_dict(counts_as_dict(log)) == log


def test_unknown_counts_skip_the_arithmetic_but_known_ones_are_checked(tmp_path):
    path = tmp_path / "counts.yaml"
    path.write_text("other_methods:\n  identified: {corpus: unknown}\n  sought: unknown\n  not_retrieved: unknown\n"
                    "  assessed: 5\n  excluded: {not randomised: 1}\nincluded: {studies: 2, reports: 4}\n")
    counts = load_screening(path, REASONS, TABLE, "studies.tsv")
    assert counts.other.sought == UNKNOWN and not counts.databases.searched
    path.write_text(path.read_text().replace("reports: 4", "reports: 3"))
    with pytest.raises(ScreeningError, match="reports assessed minus reports excluded, over both routes = 4"):
        load_screening(path, REASONS, TABLE, "studies.tsv")


def test_shipped_screening_log_matches_the_shipped_table():
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    table = pd.read_csv(REPO / config["studies"], sep="\t", dtype=str, keep_default_na=False)
    section = config["screening"]
    previous = previous_studies(str(REPO / config["changes"]["baseline"]))
    counts = load_screening(REPO / section["log"], section["exclusion_reasons"], table["study"], "studies.tsv",
                            previous)
    # An update (issue 17): the 20 trials of the frozen baseline, 9 new ones from the Metapsy databases.
    assert (counts.previous_studies, counts.studies, table["study"].nunique()) == (20, 9, 29)
    assert not counts.other.searched  # the update used no other method: stated, never drawn as zeros
    # Identification counts each database's data rows; the screening counts were not recorded.
    assert [n for _, n in counts.databases.identified] == [449, 900, 361]
    assert counts.databases.screened == UNKNOWN and counts.databases.assessed == counts.reports == 12


def test_living_review_counts_the_previous_version_from_the_baseline(tmp_path):
    baseline = tmp_path / "baselines" / "v1"
    baseline.mkdir(parents=True)
    pd.DataFrame({"study": ["Allen 2019", "Allen 2019"], "outcome": ["a", "b"]}).to_csv(
        baseline / "effects.tsv", sep="\t", index=False)
    previous = previous_studies(str(baseline))
    assert previous == ["Allen 2019"]
    # The update's log includes only Dear 2013's reports; Allen 2019 comes from the previous version.
    log = pd.read_csv(FIXTURES / "screening" / "good_log.tsv", sep="\t", dtype=str, keep_default_na=False)
    log = log[log["record_id"] != "r1"]
    log.to_csv(tmp_path / "update.tsv", sep="\t", index=False)
    counts = load_screening(tmp_path / "update.tsv", REASONS, TABLE, "studies.tsv", previous)
    assert (counts.studies, counts.previous_studies, counts.total_studies) == (1, 1, 2)
    assert counts.updated and counts.total_reports == UNKNOWN  # reports of the previous version: not recorded
    # Without the baseline, the same log misses Allen 2019.
    with pytest.raises(ScreeningError, match="Allen 2019"):
        load_screening(tmp_path / "update.tsv", REASONS, TABLE, "studies.tsv")


def test_previous_studies_from_an_older_baseline_without_effects(tmp_path):
    (tmp_path / "pooled.tsv").write_text("outcome\tstudies\nx\tA 2011; B 2012\ny\tB 2012\nz\t\n")
    assert previous_studies(str(tmp_path)) == ["A 2011", "B 2012"]
    assert previous_studies("") is None


def test_a_log_that_is_not_a_table_is_reported(tmp_path):
    path = tmp_path / "log.ods"
    path.write_text("x")
    with pytest.raises(ScreeningError, match="unsupported file type"):
        load_screening(path, REASONS, TABLE, "studies.tsv")


def test_exclusion_reasons_come_in_the_configured_order_whatever_the_file_order(tmp_path):
    # docs/screening.md: the diagram lists reasons in config.yaml's order (a mutant that
    # stopped recognising a configured reason kept the file's order instead).
    reasons = list(REASONS)
    assert len(reasons) >= 2
    data = yaml.safe_load((FIXTURES / "screening" / "good_counts.yaml").read_text())
    data["databases_and_registers"]["excluded"] = {reasons[1]: 1, reasons[0]: 0}
    path = tmp_path / "counts.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    counts = load_screening(path, REASONS, TABLE, "studies.tsv")
    assert [reason for reason, _ in counts.databases.excluded] == [reasons[0], reasons[1]]
