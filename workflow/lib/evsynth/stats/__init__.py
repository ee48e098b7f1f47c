"""The statistics of evsynth: numpy, scipy and PyMARE only (no pandas, no matplotlib).

The public API, importable from here (``from evsynth.stats import pool``), by defining module:

* :mod:`~evsynth.stats.pooling`: ``pool``, ``pool_with``; :mod:`~evsynth.stats.batch`:
  ``pool_many``, ``pool_many_with``; :mod:`~evsynth.stats.large_k`: ``pool_large_k``;
  :mod:`~evsynth.stats.results`: ``PooledEstimate``.
* :mod:`~evsynth.stats.profiles`: ``MethodSettings``, ``PROFILES``, ``ESTIMATORS``,
  ``CI_METHODS``, ``PREDICTION_INTERVALS``.
* :mod:`~evsynth.stats.escalc`: ``from_counts``, ``from_means``, ``z_for_level``.
* :mod:`~evsynth.stats.multivariate`: ``rma_mv``, ``BlockCovariance``, ``MultivariateFit``.
* :mod:`~evsynth.stats.network`: ``fit_network``, ``network_status``, ``network_structure``,
  ``Contrasts``, ``NetworkFit``.
* :mod:`~evsynth.stats.influence`: ``leave_one_out``, ``Influence``;
  :mod:`~evsynth.stats.cumulative`: ``Cumulative``. (The functions ``influence`` and
  ``cumulative`` share their module's name, so take them from the module.)
* :mod:`~evsynth.stats.smallstudy`: ``egger_test``, ``rank_test``, ``trim_and_fill``,
  ``meta_regression``.
* :mod:`~evsynth.stats.subgroups`: ``separate_tau2_test``, ``common_tau2_test``,
  ``overall_estimate``.
* Several effects per trial: :mod:`~evsynth.stats.dependent`: ``ClusteredCovariance``,
  ``aggregate_within``, ``extreme_per_trial``, ``trial_mean_variances``; :mod:`~evsynth.stats.multilevel`:
  ``fit_multilevel``, ``MultilevelFit``; :mod:`~evsynth.stats.robust`: ``cr2``, ``RobustFit``;
  :mod:`~evsynth.stats.timepoints`: ``fit_timepoints``, ``TimepointFit``;
  :mod:`~evsynth.stats.metaregression`: ``moderator_design``, ``permutation_test``, ``r2``.
* :mod:`~evsynth.stats.bayes`: ``bayes_meta``, ``MuPrior``, ``BayesFit``;
  :mod:`~evsynth.stats.bayes_batch`: ``bayes_many``; :mod:`~evsynth.stats.bayes_priors`:
  ``TauPrior``, ``empirical_prior``.
* :mod:`~evsynth.stats.selection`: ``selection_model``; :mod:`~evsynth.stats.bias_adjusted`:
  ``pet_peese``, ``limit_meta``, ``waap_wls``.

Names are loaded on first use (PEP 562), so importing one module of the package (the
workflow does so at parse time) does not import the rest. Code inside this repository
imports from the defining module instead: a rule's code inputs are its script's import
closure (:mod:`evsynth.pipeline.sources`), which a name taken from here would hide
(``tests/pipeline/test_stats_api.py`` checks both).
"""

from __future__ import annotations

import importlib

#: public name -> the module that defines it.
API = {
    **dict.fromkeys(("pool", "pool_with"), "pooling"),
    **dict.fromkeys(("pool_many", "pool_many_with"), "batch"),
    "pool_large_k": "large_k",
    "PooledEstimate": "results",
    **dict.fromkeys(("MethodSettings", "PROFILES", "ESTIMATORS", "CI_METHODS", "PREDICTION_INTERVALS"), "profiles"),
    **dict.fromkeys(("from_counts", "from_means", "z_for_level"), "escalc"),
    **dict.fromkeys(("rma_mv", "BlockCovariance", "MultivariateFit"), "multivariate"),
    **dict.fromkeys(("fit_network", "network_status", "network_structure", "Contrasts", "NetworkFit"), "network"),
    **dict.fromkeys(("leave_one_out", "Influence"), "influence"),
    "Cumulative": "cumulative",
    **dict.fromkeys(("egger_test", "rank_test", "trim_and_fill", "meta_regression"), "smallstudy"),
    **dict.fromkeys(("separate_tau2_test", "common_tau2_test", "overall_estimate"), "subgroups"),
    **dict.fromkeys(("ClusteredCovariance", "aggregate_within", "extreme_per_trial", "trial_mean_variances"),
                    "dependent"),
    **dict.fromkeys(("fit_multilevel", "MultilevelFit"), "multilevel"),
    **dict.fromkeys(("cr2", "RobustFit"), "robust"),
    **dict.fromkeys(("fit_timepoints", "TimepointFit"), "timepoints"),
    **dict.fromkeys(("moderator_design", "permutation_test", "r2"), "metaregression"),
    **dict.fromkeys(("bayes_meta", "MuPrior", "BayesFit"), "bayes"),
    "bayes_many": "bayes_batch",
    **dict.fromkeys(("TauPrior", "empirical_prior"), "bayes_priors"),
    "selection_model": "selection",
    **dict.fromkeys(("pet_peese", "limit_meta", "waap_wls"), "bias_adjusted"),
}

__all__ = sorted(API)


def __getattr__(name: str):
    if name not in API:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{API[name]}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(API))
