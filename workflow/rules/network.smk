# Network meta-analysis of the delivery modes (direct and indirect evidence in one model):
# tables for every analysis (rule analyse, pool.smk), plots for those whose network is connected with >= 2 trials
# (known at parse time from the effect sizes of the rows each analysis pools).


rule plot_network:
    input:
        studies="results/analyses/{outcome}/{timepoint}/studies.tsv",
        league="results/network/{outcome}_{timepoint}_league.tsv",
        ranking="results/network/{outcome}_{timepoint}_ranking.tsv",
        summary="results/network/{outcome}_{timepoint}_summary.tsv",
        code=code("plot_network"),
    output:
        **figure_outputs(
            "results/network/{outcome}_{timepoint}_graph",
            name="graph",
            caption="../report/network_plots.rst",
            category="Network meta-analysis",
            subcategory="{outcome}",
            labels={
                "outcome": "{outcome}",
                "timepoint": "{timepoint}",
                "plot": "graph",
            },
        ),
        **figure_outputs(
            "results/network/{outcome}_{timepoint}_forest",
            name="forest",
            caption="../report/network_plots.rst",
            category="Network meta-analysis",
            subcategory="{outcome}",
            labels={
                "outcome": "{outcome}",
                "timepoint": "{timepoint}",
                "plot": "forest",
            },
        ),
    log:
        "results/logs/plot_network/{outcome}_{timepoint}.log",
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
    script:
        "../../scripts/plot_network.py"
