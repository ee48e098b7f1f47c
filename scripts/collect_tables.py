"""Rule collect_tables: stack every analysis's rows into results/pooled.tsv,
results/robustness.tsv, results/subgroup_tests.tsv, results/bayes_priors.tsv,
results/sensitivity/{leave_one_out,influence,cumulative,small_study,subsets}.tsv and
results/network/networks.tsv (analyses in config order; one job for every shipped table, issue 18).
With config.yaml: dependent_effects, each analysis's robustness rows are followed by its
dependent-effects models' (evsynth.tables.dependent.dependent_robustness_records)."""

from pathlib import Path
from typing import TYPE_CHECKING

from evsynth.data.io import concat_tsv, read_tsv, tsv_lines, write_text_atomic
from evsynth.pipeline.logs import log_to
from evsynth.tables.dependent import dependent_robustness_records

if TYPE_CHECKING:
    from snakemake.script import snakemake

with log_to(snakemake.log[0]) as log:
    for table in ("pooled", "subgroups", "bayes_priors", "leave_one_out", "influence", "cumulative", "small_study",
                  "subsets"):  # fmt: skip
        paths = list(snakemake.input[table])
        rows = concat_tsv(paths, snakemake.output[table])
        log.info("%s: %d rows from %d analyses", table, rows, len(paths))
    paths, dependent = list(snakemake.input.robustness), list(snakemake.input.dependent)
    if not dependent:
        rows = concat_tsv(paths, snakemake.output.robustness)
        log.info("robustness: %d rows from %d analyses", rows, len(paths))
    else:
        # The columns as each analysis wrote them (tables.pooled.ROBUSTNESS_COLUMNS), read from the
        # first file rather than imported: tables.pooled pulls in scipy.stats, and this job pools nothing.
        header = Path(paths[0]).read_text(encoding="utf-8").split("\n", 1)[0]
        columns, lines = header.split("\t"), [header]
        for path, models in zip(paths, dependent, strict=True):
            lines += Path(path).read_text(encoding="utf-8").splitlines()[1:]
            own, fitted = read_tsv(path).to_dict("records"), read_tsv(models).to_dict("records")
            lines += tsv_lines(dependent_robustness_records(fitted, own), columns)
        write_text_atomic(snakemake.output.robustness, "\n".join(lines) + "\n")
        log.info("robustness: %d rows from %d analyses, dependent-effects models included", len(lines) - 1, len(paths))
    paths = list(snakemake.input.summaries)
    rows = concat_tsv(paths, snakemake.output.networks)
    log.info("networks.tsv: %d rows from %d analyses", rows, len(paths))
