rule pool_analysis:
    input:
        code=package_sources(
            "analysis", "effects", "pooling", "tau2", "results", "settings", "tables"
        ),
    output:
        pooled="results/analyses/{outcome}/{timepoint}/pooled.tsv",
        studies="results/analyses/{outcome}/{timepoint}/studies.tsv",
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
        rows=analysis_rows,
        outcome=outcome_spec,
        modes=list(config["modes"]),
        pooling=config["pooling"],
        continuity_correction=config["effects"]["continuity_correction"],
        versions=VERSIONS,
    script:
        "../../scripts/pool_analysis.py"


rule collect_pooled:
    input:
        pooled=analysis_outputs("results/analyses/{outcome}/{timepoint}/pooled.tsv"),
        code=package_sources("tables"),
    output:
        tsv=report(
            "results/pooled.tsv",
            caption="../report/pooled.rst",
            category="Tables",
        ),
    log:
        "results/logs/collect_pooled.log",
    localrule: True
    conda:
        "../envs/stats.yaml"
    threads: 1
    resources:
        mem_mb=200,
        runtime=5,
    script:
        "../../scripts/collect_pooled.py"
