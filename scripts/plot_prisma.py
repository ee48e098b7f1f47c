"""Rule plot_prisma: the PRISMA 2020 flow diagram of the screening log, in each format of config.yaml figures.formats.

The counts come checked from the screening log (config.yaml: screening; evsynth.data.screening);
in a living review the studies of the previous version come from the frozen baseline.
"""

from typing import TYPE_CHECKING

from evsynth.data.screening import counts_from_dict
from evsynth.figures._base import figure_paths, save_figure
from evsynth.figures.prisma import draw_prisma
from evsynth.pipeline.logs import log_to

if TYPE_CHECKING:
    from snakemake.script import snakemake

with log_to(snakemake.log[0]) as log:
    params = snakemake.params
    counts = counts_from_dict(params.counts)
    notes = [f"{box.replace('_', ' ').capitalize()}: {text}" for box, text in counts.notes]
    notes.append(f"Screening log: {params.log} ({counts.form} form). 'n unknown': not recorded. "
                 "Layout: Page et al. 2021, BMJ 372:n71.")
    title = "PRISMA 2020 flow diagram" + (" (updated review)" if counts.updated else "")
    out = snakemake.output
    save_figure(draw_prisma(counts, title, notes), figure_paths(out))
    log.info("%s studies included (%s form)", counts.studies, counts.form)
