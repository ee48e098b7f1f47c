"""Rule plot_forest: draw one analysis's RevMan-style forest plot as SVG, PNG and PDF."""

from typing import TYPE_CHECKING

from evsynth.forest import draw_forest, save_figure
from evsynth.logs import log_to
from evsynth.revman import build_forest_data, method_footer
from evsynth.rob import comparison_judgements
from evsynth.settings import Outcome
from evsynth.tables import read_tsv

if TYPE_CHECKING:
    from snakemake.script import snakemake

with log_to(snakemake.log[0]):
    params = snakemake.params
    outcome = Outcome(**params.outcome)
    pooled = read_tsv(snakemake.input.pooled)
    studies = read_tsv(snakemake.input.studies)
    data = build_forest_data(
        studies,
        pooled,
        outcome,
        params.modes,
        snakemake.wildcards.timepoint,
        footer=method_footer(
            params.settings,
            outcome,
            pooled,
            read_tsv(snakemake.input.robustness),
            read_tsv(snakemake.input.subgroups),
            params.modes,
            studies,
        )
        + (params.provenance,),
        rob=comparison_judgements(getattr(params, "rob", [])),
    )
    save_figure(draw_forest(data), dict(snakemake.output))
