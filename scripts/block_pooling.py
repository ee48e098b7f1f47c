"""Rule block_pooling: stop the run while dual-extraction discrepancies are unresolved.

Requested (through ``code()`` in common.smk: ``Plan.gate``) by every rule that computes results
only while reviewer A's and B's tables disagree in a cell the adjudication file does not
settle. It runs after rule reconcile has written results/extraction_discrepancies.tsv, prints
every unresolved cell and fails, so no job that pools or tabulates ever starts and the run
exits non-zero. It never writes its output.
"""

from typing import TYPE_CHECKING

from evsynth.data.reconcile import unresolved_message
from evsynth.pipeline.logs import log_to

if TYPE_CHECKING:
    from snakemake.script import snakemake

with log_to(snakemake.log[0]) as log:
    message = unresolved_message(snakemake.params.unresolved, snakemake.params.names)
    log.error("%s", message)
raise SystemExit(message)
