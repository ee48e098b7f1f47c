"""A run killed mid-way leaves nothing that a later run takes as complete.

Every table and figure is written to a temporary name and renamed (evsynth.data.io,
evsynth.figures._base), and Snakemake records incomplete jobs; after --unlock, the next run
with --rerun-incomplete redoes exactly those and ends with the same bytes as an
uninterrupted run, and no temporary file a kill left behind.

The review is the workflow tests' small one (conftest.small_table: 4 analyses, 42 jobs of
every rule a shipped run has but the PRISMA figure; atomic writes and --rerun-incomplete do
not depend on the rule or the table's size): conftest.resumed_review kills and recovers it,
and the uninterrupted run is the session's (conftest.small_review), of the same code snapshot.
"""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

pytestmark = pytest.mark.workflow


def _results(root: Path) -> list[str]:
    return sorted(
        str(p.relative_to(root)) for p in (root / "results").rglob("*") if p.is_file() and "logs" not in p.parts
    )


def test_killed_run_then_rerun_incomplete_matches_a_clean_run(resumed_review, small_review):
    killed, finished_before_the_kill, leftovers = resumed_review
    assert not finished_before_the_kill, "the run finished before it could be killed"
    # A SIGKILL between a write's temporary file and its rename can leave the temporary: hidden,
    # never at an output's path, and cleared by the re-run job's next write of that output.
    assert all(p.name.startswith(".") and p.name.endswith(".tmp") for p in leftovers)
    assert not any(p.exists() for p in leftovers)

    clean = small_review
    files = _results(clean)
    assert files == _results(killed)
    _, mismatch, errors = filecmp.cmpfiles(clean, killed, files, shallow=False)
    assert mismatch == [] and errors == []
