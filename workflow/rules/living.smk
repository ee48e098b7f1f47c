# Living review: dual-extraction reconciliation, provenance of every pooled number, and the
# change log against a baseline snapshot.


# Only under dual extraction (config.yaml: extraction); the comparison runs at parse time.
rule reconcile:
    input:
        code=ungated_code("reconcile"),
    output:
        discrepancies=report(
            "results/extraction_discrepancies.tsv",
            caption="../report/extraction.rst",
            category="Extraction",
        ),
        reconciliation=report(
            "results/reconciliation.tsv",
            caption="../report/extraction.rst",
            category="Extraction",
        ),
    log:
        "results/logs/reconcile.log",
    localrule: True
    conda:
        "../envs/stats.yaml"
    threads: 1
    resources:
        mem_mb=300,
        runtime=5,
    params:
        discrepancies=JOB.extraction_discrepancies,
        cells=JOB.extraction_cells,
        names=JOB.extraction_names,
    script:
        "../../scripts/reconcile.py"


# Requested only while discrepancies are unresolved (see code() in common.smk): it fails, so
# nothing is pooled, after reconcile has written the discrepancy report.
rule block_pooling:
    input:
        discrepancies="results/extraction_discrepancies.tsv",
        code=ungated_code("block_pooling"),
    output:
        POOLING_GATE_FILE,
    log:
        "results/logs/block_pooling.log",
    localrule: True
    conda:
        "../envs/stats.yaml"
    threads: 1
    resources:
        mem_mb=200,
        runtime=5,
    params:
        unresolved=JOB.unresolved_discrepancies,
        names=JOB.extraction_names,
    message:
        "Unresolved dual-extraction discrepancies (results/extraction_discrepancies.tsv): nothing is pooled"
    script:
        "../../scripts/block_pooling.py"


rule trace_provenance:
    input:
        pooled=analysis_outputs("results/analyses/{outcome}/{timepoint}/pooled.tsv"),
        studies=analysis_outputs("results/analyses/{outcome}/{timepoint}/studies.tsv"),
        code=code("trace_provenance"),
    output:
        provenance=report(
            "results/provenance.tsv",
            caption="../report/provenance.rst",
            category="Tables",
        ),
        rows=report(
            "results/provenance_rows.tsv",
            caption="../report/provenance.rst",
            category="Tables",
        ),
    log:
        "results/logs/trace_provenance.log",
    localrule: True
    conda:
        "../envs/stats.yaml"
    threads: 1
    resources:
        mem_mb=300,
        runtime=5,
    params:
        analyses=ANALYSES,
        rows=JOB.trace_rows,
        hashes=JOB.analysis_hashes,
        common=JOB.provenance_common,
        versions=VERSIONS,
    script:
        "../../scripts/trace_provenance.py"


rule report_changes:
    input:
        unpack(JOB.baseline_inputs),
        pooled="results/pooled.tsv",
        effects="results/effects.tsv",
        provenance="results/provenance.tsv",
        code=code("report_changes"),
    output:
        md=report(
            "results/changes.md",
            caption="../report/changes.rst",
            category="Tables",
        ),
        tsv=report(
            "results/changes.tsv",
            caption="../report/changes.rst",
            category="Tables",
        ),
    log:
        "results/logs/report_changes.log",
    localrule: True
    conda:
        "../envs/stats.yaml"
    threads: 1
    resources:
        mem_mb=300,
        runtime=5,
    params:
        baseline=PLAN.config.changes.baseline,
        i2_bands=list(PLAN.config.changes.i2_bands),
    script:
        "../../scripts/report_changes.py"
