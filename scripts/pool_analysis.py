"""Rule pool_analysis: pool one outcome in one timepoint window, per comparison.

Outputs
-------
pooled : one row per comparison (columns ``evsynth.analysis.POOLED_COLUMNS``): random-
    and common-effect estimates, heterogeneity, settings, status.
studies : one row per study (``STUDY_COLUMNS``): effect size, CI and weight.
"""

from typing import TYPE_CHECKING

from evsynth.analysis import POOLED_COLUMNS, STUDY_COLUMNS, analyse, pooled_records, study_records
from evsynth.logs import log_to
from evsynth.settings import Outcome
from evsynth.tables import write_tsv

if TYPE_CHECKING:
    from snakemake.script import snakemake

with log_to(snakemake.log[0]) as log:
    params = snakemake.params
    outcome = Outcome(**params.outcome)
    timepoint = snakemake.wildcards.timepoint
    settings = params.pooling
    effects, comparisons = analyse(
        params.rows,
        outcome,
        params.modes,
        settings["estimator"],
        settings["ci_method"],
        settings["alpha"],
        params.continuity_correction,
    )
    write_tsv(study_records(effects, timepoint), STUDY_COLUMNS, snakemake.output.studies)
    pooled = pooled_records(effects, comparisons, outcome, timepoint, settings["alpha"])
    write_tsv(pooled, POOLED_COLUMNS, snakemake.output.pooled)
    log.info("versions: %s", params.versions)
    for comparison in comparisons:
        log.info("%s vs %s: %s %s", comparison.treatment, comparison.comparator, comparison.status, comparison.note)
