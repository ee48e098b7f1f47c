"""Rule reconcile: write how dual extraction was settled.

Outputs
-------
discrepancies : results/extraction_discrepancies.tsv, one line per cell where reviewer A's
    and B's tables disagree (``evsynth.data.reconcile.DISCREPANCY_COLUMNS``): the two values,
    ``status`` (unresolved or adjudicated) and the adjudication (agreed_value, who, why).
    Its lines can be copied to start the adjudication file.
reconciliation : results/reconciliation.tsv, one line per cell filled in either table
    (``RECONCILIATION_COLUMNS``): the value pooled and how it was settled (agreed,
    adjudicated or unresolved).

The comparison itself runs when Snakemake parses the workflow (``evsynth.pipeline.plan``);
this job receives its records as params, so only an edit to extracted data re-runs it.
"""

from typing import TYPE_CHECKING

from evsynth.data.io import write_tsv
from evsynth.data.reconcile import DISCREPANCY_COLUMNS, RECONCILIATION_COLUMNS
from evsynth.pipeline.logs import log_to

if TYPE_CHECKING:
    from snakemake.script import snakemake

with log_to(snakemake.log[0]) as log:
    params = snakemake.params
    write_tsv(params.discrepancies, DISCREPANCY_COLUMNS, snakemake.output.discrepancies)
    write_tsv(params.cells, RECONCILIATION_COLUMNS, snakemake.output.reconciliation)
    unresolved = sum(d["status"] == "unresolved" for d in params.discrepancies)
    log.info(
        "A: %s, B: %s, adjudication: %s; %d cells, %d discrepancies, %d unresolved",
        params.names["a"], params.names["b"], params.names["adjudication"] or "none",
        len(params.cells), len(params.discrepancies), unresolved,
    )
