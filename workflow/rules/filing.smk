# What a review team files with its manuscript: the PRISMA 2020 flow diagram from the screening
# log (config.yaml: screening), the methods and results text, and a metafor script per analysis.
# The screening log is read and checked here, at parse time: a bad log stops the run before
# any job, listing every problem (evsynth.pipeline.filing).
import mimetypes

from evsynth.pipeline.filing import Filing

# The report embeds the R scripts as text; Python's mimetypes does not know ".R".
mimetypes.add_type("text/plain", ".R")

FILING = Filing(PLAN, error=WorkflowError)
FILING_OUTPUTS = FILING.outputs()


rule plot_prisma:
    input:
        code=code("plot_prisma"),
    output:
        **figure_outputs(
            "results/prisma",
            caption="../report/prisma.rst",
            category="Study selection",
            labels={"figure": "PRISMA 2020 flow diagram"},
        ),
    log:
        "results/logs/plot_prisma.log",
    localrule: True
    conda:
        "../envs/stats.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        counts=FILING.prisma,
        log=FILING.log,
        matplotlib=MATPLOTLIB_VERSION,
    script:
        "../../scripts/plot_prisma.py"


rule write_methods:
    input:
        pooled="results/pooled.tsv",
        effects="results/effects.tsv",
        code=code("write_methods"),
    output:
        methods=report(
            "results/methods.md",
            caption="../report/methods_text.rst",
            category="Methods and results",
            labels={"text": "methods", "format": "Markdown"},
        ),
        results=report(
            "results/results.md",
            caption="../report/methods_text.rst",
            category="Methods and results",
            labels={"text": "results", "format": "Markdown"},
        ),
        html=report(
            "results/methods_and_results.html",
            caption="../report/methods_text.rst",
            category="Methods and results",
            labels={"text": "methods and results", "format": "HTML"},
        ),
    log:
        "results/logs/write_methods.log",
    localrule: True
    conda:
        "../envs/stats.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        method=METHOD,
        outcomes=OUTCOMES,
        mode_labels=MODE_LABELS,
        sensitivity=PLAN.config.sensitivity.as_dict(),
        continuity_correction=PLAN.config.continuity_correction,
        versions=VERSIONS,
        counts=FILING.prisma,
        reasons=FILING.exclusion_reasons,
        profile=PROFILE,
    script:
        "../../scripts/write_methods.py"
