rule check_table:
    input:
        code=code("check_table"),
    output:
        tsv=report(
            "results/checks.tsv",
            caption="../report/checks.rst",
            category="Tables",
        ),
    log:
        "results/logs/check_table.log",
    localrule: True
    conda:
        "../envs/stats.yaml"
    threads: 1
    resources:
        mem_mb=300,
        runtime=5,
    params:
        rows=JOB.all_rows,
        outcomes=OUTCOMES,
    script:
        "../../scripts/check_table.py"
