# The tables are rule analyse's (pool.smk). Which comparisons get plots (>= 3 estimable trials)
# is known at parse time (rule all: JOB.sensitivity_plots, evsynth.pipeline.plan).


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
