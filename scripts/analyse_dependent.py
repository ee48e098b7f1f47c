"""Rule analyse_dependent: every effect of each comparison of one analysis, dependence modelled,
and the meta-regression on each configured moderator (config.yaml: dependent_effects).

Columns are ``evsynth.tables.dependent.DEPENDENT_COLUMNS`` and ``METAREGRESSION_COLUMNS``,
documented in docs/outputs.md; a model that cannot be fitted gets a row saying why.

Outputs
-------
dependent : three-level, CHE, aggregated, lowest and highest rows per comparison.
metaregression : one row per comparison, moderator and coefficient.
"""

from typing import TYPE_CHECKING

from evsynth.data.config import Outcome, dependent_config
from evsynth.data.contrasts import analysis_effects
from evsynth.data.io import write_tsv
from evsynth.data.moderators import moderator_values
from evsynth.pipeline.logs import log_to
from evsynth.stats.profiles import settings_from_dict
from evsynth.tables.dependent import (
    DEPENDENT_COLUMNS,
    METAREGRESSION_COLUMNS,
    comparison_blocks,
    dependent_records,
    metaregression_records,
)

if TYPE_CHECKING:
    from snakemake.script import snakemake

with log_to(snakemake.log[0]) as log:
    params = snakemake.params
    outcome = Outcome(**params.outcome)
    config, _ = dependent_config(params.dependent)
    timepoint = snakemake.wildcards.timepoint
    settings = settings_from_dict(params.method)
    # Every effect of the analysis, secondary ones (primary = no) too, computed as the primary
    # analysis computes its own; comparisons in the order of the primary analysis.
    effects = analysis_effects(params.effects, outcome, params.modes, settings, params.continuity_correction)
    dependent, regression = [], []
    for (treatment, comparator), block in comparison_blocks(effects, params.modes):
        y, v, trial = block["yi"].to_numpy(float), block["vi"].to_numpy(float), block["study"].astype(str).tolist()
        dependent += dependent_records(outcome, timepoint, treatment, comparator, y, v, trial, config, params.alpha)
        moderators, problems = {}, {}
        for m in config.moderators:
            values, problems[m.column] = moderator_values(params.rows, m.column, trial)
            moderators[m.column] = (values, m.kind)
        regression += metaregression_records(
            outcome, timepoint, treatment, comparator, y, v, trial, moderators, config, params.alpha, problems
        )
    write_tsv(dependent, DEPENDENT_COLUMNS, snakemake.output.dependent)
    write_tsv(regression, METAREGRESSION_COLUMNS, snakemake.output.metaregression)
    log.info("dependent: %d rows; metaregression: %d rows", len(dependent), len(regression))
    log.info("versions: %s", params.versions)
