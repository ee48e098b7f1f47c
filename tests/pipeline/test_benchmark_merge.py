"""benchmarks/run.py --merge (benchmarks/report.py): a case re-run on its own is spliced into the existing results.md,
which keeps everything else as it was (hand-added sections and notes included)."""

from __future__ import annotations

import sys

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from report import splice  # noqa: E402

PREVIOUS = """# evsynth benchmarks

Written by `python benchmarks/run.py` on 2026-11-27 in 28.4 min (machine-readable copy: `results.json`).

## Targets

| case | target | measured (wall) | met | measured (CPU) | met (CPU) |
|---|---|---|---|---|---|
| 5 | no-op re-run | 1.64x | yes | 1.67x | yes |
| 7 | posterior | 1.31 ms | yes | 1.3 ms | yes |

## 5. The pipeline

cold runs

## 7. Bayesian random-effects posterior, k = 10

added by hand

## Notes

- a note
"""

FRESH = """# evsynth benchmarks

Written by `python benchmarks/run.py --cases 8 --merge` on 2026-12-03 in 30 min.

## Targets

| case | target | measured (wall) | met | measured (CPU) | met (CPU) |
|---|---|---|---|---|---|
| 5 | no-op re-run | 9.99x | no | 9.99x | no |
| 8 | reported forms | +0.1% | yes | +0.7% | yes |

## 5. The pipeline

stale cold runs from results.json

## 8. Data as trials report it: what the conversions cost

new section
"""


def test_splice_replaces_only_the_merged_case():
    out = splice(PREVIOUS, FRESH, ["case8"], "case8 re-run today.").split("\n")
    row5, row7 = "| 5 | no-op re-run | 1.64x | yes | 1.67x | yes |", "| 7 | posterior | 1.31 ms | yes | 1.3 ms | yes |"
    row8 = "| 8 | reported forms | +0.1% | yes | +0.7% | yes |"
    assert row5 in out and out.index(row8) == out.index(row7) + 1
    assert "cold runs" in out and "stale cold runs from results.json" not in out and "added by hand" in out
    assert out.index("new section") < out.index("## Notes") and "- a note" in out
    assert out[2].endswith("`results.json`). Case re-runs: case8 re-run today.")
    again = splice("\n".join(out), FRESH.replace("new section", "newer section"), ["case8"], "case8 again.")
    assert again.count("## 8. ") == 1 and "newer section" in again and again.count("| 8 |") == 1
    assert again.split("\n")[2].endswith("Case re-runs: case8 again.")


def test_splice_leaves_other_tables_whose_first_cell_is_a_number():
    """The case-5 section's tables start rows with a table name, case 1's with k: a target row
    goes into the Targets table only (once it was spliced below the case-5 table)."""
    previous = PREVIOUS.replace("cold runs", "| k | time |\n|---|---|\n| 8 | 1 ms |\n| 10 | 2 ms |")
    out = splice(previous, FRESH, ["case8"], "case8 re-run today.").split("\n")
    row7 = "| 7 | posterior | 1.31 ms | yes | 1.3 ms | yes |"
    assert out.index("| 8 | reported forms | +0.1% | yes | +0.7% | yes |") == out.index(row7) + 1
    assert "| 8 | 1 ms |" in out and out.index("| 10 | 2 ms |") == out.index("| 8 | 1 ms |") + 1
