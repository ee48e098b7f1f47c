"""Rule plot_sensitivity: the leave-one-out, Baujat, cumulative and funnel plots of one
comparison in one analysis, each in the formats of config.yaml figures.formats (byte-identical across runs).

The plots draw the tables written by rule analyse and the analysis's
``pooled.tsv``; a comparison with too few estimable trials gets a plot saying why.
"""

from typing import TYPE_CHECKING

from evsynth.data.config import MEASURE_NAMES, Outcome, sensitivity_config
from evsynth.data.io import read_tsv
from evsynth.figures._base import figure_paths, save_figure
from evsynth.figures.sensitivity import sensitivity_figures
from evsynth.pipeline.logs import log_to
from evsynth.stats.profiles import settings_from_dict

if TYPE_CHECKING:
    from snakemake.script import snakemake

with log_to(snakemake.log[0]) as log:
    params = snakemake.params
    outcome = Outcome(**params.outcome)
    inputs = snakemake.input
    names = ("leave_one_out", "influence", "cumulative", "small_study", "funnel")
    tables = {name: read_tsv(inputs[name]) for name in names}
    figures = sensitivity_figures(
        tables,
        read_tsv(inputs.pooled),
        title=f"{outcome.label}, {snakemake.wildcards.timepoint}",
        measure=MEASURE_NAMES[outcome.measure],
        ratio=outcome.ratio,
        labels=params.mode_labels,
        comparison=snakemake.wildcards.comparison,
        settings=settings_from_dict(params.method),
        small_study_min_k=sensitivity_config(params.sensitivity).small_study_min_k,
    )
    for kind, figure in figures.items():
        save_figure(figure, figure_paths(snakemake.output, kind))
        log.info("%s drawn", kind)
