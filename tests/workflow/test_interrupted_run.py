"""A run killed mid-way leaves nothing that a later run takes as complete.

Every table and figure is written to a temporary name and renamed (evsynth.data.io,
evsynth.figures._base), and Snakemake records incomplete jobs; after --unlock, the next run
with --rerun-incomplete redoes exactly those and ends with the same bytes as an
uninterrupted run.

The review is the workflow tests' small one (conftest.small_table: 4 analyses, 42 jobs of
every rule a shipped run has but the PRISMA figure; atomic writes and --rerun-incomplete do
not depend on the rule or the table's size), and the uninterrupted run is the session's
(conftest.small_review), of the same code snapshot.
"""

from __future__ import annotations

import filecmp
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import new_review, review_command, run_review

pytestmark = pytest.mark.workflow


def _results(root: Path) -> list[str]:
    return sorted(
        str(p.relative_to(root)) for p in (root / "results").rglob("*") if p.is_file() and "logs" not in p.parts
    )


def test_killed_run_then_rerun_incomplete_matches_a_clean_run(small_review, code_snapshot, tmp_path):
    killed = new_review(code_snapshot, tmp_path / "killed")
    command, env = review_command(killed)
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    # Kill once some analyses are done (2 of the 4 pooled) but the run is far from finished.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list((killed / "results").rglob("pooled.tsv"))) < 2:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (killed / "results" / "pooled.tsv").exists(), "the run finished before it could be killed"
    # No temporary file may be left where a later run could mistake it for an output.
    assert not [p for p in (killed / "results").rglob("*") if p.name.endswith(".tmp") and "logs" not in p.parts]

    # The README's recovery: a hard kill leaves Snakemake's lock behind.
    run_review(killed, "--unlock")
    run_review(killed, "--rerun-incomplete")

    clean = small_review
    files = _results(clean)
    assert files == _results(killed)
    _, mismatch, errors = filecmp.cmpfiles(clean, killed, files, shallow=False)
    assert mismatch == [] and errors == []
