"""Every table of one analysis (outcome x timepoint window), step by step, for rule ``analyse``.

One job per analysis computes them all, so that a cold run and a one-row edit pay one
interpreter and one set of imports per analysis instead of one per table family (issue 18).
The steps run in this order, each writing its files before the next starts:

1. :func:`write_pooled`: ``results/analyses/{outcome}/{timepoint}/`` (pooled, studies,
   robustness, subgroups, bayes_priors): random- and common-effect pooling
   (:mod:`evsynth.tables.pooled`), subgroup tests, the Bayesian columns and prior sensitivity.
2. :func:`write_sensitivity`: ``results/sensitivity/{outcome}_{timepoint}/``
   (:mod:`evsynth.tables.sensitivity`).
3. :func:`write_dependent`: ``results/dependent/`` and ``results/metaregression/``, only with
   ``config.yaml: dependent_effects`` (:mod:`evsynth.tables.dependent`).
4. :func:`write_network`: ``results/network/{outcome}_{timepoint}_*.tsv``
   (:mod:`evsynth.tables.network`).

Steps 2 and 4 (and the metafor script, ``evsynth.reports.reproduce_r``) take the analysis's
``studies.tsv`` as read back from disk with :func:`evsynth.data.io.read_tsv`, exactly as the
separate jobs that computed them before did, so every number is the one those jobs wrote.
Methods and references are those of the modules named; this module only sequences them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from evsynth.data.config import Outcome, dependent_config, sensitivity_config
from evsynth.data.contrasts import analysis_effects
from evsynth.data.io import write_tsv
from evsynth.data.moderators import moderator_values
from evsynth.stats.profiles import MethodSettings
from evsynth.tables.bayes import (
    PRIOR_SENSITIVITY_COLUMNS,
    bayes_columns,
    bayes_primary,
    bayes_robustness_records,
    prior_sensitivity_records,
    shrinkage_columns,
)
from evsynth.tables.dependent import (
    DEPENDENT_COLUMNS,
    METAREGRESSION_COLUMNS,
    comparison_blocks,
    dependent_records,
    metaregression_records,
)
from evsynth.tables.network import (
    INCONSISTENCY_COLUMNS,
    LEAGUE_COLUMNS,
    NUMBER_TEXT_COLUMNS,
    RANKING_COLUMNS,
    SUMMARY_COLUMNS,
    analyse_network,
    network_tables,
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
from evsynth.tables.sensitivity import COLUMNS as SENSITIVITY_COLUMNS
from evsynth.tables.sensitivity import analyse_sensitivity
from evsynth.tables.subgroups import SUBGROUP_COLUMNS, subgroup_records

#: The network tables, by output name, and their columns.
NETWORK_COLUMNS = {
    "league": LEAGUE_COLUMNS,
    "inconsistency": INCONSISTENCY_COLUMNS,
    "ranking": RANKING_COLUMNS,
    "summary": SUMMARY_COLUMNS,
}

Rows = Sequence[Mapping[str, Any]]


def write_pooled(
    rows: Rows, outcome: Outcome, timepoint: str, modes: Sequence[str], settings: MethodSettings,
    continuity_correction: Any, bayes: Mapping[str, Any], paths: Mapping[str, str], log: logging.Logger,
) -> None:
    """Pool one analysis per comparison and write its five tables.

    Parameters
    ----------
    rows : the analysis's study-table rows (``Plan.analysis_rows``).
    outcome, timepoint, modes, settings, continuity_correction : the analysis and the method
        (config.yaml: outcomes, timepoint windows, modes, pooling, continuity_correction).
    bayes : config.yaml ``bayes`` as the job's params carry it (``JobFunctions.bayes``).
    paths : output paths keyed ``pooled``, ``studies``, ``robustness``, ``subgroups``,
        ``bayes_priors``; columns ``evsynth.tables.pooled.POOLED_COLUMNS``, ``STUDY_COLUMNS``,
        ``ROBUSTNESS_COLUMNS``, ``evsynth.tables.subgroups.SUBGROUP_COLUMNS`` and
        ``evsynth.tables.bayes.PRIOR_SENSITIVITY_COLUMNS``.
    log : where each comparison's status goes.

    Notes
    -----
    Under ``pooling.profile: bayes`` the posterior is the primary estimate (pooled's estimate
    columns are the posterior's); the across-modes estimate is appended to pooled as treatment
    ``any_remote_cbt``. Methods: :mod:`evsynth.tables.pooled` and the modules it cites.
    """
    effects, comparisons = analyse(rows, outcome, modes, settings, continuity_correction)
    pooled = pooled_records(effects, comparisons, outcome, timepoint, settings)
    tests, overall = subgroup_records(effects, outcome, modes, settings, timepoint, continuity_correction)
    pooled, fits = bayes_columns(pooled + overall, effects, outcome, bayes)
    if settings.bayesian:  # profile bayes: the posterior is the primary estimate
        pooled = bayes_primary(pooled, outcome)
    effects = shrinkage_columns(effects, fits, outcome)
    write_tsv(study_records(effects, timepoint), STUDY_COLUMNS, paths["studies"])
    write_tsv(pooled, POOLED_COLUMNS, paths["pooled"])
    write_tsv(tests, SUBGROUP_COLUMNS, paths["subgroups"])
    robustness = robustness_records(rows, outcome, modes, settings, continuity_correction, timepoint)
    covered = {(r["treatment"], r["comparator"]) for r in robustness}
    robustness += bayes_robustness_records(pooled, covered, chosen=settings.bayesian)
    robustness += bayes_reported_only_records(rows, outcome, modes, settings, continuity_correction, timepoint, bayes)
    write_tsv(mark_conclusions(robustness), ROBUSTNESS_COLUMNS, paths["robustness"])
    priors = prior_sensitivity_records(pooled, effects, outcome, bayes)
    write_tsv(priors, PRIOR_SENSITIVITY_COLUMNS, paths["bayes_priors"])
    log.info("profile %s", settings.label)
    for comparison in comparisons:
        log.info("%s vs %s: %s %s", comparison.treatment, comparison.comparator, comparison.status, comparison.note)


def write_sensitivity(
    studies: pd.DataFrame, rows: Rows, outcome: Outcome, timepoint: str, settings: MethodSettings,
    sensitivity: Mapping[str, Any], paths: Mapping[str, str], log: logging.Logger,
) -> None:
    """Write the sensitivity, influence and small-study tables of one analysis.

    Parameters
    ----------
    studies : the analysis's ``studies.tsv`` as read back by ``read_tsv``.
    rows : the study-table cells the subsets and cumulative orders use (``Plan.sensitivity_rows``).
    sensitivity : config.yaml ``sensitivity`` (``SensitivityConfig.as_dict``).
    paths : output paths keyed ``leave_one_out``, ``influence``, ``cumulative``,
        ``small_study``, ``subsets``, ``funnel`` (columns ``evsynth.tables.sensitivity.COLUMNS``).

    Notes
    -----
    Methods: :func:`evsynth.tables.sensitivity.analyse_sensitivity` (influence diagnostics of
    Viechtbauer & Cheung 2010; the small-study tests and trim-and-fill as cited there).
    """
    tables = analyse_sensitivity(studies, rows, outcome, settings, sensitivity_config(sensitivity), timepoint)
    for name, records in tables.items():
        write_tsv(records, SENSITIVITY_COLUMNS[name], paths[name])
        log.info("%s: %d rows", name, len(records))


def write_dependent(
    effect_rows: Rows, moderator_rows: Rows, outcome: Outcome, timepoint: str, modes: Sequence[str],
    settings: MethodSettings, continuity_correction: Any, alpha: float, dependent: Mapping[str, Any],
    paths: Mapping[str, str], log: logging.Logger,
) -> None:
    """Model every effect of each comparison of one analysis, dependence included, and the
    meta-regression on each configured moderator.

    Parameters
    ----------
    effect_rows : every effect of the analysis, secondary ones (primary = no) too
        (``Plan.dependent_rows``), computed as the primary analysis computes its own.
    moderator_rows : the moderator cells (``Plan.moderator_rows``).
    dependent : config.yaml ``dependent_effects`` (``DependentConfig.as_dict``).
    paths : output paths keyed ``dependent`` and ``metaregression`` (columns
        ``evsynth.tables.dependent.DEPENDENT_COLUMNS`` and ``METAREGRESSION_COLUMNS``).

    Notes
    -----
    Methods: :mod:`evsynth.tables.dependent` and the papers it cites (three-level, CHE and
    aggregated models; meta-regression).
    """
    config, _ = dependent_config(dependent)
    effects = analysis_effects(effect_rows, outcome, modes, settings, continuity_correction)
    records, regression = [], []
    for (treatment, comparator), block in comparison_blocks(effects, modes):
        y, v, trial = block["yi"].to_numpy(float), block["vi"].to_numpy(float), block["study"].astype(str).tolist()
        records += dependent_records(outcome, timepoint, treatment, comparator, y, v, trial, config, alpha)
        moderators, problems = {}, {}
        for m in config.moderators:
            values, problems[m.column] = moderator_values(moderator_rows, m.column, trial)
            moderators[m.column] = (values, m.kind)
        regression += metaregression_records(
            outcome, timepoint, treatment, comparator, y, v, trial, moderators, config, alpha, problems
        )
    write_tsv(records, DEPENDENT_COLUMNS, paths["dependent"])
    write_tsv(regression, METAREGRESSION_COLUMNS, paths["metaregression"])
    log.info("dependent: %d rows; metaregression: %d rows", len(records), len(regression))


def write_network(
    studies: pd.DataFrame, outcome: Outcome, timepoint: str, mode_labels: Mapping[str, str],
    settings: MethodSettings, paths: Mapping[str, str], log: logging.Logger,
) -> None:
    """Fit the network meta-analysis of one analysis and write its four tables.

    Parameters
    ----------
    studies : the analysis's ``studies.tsv`` as read back by ``read_tsv`` (contrast rows and
        contrasts formed from arm-level rows, with the columns their shared-arm covariance is
        rebuilt from).
    mode_labels : config.yaml ``modes`` (id -> label), in config order.
    paths : output paths keyed as :data:`NETWORK_COLUMNS`. Every analysis gets all four; with
        no network to fit the summary says why and the other three hold only their header.

    Notes
    -----
    Methods: :mod:`evsynth.tables.network` and the papers it cites (the network model, node
    splitting, P-scores).
    """
    fit = analyse_network(studies, outcome, list(mode_labels), settings)
    tables = network_tables(fit, outcome, timepoint, mode_labels, settings)
    for name, columns in NETWORK_COLUMNS.items():
        write_tsv(tables[name], columns, paths[name], verbatim=NUMBER_TEXT_COLUMNS)
    log.info("%s: %s", fit.status, fit.message)
    for note in fit.notes:
        log.info("note: %s", note)
