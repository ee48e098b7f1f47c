"""Rule write_methods: the methods and results text of the manuscript, as Markdown and HTML.

Methods from the configured settings (each choice with its citation) and the effect-size
derivations used (results/effects.tsv); results from results/pooled.tsv, one sentence per
comparison with its numbers formatted from the table, and the PRISMA counts.
"""

from collections import Counter
from typing import TYPE_CHECKING

from evsynth.data.io import read_tsv, write_text_atomic
from evsynth.data.screening import counts_from_dict
from evsynth.pipeline.logs import log_to
from evsynth.reports.methods_text import methods_blocks, results_blocks, to_html, to_markdown

if TYPE_CHECKING:
    from snakemake.script import snakemake

with log_to(snakemake.log[0]) as log:
    params = snakemake.params
    counts = None if params.counts is None else counts_from_dict(params.counts)
    effects = read_tsv(snakemake.input.effects)
    pooled_rows = effects[effects["pooled"].astype(bool)] if "pooled" in effects else effects
    # The kind of derivation is its first clause ("derived from arm-level estimates: ...").
    kinds = Counter(str(d).split(":")[0].split(";")[0].strip() for d in pooled_rows["derivation"].dropna())
    derivations = sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))
    methods = methods_blocks(params.method, params.outcomes, params.sensitivity, params.continuity_correction,
                             params.versions, derivations, counts, params.reasons)
    pooled = read_tsv(snakemake.input.pooled).to_dict("records")
    results = results_blocks(pooled, params.outcomes, params.mode_labels, counts)
    out = snakemake.output
    write_text_atomic(out.methods, to_markdown(methods))
    write_text_atomic(out.results, to_markdown(results))
    write_text_atomic(out.html, to_html(methods + results, "Methods and results"))
    log.info("%d comparison sentences, %d derivation kinds", len(pooled), len(derivations))
