"""Rule plot_rob: one analysis's risk-of-bias figures (robvis style), in each format of config.yaml figures.formats.

A traffic-light plot (one row per study: RoB 2 domains D1-D5 and overall; trials rated with
RoB 1 in their own panel, items SG, AC, BA, ITT) and a weighted summary bar chart (per
comparison, the share of the meta-analysis weight at each judgement). Drawn only for analyses
whose study-table rows carry risk-of-bias judgements.
"""

from typing import TYPE_CHECKING

from evsynth.data.columns import ROB1_ITEMS
from evsynth.data.io import read_tsv
from evsynth.figures._base import figure_paths, save_figure
from evsynth.figures.rob import draw_summary, draw_traffic_light
from evsynth.pipeline.logs import log_to
from evsynth.tables.rob import comparison_judgements, traffic_light_panels, weighted_summary

if TYPE_CHECKING:
    from snakemake.script import snakemake

with log_to(snakemake.log[0]) as log:
    params = snakemake.params
    out = snakemake.output
    studies = read_tsv(snakemake.input.studies)
    judgements = comparison_judgements(params.rob)
    rob1 = comparison_judgements(params.rob, ROB1_ITEMS)
    what = f"{params.outcome['label']}, {snakemake.wildcards.timepoint}"
    rows, rob1_rows = traffic_light_panels(studies, judgements, rob1, params.mode_labels)
    tools = "RoB 2" if not rob1_rows else "RoB 2 and RoB 1" if rows else "RoB 1"
    save_figure(
        draw_traffic_light(rows, f"Risk of bias ({tools}): {what}", rob1_rows=rob1_rows),
        figure_paths(out, "traffic_light"),
    )
    panels = weighted_summary(studies, judgements, params.mode_labels, rob1)
    notes = [
        f"Bars: share of each comparison's meta-analysis weight (random effects, method profile {params.profile}) "
        "from trials at each judgement; grey: trials without RoB 2 judgements in the study table."
    ]
    if rob1_rows:
        notes.append("Hatched (Overall): trials rated with RoB 1 instead, at their RoB 1 summary (low only when "
                     "all four items are low; Cochrane Handbook 5.1, Table 8.7.a); their domain bars are grey.")
    save_figure(
        draw_summary(panels, f"Risk of bias ({tools}), weighted summary: {what}", notes),
        figure_paths(out, "summary"),
    )
    log.info("%d traffic-light rows (%d RoB 1), %d comparisons", len(rows) + len(rob1_rows), len(rob1_rows),
             len(panels))
