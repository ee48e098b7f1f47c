"""The workflow end to end, on a subset of the shipped (real, cited) study table.

Slow: each test runs Snakemake in a temporary directory (marked ``workflow``).
"""

from __future__ import annotations

import filecmp
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import REPO, copy_config, copy_review, run_review, run_workflow, small_table, write_table
from oracle._oracle import load

pytestmark = pytest.mark.workflow


def prepare(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    copy_config(path)
    write_table(small_table(), path / "studies.tsv")
    return path


@pytest.fixture(scope="module")
def finished(small_review) -> Path:
    """The session's run of the small table (conftest.small_review): read only."""
    return small_review


def test_resolve_primary_outcome_reproduces_the_paper(finished):
    """DeBar et al., JAMA 2025, Table 2: RR 1.54 [1.30, 1.82], 1.28 [1.06, 1.55], 1.20 [1.03, 1.40],
    rebuilt from the arms' adjusted percentages (32.0, 26.6, 20.8 with CIs) to within the 0.011
    the rounding of those inputs allows (NOTES.md addendum: 1.538 [1.299, 1.822], 1.279
    [1.055, 1.550], 1.203 [1.030, 1.405])."""
    pooled = pd.read_csv(finished / "results" / "pooled.tsv", sep="\t")
    primary = pooled[(pooled["outcome"] == "pain_severity_response") & (pooled["timepoint"] == "post")]
    published = {
        ("coach", "usual_care"): (1.54, 1.30, 1.82),
        ("online", "usual_care"): (1.28, 1.06, 1.55),
        ("coach", "online"): (1.20, 1.03, 1.40),
    }
    for (treatment, comparator), values in published.items():
        row = primary[(primary["treatment"] == treatment) & (primary["comparator"] == comparator)].iloc[0]
        assert row["k"] == 1 and row["status"] == "single study: shown, not pooled"
        assert (row["estimate"], row["ci_lower"], row["ci_upper"]) == pytest.approx(values, abs=0.011)
    coach = primary[(primary["treatment"] == "coach") & (primary["comparator"] == "usual_care")].iloc[0]
    assert f"{coach['estimate']:.2f} [{coach['ci_lower']:.2f}, {coach['ci_upper']:.2f}]" == "1.54 [1.30, 1.82]"
    assert primary.loc[primary["treatment"] != "any_remote_cbt", "tau2"].isna().all()  # k = 1: no heterogeneity


def test_resolve_contrasts_carry_the_shared_usual_care_covariance(finished, metafor_multivariate):
    """The two usual-care contrasts share the usual-care arm: covariance = var(ln p_UC) =
    ((ln 24.0 - ln 18.0) / (2 x 1.959964))² = 0.07339² (NOTES.md addendum). The subgroup test uses
    it: metafor rma.mv(yi, V, mods=~mode) QM = 5.4294 (tests/oracle/reference/metafor_multivariate.R)."""
    studies = pd.read_csv(finished / "results" / "analyses" / "pain_severity_response" / "post" / "studies.tsv",
                          sep="\t")
    vs_usual_care = studies[studies["comparator"] == "usual_care"]
    shared = ((np.log(24.0) - np.log(18.0)) / (2 * 1.959963984540054)) ** 2
    assert vs_usual_care["var_ctrl_arm"].tolist() == pytest.approx([shared, shared], rel=1e-12)
    assert vs_usual_care["arm_group"].nunique() == 1
    tests = pd.read_csv(finished / "results" / "subgroup_tests.tsv", sep="\t")
    row = tests[(tests["outcome"] == "pain_severity_response") & (tests["timepoint"] == "post")
                & (tests["convention"] == "common_tau2")].iloc[0]
    expected = metafor_multivariate["resolve_ps3_mode_reml_z"]["outputs"]
    assert row["stat"] == pytest.approx(expected["QM"], rel=1e-6)
    assert row["p_value"] == pytest.approx(expected["QMp"], rel=1e-6)
    assert row["covariance_used"] == "yes"
    # One trial: the across-modes estimate is its coach and online arms combined (issue 20), not an
    # rma.mv fitted to two arms of one trial (tests/oracle/reference/metafor_multiarm.R).
    pooled = pd.read_csv(finished / "results" / "pooled.tsv", sep="\t")
    overall = pooled[(pooled["outcome"] == "pain_severity_response") & (pooled["timepoint"] == "post")
                     & (pooled["treatment"] == "any_remote_cbt")].iloc[0]
    combined = load("metafor_multiarm")["resolve_ps3_rr"]
    assert overall["status"] == "single study: CBT arms combined, not pooled" and overall["k"] == 1
    assert np.log(overall["estimate"]) == pytest.approx(combined["yi"], rel=1e-9)
    assert overall["se"] ** 2 == pytest.approx(combined["vi"], rel=1e-9)


# Quoted output values are `code spans` in README paragraphs that begin "On the shipped table" and
# name their output(s) as `results/...`; published values are written "published: a [b, c]".
_FENCE = re.compile(r"^```.*?^```", re.S | re.M)
_SPAN = re.compile(r"`([^`]+)`")
_TRIPLE = re.compile(r"-?\d+\.\d+ \[-?\d+\.\d+, -?\d+\.\d+\]")


def readme_quotes() -> list[tuple[list[str], list[str]]]:
    """(output files, quoted values) of each README paragraph that quotes the shipped table's
    outputs; every other estimate [CI] in the README must be marked as published."""
    text = _FENCE.sub("", (REPO / "README.md").read_text())
    quotes, unmarked = [], []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = " ".join(paragraph.split())
        spans = _SPAN.findall(paragraph)
        if paragraph.startswith("On the shipped table"):
            sources = [s for s in spans if s.startswith("results/")]
            values = [s for s in spans if not s.startswith("results/") and re.search(r"\d", s)]
            quotes.append((sources, values))
        bare = _SPAN.sub("", paragraph)
        unmarked += [m.group() for m in _TRIPLE.finditer(bare) if not bare[: m.start()].endswith("published: ")]
    assert not unmarked, f"README numbers neither quoted from an output nor marked published: {unmarked}"
    return quotes


def output_texts(path: Path) -> list[set[str]]:
    """Per row of a results table: its cells as text and each estimate [CI] formatted as quoted."""
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    rows = []
    for rec in table.to_dict("records"):
        cells = {v for v in rec.values() if v}
        for prefix in ("", "common_"):
            triple = [rec.get(f"{prefix}{c}", "") for c in ("estimate", "ci_lower", "ci_upper")]
            if all(triple):
                est, lo, hi = (float(v) for v in triple)
                cells.add(f"{est:.2f} [{lo:.2f}, {hi:.2f}]")
        rows.append(cells)
    return rows


def test_every_number_the_readme_quotes_is_read_from_the_outputs(finished):
    """Issue 20: the README quoted coach vs online as 1.20 [1.03, 1.40] "as published" while
    pooled.tsv says 1.20 [1.03, 1.41]. Each quoted value must appear in a row of the output its
    paragraph names, from this run (the subset holds every row of the analyses quoted)."""
    shipped = pd.read_csv(REPO / "studies.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert (small_table()["outcome"] == "pain_severity_response").sum() == (
        shipped["outcome"] == "pain_severity_response").sum()
    quotes = readme_quotes()
    assert len(quotes) >= 2 and all(sources and values for sources, values in quotes), quotes
    for sources, values in quotes:
        rows = [row for source in sources for row in output_texts(finished / source)]
        for value in values:
            assert any(value in cell for row in rows for cell in row), f"README quotes {value!r}, not in {sources}"


def test_pooled_smd_matches_metafor(finished, metafor):
    """Coach-led CBT vs usual care, interference SMD, post, under the default cochrane-2025 profile:
    metafor rma(yi, sei=sei, method="REML", test="knha"), predict() and confint()."""
    pooled = pd.read_csv(finished / "results" / "pooled.tsv", sep="\t")
    row = pooled[(pooled["outcome"] == "pain_interference") & (pooled["treatment"] == "coach")].iloc[0]
    expected = metafor["shipped_interference_coach_reml_knha"]["outputs"]
    assert row["k"] == expected["k"] == 7
    for ours, theirs in [("estimate", "beta"), ("se", "se"), ("ci_lower", "ci_lb"), ("ci_upper", "ci_ub"),
                         ("p_value", "pval"), ("stat", "tval"), ("stat_df", "df"), ("tau2", "tau2"), ("i2", "I2"),
                         ("h2", "H2"), ("q", "QE"), ("pi_lower", "pi_lb"), ("pi_upper", "pi_ub"),
                         ("tau2_ci_lower", "tau2_ci_lb"), ("tau2_ci_upper", "tau2_ci_ub"),
                         ("i2_ci_lower", "I2_ci_lb"), ("i2_ci_upper", "I2_ci_ub")]:
        assert row[ours] == pytest.approx(expected[theirs], rel=1e-6, abs=1e-9), ours
    assert (row["estimator"], row["ci_method"], row["pi_method"], row["profile"]) == (
        "REML", "hksj", "t_k-1", "cochrane-2025")
    assert "Gasslander 2022" in row["note"]  # shown as not estimable, not silently dropped


def test_robustness_table_lists_every_profile(finished):
    robustness = pd.read_csv(finished / "results" / "robustness.tsv", sep="\t",
                             true_values=["yes"], false_values=["no"])
    coach = robustness[(robustness["outcome"] == "pain_interference") & (robustness["treatment"] == "coach")]
    bayes = coach["profile"].str.startswith("bayes (")
    # The chosen settings re-run without outliers / influential trials when a rule excludes one (issue 15).
    excluding = coach["profile"].str.startswith("cochrane-2025, excluding ")
    assert sorted(coach.loc[~bayes & ~excluding, "profile"]) == ["cochrane-2025", "metafor", "revman5"]
    assert set(coach.loc[excluding, "profile"]) <= {"cochrane-2025, excluding outliers",
                                                   "cochrane-2025, excluding influential trials"}
    assert coach.loc[bayes, "profile"].tolist() == ["bayes (half-normal(0.5), mu flat)"]  # issue 16
    assert coach.loc[coach["chosen"], "profile"].tolist() == ["cochrane-2025"]


def test_every_analysis_has_three_figures_and_effects_list_all_rows(finished):
    forest = sorted(p.name for p in (finished / "results" / "forest").iterdir())
    assert forest == sorted(
        f"{a}.{ext}" for a in ("pain_severity_response_post", "pain_severity_response_6m",
                               "pain_severity_response_12m", "pain_interference_post")
        for ext in ("svg", "png", "pdf")
    )
    effects = pd.read_csv(finished / "results" / "effects.tsv", sep="\t")
    assert len(effects) == len(small_table())
    assert effects.loc[effects["study"] == "Buhrman 2013b", "status"].str.startswith("excluded by reviewer").all()


def test_same_input_gives_same_bytes(finished, resumed_review):
    # The second run of the same input: conftest.resumed_review, killed mid-way and resumed, each
    # of its files computed once, by other processes than the first run's.
    second = resumed_review[0]
    first_files = sorted(p.relative_to(finished) for p in (finished / "results").rglob("*")
                         if p.is_file() and "logs" not in p.parts)
    assert len(first_files) > 15
    _, mismatch, errors = filecmp.cmpfiles(finished, second, [str(p) for p in first_files], shallow=False)
    assert mismatch == [] and errors == []


def test_bad_table_stops_before_anything_is_written(tmp_path):
    workdir = prepare(tmp_path / "bad")
    table = small_table().reset_index(drop=True)
    table.loc[0, "effect"] = "1.5x"
    table.loc[2, "outcome"] = "pain_sevrity_response"
    write_table(table, workdir / "studies.tsv")
    result = run_workflow(workdir, check=False)
    assert result.returncode != 0
    message = result.stdout + result.stderr
    assert "studies.tsv, line 2, column 'effect' = '1.5x': must be a number" in message
    assert "studies.tsv, line 4, column 'outcome' = 'pain_sevrity_response': unknown outcome" in message
    assert not (workdir / "results").exists()


def _planned_jobs(workdir: Path) -> dict[str, int]:
    result = run_review(workdir, "--dry-run")
    counts = {}
    lines = result.stdout.splitlines()
    if "Job stats:" in lines:
        for line in lines[lines.index("Job stats:") + 3:]:
            parts = line.split()
            if len(parts) != 2 or parts[0] == "total":
                break
            counts[parts[0]] = int(parts[1])
    return counts


def with_secondary_effect(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` plus a hand-made secondary effect of Menga 2014 (another instrument; a test row,
    not a real number), so that the dependent-effects job of pain interference has one."""
    table = table.assign(primary="", instrument="")
    second = table[table["study"] == "Menga 2014"].iloc[0].copy()
    second[["primary", "instrument", "effect", "ci_lower", "ci_upper", "se"]] = ["no", "test scale", "0.200",
                                                                               "-0.400", "0.800", ""]
    return pd.concat([table, second.to_frame().T], ignore_index=True)


def test_rerun_scope_after_editing_the_table(small_review, tmp_path):
    # The session's finished review with one secondary effect added: the run brings it up to date
    # (the dependent-effects jobs and the summaries), as a cold run of that table would end.
    workdir = copy_review(small_review, tmp_path / "scope")
    write_table(with_secondary_effect(small_table()), workdir / "studies.tsv")
    run_review(workdir)
    table = pd.read_csv(workdir / "studies.tsv", sep="\t", dtype=str, keep_default_na=False)

    # Re-sorting the rows and editing notes change no analysis: nothing re-runs.
    shuffled = table.iloc[::-1].copy()
    shuffled["notes"] = "edited note"
    write_table(shuffled, workdir / "studies.tsv")
    assert _planned_jobs(workdir) == {}

    # One changed number re-runs its own analysis, its plot and the table-wide summaries only.
    edited = table.copy()
    edited.loc[edited["study"] == "Menga 2014", "effect"] = "0.300"
    write_table(edited, workdir / "studies.tsv")
    # Per-analysis rules run once (the edited analysis only); the rest are table-wide summaries.
    per_analysis = ("analyse", "plot_forest", "plot_network")
    summaries = ("all", "check_table", "collect_tables", "tabulate_effects", "tabulate_study_table",
                 "summarise_findings", "trace_provenance", "report_changes", "write_methods")
    # plot_sensitivity runs per comparison: the edited analysis (pain interference, post) has two
    # with >= 3 trials. Known before the run, since every plot is declared at parse time. The
    # dependent-effects page and the analysis's meta-regression bubble plots (two comparisons
    # with >= 3 trials) re-run too (config.yaml: dependent_effects).
    expected = {**dict.fromkeys(per_analysis + summaries + DEPENDENT_RULES, 1), "plot_sensitivity": 2,
                "plot_metaregression": 2}
    assert _planned_jobs(workdir) == expected

    # A secondary effect (primary = no) feeds only its own analysis's job (rule analyse computes
    # every table of the analysis in one process, issue 18): that job and the drawings of its
    # outputs re-run, no other analysis, and not the model across windows (primary rows only).
    # The table-wide summaries do: the study-table page and effects.tsv show the row, and
    # collect_tables (robustness.tsv holds the dependent models) rewrites pooled.tsv, which the
    # summary of findings, methods text and provenance read.
    edited = table.copy()
    edited.loc[edited["instrument"] == "test scale", "effect"] = "0.300"
    write_table(edited, workdir / "studies.tsv")
    assert _planned_jobs(workdir) == expected


#: Jobs an edit of one pain-interference row re-runs under config.yaml: dependent_effects.
DEPENDENT_RULES = ("collect_tables", "summarise_dependent")


def test_lint_and_format_are_clean():
    lint = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=REPO, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    snakefmt = shutil.which("snakefmt", path=str(Path(sys.executable).parent))
    fmt = subprocess.run([snakefmt, "--check", "."], cwd=REPO, capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    # Python style: pyproject.toml [tool.ruff] (pyflakes, pycodestyle, isort, pyupgrade, bugbear).
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    style = subprocess.run([ruff, "check", "workflow/lib", "scripts", "tests", "benchmarks"], cwd=REPO,
                           capture_output=True, text=True)
    assert style.returncode == 0, style.stdout + style.stderr
