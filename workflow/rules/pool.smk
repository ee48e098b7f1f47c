# Every table of one analysis and its metafor script, in one job (issue 18: one interpreter and
# one set of imports per analysis): pooling, sensitivity, several effects per trial (with
# config.yaml: dependent_effects), network, R script (evsynth.tables.analysis). Its params are
# every row and setting those steps read: editing a row re-runs only the analyses it feeds.
rule analyse:
    input:
        code=code("analyse"),
    output:
        **dependent_outputs(),
        pooled="results/analyses/{outcome}/{timepoint}/pooled.tsv",
        studies="results/analyses/{outcome}/{timepoint}/studies.tsv",
        robustness="results/analyses/{outcome}/{timepoint}/robustness.tsv",
        subgroups="results/analyses/{outcome}/{timepoint}/subgroups.tsv",
        bayes_priors="results/analyses/{outcome}/{timepoint}/bayes_priors.tsv",
        leave_one_out="results/sensitivity/{outcome}_{timepoint}/leave_one_out.tsv",
        influence="results/sensitivity/{outcome}_{timepoint}/influence.tsv",
        cumulative="results/sensitivity/{outcome}_{timepoint}/cumulative.tsv",
        small_study="results/sensitivity/{outcome}_{timepoint}/small_study.tsv",
        subsets="results/sensitivity/{outcome}_{timepoint}/subsets.tsv",
        funnel="results/sensitivity/{outcome}_{timepoint}/funnel.tsv",
        league="results/network/{outcome}_{timepoint}_league.tsv",
        inconsistency="results/network/{outcome}_{timepoint}_inconsistency.tsv",
        ranking="results/network/{outcome}_{timepoint}_ranking.tsv",
        summary="results/network/{outcome}_{timepoint}_summary.tsv",
        script=report(
            "results/reproduce/{outcome}_{timepoint}.R",
            caption="../report/reproduce.rst",
            category="Reproduce in R",
            subcategory="{outcome}",
            labels={"outcome": "{outcome}", "timepoint": "{timepoint}"},
        ),
    log:
        "results/logs/analyse/{outcome}_{timepoint}.log",
    group:
        "analysis"
    conda:
        "../envs/stats.yaml"
    threads: 1
    # Measured on the shipped table's pain interference, post analysis (15 trials, 3 modes):
    # 185 MB peak RSS, about 3 CPU s.
    resources:
        mem_mb=500,
        runtime=5,
    params:
        rows=JOB.analysis_rows,
        sensitivity_rows=JOB.sensitivity_rows,
        effects=JOB.dependent_rows,
        moderator_rows=JOB.moderator_rows,
        outcome=JOB.outcome,
        modes=MODES,
        mode_labels=MODE_LABELS,
        method=METHOD,
        profile=PROFILE,
        continuity_correction=PLAN.config.continuity_correction,
        bayes=JOB.bayes,
        sensitivity=SENSITIVITY,
        dependent=DEPENDENT,
        versions=VERSIONS,
    script:
        "../../scripts/analyse.py"


rule collect_tables:
    input:
        pooled=analysis_outputs("results/analyses/{outcome}/{timepoint}/pooled.tsv"),
        robustness=analysis_outputs(
            "results/analyses/{outcome}/{timepoint}/robustness.tsv"
        ),
        subgroups=analysis_outputs(
            "results/analyses/{outcome}/{timepoint}/subgroups.tsv"
        ),
        bayes_priors=analysis_outputs(
            "results/analyses/{outcome}/{timepoint}/bayes_priors.tsv"
        ),
        dependent=JOB.dependent_tables,
        leave_one_out=analysis_outputs(
            "results/sensitivity/{outcome}_{timepoint}/leave_one_out.tsv"
        ),
        influence=analysis_outputs(
            "results/sensitivity/{outcome}_{timepoint}/influence.tsv"
        ),
        cumulative=analysis_outputs(
            "results/sensitivity/{outcome}_{timepoint}/cumulative.tsv"
        ),
        small_study=analysis_outputs(
            "results/sensitivity/{outcome}_{timepoint}/small_study.tsv"
        ),
        subsets=analysis_outputs(
            "results/sensitivity/{outcome}_{timepoint}/subsets.tsv"
        ),
        summaries=analysis_outputs("results/network/{outcome}_{timepoint}_summary.tsv"),
        code=code("collect_tables"),
    output:
        pooled=report(
            "results/pooled.tsv",
            caption="../report/pooled.rst",
            category="Tables",
        ),
        robustness=report(
            "results/robustness.tsv",
            caption="../report/robustness.rst",
            category="Tables",
        ),
        subgroups=report(
            "results/subgroup_tests.tsv",
            caption="../report/subgroups.rst",
            category="Tables",
        ),
        bayes_priors=report(
            "results/bayes_priors.tsv",
            caption="../report/bayes_priors.rst",
            category="Tables",
        ),
        leave_one_out=report(
            "results/sensitivity/leave_one_out.tsv",
            caption="../report/sensitivity_tables.rst",
            category="Tables",
        ),
        influence=report(
            "results/sensitivity/influence.tsv",
            caption="../report/sensitivity_tables.rst",
            category="Tables",
        ),
        cumulative=report(
            "results/sensitivity/cumulative.tsv",
            caption="../report/sensitivity_tables.rst",
            category="Tables",
        ),
        small_study=report(
            "results/sensitivity/small_study.tsv",
            caption="../report/sensitivity_tables.rst",
            category="Tables",
        ),
        subsets=report(
            "results/sensitivity/subsets.tsv",
            caption="../report/sensitivity_tables.rst",
            category="Tables",
        ),
        networks=report(
            "results/network/networks.tsv",
            caption="../report/network_tables.rst",
            category="Tables",
        ),
    log:
        "results/logs/collect_tables.log",
    localrule: True
    conda:
        "../envs/stats.yaml"
    threads: 1
    resources:
        mem_mb=200,
        runtime=5,
    script:
        "../../scripts/collect_tables.py"
