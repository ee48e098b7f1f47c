"""Rule collect_network: stack every analysis's network summary into results/network/networks.tsv."""

from typing import TYPE_CHECKING

from evsynth.data.io import concat_tsv
from evsynth.pipeline.logs import log_to

if TYPE_CHECKING:
    from snakemake.script import snakemake

with log_to(snakemake.log[0]) as log:
    paths = list(snakemake.input.summaries)
    rows = concat_tsv(paths, snakemake.output.networks)
    log.info("networks.tsv: %d rows from %d analyses", rows, len(paths))
