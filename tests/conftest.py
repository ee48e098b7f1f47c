"""Shared fixtures: the metafor reference cases (tests/oracle/_oracle.py) and a helper to run the workflow."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from evsynth.data.config import figure_formats as _figure_formats
from oracle._oracle import load

REPO = Path(__file__).resolve().parents[1]
#: The shipped table as it was before the Metapsy import (issue 17), with the columns added since
#: left empty: the workflow tests that pin numbers of the shipped analyses run on it, so that
#: growing the shipped evidence base does not move what they check.
TABLE_BEFORE_METAPSY = REPO / "tests" / "fixtures" / "studies_before_metapsy.tsv"


@pytest.fixture(scope="session")
def metafor():
    """Cases written by tests/oracle/reference/metafor_reference.R (metafor 3.8-1, threshold 1e-12)."""
    return load("metafor_reference")


@pytest.fixture(scope="session")
def metafor_multivariate():
    """Cases written by tests/oracle/reference/metafor_multivariate.R (rma.mv, exact REML/ML tau²)."""
    return load("metafor_multivariate")


def as_array(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def normand_rows(metafor: dict) -> list[dict]:
    """dat.normand1999 (metafor's SMD example, length of stay) as study-table means rows of
    coach vs usual care, from the inputs pinned in metafor_reference.json."""
    i = metafor["normand_smd_dl_z"]["inputs"]
    return [
        {"study": str(s), "year": 1999, "treatment": "coach", "comparator": "usual_care", "outcome": "los",
         "form": "means", "mean_treat": m1, "sd_treat": s1, "n_treat": n1, "mean_ctrl": m2, "sd_ctrl": s2,
         "n_ctrl": n2}
        for s, m1, s1, n1, m2, s2, n2 in zip(i["study"], i["m1i"], i["sd1i"], i["n1i"], i["m2i"], i["sd2i"], i["n2i"])
    ]  # fmt: skip


def review_config() -> dict:
    """config.yaml for a review of another table than the shipped one (most workflow tests run
    on a subset): its screening log describes the shipped table, so it is left out."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["screening"] = {**config.get("screening", {}), "log": ""}
    return config


def all_formats_config() -> dict:
    """:func:`review_config` drawing every figure format (config.yaml's default leaves PDF out), as
    the shared review (:func:`new_review`) does: its same-bytes, Slurm and interrupted-run checks
    then cover each writer."""
    return {**review_config(), "figures": {"formats": ["pdf", "svg", "png"]}}


def figure_formats(config: dict | None = None) -> tuple[str, ...]:
    """The formats a run of ``config`` (default :func:`review_config`) draws every figure in."""
    return _figure_formats(review_config() if config is None else config)[0]


def copy_config(directory: Path, config: dict | None = None) -> None:
    """Write ``config`` (default :func:`review_config`) as ``directory``/config.yaml, with the
    frozen baselines it may name (``changes: baseline``) beside it."""
    config = review_config() if config is None else config
    (directory / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    shutil.copytree(REPO / "baselines", directory / "baselines", dirs_exist_ok=True)


#: Sources each generated metafor script (results/reproduce/*.R) in its own environment in one R
#: process (metafor loads once); a script's quit() on a difference becomes an error here.
R_DRIVER = """
bad <- 0
for (f in commandArgs(TRUE)) {
  env <- new.env()
  env$quit <- function(...) stop("numbers differ from evsynth")
  ok <- tryCatch({ source(f, local = env); TRUE },
                 error = function(e) { cat("ERROR in", f, ":", conditionMessage(e), "\\n"); FALSE })
  cat(sprintf("SCRIPT %s: %d checked, %d differ\\n", basename(f), env$checked, length(env$failures)))
  if (!ok) bad <- bad + 1
}
quit(status = if (bad > 0) 1 else 0)
"""


def rscript_with_metafor() -> str | None:
    """Path of Rscript when it and metafor are installed (CI has no R), else None."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    probe = subprocess.run([rscript, "-e", "library(metafor)"], capture_output=True, text=True)
    return rscript if probe.returncode == 0 else None


def run_r_scripts(rscript: str, paths: list[Path], workdir: Path) -> subprocess.CompletedProcess:
    driver = workdir / "run_reproduce.R"
    driver.write_text(R_DRIVER)
    return subprocess.run([rscript, str(driver), *map(str, paths)], capture_output=True, text=True, timeout=900)


def run_workflow(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run Snakemake on the repo's Snakefile with ``workdir`` as working directory."""
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
               "--directory", str(workdir), "--cores", "2", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A working directory holding a copy of config.yaml (the study table is added per test)."""
    copy_config(tmp_path)
    return tmp_path


# --- One run of the workflow tests' small review, shared by the session ---------------------------
# Most workflow tests need a finished review of the same small table under the default config.
# It is run once (small_review); tests that only read it share it, tests that edit or re-run
# copy it (copy_review keeps modification times, so Snakemake sees nothing to do in the copy).

#: Workflow code a review carries with it (its code inputs are then paths inside the review).
CODE = ("Snakefile", "workflow", "scripts")
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")


def small_table() -> pd.DataFrame:
    """RESOLVE's primary outcome (3 contrasts x 3 timepoints) and every interference SMD row of the
    table before the Metapsy import: 4 analyses, 42 jobs, every rule of a shipped run but the
    PRISMA figure."""
    table = pd.read_csv(TABLE_BEFORE_METAPSY, sep="\t", dtype=str, keep_default_na=False)
    keep = ((table["study"] == "DeBar 2025") & (table["outcome"] == "pain_severity_response")) | (
        table["outcome"] == "pain_interference"
    )
    return table[keep]


def write_table(table: pd.DataFrame, path: Path) -> None:
    table.to_csv(path, sep="\t", index=False, lineterminator="\n")


@pytest.fixture(scope="session")
def code_snapshot(tmp_path_factory) -> Path:
    """The workflow code copied once per session: every review made from it runs the same code,
    whatever is edited in the repository meanwhile."""
    root = tmp_path_factory.mktemp("code")
    shutil.copy2(REPO / "Snakefile", root / "Snakefile")
    for folder in CODE[1:]:
        shutil.copytree(REPO / folder, root / folder, ignore=IGNORE)
    return root


def new_review(code: Path, path: Path, table: pd.DataFrame | None = None) -> Path:
    """A self-contained review at ``path``: the code of ``code``, :func:`all_formats_config` and
    ``table`` (default :func:`small_table`), not run yet."""
    path.mkdir(parents=True)
    shutil.copy2(code / "Snakefile", path / "Snakefile")
    for folder in CODE[1:]:
        shutil.copytree(code / folder, path / folder)
    copy_config(path, all_formats_config())
    write_table(small_table() if table is None else table, path / "studies.tsv")
    return path


def review_command(review: Path, *args: str) -> tuple[list[str], dict[str, str]]:
    """Command and environment that run the review's own Snakefile in it, with its own evsynth
    first on PYTHONPATH (the jobs import the code the review carries)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(review / "workflow" / "lib")] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])))
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(review / "Snakefile"),
               "--directory", str(review), "--cores", "2", *args]
    return command, env


def run_review(review: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run Snakemake on a review made by :func:`new_review` (or a copy of one)."""
    command, env = review_command(review, *args)
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def copy_review(review: Path, path: Path) -> Path:
    """A copy of a finished review that plans nothing (copy2: modification times kept, as
    `cp -a`; test_code_inputs checks that a copied review plans nothing)."""
    shutil.copytree(review, path, symlinks=True)
    return path


@pytest.fixture(scope="session")
def small_review(code_snapshot, tmp_path_factory) -> Path:
    """:func:`small_table` under the default review config, run once for the session. Read it
    only; copy it (:func:`copy_review`) to edit or re-run anything."""
    review = new_review(code_snapshot, tmp_path_factory.mktemp("small_review") / "review")
    run_review(review)
    return review


@pytest.fixture(scope="session")
def resumed_review(code_snapshot, tmp_path_factory) -> tuple[Path, bool, list[Path]]:
    """:func:`small_table`'s review killed mid-run (SIGKILL to Snakemake and its jobs once 2 of its
    4 analyses are pooled), then recovered as the README says (--unlock, then --rerun-incomplete):
    (the review, whether results/pooled.tsv existed when it was killed, the temporary files the
    kill left under results/). test_interrupted_run.py checks all three; every file of it was
    computed once, by the killed run or by the resumed one, so test_workflow.py's
    same-input-same-bytes test compares it with :func:`small_review` as its second run."""
    killed = new_review(code_snapshot, tmp_path_factory.mktemp("resumed_review") / "review")
    command, env = review_command(killed)
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    # Kill once some analyses are done but the run is far from finished.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list((killed / "results").rglob("pooled.tsv"))) < 2:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished = (killed / "results" / "pooled.tsv").exists()
    leftovers = [p for p in (killed / "results").rglob("*") if p.name.endswith(".tmp") and "logs" not in p.parts]
    # A hard kill leaves Snakemake's lock behind.
    run_review(killed, "--unlock")
    run_review(killed, "--rerun-incomplete")
    return killed, finished, leftovers
