"""Rule pool_analysis: pool one outcome in one timepoint window, per comparison.

Outputs
-------
pooled : one row per comparison (columns ``evsynth.tables.pooled.POOLED_COLUMNS``): random-
    and common-effect estimates, heterogeneity with CIs, prediction interval, profile.
studies : one row per study (``STUDY_COLUMNS``): effect size, CI and weight.
robustness : each pooled comparison under every method profile (``ROBUSTNESS_COLUMNS``), and
    under the Bayesian model (profile ``bayes (...)``, evsynth.tables.bayes), which is the chosen
    row under ``pooling.profile: bayes`` (pooled's estimate columns are then the posterior's).
bayes_priors : each comparison's posterior under every prior of ``bayes.sensitivity_priors``.
subgroups : tests for subgroup differences between delivery modes (``SUBGROUP_COLUMNS``);
    the across-modes estimate is appended to ``pooled`` as treatment ``any_remote_cbt``.
"""

from typing import TYPE_CHECKING

from evsynth.data.config import Outcome
from evsynth.data.io import write_tsv
from evsynth.pipeline.logs import log_to
from evsynth.stats.profiles import settings_from_dict
from evsynth.tables.bayes import (
    PRIOR_SENSITIVITY_COLUMNS,
    bayes_columns,
    bayes_primary,
    bayes_robustness_records,
    prior_sensitivity_records,
    shrinkage_columns,
)
from evsynth.tables.pooled import (
    POOLED_COLUMNS,
    ROBUSTNESS_COLUMNS,
    STUDY_COLUMNS,
    analyse,
    bayes_reported_only_records,
    mark_conclusions,
    pooled_records,
    robustness_records,
    study_records,
)
from evsynth.tables.subgroups import SUBGROUP_COLUMNS, subgroup_records

if TYPE_CHECKING:
    from snakemake.script import snakemake

with log_to(snakemake.log[0]) as log:
    params = snakemake.params
    outcome = Outcome(**params.outcome)
    timepoint = snakemake.wildcards.timepoint
    settings = settings_from_dict(params.method)
    cc = params.continuity_correction
    effects, comparisons = analyse(params.rows, outcome, params.modes, settings, cc)
    pooled = pooled_records(effects, comparisons, outcome, timepoint, settings)
    tests, overall = subgroup_records(effects, outcome, params.modes, settings, timepoint, cc)
    pooled, fits = bayes_columns(pooled + overall, effects, outcome, params.bayes)
    if settings.bayesian:  # profile bayes: the posterior is the primary estimate
        pooled = bayes_primary(pooled, outcome)
    effects = shrinkage_columns(effects, fits, outcome)
    write_tsv(study_records(effects, timepoint), STUDY_COLUMNS, snakemake.output.studies)
    write_tsv(pooled, POOLED_COLUMNS, snakemake.output.pooled)
    write_tsv(tests, SUBGROUP_COLUMNS, snakemake.output.subgroups)
    robustness = robustness_records(params.rows, outcome, params.modes, settings, cc, timepoint)
    covered = {(r["treatment"], r["comparator"]) for r in robustness}
    robustness += bayes_robustness_records(pooled, covered, chosen=settings.bayesian)
    robustness += bayes_reported_only_records(params.rows, outcome, params.modes, settings, cc, timepoint,
                                              params.bayes)  # fmt: skip
    write_tsv(mark_conclusions(robustness), ROBUSTNESS_COLUMNS, snakemake.output.robustness)
    priors = prior_sensitivity_records(pooled, effects, outcome, params.bayes)
    write_tsv(priors, PRIOR_SENSITIVITY_COLUMNS, snakemake.output.bayes_priors)
    log.info("profile %s; versions: %s", settings.label, params.versions)
    for comparison in comparisons:
        log.info("%s vs %s: %s %s", comparison.treatment, comparison.comparator, comparison.status, comparison.note)
