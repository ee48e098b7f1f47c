"""Rule trace_provenance: trace every pooled number to the study-table rows it came from.

Outputs
-------
provenance : results/provenance.tsv, one line per line of results/pooled.tsv, same keys and
    order (``evsynth.tables.provenance.PROVENANCE_COLUMNS``): its studies, the number of study-table
    rows and their sources, the analysis's rows hash (also in its forest plot's footer), the
    method hash, the whole table's hash and the package versions.
rows : results/provenance_rows.tsv, one line per pooled line x study-table row that fed it
    (``PROVENANCE_ROW_COLUMNS``): the row as written (timepoint, comparison or arm), whether
    it was pooled, its source and, under dual extraction, how its cells were settled.
"""

from typing import TYPE_CHECKING

from evsynth.data.io import read_tsv, write_tsv
from evsynth.pipeline.logs import log_to
from evsynth.tables.provenance import PROVENANCE_COLUMNS, PROVENANCE_ROW_COLUMNS, trace_analysis

if TYPE_CHECKING:
    from snakemake.script import snakemake

with log_to(snakemake.log[0]) as log:
    params = snakemake.params
    summary, traced = [], []
    for pooled, studies, (outcome, timepoint) in zip(snakemake.input.pooled, snakemake.input.studies, params.analyses):
        rows = [r for r in params.rows if r["outcome"] == outcome and r["window"] == timepoint]
        common = {**params.common, **params.versions, "rows_hash": params.hashes[f"{outcome}/{timepoint}"]}
        lines, trace = trace_analysis(read_tsv(pooled), read_tsv(studies), rows, common)
        summary += lines
        traced += trace
    write_tsv(summary, PROVENANCE_COLUMNS, snakemake.output.provenance)
    write_tsv(traced, PROVENANCE_ROW_COLUMNS, snakemake.output.rows)
    log.info("table #%s, method #%s: %d pooled lines traced to %d row uses", params.common["table_hash"],
             params.common["method_hash"], len(summary), len(traced))
