"""Rule plot_network: the network graph and the forest plot of every mode against usual care,
each in the formats of config.yaml figures.formats (byte-identical across runs).

Draws the tables written by rule analyse (and the network's structure from the
analysis's ``studies.tsv``). The workflow asks for these plots only for networks that were
fitted (connected, two or more trials); asked for any other analysis, it draws a figure
that says why there is no network.
"""

from typing import TYPE_CHECKING

from evsynth.data.config import MEASURE_NAMES, Outcome
from evsynth.data.io import read_tsv
from evsynth.data.network import network_structure
from evsynth.figures._base import figure_paths, save_figure
from evsynth.figures.network import network_figures
from evsynth.pipeline.logs import log_to
from evsynth.stats.profiles import settings_from_dict

if TYPE_CHECKING:
    from snakemake.script import snakemake

with log_to(snakemake.log[0]) as log:
    params = snakemake.params
    outcome = Outcome(**params.outcome)
    settings = settings_from_dict(params.method)
    inputs = snakemake.input
    summary = read_tsv(inputs.summary).to_dict("records")[0]
    summary = {k: (None if isinstance(v, float) and v != v else v) for k, v in summary.items()}
    figures = network_figures(
        network_structure(read_tsv(inputs.studies), list(params.mode_labels)),
        read_tsv(inputs.league),
        summary,
        read_tsv(inputs.ranking),
        params.mode_labels,
        title=f"{outcome.label}, {snakemake.wildcards.timepoint}",
        measure_name=MEASURE_NAMES[outcome.measure],
        ratio=outcome.ratio,
        higher_is_better=outcome.higher_is_better,
        alpha=settings.alpha,
    )
    for kind, figure in figures.items():
        save_figure(figure, figure_paths(snakemake.output, kind))
        log.info("%s drawn (%s)", kind, summary.get("status"))
