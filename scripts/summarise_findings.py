"""Rule summarise_findings: the GRADE summary-of-findings table, as TSV, Markdown and HTML.

One row per outcome x timepoint window x comparison of results/pooled.tsv: relative effect,
anticipated absolute effects and NNT (binary outcomes, from the assumed control risk), SMDs
re-expressed on a familiar scale, participants (trials), heterogeneity, and the certainty
inputs that can be computed; the certainty rating itself comes from the reviewers'
judgements file, if any (evsynth.reports.sof; formulas and their sources in its docstring).
"""

from typing import TYPE_CHECKING

from evsynth.data.columns import ROB1_ITEMS
from evsynth.data.config import Outcome
from evsynth.data.io import read_tsv, write_text_atomic, write_tsv
from evsynth.pipeline.logs import log_to
from evsynth.reports.html import sof_html, sof_markdown
from evsynth.reports.sof import SOF_COLUMNS, sof_records
from evsynth.tables.rob import comparison_judgements

if TYPE_CHECKING:
    from snakemake.script import snakemake

with log_to(snakemake.log[0]) as log:
    params = snakemake.params
    outcomes = {oid: Outcome(**spec) for oid, spec in params.outcomes.items()}
    pooled = read_tsv(snakemake.input.pooled)
    studies = {
        (a["outcome"], a["timepoint"]): read_tsv(path) for a, path in zip(params.analyses, snakemake.input.studies)
    }
    rob = {}
    for row in params.rob:
        rob.setdefault((row["outcome"], row["window"]), []).append(row)
    rob1 = {key: comparison_judgements(rows, ROB1_ITEMS) for key, rows in rob.items()}
    rob = {key: comparison_judgements(rows) for key, rows in rob.items()}
    records = sof_records(
        pooled, studies, outcomes, params.mode_labels, params.sof, params.control_rows, rob, params.judgements, rob1
    )
    write_tsv(records, SOF_COLUMNS, snakemake.output.tsv, safe_text=True)
    title = "Summary of findings: remote CBT for chronic pain, by delivery mode"
    notes = [
        f"Method profile {params.profile}: relative effects and CIs are those of results/pooled.tsv.",
        "Anticipated absolute effects: risk with the comparator = the assumed control risk (config.yaml "
        "summary_of_findings.control_risk, else the median comparator-arm risk of the trials); risk with the "
        "intervention from the relative effect (Cochrane Handbook 14.1.5, 15.4.4). NNT rounded up.",
        "Certainty of the evidence is the reviewers' rating (summary_of_findings.judgements); the certainty "
        "inputs are computed and are not a rating.",
        "GRADE certainty: ⊕⊕⊕⊕ high, ⊕⊕⊕◯ moderate, ⊕⊕◯◯ low, ⊕◯◯◯ very low.",
    ]
    level = 100 * (1 - float(pooled["alpha"].dropna().iloc[0])) if pooled["alpha"].notna().any() else 95
    write_text_atomic(snakemake.output.md, sof_markdown(records, title, notes, level))
    write_text_atomic(snakemake.output.html, sof_html(records, title, notes, level))
    keys = {(r["outcome"], r["timepoint"], r["treatment"], r["comparator"]) for r in records}
    for judgement in params.judgements:
        key = tuple(judgement[c] for c in ("outcome", "timepoint", "treatment", "comparator"))
        if key not in keys:
            log.warning("judgement for %s matches no row of results/pooled.tsv", " / ".join(key))
    log.info("%d summary-of-findings rows (profile %s)", len(records), params.profile)
