# Helpers shared by the rules: configuration and study-table checks at parse time, the
# list of analyses, and the params each job receives. No rules here.
import functools
import importlib.metadata
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.utils import validate

from evsynth.data.columns import ROW_FIELDS
from evsynth.data.vocabulary import sort_rows
from evsynth.stats.profiles import resolve_settings
from evsynth.data.reconcile import ReconcileError, reconcile_extractions
from evsynth.data.config import ConfigError, outcomes_from_config, windows_from_config
from evsynth.data.studies import StudyTableError, load_studies
from evsynth.pipeline.sources import script_sources

validate(config, "../schemas/config.schema.yaml")

# Every problem in the table is reported at once, before any job runs or any file is written.
# Under dual extraction (config.yaml: extraction) the reconciled table is pooled.
try:
    WINDOWS = windows_from_config(config)
    OUTCOMES = outcomes_from_config(config)
    RECONCILIATION = None
    if config.get("extraction"):
        sensitivity = config.get("sensitivity") or {}
        if sensitivity.get("exclude_if") or sensitivity.get("cumulative_order_by"):
            raise ConfigError(
                "config.yaml: sensitivity.exclude_if and cumulative_order_by read their columns from the "
                "'studies:' table by line, so they cannot be used with dual extraction yet; leave them "
                "empty while config.yaml: extraction is set"
            )
        RECONCILIATION = reconcile_extractions(config["extraction"], config)
        STUDIES = RECONCILIATION.studies
    else:
        STUDIES = load_studies(config["studies"], config)
except (StudyTableError, ConfigError, ReconcileError) as err:
    raise WorkflowError(str(err)) from None

# While A and B disagree in a cell the adjudication does not settle, every rule also needs
# the output of rule block_pooling (living.smk), which fails once rule reconcile has written
# the discrepancy report: nothing is pooled, and the run exits non-zero naming each cell.
POOLING_GATE_FILE = "results/.extraction_unresolved"
POOLING_GATE = []
if RECONCILIATION is not None and RECONCILIATION.blocked:
    POOLING_GATE = [POOLING_GATE_FILE]
    logger.warning(
        f"Dual extraction: {len(RECONCILIATION.unresolved)} unresolved discrepancy(ies) between "
        f"{RECONCILIATION.names['a']} and {RECONCILIATION.names['b']}; this run writes "
        "results/extraction_discrepancies.tsv and stops before pooling."
    )

# The resolved method settings travel to jobs as a plain dict (stable params record).
SETTINGS = resolve_settings(config["pooling"]).as_dict()

LIBRARY = Path(workflow.basedir) / "workflow" / "lib"
SCRIPTS = Path(workflow.basedir) / "scripts"
VERSIONS = {
    "evsynth": importlib.metadata.version("evsynth"),
    "pymare": importlib.metadata.version("pymare"),
    "numpy": importlib.metadata.version("numpy"),
    "scipy": importlib.metadata.version("scipy"),
}
MATPLOTLIB_VERSION = importlib.metadata.version("matplotlib")


def _plain(value):
    """Python scalars only, so Snakemake's params record (repr) is stable."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if value != value:  # NaN
        return None
    number = float(value)
    return int(number) if number.is_integer() else number


# Input and params functions run for every job on every invocation (a no-op re-run too),
# so the table is split by analysis once here and the per-analysis results are cached.
INCLUDED = STUDIES[STUDIES["include"] & STUDIES["window"].notna()]
INCLUDED_RECORDS = INCLUDED.to_dict("records")


def _records_by_analysis():
    grouped = {}
    for record in INCLUDED_RECORDS:
        grouped.setdefault((record["outcome"], record["window"]), []).append(record)
    return grouped


RECORDS_BY_ANALYSIS = _records_by_analysis()
ANALYSES = [
    (o, w.id) for o in OUTCOMES for w in WINDOWS if (o, w.id) in RECORDS_BY_ANALYSIS
]


def ungated_code(rule_name):
    """The evsynth modules the rule's script imports, directly or not, as inputs relative to
    the working directory: editing one re-runs exactly the rules that import it, and a review
    moved elsewhere plans nothing (evsynth.pipeline.sources)."""
    return script_sources(SCRIPTS / f"{rule_name}.py", LIBRARY)


def code(rule_name):
    """ungated_code, plus POOLING_GATE while dual-extraction discrepancies are unresolved."""
    return ungated_code(rule_name) + POOLING_GATE


@functools.cache
def _analysis_rows(outcome, timepoint):
    records = [
        {f: _plain(r[f]) for f in ROW_FIELDS}
        for r in RECORDS_BY_ANALYSIS.get((outcome, timepoint), [])
    ]
    return sort_rows(records, list(config["modes"]))


def analysis_rows(wildcards):
    """The rows one analysis pools: only the columns it uses, in a fixed order."""
    return _analysis_rows(wildcards.outcome, wildcards.timepoint)


@functools.cache
def _analysis_effects(outcome, timepoint):
    """The analysis's effect sizes as rule pool_analysis computes them, so which plots it
    gets is known at parse time."""
    from evsynth.tables.pooled import analysis_effects
    from evsynth.stats.profiles import settings_from_dict

    return analysis_effects(
        _analysis_rows(outcome, timepoint),
        OUTCOMES[outcome],
        list(config["modes"]),
        settings_from_dict(SETTINGS),
        config["effects"]["continuity_correction"],
    )


def all_rows(wildcards):
    """Every row for results/effects.tsv (notes left out, so editing them re-runs nothing)."""
    fields = (*ROW_FIELDS, "include", "exclusion_reason", "source")
    records = [{f: _plain(r[f]) for f in fields} for r in STUDIES.to_dict("records")]
    keys = ("study", "outcome", "timepoint", "treatment", "comparator", "arm")
    return sorted(records, key=lambda r: tuple(str(r[k] or "") for k in keys))


def outcome_spec(wildcards):
    outcome = OUTCOMES[wildcards.outcome]
    return {
        "id": outcome.id,
        "label": outcome.label,
        "measure": outcome.measure,
        "higher_is_better": outcome.higher_is_better,
        "scale": outcome.scale,
    }


def analysis_outputs(pattern):
    return [pattern.format(outcome=o, timepoint=t) for o, t in ANALYSES]


@functools.cache
def _sensitivity_rows(outcome, timepoint):
    from evsynth.data.sensitivity_cells import sensitivity_records

    try:
        return sensitivity_records(
            INCLUDED, config["studies"], config["sensitivity"], outcome, timepoint
        )
    except ValueError as err:
        raise WorkflowError(str(err)) from None


def sensitivity_rows(wildcards):
    """Study-table cells config.yaml: sensitivity names, for one analysis's rows (params)."""
    return _sensitivity_rows(wildcards.outcome, wildcards.timepoint)


def sensitivity_plots(wildcards):
    """Sensitivity plots (4 kinds x 3 formats) of each comparison with >= 3 estimable
    trials, decided at parse time from the effect sizes rule pool_analysis computes."""
    from evsynth.data.sensitivity_cells import PLOT_KINDS, plotted_comparisons

    paths = []
    for o, t in ANALYSES:
        paths += [
            f"results/sensitivity/{o}_{t}/{kind}_{c}.{ext}"
            for c in plotted_comparisons(_analysis_effects(o, t))
            for kind in PLOT_KINDS
            for ext in ("svg", "png", "pdf")
        ]
    return paths


# Summary of findings, risk of bias and the study-table page (workflow/rules/report.smk).


def profile_label():
    """The method profile with its overrides, e.g. 'cochrane-2025 (estimator=DL)'."""
    from evsynth.stats.profiles import settings_from_dict

    return settings_from_dict(SETTINGS).label


def _sorted_records(records, keys):
    """Sorted by ``keys``, ties broken by every field: the table's row order never matters."""

    def order(r):
        every = sorted((k, str(v)) for k, v in r.items())
        return tuple(str(r[k] or "") for k in keys), every

    return sorted(records, key=order)


def _rob_records(rows, *extra):
    """RoB 2 fields of study-table rows, sorted; [] when none of them has a judgement."""
    from evsynth.data.columns import ROB_ROW_FIELDS, has_judgements

    fields = (*ROB_ROW_FIELDS, *extra)
    records = [{f: _plain(r[f]) for f in fields} for r in rows]
    if not has_judgements(records):
        return []
    keys = (*extra, "study", "treatment", "comparator", "arm")
    return _sorted_records(records, keys)


@functools.cache
def _analysis_rob(outcome, timepoint):
    return _rob_records(RECORDS_BY_ANALYSIS.get((outcome, timepoint), []))


def analysis_rob_rows(wildcards):
    """One analysis's RoB 2 judgements (params; [] when its rows have none)."""
    return _analysis_rob(wildcards.outcome, wildcards.timepoint)


def rob_outputs(pattern):
    """Risk-of-bias figures of the analyses whose rows carry RoB 2 judgements."""
    return [
        pattern.format(outcome=o, timepoint=t)
        for o, t in ANALYSES
        if _analysis_rob(o, t)
    ]


def sof_control_rows(wildcards):
    """Rows of binary outcomes with what a comparator-arm risk is computed from (params)."""
    from evsynth.stats.escalc import BINARY_MEASURES
    from evsynth.data.columns import CONTROL_RISK_FIELDS

    rows = INCLUDED
    binary = [o for o, spec in OUTCOMES.items() if spec.measure in BINARY_MEASURES]
    rows = rows[rows["outcome"].isin(binary) & rows["form"].isin(["counts", "arm"])]
    records = [
        {f: _plain(r[f]) for f in CONTROL_RISK_FIELDS} for r in rows.to_dict("records")
    ]
    keys = ("outcome", "window", "study", "treatment", "comparator", "arm")
    return _sorted_records(records, keys)


def sof_rob_rows(wildcards):
    """Every analysis's RoB 2 judgements, with outcome and window (params; [] when none)."""
    return _rob_records(INCLUDED_RECORDS, "outcome", "window")


def sof_judgements(wildcards):
    """The reviewers' GRADE ratings (config.yaml: summary_of_findings.judgements), checked."""
    from evsynth.reports.sof import JudgementsError, load_judgements

    path = config.get("summary_of_findings", {}).get("judgements") or ""
    if not path:
        return []
    try:
        return load_judgements(path, OUTCOMES, [w.id for w in WINDOWS], config["modes"])
    except JudgementsError as err:
        raise WorkflowError(str(err)) from None


def sof_analyses(wildcards):
    """(outcome, timepoint) of each analysis, in the order of the studies.tsv inputs."""
    return [{"outcome": o, "timepoint": t} for o, t in ANALYSES]


def study_table_rows(wildcards):
    """Every study-table row for results/study_table.html (notes left out: editing them
    re-runs nothing), sorted so that re-sorting the table re-runs nothing either."""
    from evsynth.data.columns import STUDY_TABLE_FIELDS

    records = [
        {f: _plain(r[f]) for f in STUDY_TABLE_FIELDS}
        for r in STUDIES.to_dict("records")
    ]
    keys = ("study", "outcome", "timepoint", "treatment", "comparator", "arm")
    return _sorted_records(records, keys)


def sof_settings(wildcards):
    """config.yaml: summary_of_findings, checked against the outcomes (params)."""
    from evsynth.reports.sof import check_settings

    settings = config.get("summary_of_findings", {})
    problems = check_settings(settings, OUTCOMES)
    if problems:
        raise WorkflowError("\n".join(problems))
    return settings


# Living review: dual extraction, provenance and the change log (workflow/rules/living.smk).


def extraction_outputs(wildcards):
    """The reconciliation tables, under dual extraction only (rule all)."""
    if RECONCILIATION is None:
        return []
    return ["results/extraction_discrepancies.tsv", "results/reconciliation.tsv"]


def _reconciliation():
    if RECONCILIATION is None:
        raise WorkflowError(
            "rules reconcile and block_pooling need config.yaml: extraction "
            "(reviewer_a, reviewer_b)"
        )
    return RECONCILIATION


def extraction_discrepancies(wildcards):
    """Every disagreeing cell and how it was adjudicated, sorted (params)."""
    return _reconciliation().discrepancies


def extraction_cells(wildcards):
    """How each extracted cell was settled, sorted, notes left out (params)."""
    return _reconciliation().cells


def extraction_names(wildcards):
    return _reconciliation().names


def unresolved_discrepancies(wildcards):
    return _reconciliation().unresolved


def _table_hash():
    from evsynth.data.hashes import table_hash
    from evsynth.data.studies import read_table

    if RECONCILIATION is None:
        return table_hash(read_table(config["studies"]))
    return "" if RECONCILIATION.raw is None else table_hash(RECONCILIATION.raw)


def _rows_hashes():
    from types import SimpleNamespace

    from evsynth.data.hashes import rows_hash

    return {f"{o}/{t}": rows_hash(_analysis_rows(o, t)) for o, t in ANALYSES}


def _table_name():
    if RECONCILIATION is None:
        return config["studies"]
    names = RECONCILIATION.names
    adjudication = f" + {names['adjudication']}" if names["adjudication"] else ""
    return f"{names['a']} + {names['b']}{adjudication}"


def _provenance_constants():
    from evsynth.stats.profiles import settings_from_dict
    from evsynth.data.hashes import method_hash

    return {
        "table_hash": _table_hash(),
        "method_hash": method_hash(
            SETTINGS, config["effects"]["continuity_correction"]
        ),
        "profile": settings_from_dict(SETTINGS).label,
        "table": _table_name(),
    }


# Hashes of the whole table (or the reconciled one) and the method, and of each analysis's
# own rows (evsynth.tables.provenance): computed once, at parse time.
PROVENANCE = _provenance_constants()
ROWS_HASHES = _rows_hashes()


def provenance_common(wildcards):
    """Columns every line of results/provenance.tsv shares (params)."""
    return PROVENANCE


def analysis_hashes(wildcards):
    """'outcome/timepoint' -> hash of that analysis's rows (params)."""
    return ROWS_HASHES


def forest_provenance(wildcards):
    """The provenance line of one forest plot. It names the plot's own rows' hash, not the
    whole table's, so editing another analysis's rows re-runs no other plot (params)."""
    from evsynth.data.hashes import footer_line

    key = f"{wildcards.outcome}/{wildcards.timepoint}"
    return footer_line(
        ROWS_HASHES[key], PROVENANCE["method_hash"], PROVENANCE["profile"]
    )


def trace_rows(wildcards):
    """Included rows with their source and, under dual extraction, how their cells were
    settled; sorted, notes left out (params of trace_provenance)."""
    from evsynth.data.reconcile import typed_row_key

    fields = ("study", "outcome", "window", "timepoint", "form")
    fields += ("treatment", "comparator", "arm", "source")
    records = []
    for r in INCLUDED_RECORDS:
        record = {f: _plain(r[f]) for f in fields}
        settled = ""
        if RECONCILIATION is not None:
            settled = RECONCILIATION.row_settled.get(typed_row_key(r), "")
        records.append({**record, "settled": settled})
    keys = ("outcome", "window", "study", "timepoint", "treatment", "comparator", "arm")
    return sorted(records, key=lambda r: tuple(str(r[k] or "") for k in keys))


def _changes_settings():
    settings = {"baseline": "", "i2_bands": [25, 50, 75], **config.get("changes", {})}
    cuts = settings["i2_bands"]
    if list(cuts) != sorted(set(cuts)):
        raise WorkflowError(
            f"config.yaml: changes.i2_bands = {cuts}: give increasing cut points, e.g. [25, 50, 75]"
        )
    baseline = settings["baseline"]
    if baseline and not (Path(baseline) / "pooled.tsv").is_file():
        raise WorkflowError(
            f"config.yaml: changes.baseline = '{baseline}': {baseline}/pooled.tsv not found. A baseline "
            "is a copy of an earlier results/ made with: python -m evsynth.freeze results "
            "baselines/<name>"
        )
    return settings


CHANGES = _changes_settings()


def baseline_inputs(wildcards):
    """The baseline's tables, as named inputs of report_changes ({} without a baseline)."""
    if not CHANGES["baseline"]:
        return {}
    base = Path(CHANGES["baseline"])
    files = {"baseline_pooled": str(base / "pooled.tsv")}
    for name in ("effects", "provenance"):
        if (base / f"{name}.tsv").is_file():
            files[f"baseline_{name}"] = str(base / f"{name}.tsv")
    return files


def network_plots(wildcards):
    """Network graph and forest plot (svg, png, pdf) of every analysis whose network is
    connected with >= 2 trials, decided at parse time from the effect sizes of the rows
    each analysis pools (evsynth.tables.pooled.analysis_effects); every analysis gets the
    network tables.
    """
    from evsynth.data.network import network_status

    modes = list(config["modes"])
    paths = []
    for o, t in ANALYSES:
        if network_status(_analysis_effects(o, t), modes).plotted:
            paths += [
                f"results/network/{o}_{t}_{kind}.{ext}"
                for kind in ("graph", "forest")
                for ext in ("svg", "png", "pdf")
            ]
    return paths
