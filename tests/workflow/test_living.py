"""The living-review workflow end to end: dual extraction blocks and unblocks pooling, the change
log names an added trial and the analyses it moved, and re-runs are exactly as wide as the edit.

Every test runs Snakemake on a *copy* of the workflow code (Snakefile, workflow/, scripts/) in a
temporary directory: the jobs still import the installed evsynth package, but the package modules
that are rule inputs (``package_sources``) are the copy's, so a test can edit one, and edits
made to the repository meanwhile cannot disturb a dry run's job list. The change-log test and
the precise re-run tests use a copy of the session's finished small review
(conftest.small_review), which carries its own copy of the code. Slow (marked workflow).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import REPO, TABLE_BEFORE_METAPSY, copy_config, copy_review, review_config, small_table

pytestmark = pytest.mark.workflow

IGNORE = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")


@pytest.fixture(scope="module")
def code(tmp_path_factory) -> Path:
    """A copy of the workflow code; its Snakefile is the one run."""
    root = tmp_path_factory.mktemp("code")
    shutil.copy(REPO / "Snakefile", root / "Snakefile")
    shutil.copytree(REPO / "workflow", root / "workflow", ignore=IGNORE)
    shutil.copytree(REPO / "scripts", root / "scripts", ignore=IGNORE)
    return root


def snakemake(code: Path, workdir: Path, *args: str, env: dict | None = None,
              check: bool = True) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(code / "Snakefile"),
               "--directory", str(workdir), "--cores", "2", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def planned(code: Path, workdir: Path, *targets: str, env: dict | None = None) -> list[tuple[str, dict]]:
    """The jobs a dry run plans: (rule, wildcards) each."""
    result = snakemake(code, workdir, "--dry-run", *targets, env=env)
    jobs: list[tuple[str, dict]] = []
    for line in (result.stdout + result.stderr).splitlines():
        if match := re.match(r"^\s*(?:local)?(?:rule|checkpoint) (\w+):$", line):
            jobs.append((match[1], {}))
        elif (match := re.match(r"^\s*wildcards: (.*)$", line)) and jobs:
            jobs[-1] = (jobs[-1][0], dict(part.split("=", 1) for part in match[1].split(", ")))
    return jobs


def shipped() -> pd.DataFrame:
    return pd.read_csv(TABLE_BEFORE_METAPSY, sep="\t", dtype=str, keep_default_na=False)


def write(table: pd.DataFrame, path: Path) -> None:
    table.to_csv(path, sep="\t", index=False, lineterminator="\n")


def configure(workdir: Path, **sections) -> None:
    config = review_config()
    config["changes"]["baseline"] = ""  # each test freezes its own baseline where it needs one
    config.update(sections)
    copy_config(workdir, config)


def new_trial() -> pd.Series:
    """A hypothetical trial (not a real one): coach-led CBT vs usual care, pain interference SMD at
    3 months, reported as a contrast, in the format of the shipped rows."""
    row = shipped().iloc[0].copy()
    row[:] = ""
    row.update({
        "study": "Hypothetical 2026", "year": "2026", "treatment": "coach", "comparator": "usual_care",
        "outcome": "pain_interference", "timepoint": "3", "effect_measure": "SMD", "effect": "-0.80",
        "ci_lower": "-1.10", "ci_upper": "-0.50", "source": "https://example.org/hypothetical-2026, Table 2",
    })
    return row


# --- Dual extraction ------------------------------------------------------------------------------

def interference_rows() -> pd.DataFrame:
    table = shipped()
    return table[table["outcome"] == "pain_interference"].reset_index(drop=True)


@pytest.fixture(scope="module")
def dual(code, tmp_path_factory) -> Path:
    """A review extracted twice: B differs from A in two cells and misses one trial."""
    workdir = tmp_path_factory.mktemp("dual")
    a = interference_rows()
    b = a.copy()
    b.loc[b["study"] == "Dear 2013", "effect"] = "0.61"
    b.loc[b["study"] == "Buhrman 2011", "n_treat"] = "33"
    b = b[b["study"] != "Menga 2014"]
    write(a, workdir / "extraction_a.tsv")
    write(b, workdir / "extraction_b.tsv")
    configure(workdir, extraction={"reviewer_a": "extraction_a.tsv", "reviewer_b": "extraction_b.tsv"})
    return workdir


def test_a_discrepancy_blocks_pooling_naming_each_cell(code, dual):
    result = snakemake(code, dual, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "disagree in 3 cell(s)" in output and "nothing was pooled" in output
    for cell in (
        "Buhrman 2011, pain_interference, timepoint post, coach_vs_usual_care, column 'n_treat': A = '', B = '33'",
        "Dear 2013, pain_interference, timepoint post, coach_vs_usual_care, column 'effect': A = '0.578', "
        "B = '0.61'",
        "Menga 2014, pain_interference, timepoint post, online_vs_usual_care, column 'row': A = 'present', "
        "B = 'absent'",
    ):
        assert cell in output
    report = pd.read_csv(dual / "results" / "extraction_discrepancies.tsv", sep="\t", dtype=str,
                         keep_default_na=False)
    assert list(report["study"]) == ["Buhrman 2011", "Dear 2013", "Menga 2014"]
    assert set(report["status"]) == {"unresolved"}
    # Nothing computed from the unreconciled tables: no analysis, no table, no figure.
    written = sorted(p.name for p in (dual / "results").iterdir())
    assert written == ["extraction_discrepancies.tsv", "logs", "reconciliation.tsv"]


def test_an_adjudication_unblocks_pooling_and_is_kept(code, dual):
    report = pd.read_csv(dual / "results" / "extraction_discrepancies.tsv", sep="\t", dtype=str,
                         keep_default_na=False)
    # The reviewers copy the report and settle each line.
    report["agreed_value"] = ["", "0.578", "present"]
    report["who"] = "JD"
    report["why"] = ["n not reported in the paper", "Table 2 of the paper", "B overlooked it"]
    write(report, dual / "adjudication.tsv")
    configure(dual, extraction={"reviewer_a": "extraction_a.tsv", "reviewer_b": "extraction_b.tsv",
                                "adjudication": "adjudication.tsv"})
    targets = ("results/pooled.tsv", "results/reconciliation.tsv", "results/provenance_rows.tsv")
    snakemake(code, dual, *targets)
    pooled = pd.read_csv(dual / "results" / "pooled.tsv", sep="\t")
    online = pooled[pooled["treatment"] == "online"].iloc[0]
    assert "Menga 2014" in online["studies"]
    studies = pd.read_csv(dual / "results" / "analyses" / "pain_interference" / "post" / "studies.tsv", sep="\t")
    dear = studies[studies["study"] == "Dear 2013"].iloc[0]
    assert -dear["yi"] == pytest.approx(0.578)  # benefit_positive: turned round (lower is better)
    cells = pd.read_csv(dual / "results" / "reconciliation.tsv", sep="\t", dtype=str, keep_default_na=False)
    settled = cells[cells["settled"] == "adjudicated"]
    assert ("Dear 2013", "effect", "0.578", "JD", "Table 2 of the paper") in set(
        settled[["study", "column", "value", "who", "why"]].itertuples(index=False, name=None))
    assert set(cells["settled"]) == {"agreed", "adjudicated"}
    trace = pd.read_csv(dual / "results" / "provenance_rows.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert set(trace.loc[trace["study"] == "Dear 2013", "settled"]) == {"adjudicated: effect (JD)"}
    assert set(trace.loc[trace["study"] == "Buhrman 2004", "settled"]) == {"agreed"}

    # Re-sorting an extraction or editing its notes re-runs nothing; neither does a re-run.
    a = pd.read_csv(dual / "extraction_a.tsv", sep="\t", dtype=str, keep_default_na=False)
    shuffled = a.iloc[::-1].copy()
    shuffled["notes"] = "A's note"
    write(shuffled, dual / "extraction_a.tsv")
    assert planned(code, dual, *targets) == []
    # A cell both reviewers correct re-runs that analysis and the summaries only.
    for name in ("extraction_a.tsv", "extraction_b.tsv"):
        table = pd.read_csv(dual / name, sep="\t", dtype=str, keep_default_na=False)
        table.loc[table["study"] == "Friesen 2017", "year"] = "2016"
        write(table, dual / name)
    rules = sorted(rule for rule, _ in planned(code, dual, *targets))
    # One job computes every table of the analysis (year is also the meta-regression moderator).
    assert rules == ["analyse", "collect_tables", "reconcile", "trace_provenance"]


# --- What changed -----------------------------------------------------------------------------------

def reconfigure(workdir: Path, **sections) -> None:
    """Replace sections of a copied review's own config.yaml (its other settings stay as run)."""
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config.update(sections)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))


def test_adding_one_trial_to_the_review_names_it_and_the_analyses_it_moved(small_review, tmp_path):
    # A copy of the session's finished review (conftest.small_table: RESOLVE's primary outcome and
    # every interference row of the table before the Metapsy import, 4 analyses): the trial enters
    # one of them; the other three must not move.
    workdir = copy_review(small_review, tmp_path / "review")
    code = workdir  # the copy carries the code it was run with
    reconfigure(workdir, changes={"baseline": "", "i2_bands": [25, 50, 75]})
    snakemake(code, workdir, "results/changes.md")
    assert "No baseline is configured" in (workdir / "results" / "changes.md").read_text()

    freeze = subprocess.run([sys.executable, "-m", "evsynth.freeze", "results", "baselines/v1"], cwd=workdir,
                            capture_output=True, text=True, check=True)
    assert "baselines/v1" in freeze.stdout
    reconfigure(workdir, changes={"baseline": "baselines/v1", "i2_bands": [25, 50, 75]})
    table = small_table()
    write(pd.concat([table, new_trial().to_frame().T]), workdir / "studies.tsv")
    # Only the analysis the trial enters is re-pooled.
    pooling = [w for rule, w in planned(code, workdir, "results/changes.md") if rule == "analyse"]
    assert pooling == [{"outcome": "pain_interference", "timepoint": "post"}]
    snakemake(code, workdir, "results/changes.md")

    text = (workdir / "results" / "changes.md").read_text()
    assert "Baseline `baselines/v1`" in text
    assert "- Trials added: 1 (Hypothetical 2026)" in text
    assert re.search(r"\*\*Hypothetical 2026\*\*: pain_interference post, coach vs usual_care \(-0\.33 "
                     r"\[-0\.63, -0\.03\] -> -0\.\d\d \[", text), text
    assert "pain_interference post, any_remote_cbt vs usual_care" in text
    changes = pd.read_csv(workdir / "results" / "changes.tsv", sep="\t", dtype=str, keep_default_na=False)
    moved = changes[changes["change"] != "unchanged"]
    assert sorted(zip(moved["outcome"], moved["timepoint"], moved["treatment"])) == [
        ("pain_interference", "post", "any_remote_cbt"), ("pain_interference", "post", "coach")]
    assert set(moved["trials_added"]) == {"Hypothetical 2026"} and set(moved["moved"]) == {"yes"}
    assert len(changes) == len(pd.read_csv(workdir / "results" / "pooled.tsv", sep="\t"))


# --- Cumulative meta-analysis by inclusion date ---------------------------------------------------------

def test_cumulative_meta_analysis_by_inclusion_date(code, tmp_path):
    """A study-table column of the reviewers' own (extra_included_on, ISO dates) orders a cumulative
    meta-analysis through config.yaml: sensitivity.cumulative_order_by."""
    workdir = tmp_path / "cumulative"
    workdir.mkdir()
    table = interference_rows()
    dates = {"Buhrman 2004": "2019-03-01", "Buhrman 2011": "2019-03-01", "Buhrman 2013a": "2021-06-15",
             "Buhrman 2015": "2021-06-15", "Dear 2013": "2019-03-01", "Friesen 2017": "2023-01-10",
             "Hedman-Lagerlöf 2018": "2025-11-27"}
    table["extra_included_on"] = table["study"].map(dates).fillna("2019-03-01")
    write(table, workdir / "studies.tsv")
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    configure(workdir, sensitivity={**config["sensitivity"], "cumulative_order_by": ["extra_included_on"]})
    snakemake(code, workdir, "results/sensitivity/pain_interference_post/cumulative.tsv")
    steps = pd.read_csv(workdir / "results" / "sensitivity" / "pain_interference_post" / "cumulative.tsv",
                        sep="\t", dtype=str, keep_default_na=False)
    by_date = steps[(steps["order_by"] == "extra_included_on") & (steps["treatment"] == "coach")]
    assert list(by_date["order_value"]) == sorted(by_date["order_value"])
    assert by_date["study"].iloc[-1] == "Hedman-Lagerlöf 2018"


# --- Precise re-runs -------------------------------------------------------------------------------------

ANALYSES = {("pain_severity_response", "post"), ("pain_severity_response", "6m"),
            ("pain_severity_response", "12m"), ("pain_interference", "post")}


@pytest.fixture(scope="module")
def built(small_review, tmp_path_factory) -> Path:
    """A copy of the session's finished review of conftest.small_table (RESOLVE's primary outcome
    at three timepoints and every interference SMD row: 4 analyses), which carries its own copy
    of the code: the tests below run its Snakefile and edit its modules."""
    workdir = copy_review(small_review, tmp_path_factory.mktemp("scope") / "review")
    assert planned(workdir, workdir) == []
    return workdir


def test_resaving_resorting_or_editing_notes_reruns_nothing(built):
    table = small_table()
    path = built / "studies.tsv"
    write(table, path)  # re-saved: same bytes, new modification time
    os.utime(path)
    assert planned(built, built) == []
    shuffled = table.sample(frac=1, random_state=7).copy()
    shuffled["notes"] = "edited note"
    write(shuffled, path)
    assert planned(built, built) == []
    write(table, path)


def test_editing_one_row_reruns_only_its_analysis_and_the_summaries(built):
    table = small_table().copy()
    table.loc[table["study"] == "Menga 2014", "effect"] = "0.300"
    write(table, built / "studies.tsv")
    try:
        jobs = planned(built, built)
        per_analysis = {(w.get("outcome"), w.get("timepoint")) for _, w in jobs if w}
        assert per_analysis == {("pain_interference", "post")}
        rules = [rule for rule, _ in jobs]
        for rule in ("analyse", "plot_forest"):
            assert rules.count(rule) == 1
        # The provenance table and the change log are summaries: they re-run; the per-analysis
        # hash in each plot's footer keeps the other plots untouched.
        assert {"collect_tables", "tabulate_effects", "trace_provenance", "report_changes"} <= set(rules)
    finally:
        write(small_table(), built / "studies.tsv")
    assert planned(built, built) == []


def test_a_new_pymare_version_reruns_the_pooling(built, tmp_path):
    """PyMARE's version is a param of analyse: simulated by a dist-info for version 99.0 ahead
    of the real one on the path (importlib.metadata reads the first it finds; nothing is imported)."""
    fake = tmp_path / "fake" / "pymare-99.0.dist-info"
    fake.mkdir(parents=True)
    (fake / "METADATA").write_text("Metadata-Version: 2.1\nName: pymare\nVersion: 99.0\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "fake")}
    pooling = {(w["outcome"], w["timepoint"]) for rule, w in planned(built, built, env=env) if rule == "analyse"}
    assert pooling == ANALYSES
    assert planned(built, built) == []


def test_editing_a_statistics_module_reruns_the_pooling(built):
    module = built / "workflow" / "lib" / "evsynth" / "stats" / "pooling.py"
    original = module.read_bytes()
    module.write_bytes(original + b"\n# an edit to the statistics package\n")
    try:
        jobs = planned(built, built)
        pooling = {(w["outcome"], w["timepoint"]) for rule, w in jobs if rule == "analyse"}
        assert pooling == ANALYSES
    finally:
        module.write_bytes(original)
