"""Rule plot_metaregression: the bubble plot of one moderator's meta-regression in one comparison
of one analysis, in each format of config.yaml figures.formats (byte-identical across runs).

The model is refitted on the rows rule analyse fits (every effect of the comparison,
secondary ones too: evsynth.tables.dependent.comparison_blocks, from the same params), exactly
as it fits them (evsynth.figures.bubble): each bubble is one row of the table's model, sized by
its weight in that model. The table row's omnibus test, R² and permutation p are shown under the
title. When the table's row says the moderator was not fitted, the plot says why.
"""

from typing import TYPE_CHECKING

from evsynth.data.config import MEASURE_NAMES, Outcome, dependent_config
from evsynth.data.contrasts import analysis_effects
from evsynth.data.io import read_tsv
from evsynth.data.moderators import moderator_values
from evsynth.figures._base import figure_paths, save_figure
from evsynth.figures.bubble import bubble_data, bubble_figure, message_figure, summary_text
from evsynth.pipeline.logs import log_to
from evsynth.stats.profiles import settings_from_dict
from evsynth.tables.dependent import comparison_blocks

if TYPE_CHECKING:
    from snakemake.script import snakemake

with log_to(snakemake.log[0]) as log:
    params = snakemake.params
    wildcards = snakemake.wildcards
    outcome = Outcome(**params.outcome)
    config, _ = dependent_config(params.dependent)
    kind = next(m.kind for m in config.moderators if m.column == wildcards.moderator)
    effects = analysis_effects(params.effects, outcome, params.modes, settings_from_dict(params.method),
                               params.continuity_correction)
    blocks = {f"{t}_vs_{c}": block for (t, c), block in comparison_blocks(effects, params.modes)}
    block = blocks[wildcards.comparison]
    treatment, comparator = str(block["treatment"].iloc[0]), str(block["comparator"].iloc[0])
    table = read_tsv(snakemake.input.metaregression)
    rows = table[(table["treatment"] == treatment) & (table["comparator"] == comparator)
                 & (table["moderator"] == wildcards.moderator)].to_dict("records")
    title = f"{outcome.label}, {wildcards.timepoint}"
    labels = params.mode_labels
    comparison = f"{labels.get(treatment, treatment)} vs {labels.get(comparator, comparator)}"
    status = str(rows[0]["status"]) if rows else "not fitted: no row in the meta-regression table"
    if not status.startswith("fitted"):
        figure = message_figure(title, comparison, f"Meta-regression on {wildcards.moderator}: {status}")
    else:
        trial = block["study"].astype(str).tolist()
        values, _ = moderator_values(params.rows, wildcards.moderator, trial)
        data = bubble_data(block["yi"].to_numpy(float), block["vi"].to_numpy(float), trial, values, kind,
                           config.rho, params.alpha, wildcards.moderator)
        figure = bubble_figure(data, title=title, comparison=comparison, measure=MEASURE_NAMES[outcome.measure],
                               ratio=outcome.ratio, summary=summary_text(rows[0]))
    save_figure(figure, figure_paths(snakemake.output))
    log.info("%s %s vs %s: %s; %d effects of %d trials drawn", wildcards.moderator, treatment, comparator, status,
             len(block), block["study"].nunique())
