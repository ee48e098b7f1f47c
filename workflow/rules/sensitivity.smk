# Which comparisons get plots (>= 3 estimable trials) is known at parse time (rule all:
# JOB.sensitivity_plots, evsynth.pipeline.plan).
SENSITIVITY = PLAN.config.sensitivity.as_dict()


rule analyse_sensitivity:
    input:
        studies="results/analyses/{outcome}/{timepoint}/studies.tsv",
        code=code("analyse_sensitivity"),
    output:
        leave_one_out="results/sensitivity/{outcome}_{timepoint}/leave_one_out.tsv",
        influence="results/sensitivity/{outcome}_{timepoint}/influence.tsv",
        cumulative="results/sensitivity/{outcome}_{timepoint}/cumulative.tsv",
        small_study="results/sensitivity/{outcome}_{timepoint}/small_study.tsv",
        subsets="results/sensitivity/{outcome}_{timepoint}/subsets.tsv",
        funnel="results/sensitivity/{outcome}_{timepoint}/funnel.tsv",
    log:
        "results/logs/analyse_sensitivity/{outcome}_{timepoint}.log",
    group:
        "analysis"
    conda:
        "../envs/stats.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        rows=JOB.sensitivity_rows,
        outcome=JOB.outcome,
        method=METHOD,
        sensitivity=SENSITIVITY,
        versions=VERSIONS,
    script:
        "../../scripts/analyse_sensitivity.py"


rule plot_sensitivity:
    input:
        leave_one_out="results/sensitivity/{outcome}_{timepoint}/leave_one_out.tsv",
        influence="results/sensitivity/{outcome}_{timepoint}/influence.tsv",
        cumulative="results/sensitivity/{outcome}_{timepoint}/cumulative.tsv",
        small_study="results/sensitivity/{outcome}_{timepoint}/small_study.tsv",
        funnel="results/sensitivity/{outcome}_{timepoint}/funnel.tsv",
        pooled="results/analyses/{outcome}/{timepoint}/pooled.tsv",
        code=code("plot_sensitivity"),
    output:
        **figure_outputs(
            "results/sensitivity/{outcome}_{timepoint}/leave_one_out_{comparison}",
            name="leave_one_out",
            caption="../report/sensitivity_plots.rst",
            category="Sensitivity analyses",
            subcategory="{outcome}",
            labels={
                "outcome": "{outcome}",
                "timepoint": "{timepoint}",
                "comparison": "{comparison}",
                "plot": "leave-one-out",
            },
        ),
        **figure_outputs(
            "results/sensitivity/{outcome}_{timepoint}/baujat_{comparison}",
            name="baujat",
            caption="../report/sensitivity_plots.rst",
            category="Sensitivity analyses",
            subcategory="{outcome}",
            labels={
                "outcome": "{outcome}",
                "timepoint": "{timepoint}",
                "comparison": "{comparison}",
                "plot": "Baujat",
            },
        ),
        **figure_outputs(
            "results/sensitivity/{outcome}_{timepoint}/cumulative_{comparison}",
            name="cumulative",
            caption="../report/sensitivity_plots.rst",
            category="Sensitivity analyses",
            subcategory="{outcome}",
            labels={
                "outcome": "{outcome}",
                "timepoint": "{timepoint}",
                "comparison": "{comparison}",
                "plot": "cumulative",
            },
        ),
        **figure_outputs(
            "results/sensitivity/{outcome}_{timepoint}/funnel_{comparison}",
            name="funnel",
            caption="../report/sensitivity_plots.rst",
            category="Sensitivity analyses",
            subcategory="{outcome}",
            labels={
                "outcome": "{outcome}",
                "timepoint": "{timepoint}",
                "comparison": "{comparison}",
                "plot": "funnel",
            },
        ),
    log:
        "results/logs/plot_sensitivity/{outcome}_{timepoint}_{comparison}.log",
    wildcard_constraints:
        comparison="[a-z][a-z0-9_]*_vs_[a-z][a-z0-9_]*",
    group:
        "analysis"
    conda:
        "../envs/stats.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        outcome=JOB.outcome,
        mode_labels=MODE_LABELS,
        method=METHOD,
        sensitivity=SENSITIVITY,
        matplotlib=MATPLOTLIB_VERSION,
    script:
        "../../scripts/plot_sensitivity.py"


rule collect_sensitivity:
    input:
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
        code=code("collect_sensitivity"),
    output:
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
    log:
        "results/logs/collect_sensitivity.log",
    localrule: True
    conda:
        "../envs/stats.yaml"
    threads: 1
    resources:
        mem_mb=200,
        runtime=5,
    script:
        "../../scripts/collect_sensitivity.py"
