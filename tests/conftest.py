"""Shared fixtures: the metafor reference cases (tests/oracle/_oracle.py) and a helper to run the workflow."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from oracle._oracle import load

REPO = Path(__file__).resolve().parents[1]


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
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    return tmp_path
