"""Rule reproduce_in_r: a metafor script that recomputes one analysis's pooled.tsv.

It holds the analysis's yi/vi (and shared-arm covariances), the rma()/rma.mv() calls with the
settings of each pooled.tsv row, and evsynth's numbers, compared at 1e-6 when it runs
(evsynth.reports.reproduce_r).
"""

from typing import TYPE_CHECKING

from evsynth.data.io import read_tsv, write_text_atomic
from evsynth.pipeline.logs import log_to
from evsynth.reports.reproduce_r import reproduce_script

if TYPE_CHECKING:
    from snakemake.script import snakemake

with log_to(snakemake.log[0]) as log:
    params = snakemake.params
    timepoint = snakemake.wildcards.timepoint
    header = [
        f"Reproduces results/analyses/{params.outcome['id']}/{timepoint}/pooled.tsv with metafor.",
        f"Written by evsynth {params.versions['evsynth']} (PyMARE {params.versions['pymare']}), "
        f"method profile {params.profile}.",
    ]
    script = reproduce_script(read_tsv(snakemake.input.studies), read_tsv(snakemake.input.pooled), params.outcome,
                              timepoint, header)
    write_text_atomic(snakemake.output.script, script)
    log.info("%d lines", script.count("\n"))
