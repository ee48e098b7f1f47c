"""Rule analyse_timepoints: the time-specific effects of one outcome from one model across its
timepoint windows (Ishak 2007; evsynth.tables.timepoints), per comparison, on the primary
rows of every window.

Columns are ``evsynth.tables.timepoints.TIMEPOINT_COLUMNS``, documented in docs/outputs.md.

Outputs
-------
timepoints : one row per comparison and window.
"""

from typing import TYPE_CHECKING

from evsynth.data.config import Outcome, Window
from evsynth.data.contrasts import analysis_effects
from evsynth.data.io import write_tsv
from evsynth.pipeline.logs import log_to
from evsynth.stats.profiles import settings_from_dict
from evsynth.tables.timepoints import TIMEPOINT_COLUMNS, timepoint_records

if TYPE_CHECKING:
    from snakemake.script import snakemake

with log_to(snakemake.log[0]) as log:
    params = snakemake.params
    outcome = Outcome(**params.outcome)
    settings = settings_from_dict(params.method)
    windows = [Window(**w) for w in params.windows]
    effects = analysis_effects(params.rows, outcome, params.modes, settings, params.continuity_correction)
    # t on k - p df under the Hartung-Knapp profiles, as their per-window analyses; z otherwise.
    test = "t" if settings.ci_method.startswith("hksj") else "z"
    rows = timepoint_records(outcome, effects, windows, params.modes, params.structure, test, settings.alpha)
    write_tsv(rows, TIMEPOINT_COLUMNS, snakemake.output.timepoints)
    log.info("%d rows (%s, test %s); versions: %s", len(rows), params.structure, test, params.versions)
