"""Rule collect_pooled: stack every analysis's pooled rows into results/pooled.tsv."""

from typing import TYPE_CHECKING

from evsynth.logs import log_to
from evsynth.tables import concat_tsv

if TYPE_CHECKING:
    from snakemake.script import snakemake

with log_to(snakemake.log[0]) as log:
    rows = concat_tsv(list(snakemake.input.pooled), snakemake.output.tsv)
    log.info("%d pooled rows from %d analyses", rows, len(snakemake.input.pooled))
