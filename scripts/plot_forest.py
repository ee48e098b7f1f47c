"""Rule plot_forest: draw one analysis's RevMan-style forest plot in each format of config.yaml figures.formats."""

from typing import TYPE_CHECKING

from evsynth.data.config import Outcome
from evsynth.data.io import read_tsv
from evsynth.figures._base import figure_paths, save_figure
from evsynth.figures.forest import draw_forest
from evsynth.figures.forest_data import analysis_forest_data
from evsynth.pipeline.logs import log_to
from evsynth.tables.rob import forest_judgements

if TYPE_CHECKING:
    from snakemake.script import snakemake

with log_to(snakemake.log[0]):
    params = snakemake.params
    tables = {name: read_tsv(snakemake.input[name]) for name in ("pooled", "studies", "robustness", "subgroups")}
    rob_headers, rob = forest_judgements(getattr(params, "rob", []))
    data = analysis_forest_data(
        tables,
        Outcome(**params.outcome),
        params.mode_labels,
        snakemake.wildcards.timepoint,
        params.method,
        extra_footer=(params.provenance,),
        rob=rob,
        bayes_row=params.bayes_row,
        rob_headers=rob_headers,
    )
    save_figure(draw_forest(data), figure_paths(snakemake.output))
