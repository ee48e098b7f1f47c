rule pool_analysis:
    input:
        code=code("pool_analysis"),
    output:
        pooled="results/analyses/{outcome}/{timepoint}/pooled.tsv",
        studies="results/analyses/{outcome}/{timepoint}/studies.tsv",
        robustness="results/analyses/{outcome}/{timepoint}/robustness.tsv",
        subgroups="results/analyses/{outcome}/{timepoint}/subgroups.tsv",
        bayes_priors="results/analyses/{outcome}/{timepoint}/bayes_priors.tsv",
    log:
        "results/logs/pool_analysis/{outcome}_{timepoint}.log",
    group:
        "analysis"
    conda:
        "../envs/stats.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        rows=JOB.analysis_rows,
        outcome=JOB.outcome,
        modes=MODES,
        method=METHOD,
        continuity_correction=PLAN.config.continuity_correction,
        bayes=JOB.bayes,
        versions=VERSIONS,
    script:
        "../../scripts/pool_analysis.py"


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
