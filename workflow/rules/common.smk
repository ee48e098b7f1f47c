# Parse time: check the configuration and the study table and build the plan the rules read
# (evsynth.pipeline.plan). Rules name their input and params functions as JOB.<name>
# (evsynth.pipeline.jobs), one-line adapters to PLAN. No rules here.
import importlib.metadata
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.utils import validate

from evsynth.data.config import ConfigError
from evsynth.data.reconcile import ReconcileError
from evsynth.data.studies import StudyTableError
from evsynth.pipeline.jobs import JobFunctions
from evsynth.pipeline.plan import POOLING_GATE_FILE, Plan
from evsynth.pipeline.scheduling import coalesce_reevaluation_timers
from evsynth.pipeline.sources import script_sources

validate(config, "../schemas/config.schema.yaml")

# Every problem in the configuration and the table is reported at once, before any job runs
# or any file is written. Under dual extraction (config.yaml: extraction) the reconciled
# table is pooled.
try:
    PLAN = Plan.load(config)
except (StudyTableError, ConfigError, ReconcileError) as err:
    raise WorkflowError(str(err)) from None
JOB = JobFunctions(PLAN, error=WorkflowError)
# Snakemake's rate limiter multiplies its re-evaluation timers with every finished job; one
# is enough (evsynth.pipeline.scheduling).
coalesce_reevaluation_timers()

# While A and B disagree in a cell the adjudication does not settle, every rule also needs
# the output of rule block_pooling (living.smk), which fails once rule reconcile has written
# the discrepancy report: nothing is pooled, and the run exits non-zero naming each cell.
if PLAN.blocked:
    logger.warning(
        f"Dual extraction: {len(PLAN.reconciliation.unresolved)} unresolved discrepancy(ies) between "
        f"{PLAN.reconciliation.names['a']} and {PLAN.reconciliation.names['b']}; this run writes "
        "results/extraction_discrepancies.tsv and stops before pooling."
    )

# Params many rules share, as plain values (stable params records).
METHOD = PLAN.config.method.as_dict()
PROFILE = PLAN.config.method.label
MODES = PLAN.config.mode_ids
MODE_LABELS = PLAN.config.modes
OUTCOMES = {oid: outcome.as_dict() for oid, outcome in PLAN.config.outcomes.items()}
WINDOWS = PLAN.config.window_ids
ANALYSES = PLAN.analyses
SENSITIVITY = PLAN.config.sensitivity.as_dict()
DEPENDENT = PLAN.config.dependent.as_dict() if PLAN.config.dependent is not None else {}
BAYES_FOREST_ROW = bool((PLAN.config.raw.get("bayes") or {}).get("forest_row", True))

LIBRARY = Path(workflow.basedir) / "workflow" / "lib"
SCRIPTS = Path(workflow.basedir) / "scripts"
VERSIONS = {
    "evsynth": importlib.metadata.version("evsynth"),
    "pymare": importlib.metadata.version("pymare"),
    "numpy": importlib.metadata.version("numpy"),
    "scipy": importlib.metadata.version("scipy"),
}
MATPLOTLIB_VERSION = importlib.metadata.version("matplotlib")
# config.yaml: figures.formats, and the one of them the Snakemake report embeds.
FIGURE_FORMATS = PLAN.config.figure_formats
REPORT_FORMAT = PLAN.config.report_format


def ungated_code(rule_name):
    """The evsynth modules the rule's script imports, directly or not, as inputs relative to
    the working directory: editing one re-runs exactly the rules that import it, and a review
    moved elsewhere plans nothing (evsynth.pipeline.sources)."""
    return script_sources(SCRIPTS / f"{rule_name}.py", LIBRARY)


def code(rule_name):
    """ungated_code, plus the pooling gate while dual-extraction discrepancies are unresolved."""
    return ungated_code(rule_name) + PLAN.gate


def analysis_outputs(pattern):
    """``pattern`` filled in for every analysis (outcome, timepoint), in config order."""
    return PLAN.analysis_outputs(pattern)


def figure_outputs(stem, name="", **report_args):
    """Named outputs of one figure: ``stem`` (a path without extension) in every configured
    format, keyed by format (``name_format`` for a rule drawing several figures); the copy
    the report embeds is wrapped in ``report(**report_args)``."""
    outputs = {}
    for fmt in FIGURE_FORMATS:
        path = f"{stem}.{fmt}"
        key = f"{name}_{fmt}" if name else fmt
        outputs[key] = report(path, **report_args) if fmt == REPORT_FORMAT else path
    return outputs


def figure_files(stems):
    """Every configured format of each figure in ``stems``, for rule all."""
    return [f"{stem}.{fmt}" for stem in stems for fmt in FIGURE_FORMATS]


def dependent_outputs():
    """Rule analyse's several-effects tables (results/dependent/, results/metaregression/), only
    with config.yaml: dependent_effects: otherwise the analysis writes neither."""
    if PLAN.config.dependent is None:
        return {}
    return {
        "dependent": "results/dependent/{outcome}_{timepoint}.tsv",
        "metaregression": report(
            "results/metaregression/{outcome}_{timepoint}.tsv",
            caption="../report/metaregression_table.rst",
            category="Meta-regression",
            subcategory="{outcome}",
            labels={
                "outcome": "{outcome}",
                "timepoint": "{timepoint}",
                "comparison": "all (table)",
                "moderator": "all (table)",
            },
        ),
    }
