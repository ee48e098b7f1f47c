"""Rule analyse_network: the network meta-analysis of one outcome in one timepoint window.

Reads the analysis's contrasts (``results/analyses/{outcome}/{timepoint}/studies.tsv``:
contrast rows and contrasts formed from arm-level rows, with the columns their shared-arm
covariance is rebuilt from) and writes the league, inconsistency, ranking and summary
tables of ``results/network/`` (columns: ``evsynth.tables.network``). Every analysis gets
all four; when there is no network to fit (disconnected, no estimable data) the summary
says why and the other three hold only their header.
"""

from typing import TYPE_CHECKING

from evsynth.data.config import Outcome
from evsynth.data.io import read_tsv, write_tsv
from evsynth.pipeline.logs import log_to
from evsynth.stats.profiles import settings_from_dict
from evsynth.tables.network import (
    INCONSISTENCY_COLUMNS,
    LEAGUE_COLUMNS,
    NUMBER_TEXT_COLUMNS,
    RANKING_COLUMNS,
    SUMMARY_COLUMNS,
    analyse_network,
    network_tables,
)

if TYPE_CHECKING:
    from snakemake.script import snakemake

COLUMNS = {
    "league": LEAGUE_COLUMNS,
    "inconsistency": INCONSISTENCY_COLUMNS,
    "ranking": RANKING_COLUMNS,
    "summary": SUMMARY_COLUMNS,
}

with log_to(snakemake.log[0]) as log:
    params = snakemake.params
    outcome = Outcome(**params.outcome)
    settings = settings_from_dict(params.method)
    fit = analyse_network(read_tsv(snakemake.input.studies), outcome, list(params.mode_labels), settings)
    tables = network_tables(fit, outcome, snakemake.wildcards.timepoint, params.mode_labels, settings)
    for name, columns in COLUMNS.items():
        write_tsv(tables[name], columns, snakemake.output[name], verbatim=NUMBER_TEXT_COLUMNS)
    log.info("%s: %s", fit.status, fit.message)
    for note in fit.notes:
        log.info("note: %s", note)
    log.info("profile %s; versions: %s", settings.label, params.versions)
