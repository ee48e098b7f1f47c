"""Rule collect_tables: stack every analysis's rows into results/pooled.tsv,
results/robustness.tsv, results/subgroup_tests.tsv and results/bayes_priors.tsv (analyses in
config order)."""

from typing import TYPE_CHECKING

from evsynth.data.io import concat_tsv
from evsynth.pipeline.logs import log_to

if TYPE_CHECKING:
    from snakemake.script import snakemake

with log_to(snakemake.log[0]) as log:
    for table in ("pooled", "robustness", "subgroups", "bayes_priors"):
        paths = list(snakemake.input[table])
        rows = concat_tsv(paths, snakemake.output[table])
        log.info("%s: %d rows from %d analyses", table, rows, len(paths))
