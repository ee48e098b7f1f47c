# Random-effects meta-analyses of remote CBT for chronic pain by delivery mode.
# Run: snakemake --cores 4   (configuration: config.yaml; study table: see docs/study_table.md)
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/effects.smk"
include: "workflow/rules/pool.smk"
include: "workflow/rules/plot.smk"
include: "workflow/rules/checks.smk"


wildcard_constraints:
    outcome="|".join(sorted(OUTCOMES)),
    timepoint="|".join(sorted(w.id for w in WINDOWS)),


rule all:
    default_target: True
    input:
        "results/effects.tsv",
        "results/checks.tsv",
        "results/pooled.tsv",
        "results/robustness.tsv",
        "results/subgroup_tests.tsv",
        analysis_outputs("results/forest/{outcome}_{timepoint}.svg"),
        analysis_outputs("results/forest/{outcome}_{timepoint}.png"),
        analysis_outputs("results/forest/{outcome}_{timepoint}.pdf"),
    localrule: True
