rule plot_forest:
    input:
        pooled="results/analyses/{outcome}/{timepoint}/pooled.tsv",
        studies="results/analyses/{outcome}/{timepoint}/studies.tsv",
        robustness="results/analyses/{outcome}/{timepoint}/robustness.tsv",
        subgroups="results/analyses/{outcome}/{timepoint}/subgroups.tsv",
        code=code("plot_forest"),
    output:
        **figure_outputs(
            "results/forest/{outcome}_{timepoint}",
            caption="../report/forest.rst",
            category="Forest plots",
            subcategory="{outcome}",
            labels={"outcome": "{outcome}", "timepoint": "{timepoint}"},
        ),
    log:
        "results/logs/plot_forest/{outcome}_{timepoint}.log",
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
        matplotlib=MATPLOTLIB_VERSION,
        rob=JOB.rob_rows,
        provenance=JOB.forest_provenance,
        bayes_row=BAYES_FOREST_ROW,
    script:
        "../../scripts/plot_forest.py"
