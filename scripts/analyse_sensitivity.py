"""Rule analyse_sensitivity: sensitivity, influence and small-study analyses of one analysis.

Every comparison in the analysis's ``studies.tsv`` gets rows in every table (results, or
one row whose ``status`` says why it was skipped); columns are
``evsynth.tables.sensitivity.COLUMNS``, documented in docs/outputs.md.

Outputs
-------
leave_one_out : the meta-analysis without each trial in turn.
influence : Viechtbauer & Cheung (2010) diagnostics and Baujat coordinates per trial.
cumulative : trials added by publication year (and each configured column).
small_study : Egger's tests, the rank correlation test and trim-and-fill (k >= 10).
subsets : all trials, then one re-run per ``sensitivity.exclude_if`` entry.
funnel : the funnel plot's points, with trim-and-fill's filled trials.
"""

from typing import TYPE_CHECKING

from evsynth.data.config import Outcome, sensitivity_config
from evsynth.data.io import read_tsv, write_tsv
from evsynth.pipeline.logs import log_to
from evsynth.stats.profiles import settings_from_dict
from evsynth.tables.sensitivity import COLUMNS, analyse_sensitivity

if TYPE_CHECKING:
    from snakemake.script import snakemake

with log_to(snakemake.log[0]) as log:
    params = snakemake.params
    tables = analyse_sensitivity(
        read_tsv(snakemake.input.studies),
        params.rows,
        Outcome(**params.outcome),
        settings_from_dict(params.method),
        sensitivity_config(params.sensitivity),
        snakemake.wildcards.timepoint,
    )
    for name, records in tables.items():
        write_tsv(records, COLUMNS[name], snakemake.output[name])
        log.info("%s: %d rows", name, len(records))
    log.info("versions: %s", params.versions)
