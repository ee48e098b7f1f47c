"""The benchmark runner (benchmarks/run.py, issue #9) at tiny sizes, so it does not rot.

``--smoke`` runs every case at toy sizes with no targets: one analysis at k = 10 (and
metafor at k = 10 when R is installed, skipped otherwise), 100 analyses in a batch,
influence at k = 30, a 5-treatment network, CHE + CR2 on 50 effects in 10 trials (and
metafor + clubSandwich on them when R is installed), the Bayesian posterior at k = 10 (one call
and 50 analyses in one process), a dry run of a small synthetic review
through the current workflow (the generator must still satisfy the table and config
checks), and the shipped table rewritten in reported forms and read back (case 8, no cold
runs: the rewrite must still pass the study-table checks). It writes results.md and
results.json to a temporary directory.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = pytest.mark.workflow


def test_benchmark_runner_smoke(tmp_path):
    run = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run.py"), "--smoke", "--out", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = (tmp_path / "results.md").read_text()
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["smoke"] is True
    for heading in ("## Machine", "## 1. One analysis", "## 2.", "## 3.", "## 4.", "## 5. The pipeline"):
        assert heading in report, heading
    row = results["case1"]["rows"][0]
    assert row["python"]["evsynth"]["median"] > 0, row
    assert "ok" in row["metafor"] or "skipped" in row["metafor"]
    assert all("process" in entry for entry in results["case2"]["runs"].values()), results["case2"]
    assert "evsynth" in results["case3"]["result"] or "skipped" in results["case3"]["result"]
    assert "evsynth" in results["case4"]["result"] or "skipped" in results["case4"]["result"]
    dry_run = results["case5"]["review_run"]["dry_run"]
    assert dry_run["returncode"] == 0, dry_run
    assert "## 6. Several effects per trial" in report
    assert results["case6"]["python"]["evsynth"]["median"] > 0, results["case6"]
    assert "ok" in results["case6"]["metafor"] or "skipped" in results["case6"]["metafor"]
    assert "## 7. Bayesian random-effects posterior" in report
    assert all("process" in run["many"] for run in results["case7"]["runs"].values()), results["case7"]
    assert "## 8. Data as trials report it" in report
    parse = results["case8"]["parse"]
    assert parse["reported_rows"] == parse["direct_rows"] and parse["reported_converted_rows"] >= 20, parse
    assert parse["same_analyses"]["same"] and parse["same_analyses"]["max_rel_diff"] < 1e-12, parse
    assert all(t["met"] is None for t in results["targets"])  # a smoke run judges nothing
