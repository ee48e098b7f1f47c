"""Rule collect_sensitivity: stack every analysis's sensitivity tables into
results/sensitivity/{leave_one_out,influence,cumulative,small_study,subsets}.tsv."""

from typing import TYPE_CHECKING

from evsynth.data.io import concat_tsv
from evsynth.pipeline.logs import log_to

if TYPE_CHECKING:
    from snakemake.script import snakemake

with log_to(snakemake.log[0]) as log:
    for name in ("leave_one_out", "influence", "cumulative", "small_study", "subsets"):
        paths = list(snakemake.input[name])
        rows = concat_tsv(paths, snakemake.output[name])
        log.info("%s: %d rows from %d analyses", name, rows, len(paths))
