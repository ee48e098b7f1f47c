"""The workflow's parse-time plan: what ``workflow/rules/*.smk`` read, testable without Snakemake.

:meth:`Plan.load` reads ``config.yaml`` (already checked against its schema), the study table
(or, under dual extraction, reconciles reviewer A's and B's tables) and decides the pooling
gate. The plan then answers every question the rules ask while Snakemake builds the DAG:
which analyses exist, the rows each job receives as params, which plots are declared, the
provenance hashes. Nothing here writes a file.

Params are minimal, sorted plain records: a job re-runs only when its own rows change, and
re-sorting the table re-runs nothing. Input and params functions run for every job on every
invocation (a no-op re-run too), so each answer is computed once and cached.

Relative paths in the configuration (studies, extraction, judgements, baseline) are read
from the working directory, as under Snakemake.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from evsynth._values import plain
from evsynth.data.columns import CONTROL_RISK_FIELDS, ROB_ROW_FIELDS, ROW_FIELDS, STUDY_TABLE_FIELDS, has_judgements
from evsynth.data.config import ConfigError, ReviewConfig, load_config
from evsynth.data.contrasts import analysis_effects
from evsynth.data.hashes import footer_line, method_hash, rows_hash, table_hash
from evsynth.data.judgements import load_judgements
from evsynth.data.moderators import moderator_records
from evsynth.data.network import network_status
from evsynth.data.reconcile import Reconciliation, reconcile_extractions, typed_row_key
from evsynth.data.sensitivity_cells import PLOT_KINDS, plotted_comparisons, sensitivity_records
from evsynth.data.studies import load_studies, read_table
from evsynth.data.vocabulary import sort_rows
from evsynth.stats.escalc import BINARY_MEASURES

#: Output of rule block_pooling, requested by every rule that computes results while
#: dual-extraction discrepancies are unresolved (it fails, so nothing is pooled).
POOLING_GATE_FILE = "results/.extraction_unresolved"
#: Fields of results/effects.tsv's rows (notes left out, so editing them re-runs nothing).
ALL_ROW_FIELDS = (*ROW_FIELDS, "include", "exclusion_reason", "source", "primary")
TRACE_FIELDS = ("study", "outcome", "window", "timepoint", "form", "treatment", "comparator", "arm", "source")
TABLE_KEYS = ("study", "outcome", "timepoint", "treatment", "comparator", "arm")


def _records(rows: Iterable[Mapping[str, Any]], fields: Sequence[str], keys: Sequence[str]) -> list[dict[str, Any]]:
    """``rows`` projected on ``fields`` as plain scalars, sorted by ``keys`` with ties broken by
    every field: the table's row order never matters."""
    records = [{f: plain(r[f]) for f in fields} for r in rows]

    def order(r):
        every = sorted((k, str(v)) for k, v in r.items())
        return tuple(str(r[k] or "") for k in keys), every

    return sorted(records, key=order)


class Plan:
    """Everything the rules need at parse time, from one configuration.

    Attributes
    ----------
    config : ReviewConfig
        The checked configuration.
    studies : pandas.DataFrame
        The checked study table (under dual extraction: the reconciled one).
    reconciliation : Reconciliation or None
        The comparison of the two extractions; None without dual extraction.
    analyses : list of (str, str)
        (outcome, window) of every analysis with at least one included row, in config order.
    """

    def __init__(self, config: ReviewConfig, studies: pd.DataFrame, reconciliation: Reconciliation | None = None):
        self.config = config
        self.studies = studies
        self.reconciliation = reconciliation
        in_window = studies["include"] & studies["window"].notna()
        # Secondary effects (primary = no) feed only the dependent-effects analyses; every other
        # job sees one effect per trial per analysis (docs/study_table.md#several-effects-per-trial).
        primary = studies["primary"].astype(bool) if "primary" in studies else True
        self._every_effect = studies[in_window]
        included = studies[in_window & primary]
        self._included = included
        self._included_records = included.to_dict("records")
        grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for record in self._included_records:
            grouped.setdefault((record["outcome"], record["window"]), []).append(record)
        self._by_analysis = grouped
        self._sensitivity: dict[tuple[str, str], list[dict[str, str]]] = {}
        self.analyses = [(o, w.id) for o in config.outcomes for w in config.windows if (o, w.id) in grouped]

    @classmethod
    def load(cls, raw: Mapping[str, Any]) -> Plan:
        """Check and type ``raw`` (``config.yaml`` as a mapping), then read its study table.

        Raises
        ------
        ConfigError, StudyTableError, ReconcileError
            Each listing every problem it found, before any job runs.
        """
        config = load_config(raw)
        if config.extraction:  # the reconciled table is pooled
            reconciliation = reconcile_extractions(config.extraction, config.raw)
            return cls(config, reconciliation.studies, reconciliation)
        return cls(config, load_studies(config.studies, config.raw))

    # ---------------------------------------------------------------- the pooling gate

    @property
    def blocked(self) -> bool:
        """Are dual-extraction discrepancies unresolved (nothing may be pooled)?"""
        return self.reconciliation is not None and self.reconciliation.blocked

    @property
    def gate(self) -> list[str]:
        """Extra input of every rule that computes results: the gate file while blocked."""
        return [POOLING_GATE_FILE] if self.blocked else []

    # ---------------------------------------------------------------- per analysis

    def analysis_outputs(self, pattern: str) -> list[str]:
        return [pattern.format(outcome=o, timepoint=t) for o, t in self.analyses]

    def analysis_rows(self, outcome: str, timepoint: str) -> list[dict[str, Any]]:
        """The rows one analysis pools: only the columns it uses, in a fixed order."""
        return self._rows.get((outcome, timepoint), [])

    @functools.cached_property
    def _rows(self) -> dict[tuple[str, str], list[dict[str, Any]]]:
        modes = self.config.mode_ids
        return {
            key: sort_rows([{f: plain(r[f]) for f in ROW_FIELDS} for r in rows], modes)
            for key, rows in self._by_analysis.items()
        }

    def analysis_effects(self, outcome: str, timepoint: str) -> pd.DataFrame:
        """The analysis's effect sizes as rule analyse computes them, so which plots it
        gets is known at parse time."""
        return self._effects[(outcome, timepoint)]

    @functools.cached_property
    def _effects(self) -> dict[tuple[str, str], pd.DataFrame]:
        config = self.config
        return {
            (o, t): analysis_effects(
                self.analysis_rows(o, t), config.outcomes[o], config.mode_ids, config.method,
                config.continuity_correction,
            )
            for o, t in self.analyses
        }

    def rob_rows(self, outcome: str, timepoint: str) -> list[dict[str, Any]]:
        """One analysis's RoB 2 judgements ([] when its rows have none)."""
        return self._rob.get((outcome, timepoint), [])

    @functools.cached_property
    def _rob(self) -> dict[tuple[str, str], list[dict[str, Any]]]:
        return {key: self._rob_records(rows) for key, rows in self._by_analysis.items()}

    def rob_outputs(self, pattern: str) -> list[str]:
        """Risk-of-bias figures of the analyses whose rows carry RoB 2 judgements."""
        return [pattern.format(outcome=o, timepoint=t) for o, t in self.analyses if self.rob_rows(o, t)]

    def sensitivity_rows(self, outcome: str, timepoint: str) -> list[dict[str, str]]:
        """Study-table cells config.yaml: sensitivity names, for one analysis's rows.

        Raises
        ------
        ConfigError
            When a configured column is not in the study table.
        """
        if (outcome, timepoint) not in self._sensitivity:
            try:
                self._sensitivity[outcome, timepoint] = sensitivity_records(
                    self._included, self._cells_table, self.config.sensitivity, outcome, timepoint
                )
            except ValueError as err:
                raise ConfigError(str(err)) from None
        return self._sensitivity[outcome, timepoint]

    @property
    def _cells_table(self) -> str | pd.DataFrame:
        """Where the sensitivity cells are read: the study table, or under dual extraction the
        adjudicated table the pooled rows come from (reviewer A's while it is still blocked, as
        :attr:`studies` is; nothing is pooled then)."""
        reconciliation = self.reconciliation
        if reconciliation is None:
            return self.config.studies
        return reconciliation.names["a"] if reconciliation.raw is None else reconciliation.raw

    def dependent_rows(self, outcome: str, timepoint: str) -> list[dict[str, Any]]:
        """Every included effect of one analysis, secondary ones too (rule analyse):
        the columns it uses plus ``primary`` and ``instrument``, sorted by every field so that the
        table's row order never matters ([] when dependent_effects is off)."""
        if self.config.dependent is None:
            return []
        return self._dependent_rows.get((outcome, timepoint), [])

    @functools.cached_property
    def _dependent_rows(self) -> dict[tuple[str, str], list[dict[str, Any]]]:
        grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for record in self._every_effect.to_dict("records"):
            grouped.setdefault((record["outcome"], record["window"]), []).append(record)
        fields = (*ROW_FIELDS, "primary", "instrument")
        return {
            key: sort_rows(_records(rows, fields, ("study", "timepoint", "instrument")), self.config.mode_ids)
            for key, rows in grouped.items()
        }

    def moderator_rows(self, outcome: str, timepoint: str) -> list[dict[str, str]]:
        """Study-table cells config.yaml: dependent_effects.moderators names, for one analysis's rows
        ([] when the section is absent or lists no moderator).

        Raises
        ------
        ConfigError
            When a moderator column is not in the study table.
        """
        if self.config.dependent is None:
            return []
        cache = self.__dict__.setdefault("_moderator_rows", {})  # asked once per job per invocation
        if (outcome, timepoint) not in cache:
            try:
                cache[outcome, timepoint] = moderator_records(
                    self._every_effect, self._cells_table, self.config.dependent, outcome, timepoint
                )
            except ValueError as err:
                raise ConfigError(str(err)) from None
        return cache[outcome, timepoint]

    def dependent_outputs(self) -> list[str]:
        """results/dependent/ and results/metaregression/ tables of every analysis, when
        config.yaml: dependent_effects is set (none otherwise: the shipped outputs are unchanged),
        and the bubble plots (:meth:`metaregression_plots`)."""
        if self.config.dependent is None:
            return []
        tables = [f"results/{kind}/{o}_{t}.tsv" for o, t in self.analyses for kind in ("dependent", "metaregression")]
        return [*tables, *self.metaregression_plots(), *self.timepoint_tables(), "results/dependent.html"]

    def timepoint_tables(self) -> list[str]:
        """results/dependent/{outcome}_timepoints.tsv of every outcome analysed in two or more
        windows ([] when dependent_effects is off)."""
        return [f"results/dependent/{o}_timepoints.tsv" for o in self.timepoint_outcomes()]

    def timepoint_outcomes(self) -> list[str]:
        """Outcomes analysed in at least two timepoint windows, in config order: each gets one
        model across its windows (rule analyse_timepoints) when dependent_effects is set."""
        if self.config.dependent is None:
            return []
        windows = [o for o, _ in self.analyses]
        return [o for o in dict.fromkeys(windows) if windows.count(o) >= 2]

    def timepoint_rows(self, outcome: str) -> list[dict[str, Any]]:
        """The primary rows of every window of one outcome (one effect per trial and window), the
        analyses' own params in window order: the job re-runs when one of them changes."""
        return [row for o, t in self.analyses if o == outcome for row in self.analysis_rows(o, t)]

    def dependent_tables(self) -> list[str]:
        """results/dependent/ table of every analysis, in config order, when dependent_effects is
        set: robustness.tsv compares their models' conclusions too ([] otherwise)."""
        if self.config.dependent is None:
            return []
        return [f"results/dependent/{o}_{t}.tsv" for o, t in self.analyses]

    @property
    def moderator_pattern(self) -> str:
        """Wildcard pattern of the bubble plots' ``{moderator}``: one of the configured columns
        (the plots are named ``{moderator}_{comparison}``), never matching when there is none."""
        columns = [m.column for m in self.config.dependent.moderators] if self.config.dependent else []
        return "|".join(re.escape(c) for c in columns) or "(?!)"

    def metaregression_plots(self) -> list[str]:
        """A bubble plot per analysis x moderator x comparison with >= 3 estimable trials (a slope
        and an intercept need more trials than coefficients), as the sensitivity plots."""
        if self.config.dependent is None:
            return []
        return [
            f"results/metaregression/{o}_{t}/{m.column}_{c}.{ext}"
            for o, t in self.analyses
            for c in plotted_comparisons(self.analysis_effects(o, t))
            for m in self.config.dependent.moderators
            for ext in self.config.figure_formats
        ]

    def sensitivity_plots(self) -> list[str]:
        """Sensitivity plots (4 kinds x the configured formats) of each comparison with >= 3 estimable trials,
        decided from the effect sizes rule analyse computes."""
        return [
            f"results/sensitivity/{o}_{t}/{kind}_{c}.{ext}"
            for o, t in self.analyses
            for c in plotted_comparisons(self.analysis_effects(o, t))
            for kind in PLOT_KINDS
            for ext in self.config.figure_formats
        ]

    def network_plots(self) -> list[str]:
        """Network graph and forest plot of every analysis whose network is connected with >= 2
        trials, decided from the effect sizes of the rows each analysis pools; every analysis gets
        the network tables."""
        return [
            f"results/network/{o}_{t}_{kind}.{ext}"
            for o, t in self.analyses
            if network_status(self.analysis_effects(o, t), self.config.mode_ids).plotted
            for kind in ("graph", "forest")
            for ext in self.config.figure_formats
        ]

    # ---------------------------------------------------------------- whole table

    @functools.cached_property
    def all_rows(self) -> list[dict[str, Any]]:
        """Every row, for results/effects.tsv and the plausibility checks."""
        return _records(self.studies.to_dict("records"), ALL_ROW_FIELDS, TABLE_KEYS)

    @functools.cached_property
    def study_table_rows(self) -> list[dict[str, Any]]:
        """Every study-table row for results/study_table.html (notes left out)."""
        return _records(self.studies.to_dict("records"), STUDY_TABLE_FIELDS, TABLE_KEYS)

    # ---------------------------------------------------------------- summary of findings

    def sof_analyses(self) -> list[dict[str, str]]:
        """(outcome, timepoint) of each analysis, in the order of the studies.tsv inputs."""
        return [{"outcome": o, "timepoint": t} for o, t in self.analyses]

    @functools.cached_property
    def sof_control_rows(self) -> list[dict[str, Any]]:
        """Rows of binary outcomes with what a comparator-arm risk is computed from."""
        rows = self._included
        binary = [o for o, spec in self.config.outcomes.items() if spec.measure in BINARY_MEASURES]
        rows = rows[rows["outcome"].isin(binary) & rows["form"].isin(["counts", "arm"])]
        keys = ("outcome", "window", "study", "treatment", "comparator", "arm")
        return _records(rows.to_dict("records"), CONTROL_RISK_FIELDS, keys)

    @functools.cached_property
    def sof_rob_rows(self) -> list[dict[str, Any]]:
        """Every analysis's RoB 2 judgements, with outcome and window ([] when none)."""
        return self._rob_records(self._included_records, "outcome", "window")

    def sof_judgements(self) -> list[dict[str, str]]:
        """The reviewers' GRADE ratings, checked (raises JudgementsError listing every problem)."""
        config = self.config
        if not config.judgements:
            return []
        return load_judgements(config.judgements, config.outcomes, config.window_ids, config.mode_ids)

    def _rob_records(self, rows: Iterable[Mapping[str, Any]], *extra: str) -> list[dict[str, Any]]:
        """RoB 2 fields of study-table rows, sorted; [] when none of them has a judgement."""
        records = _records(rows, (*ROB_ROW_FIELDS, *extra), (*extra, "study", "treatment", "comparator", "arm"))
        return records if has_judgements(records) else []

    # ---------------------------------------------------------------- dual extraction

    def extraction_outputs(self) -> list[str]:
        """The reconciliation tables, under dual extraction only."""
        if self.reconciliation is None:
            return []
        return ["results/extraction_discrepancies.tsv", "results/reconciliation.tsv"]

    def extraction(self) -> Reconciliation:
        """The reconciliation (raises ConfigError without dual extraction)."""
        if self.reconciliation is None:
            raise ConfigError(
                "rules reconcile and block_pooling need config.yaml: extraction (reviewer_a, reviewer_b)"
            )
        return self.reconciliation

    # ---------------------------------------------------------------- provenance

    @functools.cached_property
    def provenance(self) -> dict[str, str]:
        """Columns every line of results/provenance.tsv shares: hashes of the whole table (or the
        reconciled one) and of the method, the profile, the table's name."""
        config, reconciliation = self.config, self.reconciliation
        if reconciliation is None:
            whole, name = table_hash(read_table(config.studies)), config.studies
        else:
            whole = "" if reconciliation.raw is None else table_hash(reconciliation.raw)
            names = reconciliation.names
            adjudication = f" + {names['adjudication']}" if names["adjudication"] else ""
            name = f"{names['a']} + {names['b']}{adjudication}"
        return {
            "table_hash": whole,
            "method_hash": method_hash(config.method.as_dict(), config.continuity_correction),
            "profile": config.method.label,
            "table": name,
        }

    @functools.cached_property
    def rows_hashes(self) -> dict[str, str]:
        """'outcome/timepoint' -> hash of that analysis's rows."""
        return {f"{o}/{t}": rows_hash(self.analysis_rows(o, t)) for o, t in self.analyses}

    def forest_provenance(self, outcome: str, timepoint: str) -> str:
        """The provenance line of one forest plot. It names the plot's own rows' hash, not the
        whole table's, so editing another analysis's rows re-runs no other plot."""
        return footer_line(
            self.rows_hashes[f"{outcome}/{timepoint}"], self.provenance["method_hash"], self.provenance["profile"]
        )

    @functools.cached_property
    def trace_rows(self) -> list[dict[str, Any]]:
        """Included rows with their source and, under dual extraction, how their cells were
        settled; sorted, notes left out."""
        rows = self._included_records
        if self.reconciliation is not None:
            settled = self.reconciliation.row_settled
            rows = [{**r, "settled": settled.get(typed_row_key(r), "")} for r in rows]
        else:
            rows = [{**r, "settled": ""} for r in rows]
        keys = ("outcome", "window", "study", "timepoint", "treatment", "comparator", "arm")
        return _records(rows, (*TRACE_FIELDS, "settled"), keys)

    def baseline_inputs(self) -> dict[str, str]:
        """The baseline's tables, as named inputs of report_changes ({} without a baseline)."""
        if not self.config.changes.baseline:
            return {}
        base = Path(self.config.changes.baseline)
        files = {"baseline_pooled": str(base / "pooled.tsv")}
        for name in ("effects", "provenance"):
            if (base / f"{name}.tsv").is_file():
                files[f"baseline_{name}"] = str(base / f"{name}.tsv")
        return files
