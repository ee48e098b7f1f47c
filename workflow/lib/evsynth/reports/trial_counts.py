"""Trials per delivery mode x outcome x timepoint window, before and after an update of the table.

``python -m evsynth.reports.trial_counts BEFORE.tsv AFTER.tsv [--config config.yaml]`` prints a
Markdown table (docs/shipped_studies.md's "Trials per delivery mode x outcome x window" is this
output for the table before the Metapsy import, tests/fixtures/studies_before_metapsy.tsv, and
the shipped studies.tsv; tests/reports/test_trial_counts.py regenerates it and compares).

Each cell counts the distinct trials with an included row comparing the mode with the
comparator (default ``usual_care``) for the outcome in the window, and in brackets how many of
them give an estimable effect, exactly as the pooling computes it
(:func:`evsynth.data.contrasts.analysis_effects`: a row without a variance, e.g. an abstract's
d without n, counts as a trial but is not estimable). Nothing here pools.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from evsynth.data.columns import ROW_FIELDS
from evsynth.data.config import load_config
from evsynth.data.contrasts import analysis_effects
from evsynth.data.studies import load_studies

__all__ = ["TrialCount", "count_trials", "counts_markdown", "main"]


@dataclass(frozen=True)
class TrialCount:
    """Trials (and estimable trials) of one mode vs the comparator, for one outcome and window."""

    outcome: str
    window: str
    mode: str
    trials: int
    estimable: int


def count_trials(table: str | Path, raw_config: Mapping[str, Any], comparator: str = "usual_care") -> list[TrialCount]:
    """Every non-empty cell (outcome x window x mode vs ``comparator``) of one study table.

    Parameters
    ----------
    table : path
        A study table (checked as the pipeline checks it; its errors raise StudyTableError).
    raw_config : mapping
        ``config.yaml`` as read: outcomes, windows, modes and method settings.
    comparator : str
        The comparator mode id.

    Returns
    -------
    list of TrialCount
        In config order of outcomes, windows and modes.
    """
    raw = {**raw_config, "studies": str(table), "changes": {**raw_config.get("changes", {}), "baseline": ""}}
    config = load_config(raw)
    studies = load_studies(table, raw)
    included = studies[studies["include"] & studies["window"].notna()].to_dict("records")
    counts = []
    for outcome in config.outcomes:
        for window in config.windows:
            rows = [{f: r[f] for f in ROW_FIELDS} for r in included
                    if r["outcome"] == outcome and r["window"] == window.id]
            if not rows:
                continue
            effects = analysis_effects(rows, config.outcomes[outcome], config.mode_ids, config.method,
                                       config.continuity_correction)
            for mode in config.mode_ids:
                block = effects[(effects["treatment"] == mode) & (effects["comparator"] == comparator)]
                if len(block):
                    counts.append(TrialCount(outcome, window.id, mode, block["study"].nunique(),
                                             block[block["estimable"]]["study"].nunique()))
    return counts


def counts_markdown(before: Sequence[TrialCount], after: Sequence[TrialCount], modes: Sequence[str]) -> str:
    """The Markdown table: one line per outcome x window with a trial before or after, columns
    ``<mode> before`` and ``<mode> after`` for each mode, cells ``trials (estimable)``."""
    cells = {("before", c.outcome, c.window, c.mode): c for c in before}
    cells.update({("after", c.outcome, c.window, c.mode): c for c in after})
    shown = [m for m in modes if any(m == c.mode for c in (*before, *after))]
    lines = ["| outcome | window | " + " | ".join(f"{m} {when}" for m in shown for when in ("before", "after")) + " |",
             "|---|---|" + "---|" * (2 * len(shown))]
    keys = list(dict.fromkeys((c.outcome, c.window) for c in (*before, *after)))
    order = {key: i for i, key in enumerate(dict.fromkeys((c.outcome, c.window) for c in after))}
    keys.sort(key=lambda k: (order.get(k, len(order)), k))
    for outcome, window in keys:
        row = []
        for mode in shown:
            for when in ("before", "after"):
                c = cells.get((when, outcome, window, mode))
                row.append("0" if c is None else f"{c.trials} ({c.estimable})")
        lines.append(f"| {outcome} | {window} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: print the table for two study tables."""
    parser = argparse.ArgumentParser(prog="python -m evsynth.reports.trial_counts", description=__doc__.split("\n")[0])
    parser.add_argument("before", help="study table before the update")
    parser.add_argument("after", help="study table after the update")
    parser.add_argument("--config", default="config.yaml", help="config.yaml (outcomes, windows, modes)")
    parser.add_argument("--comparator", default="usual_care", help="comparator mode id (default usual_care)")
    args = parser.parse_args(argv)
    raw = yaml.safe_load(Path(args.config).read_text(encoding="utf-8"))
    before = count_trials(args.before, raw, args.comparator)
    after = count_trials(args.after, raw, args.comparator)
    modes = [m for m in raw["modes"] if m != args.comparator]
    sys.stdout.write(counts_markdown(before, after, modes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
