"""Shared fixtures: the metafor reference cases (tests/oracle/_oracle.py) and a helper to run the workflow."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
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
