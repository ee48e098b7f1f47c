"""The plan's answers as Snakemake input and params functions: each takes a job's wildcards.

Rules name them directly (``rows=JOB.analysis_rows``), so the rule files hold rules only, as
``snakemake --lint`` asks, and no rule needs a lambda. Each method is a one-line adapter to
:class:`evsynth.pipeline.plan.Plan`; a problem found while the DAG is built (a sensitivity
column the table lacks, a bad GRADE judgements file) is raised as ``error`` (Snakemake's
``WorkflowError``), so the user reads the message, not a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evsynth.data.bayes_config import bayes_settings
from evsynth.data.config import ConfigError
from evsynth.data.judgements import JudgementsError
from evsynth.data.reconcile import Reconciliation
from evsynth.pipeline.plan import Plan

#: What the plan raises while answering, each listing every problem it found.
PROBLEMS = (ConfigError, JudgementsError)


class JobFunctions:
    """Input and params functions of the rules, bound to one :class:`Plan`."""

    def __init__(self, plan: Plan, error: type[Exception] = RuntimeError):
        self.plan = plan
        self.error = error
        self._outcomes = {oid: outcome.as_dict() for oid, outcome in plan.config.outcomes.items()}

    def _checked(self, answer: Callable[..., Any], *args: Any) -> Any:
        try:
            return answer(*args)
        except PROBLEMS as err:
            raise self.error(str(err)) from None

    def _extraction(self) -> Reconciliation:
        return self._checked(self.plan.extraction)

    # ---------------------------------------------------------------- per analysis

    def analysis_rows(self, wildcards) -> list[dict[str, Any]]:
        """The rows one analysis pools: only the columns it uses, in a fixed order."""
        return self.plan.analysis_rows(wildcards.outcome, wildcards.timepoint)

    def outcome(self, wildcards) -> dict[str, Any]:
        """The analysis's outcome as a plain dict (``Outcome(**d)`` reads it back)."""
        return self._outcomes[wildcards.outcome]

    def bayes(self, wildcards) -> dict[str, Any]:
        """The outcome's Bayesian settings (``config.yaml: bayes``): prior, mu prior, MID."""
        outcome = self._outcomes[wildcards.outcome]
        return bayes_settings(self.plan.config.raw, wildcards.outcome, outcome["measure"]).as_dict()

    def rob_rows(self, wildcards) -> list[dict[str, Any]]:
        """One analysis's RoB 2 judgements ([] when its rows have none)."""
        return self.plan.rob_rows(wildcards.outcome, wildcards.timepoint)

    def forest_provenance(self, wildcards) -> str:
        """The forest plot's provenance line (its own rows' hash)."""
        return self.plan.forest_provenance(wildcards.outcome, wildcards.timepoint)

    def sensitivity_rows(self, wildcards) -> list[dict[str, str]]:
        """Study-table cells config.yaml: sensitivity names, for one analysis's rows."""
        return self._checked(self.plan.sensitivity_rows, wildcards.outcome, wildcards.timepoint)

    def dependent_rows(self, wildcards) -> list[dict[str, Any]]:
        """Every included effect of one analysis, secondary ones too (rule analyse, its dependent-effects step)."""
        return self.plan.dependent_rows(wildcards.outcome, wildcards.timepoint)

    def timepoint_rows(self, wildcards) -> list[dict[str, Any]]:
        """The primary rows of every window of one outcome (rule analyse_timepoints)."""
        return self.plan.timepoint_rows(wildcards.outcome)

    def moderator_rows(self, wildcards) -> list[dict[str, str]]:
        """Study-table cells config.yaml: dependent_effects.moderators names, for one analysis."""
        return self._checked(self.plan.moderator_rows, wildcards.outcome, wildcards.timepoint)

    # ---------------------------------------------------------------- whole table

    def all_rows(self, wildcards) -> list[dict[str, Any]]:
        """Every row, for results/effects.tsv and results/checks.tsv (notes left out)."""
        return self.plan.all_rows

    def study_table_rows(self, wildcards) -> list[dict[str, Any]]:
        return self.plan.study_table_rows

    def sof_analyses(self, wildcards) -> list[dict[str, str]]:
        return self.plan.sof_analyses()

    def sof_control_rows(self, wildcards) -> list[dict[str, Any]]:
        return self.plan.sof_control_rows

    def sof_rob_rows(self, wildcards) -> list[dict[str, Any]]:
        return self.plan.sof_rob_rows

    def sof_judgements(self, wildcards) -> list[dict[str, str]]:
        return self._checked(self.plan.sof_judgements)

    # ---------------------------------------------------------------- living review

    def extraction_discrepancies(self, wildcards) -> list[dict[str, str]]:
        return self._extraction().discrepancies

    def extraction_cells(self, wildcards) -> list[dict[str, str]]:
        return self._extraction().cells

    def extraction_names(self, wildcards) -> dict[str, str]:
        return self._extraction().names

    def unresolved_discrepancies(self, wildcards) -> list[dict[str, str]]:
        return self._extraction().unresolved

    def provenance_common(self, wildcards) -> dict[str, str]:
        return self.plan.provenance

    def analysis_hashes(self, wildcards) -> dict[str, str]:
        return self.plan.rows_hashes

    def trace_rows(self, wildcards) -> list[dict[str, Any]]:
        return self.plan.trace_rows

    def baseline_inputs(self, wildcards) -> dict[str, str]:
        return self.plan.baseline_inputs()

    # ---------------------------------------------------------------- rule all

    def sensitivity_plots(self, wildcards) -> list[str]:
        return self.plan.sensitivity_plots()

    def network_plots(self, wildcards) -> list[str]:
        return self.plan.network_plots()

    def extraction_outputs(self, wildcards) -> list[str]:
        return self.plan.extraction_outputs()

    def dependent_tables(self, wildcards) -> list[str]:
        return self.plan.dependent_tables()

    def timepoint_tables(self, wildcards) -> list[str]:
        return self.plan.timepoint_tables()

    def dependent_outputs(self, wildcards) -> list[str]:
        return self.plan.dependent_outputs()
