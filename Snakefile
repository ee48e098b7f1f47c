# Random-effects meta-analyses of remote CBT for chronic pain by delivery mode.
# Run: snakemake --cores 4   (configuration: config.yaml; study table: see docs/study_table.md)
# A review kept in its own directory: snakemake --cores 4 --configfile DIR/config.yaml, whose
# `workdir` key moves the run into DIR (evsynth.pipeline.workdir); --configfile without it is
# an override merged over config.yaml.
from snakemake.utils import min_version

from evsynth.pipeline.workdir import review_directory

min_version("9.0")


workdir: review_directory(workflow.overwrite_configfiles)


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/effects.smk"
include: "workflow/rules/pool.smk"
include: "workflow/rules/plot.smk"
include: "workflow/rules/checks.smk"
include: "workflow/rules/sensitivity.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/living.smk"
include: "workflow/rules/network.smk"
include: "workflow/rules/dependent.smk"
include: "workflow/rules/filing.smk"


wildcard_constraints:
    outcome="|".join(sorted(OUTCOMES)),
    timepoint="|".join(sorted(WINDOWS)),


rule all:
    default_target: True
    input:
        "results/effects.tsv",
        "results/checks.tsv",
        "results/pooled.tsv",
        "results/robustness.tsv",
        "results/subgroup_tests.tsv",
        figure_files(analysis_outputs("results/forest/{outcome}_{timepoint}")),
        "results/sensitivity/leave_one_out.tsv",
        "results/sensitivity/influence.tsv",
        "results/sensitivity/cumulative.tsv",
        "results/sensitivity/small_study.tsv",
        "results/sensitivity/subsets.tsv",
        JOB.sensitivity_plots,
        "results/summary_of_findings.tsv",
        "results/summary_of_findings.md",
        "results/summary_of_findings.html",
        "results/study_table.html",
        figure_files(
            PLAN.rob_outputs("results/rob/{outcome}_{timepoint}_traffic_light")
        ),
        figure_files(PLAN.rob_outputs("results/rob/{outcome}_{timepoint}_summary")),
        "results/provenance.tsv",
        "results/provenance_rows.tsv",
        "results/changes.md",
        "results/changes.tsv",
        JOB.extraction_outputs,
        "results/network/networks.tsv",
        JOB.network_plots,
        JOB.dependent_outputs,
        FILING_OUTPUTS,
    localrule: True
