"""Parse-time answers for the rules of ``workflow/rules/filing.smk``: what a review team files
with its manuscript (PRISMA 2020 flow diagram, methods and results text, metafor scripts).

The screening log is read and checked against the study table when the workflow starts, like
the table itself, so a bad log stops the run before any job, listing every problem. Kept apart
from :mod:`evsynth.pipeline.jobs` so that the filing rules add to the plan without changing it.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pandas as pd

from evsynth.data.screening import PrismaCounts, ScreeningError, counts_as_dict, load_screening
from evsynth.pipeline.plan import Plan


def previous_studies(baseline: str) -> list[str] | None:
    """Studies of a frozen baseline (``python -m evsynth.freeze``), None without one: its
    effects.tsv lists every study-table row of the previous version; an older baseline without
    it gives its pooled.tsv ``studies``."""
    if not baseline:
        return None
    base = Path(baseline)
    if (base / "effects.tsv").is_file():
        table = pd.read_csv(base / "effects.tsv", sep="\t", dtype=str, keep_default_na=False)
        return sorted(set(table["study"]))
    table = pd.read_csv(base / "pooled.tsv", sep="\t", dtype=str, keep_default_na=False)
    return sorted({s.strip() for cell in table["studies"] for s in cell.split(";") if s.strip()})


class Filing:
    """Inputs and params of the filing rules, bound to one :class:`Plan`.

    ``error`` is raised (Snakemake's ``WorkflowError``) with every problem of the screening log.
    """

    def __init__(self, plan: Plan, error: type[Exception] = RuntimeError):
        self.plan = plan
        self.error = error
        section = plan.config.raw.get("screening") or {}
        self.log = str(section.get("log") or "")
        self.reasons = [str(r) for r in section.get("exclusion_reasons") or []]

    @functools.cached_property
    def counts(self) -> PrismaCounts | None:
        """The checked PRISMA counts, None when config.yaml names no screening log."""
        if not self.log:
            return None
        try:
            return load_screening(
                self.log, self.reasons, self._table_lines(), self.plan.config.studies,
                previous_studies(self.plan.config.changes.baseline),
            )
        except ScreeningError as err:
            raise self.error(str(err)) from None

    def _table_lines(self) -> dict[str, int]:
        """Study label -> line of its first row in the study table."""
        studies = self.plan.studies
        if "line" not in studies:  # a reconciled table (dual extraction) has no single file line
            return dict.fromkeys(studies["study"].astype(str), 0)
        firsts = studies.groupby(studies["study"].astype(str))["line"].min()
        return {study: int(line) for study, line in firsts.items()}

    def outputs(self) -> list[str]:
        """Everything the filing rules make, for rule all."""
        files = ["results/methods.md", "results/results.md", "results/methods_and_results.html"]
        if self.counts is not None:
            files += [f"results/prisma.{ext}" for ext in self.plan.config.figure_formats]
        return files + self.plan.analysis_outputs("results/reproduce/{outcome}_{timepoint}.R")

    # Params functions (wildcards unused: one job each).

    def prisma(self, wildcards: Any = None) -> dict[str, Any] | None:
        return None if self.counts is None else counts_as_dict(self.counts)

    def exclusion_reasons(self, wildcards: Any = None) -> list[str]:
        return self.reasons
