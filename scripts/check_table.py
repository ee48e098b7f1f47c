"""Rule check_table: write results/checks.tsv, warnings about plausible but suspicious data
(large SMDs, identical control arms across trials, arm sizes that grow or halve over time)."""

from typing import TYPE_CHECKING

from evsynth.data.checks import CHECK_COLUMNS, plausibility_checks
from evsynth.data.config import Outcome
from evsynth.data.io import write_tsv
from evsynth.pipeline.logs import log_to

if TYPE_CHECKING:
    from snakemake.script import snakemake

with log_to(snakemake.log[0]) as log:
    outcomes = {oid: Outcome(**spec) for oid, spec in snakemake.params.outcomes.items()}
    warnings = plausibility_checks(snakemake.params.rows, outcomes)
    write_tsv(warnings, CHECK_COLUMNS, snakemake.output.tsv)
    for warning in warnings:
        log.warning("%s: %s (%s %s)", warning["study"], warning["message"], warning["outcome"], warning["timepoint"])
