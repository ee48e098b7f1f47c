# Several effects per trial and meta-regression (issue 15): only when config.yaml:
# dependent_effects is set (rule all: JOB.dependent_outputs is empty otherwise). The per-analysis
# tables are rule analyse's (pool.smk, common.smk: dependent_outputs).
TIMEPOINT_WINDOWS = [
    {"id": w.id, "start": w.start, "end": w.end} for w in PLAN.config.windows
]


rule plot_metaregression:
    input:
        metaregression="results/metaregression/{outcome}_{timepoint}.tsv",
        code=code("plot_metaregression"),
    output:
        **figure_outputs(
            "results/metaregression/{outcome}_{timepoint}/{moderator}_{comparison}",
            caption="../report/metaregression_plots.rst",
            category="Meta-regression",
            subcategory="{outcome}",
            labels={
                "outcome": "{outcome}",
                "timepoint": "{timepoint}",
                "comparison": "{comparison}",
                "moderator": "{moderator}",
            },
        ),
    log:
        "results/logs/plot_metaregression/{outcome}_{timepoint}_{moderator}_{comparison}.log",
    wildcard_constraints:
        moderator=PLAN.moderator_pattern,
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
        effects=JOB.dependent_rows,
        rows=JOB.moderator_rows,
        outcome=JOB.outcome,
        modes=MODES,
        method=METHOD,
        continuity_correction=PLAN.config.continuity_correction,
        mode_labels=MODE_LABELS,
        alpha=METHOD["alpha"],
        dependent=DEPENDENT,
        matplotlib=MATPLOTLIB_VERSION,
    script:
        "../../scripts/plot_metaregression.py"


# One model across the timepoint windows of each outcome analysed in two or more (Ishak 2007),
# on the primary rows of those windows (the per-window analyses' own params).
rule analyse_timepoints:
    input:
        code=code("analyse_timepoints"),
    output:
        timepoints="results/dependent/{outcome}_timepoints.tsv",
    log:
        "results/logs/analyse_timepoints/{outcome}.log",
    conda:
        "../envs/stats.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        rows=JOB.timepoint_rows,
        outcome=JOB.outcome,
        modes=MODES,
        method=METHOD,
        continuity_correction=PLAN.config.continuity_correction,
        windows=TIMEPOINT_WINDOWS,
        structure=DEPENDENT.get("timepoint_structure", "AR"),
        versions=VERSIONS,
    script:
        "../../scripts/analyse_timepoints.py"


# The report's page on several effects per trial: the primary analysis beside the
# dependent-effects models, and the model across windows beside the per-window analyses.
rule summarise_dependent:
    input:
        pooled="results/pooled.tsv",
        dependent=JOB.dependent_tables,
        timepoints=JOB.timepoint_tables,
        code=code("summarise_dependent"),
    output:
        html=report(
            "results/dependent.html",
            caption="../report/dependent.rst",
            category="Several effects per trial",
            labels={"table": "several effects per trial"},
        ),
    log:
        "results/logs/summarise_dependent.log",
    localrule: True
    conda:
        "../envs/stats.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        outcomes=OUTCOMES,
        mode_labels=MODE_LABELS,
        profile=PROFILE,
    script:
        "../../scripts/summarise_dependent.py"
