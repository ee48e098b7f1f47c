# What a reviewer hands on: the GRADE summary-of-findings table, risk-of-bias figures and the
# study table with linked sources, all in `snakemake --report results/report.html`.


rule summarise_findings:
    input:
        pooled="results/pooled.tsv",
        studies=analysis_outputs("results/analyses/{outcome}/{timepoint}/studies.tsv"),
        code=code("summarise_findings"),
    output:
        tsv=report(
            "results/summary_of_findings.tsv",
            caption="../report/summary_of_findings.rst",
            category="Summary of findings",
            labels={"table": "summary of findings", "format": "TSV"},
        ),
        md=report(
            "results/summary_of_findings.md",
            caption="../report/summary_of_findings.rst",
            category="Summary of findings",
            labels={"table": "summary of findings", "format": "Markdown"},
        ),
        html=report(
            "results/summary_of_findings.html",
            caption="../report/summary_of_findings.rst",
            category="Summary of findings",
            labels={"table": "summary of findings", "format": "HTML (GRADE layout)"},
        ),
    log:
        "results/logs/summarise_findings.log",
    localrule: True
    conda:
        "../envs/stats.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        analyses=JOB.sof_analyses,
        control_rows=JOB.sof_control_rows,
        rob=JOB.sof_rob_rows,
        judgements=JOB.sof_judgements,
        sof=PLAN.config.sof,
        outcomes=OUTCOMES,
        mode_labels=MODE_LABELS,
        profile=PROFILE,
    script:
        "../../scripts/summarise_findings.py"


rule tabulate_study_table:
    input:
        code=code("tabulate_study_table"),
    output:
        html=report(
            "results/study_table.html",
            caption="../report/study_table.rst",
            category="Study table",
            labels={"table": "study table"},
        ),
    log:
        "results/logs/tabulate_study_table.log",
    localrule: True
    conda:
        "../envs/stats.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        rows=JOB.study_table_rows,
        mode_labels=MODE_LABELS,
        outcomes=OUTCOMES,
        studies=PLAN.config.studies,
        profile=PROFILE,
    script:
        "../../scripts/tabulate_study_table.py"


rule plot_rob:
    input:
        studies="results/analyses/{outcome}/{timepoint}/studies.tsv",
        code=code("plot_rob"),
    output:
        **figure_outputs(
            "results/rob/{outcome}_{timepoint}_traffic_light",
            name="traffic_light",
            caption="../report/rob_traffic_light.rst",
            category="Risk of bias",
            subcategory="{outcome}",
            labels={
                "outcome": "{outcome}",
                "timepoint": "{timepoint}",
                "figure": "traffic light",
            },
        ),
        **figure_outputs(
            "results/rob/{outcome}_{timepoint}_summary",
            name="summary",
            caption="../report/rob_summary.rst",
            category="Risk of bias",
            subcategory="{outcome}",
            labels={
                "outcome": "{outcome}",
                "timepoint": "{timepoint}",
                "figure": "weighted summary",
            },
        ),
    log:
        "results/logs/plot_rob/{outcome}_{timepoint}.log",
    group:
        "analysis"
    conda:
        "../envs/stats.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        rob=JOB.rob_rows,
        outcome=JOB.outcome,
        mode_labels=MODE_LABELS,
        profile=PROFILE,
        matplotlib=MATPLOTLIB_VERSION,
    script:
        "../../scripts/plot_rob.py"
