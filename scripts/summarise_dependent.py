"""Rule summarise_dependent: the report's page on several effects per trial
(evsynth.reports.dependent): per comparison with several effects in a trial, the primary
analysis beside the three-level, CHE, aggregated, lowest and highest models; per outcome, the
model across timepoint windows beside the per-window analyses.

Outputs
-------
html : results/dependent.html, self-contained.
"""

from typing import TYPE_CHECKING

from evsynth.data.io import read_tsv, write_text_atomic
from evsynth.pipeline.logs import log_to
from evsynth.reports.dependent import dependent_html

if TYPE_CHECKING:
    from snakemake.script import snakemake


def records(paths):
    return [row for path in paths for row in read_tsv(path).to_dict("records")]


with log_to(snakemake.log[0]) as log:
    params = snakemake.params
    pooled = read_tsv(snakemake.input.pooled)
    chosen = pooled.to_dict("records")
    labels = {oid: spec["label"] for oid, spec in params.outcomes.items()}
    page = dependent_html(chosen, records(snakemake.input.dependent), records(snakemake.input.timepoints), labels,
                          params.mode_labels, params.profile)
    write_text_atomic(snakemake.output.html, page)
    log.info("%d dependent tables, %d timepoint tables", len(snakemake.input.dependent),
             len(snakemake.input.timepoints))
