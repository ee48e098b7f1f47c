"""Rule tabulate_study_table: the study table as an HTML page for the report, sources linked.

Every study-table row (notes left out), the data it gives, whether it is in an analysis,
its RoB 2 judgements if any, and its source with DOIs, PMIDs and URLs as links. All text is
HTML-escaped (study labels and sources are user input).
"""

from typing import TYPE_CHECKING

from evsynth.data.io import write_text_atomic
from evsynth.pipeline.logs import log_to
from evsynth.reports.html import study_table_html

if TYPE_CHECKING:
    from snakemake.script import snakemake

with log_to(snakemake.log[0]) as log:
    params = snakemake.params
    outcomes = {oid: spec["label"] for oid, spec in params.outcomes.items()}
    note = (f"{len(params.rows)} rows of {params.studies}, sorted by study, outcome and timepoint; "
            f"analyses under method profile {params.profile}. Sources open in a new window.")
    write_text_atomic(snakemake.output.html, study_table_html(params.rows, params.mode_labels, outcomes,
                                                              "Study table", note))
    log.info("%d rows", len(params.rows))
