"""Bad input through Snakemake: non-zero exit before any job, every problem listed, and the
results of an earlier good run left exactly as they were."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from conftest import REPO, copy_review, run_review

pytestmark = pytest.mark.workflow
CORPUS = REPO / "tests" / "fixtures"


def _fingerprint(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((root / "results").rglob("*"))
        if p.is_file() and "logs" not in p.parts
    }


@pytest.fixture(scope="module")
def good_run(small_review, tmp_path_factory) -> Path:
    """A copy of the session's finished review (conftest.small_review): the bad inputs go into it."""
    return copy_review(small_review, tmp_path_factory.mktemp("good") / "review")


@pytest.mark.parametrize(
    "bad,messages",
    [
        ("38_many_problems.tsv", ["line 2, column 'events_treat' = '130': must not exceed n_treat (100)",
                                  "line 3, column 'outcome' = 'bpi': unknown outcome",
                                  "line 4, column 'effect' = 'abc': must be a number"]),
        ("05_comma_in_tsv.tsv", ["the header is separated by ','"]),
        ("24_conflicting_arm_sizes.tsv", ["line 3, column 'n_treat' = '98'"]),
        ("64_orphan_secondary.tsv", ["line 3, column 'primary' = 'no': a secondary effect needs the trial's primary",
                                     "line 4, column 'primary' = 'no': a secondary effect needs"]),
        ("57_two_conversion_forms.tsv", ["line 2, column 'sd_treat' = '1.9': the treatment arm's spread is given",
                                         "line 4, column 'p_value' = '0.02': gives the contrast's precision"]),
    ],
)
def test_bad_table_after_a_good_run(good_run, bad, messages):
    before = _fingerprint(good_run)
    original = (good_run / "studies.tsv").read_bytes()
    try:
        shutil.copy(CORPUS / "bad_tables" / bad, good_run / "studies.tsv")
        result = run_review(good_run, check=False)
    finally:
        (good_run / "studies.tsv").write_bytes(original)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    for message in messages:
        assert message in output
    assert "nothing was pooled" in output
    assert _fingerprint(good_run) == before


def test_bad_config_after_a_good_run(good_run):
    before = _fingerprint(good_run)
    result = run_review(good_run, "--configfile", str(CORPUS / "bad_configs" / "unknown_key.yaml"), check=False)
    assert result.returncode != 0
    assert "methd" in result.stdout + result.stderr
    assert _fingerprint(good_run) == before
