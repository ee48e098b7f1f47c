# Helpers shared by the rules: configuration and study-table checks at parse time, the
# list of analyses, and the params each job receives. No rules here.
import importlib.metadata
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from evsynth.analysis import ROW_FIELDS, sort_rows
from evsynth.profiles import resolve_settings
from evsynth.settings import ConfigError, outcomes_from_config, windows_from_config
from evsynth.studies import StudyTableError, load_studies

validate(config, "../schemas/config.schema.yaml")

# Every problem in the table is reported at once, before any job runs or any file is written.
try:
    WINDOWS = windows_from_config(config)
    OUTCOMES = outcomes_from_config(config)
    STUDIES = load_studies(config["studies"], config)
except (StudyTableError, ConfigError) as err:
    raise WorkflowError(str(err)) from None

# The resolved method settings travel to jobs as a plain dict (stable params record).
SETTINGS = resolve_settings(config["pooling"]).as_dict()

PACKAGE_DIR = Path(workflow.basedir) / "workflow" / "lib" / "evsynth"
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


def _included_rows():
    return STUDIES[STUDIES["include"] & STUDIES["window"].notna()]


def _analysis_keys():
    rows = _included_rows()
    present = set(zip(rows["outcome"], rows["window"]))
    return [(o, w.id) for o in OUTCOMES for w in WINDOWS if (o, w.id) in present]


ANALYSES = _analysis_keys()


def package_sources(*modules):
    """The package modules a rule's script imports, as inputs: editing one re-runs the rule."""
    return [str(PACKAGE_DIR / f"{module}.py") for module in modules]


def analysis_rows(wildcards):
    """The rows one analysis pools: only the columns it uses, in a fixed order."""
    rows = _included_rows()
    rows = rows[
        (rows["outcome"] == wildcards.outcome) & (rows["window"] == wildcards.timepoint)
    ]
    records = [{f: _plain(r[f]) for f in ROW_FIELDS} for r in rows.to_dict("records")]
    return sort_rows(records, list(config["modes"]))


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
