"""A run killed mid-way leaves nothing that a later run takes as complete.

Every table and figure is written to a temporary name and renamed (evsynth.data.io,
evsynth.figures._base), and Snakemake records incomplete jobs; after --unlock, the next run
with --rerun-incomplete redoes exactly those and ends with the same bytes as an
uninterrupted run.
"""

from __future__ import annotations

import filecmp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO, copy_config, review_config, run_workflow

pytestmark = pytest.mark.workflow


def _results(root: Path) -> list[str]:
    return sorted(
        str(p.relative_to(root)) for p in (root / "results").rglob("*") if p.is_file() and "logs" not in p.parts
    )


def _prepare(path: Path) -> Path:
    """config.yaml and a real subset of studies.tsv: every SMD interference row and RESOLVE's
    3 binary outcomes at arm level (12 analyses: enough jobs to kill a run in the middle)."""
    path.mkdir()
    # Atomic writes and --rerun-incomplete are the same for every rule; the dependent-effects
    # jobs (about 20 more per run here) would only lengthen the three runs.
    config = review_config()
    config.pop("dependent_effects", None)
    copy_config(path, config)
    table = pd.read_csv(REPO / "studies.tsv", sep="\t", dtype=str, keep_default_na=False)
    keep = table["outcome"].isin(["pain_interference", "pain_severity_response", "pain_intensity_response",
                                  "pain_interference_response"])
    table[keep].to_csv(path / "studies.tsv", sep="\t", index=False, lineterminator="\n")
    return path


def test_killed_run_then_rerun_incomplete_matches_a_clean_run(tmp_path):
    killed = _prepare(tmp_path / "killed")
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(killed),
               "--cores", "2"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    # Kill once some analyses are done but the run is far from finished.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list((killed / "results").rglob("pooled.tsv"))) < 3:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (killed / "results" / "pooled.tsv").exists(), "the run finished before it could be killed"
    # No temporary file may be left where a later run could mistake it for an output.
    assert not [p for p in (killed / "results").rglob("*") if p.name.endswith(".tmp") and "logs" not in p.parts]

    # The README's recovery: a hard kill leaves Snakemake's lock behind.
    run_workflow(killed, "--unlock")
    run_workflow(killed, "--rerun-incomplete")

    clean = _prepare(tmp_path / "clean")
    run_workflow(clean)
    files = _results(clean)
    assert files == _results(killed)
    _, mismatch, errors = filecmp.cmpfiles(clean, killed, files, shallow=False)
    assert mismatch == [] and errors == []
