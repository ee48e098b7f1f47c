rule tabulate_effects:
    input:
        code=code("tabulate_effects"),
    output:
        tsv=report(
            "results/effects.tsv",
            caption="../report/effects.rst",
            category="Tables",
        ),
    log:
        "results/logs/tabulate_effects.log",
    localrule: True
    conda:
        "../envs/stats.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        rows=all_rows,
        outcomes=config["outcomes"],
        alpha=SETTINGS["alpha"],
        smd_variance=SETTINGS["smd_variance"],
        modes=list(config["modes"]),
        continuity_correction=config["effects"]["continuity_correction"],
    script:
        "../../scripts/tabulate_effects.py"
