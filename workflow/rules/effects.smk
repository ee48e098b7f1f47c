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
        rows=JOB.all_rows,
        outcomes=OUTCOMES,
        method=METHOD,
        modes=MODES,
        continuity_correction=PLAN.config.continuity_correction,
    script:
        "../../scripts/tabulate_effects.py"
