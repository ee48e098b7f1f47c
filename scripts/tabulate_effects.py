"""Rule tabulate_effects: write results/effects.tsv.

One line per study-table row: its effect size on the analysis scale (``yi``, ``vi``,
``se``), the estimate and CI on the reporting scale, how it was derived from the data
given, and its status (in analysis, excluded by the reviewer, outside every timepoint
window, or not estimable).
"""

from typing import TYPE_CHECKING

from evsynth.data.config import Outcome
from evsynth.data.io import write_tsv
from evsynth.pipeline.logs import log_to
from evsynth.tables.effects import EFFECTS_COLUMNS, effects_records

if TYPE_CHECKING:
    from snakemake.script import snakemake

with log_to(snakemake.log[0]) as log:
    params = snakemake.params
    outcomes = {oid: Outcome(**spec) for oid, spec in params.outcomes.items()}
    records = effects_records(
        params.rows, outcomes, params.method["alpha"], params.continuity_correction, params.method["smd_variance"],
        params.modes,
    )
    write_tsv(records, EFFECTS_COLUMNS, snakemake.output.tsv)
    log.info("%d rows, %d in an analysis", len(records), sum(r["pooled"] for r in records))
