"""What the review team files, through Snakemake on the shipped table: the PRISMA 2020 flow
diagram from screening.yaml, the methods and results text whose numbers come from pooled.tsv,
and the metafor scripts, which reproduce pooled.tsv to 1e-6 where R with metafor is installed
(run locally; CI has no R). Bad screening logs stop the run before any job, naming every
problem, and leave earlier results as they were; a living review's diagram counts the frozen
baseline's studies as the previous version."""

from __future__ import annotations

import hashlib
import html
import re
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import REPO, copy_config, figure_formats, rscript_with_metafor, run_r_scripts, run_workflow
from evsynth.pipeline.plan import Plan

pytestmark = pytest.mark.workflow
CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
TARGETS = ["results/methods.md", "results/results.md", "results/methods_and_results.html",
           *(f"results/prisma.{ext}" for ext in figure_formats(CONFIG))]


def _reproduce_targets() -> list[str]:
    return Plan.load(CONFIG).analysis_outputs("results/reproduce/{outcome}_{timepoint}.R")


@pytest.fixture(scope="module")
def filed(tmp_path_factory) -> Path:
    """The shipped table, screening log, baselines and config, but for dependent_effects: no file
    filed reads it (write_methods reads pooled.tsv and effects.tsv, whose jobs' params and inputs
    leave it out; collect_tables adds its models to robustness.tsv only), and it would add one
    job per analysis (34) that builds nothing read here."""
    workdir = tmp_path_factory.mktemp("filed")
    for name in ("studies.tsv", "screening.yaml"):
        shutil.copy(REPO / name, workdir / name)
    config = {key: value for key, value in CONFIG.items() if key != "dependent_effects"}
    copy_config(workdir, config)  # with the baselines: the shipped review is an update (issue 17)
    run_workflow(workdir, *TARGETS, *_reproduce_targets())
    return workdir


def _fmt(value: float) -> str:
    text = f"{value:.2f}"
    return "0.00" if text == "-0.00" else text


def test_every_comparison_sentence_carries_its_pooled_numbers(filed):
    pooled = pd.read_csv(filed / "results" / "pooled.tsv", sep="\t")
    text = (filed / "results" / "results.md").read_text()
    page = html.unescape((filed / "results" / "methods_and_results.html").read_text())
    sentences = [line[2:] for line in text.splitlines() if line.startswith("- ")]
    assert len(sentences) == len(pooled)
    for sentence, row in zip(sentences, pooled.to_dict("records")):
        assert sentence in page
        if row["status"] == "no estimable study":
            assert "no trial gave an estimable effect" in sentence
            continue
        effect = (f"{row['measure']} {_fmt(row['estimate'])}, 95% CI {_fmt(row['ci_lower'])} to "
                  f"{_fmt(row['ci_upper'])}")
        assert effect in sentence, (effect, sentence)
        if not pd.isna(row["i2"]):
            assert f"I² = {row['i2']:.0f}%" in sentence
        if not pd.isna(row["pi_lower"]):
            assert f"prediction interval {_fmt(row['pi_lower'])} to {_fmt(row['pi_upper'])}" in sentence
        if not pd.isna(row["n_participants"]):
            assert f"(n = {int(row['n_participants']):,})" in sentence
    # The primary outcome as the paper reports it (DeBar et al., JAMA 2025, Table 2).
    assert ("One trial (n = 1,393), DeBar 2025, compared Health-coach-led remote CBT with Usual care: "
            "RR 1.54, 95% CI 1.30 to 1.82 (single trial, not pooled).") in sentences
    assert "9 new studies (12 reports) were included, 29 in total with the 20 of the previous version" in text


def test_methods_state_the_configured_choices_with_citations(filed):
    text = (filed / "results" / "methods.md").read_text()
    for words in ("restricted maximum likelihood (REML) (Viechtbauer 2005)",
                  "Hartung-Knapp-Sidik-Jonkman method on a t distribution with k - 1 degrees of freedom "
                  "(Hartung & Knapp 2001; Sidik & Jonkman 2002)",
                  "prediction intervals were computed on a t distribution with k - 1 degrees of freedom",
                  "I² was computed from tau² (Higgins & Thompson 2002)", "Q-profile", "(Page et al. 2021)",
                  "databases and registers (Metapsy bodily distress v25.0.1, doi:10.5281/zenodo.17405019 "
                  "(data rows);",
                  f"evsynth {version('evsynth')} (Python; PyMARE {version('pymare')}",
                  "derived from arm-level estimates", "at least 10 trials"):
        assert words in text, words


def test_prisma_diagram_in_the_configured_formats_and_in_the_report_caption(filed):
    assert sorted(p.name for p in (filed / "results").glob("prisma.*")) == sorted(
        f"prisma.{ext}" for ext in figure_formats(CONFIG))
    for ext in figure_formats(CONFIG):
        assert (filed / "results" / f"prisma.{ext}").stat().st_size > 1000
    svg = (filed / "results" / "prisma.svg").read_text()
    # An update: the previous version's 20 trials, the Metapsy databases, no other method.
    assert 'id="box-previous"' in svg and 'id="box-other_none"' in svg and 'id="box-db_none"' not in svg


def test_r_scripts_reproduce_pooled_tsv_to_1e6(filed, tmp_path):
    scripts = sorted((filed / "results" / "reproduce").glob("*.R"))
    assert len(scripts) == len(_reproduce_targets()) > 20
    rscript = rscript_with_metafor()
    if rscript is None:
        pytest.skip("Rscript with metafor not installed (CI); run locally where R is")
    result = run_r_scripts(rscript, scripts, tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    checked = {name: int(n) for name, n in re.findall(r"SCRIPT (\S+): (\d+) checked, 0 differ", result.stdout)}
    assert sorted(checked) == [p.name for p in scripts]
    pooled = pd.read_csv(filed / "results" / "pooled.tsv", sep="\t")
    # Each row with an estimate checks at least its estimate, CI, P-value and statistic (a single
    # trial's combined CBT arms: those 5; pooled rows many more).
    assert sum(checked.values()) >= 5 * (pooled["status"] != "no estimable study").sum()


def _fingerprint(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / "results").rglob("*")) if p.is_file() and "logs" not in p.parts}


def _first_line(study: str) -> int:
    """The file line of the study's first row in the shipped study table (header = line 1)."""
    lines = (REPO / "studies.tsv").read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.split("\t", 1)[0] == study)


@pytest.mark.parametrize("bad,messages", [
    ("09_many_problems.tsv", ["line 5, column 'retrieval' = 'lost': unknown decision",
                              "line 6, column 'exclusion_reason' = 'wrong population': unknown reason",
                              "line 2, column 'study' = 'Allen 2020': included here but not a study of studies.tsv",
                              f"studies.tsv, line {_first_line('Buhrman 2004')}, column 'study' = 'Buhrman 2004': "
                              "in the study table but no report of it is included"]),
    ("13_counts_do_not_add_up.yaml", ["column 'databases_and_registers.screened' = '6': does not add up"]),
])
def test_bad_screening_log_stops_the_run_and_changes_nothing(filed, bad, messages):
    before = _fingerprint(filed)
    source = REPO / "tests" / "fixtures" / "bad_screening" / bad
    shutil.copy(source, filed / source.name)
    override = filed / "bad_screening.yaml"
    # A new review's log (no baseline): every study of the table must then be included by it.
    override.write_text(yaml.safe_dump({"screening": {"log": source.name,
                                                      "exclusion_reasons": ["wrong comparator", "not randomised"]},
                                        "changes": {"baseline": ""}}))
    result = run_workflow(filed, *TARGETS, "--configfile", str(override), check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "no flow diagram was drawn" in output
    for message in messages:
        assert message in output, message
    assert _fingerprint(filed) == before


def test_living_review_diagram_counts_the_previous_version(filed):
    subprocess.run([sys.executable, "-m", "evsynth.freeze", "results", "baselines/v1"], cwd=filed, check=True,
                   capture_output=True)
    (filed / "update.yaml").write_text(
        "databases_and_registers:\n  databases: {MEDLINE: 3}\n  screened: 3\n  screening_excluded: 3\n"
        "  sought: 0\n  not_retrieved: 0\n  assessed: 0\nincluded: {studies: 0, reports: 0}\n")
    override = filed / "living.yaml"
    override.write_text(yaml.safe_dump({"screening": {"log": "update.yaml"}, "changes": {"baseline": "baselines/v1"}}))
    run_workflow(filed, "results/results.md", "results/prisma.svg", "--configfile", str(override))
    text = (filed / "results" / "results.md").read_text()
    assert "0 new studies (0 reports) were included, 29 in total with the 29 of the previous version" in text
    assert 'id="box-previous"' in (filed / "results" / "prisma.svg").read_text()
