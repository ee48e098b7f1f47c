"""Rule report_changes: compare the current results with the baseline snapshot.

Outputs
-------
md : results/changes.md, the change log for reviewers: trials added and removed with the
    analyses they moved, conclusions that flipped, analyses that changed, added or removed
    (or, with no baseline configured, how to freeze one).
tsv : results/changes.tsv, one line per analysis in either snapshot
    (``evsynth.tables.changes.CHANGES_COLUMNS``), changed or not; header only without a baseline.
"""

from typing import TYPE_CHECKING

from evsynth.data.io import read_tsv, write_text_atomic, write_tsv
from evsynth.pipeline.logs import log_to
from evsynth.reports.changes import render_markdown
from evsynth.tables.changes import CHANGES_COLUMNS, compare_results

if TYPE_CHECKING:
    from snakemake.script import snakemake

with log_to(snakemake.log[0]) as log:
    params = snakemake.params
    current = {name: read_tsv(snakemake.input[name]) for name in ("pooled", "effects", "provenance")}
    baseline = None
    if params.baseline:  # its tables are inputs (baseline_pooled, and the others it has)
        baseline = {name: read_tsv(path) if (path := getattr(snakemake.input, f"baseline_{name}", None)) else None
                    for name in ("pooled", "effects", "provenance")}
    records = compare_results(current, baseline, params.i2_bands) if baseline is not None else []
    write_tsv(records, CHANGES_COLUMNS, snakemake.output.tsv)
    text = render_markdown(records if baseline is not None else None, current, baseline, params.baseline,
                           params.i2_bands)
    write_text_atomic(snakemake.output.md, text)
    log.info("baseline %s: %d analyses compared, %d changed", params.baseline or "none", len(records),
             sum(r["change"] != "unchanged" for r in records))
