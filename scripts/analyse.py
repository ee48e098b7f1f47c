"""Rule analyse: every table of one outcome in one timepoint window, and its metafor script.

One job per analysis (issue 18: interpreter start-up and imports, paid per job, were most of a
cold run), in the order of ``evsynth.tables.analysis``: pooling, sensitivity, several effects
per trial (with config.yaml: dependent_effects), network, then the R script. The later steps
read ``studies.tsv``/``pooled.tsv`` back from disk, as the separate jobs did before.

Outputs
-------
pooled, studies, robustness, subgroups, bayes_priors : results/analyses/{outcome}/{timepoint}/
    (``evsynth.tables.analysis.write_pooled``).
leave_one_out, influence, cumulative, small_study, subsets, funnel :
    results/sensitivity/{outcome}_{timepoint}/ (``write_sensitivity``).
dependent, metaregression : results/dependent/ and results/metaregression/, only with
    config.yaml: dependent_effects (``write_dependent``).
league, inconsistency, ranking, summary : results/network/{outcome}_{timepoint}_*.tsv
    (``write_network``).
script : results/reproduce/{outcome}_{timepoint}.R, a metafor script that recomputes pooled.tsv
    and compares at 1e-6 (evsynth.reports.reproduce_r).
"""

from typing import TYPE_CHECKING

from evsynth.data.config import Outcome
from evsynth.data.io import read_tsv, write_text_atomic
from evsynth.pipeline.logs import log_to
from evsynth.reports.reproduce_r import reproduce_script
from evsynth.stats.profiles import settings_from_dict
from evsynth.tables.analysis import write_dependent, write_network, write_pooled, write_sensitivity

if TYPE_CHECKING:
    from snakemake.script import snakemake

with log_to(snakemake.log[0]) as log:
    params, out = snakemake.params, snakemake.output
    outcome, timepoint = Outcome(**params.outcome), snakemake.wildcards.timepoint
    settings, cc = settings_from_dict(params.method), params.continuity_correction
    write_pooled(params.rows, outcome, timepoint, params.modes, settings, cc, params.bayes, out, log.getChild("pool"))
    studies = read_tsv(out.studies)
    write_sensitivity(studies.copy(), params.sensitivity_rows, outcome, timepoint, settings, params.sensitivity, out,
                      log.getChild("sensitivity"))  # fmt: skip
    if params.dependent:
        write_dependent(params.effects, params.moderator_rows, outcome, timepoint, params.modes, settings, cc,
                        params.method["alpha"], params.dependent, out, log.getChild("dependent"))  # fmt: skip
    write_network(studies.copy(), outcome, timepoint, params.mode_labels, settings, out, log.getChild("network"))
    header = [
        f"Reproduces results/analyses/{params.outcome['id']}/{timepoint}/pooled.tsv with metafor.",
        f"Written by evsynth {params.versions['evsynth']} (PyMARE {params.versions['pymare']}), "
        f"method profile {params.profile}.",
    ]
    script = reproduce_script(studies.copy(), read_tsv(out.pooled), params.outcome, timepoint, header)
    write_text_atomic(out.script, script)
    log.getChild("reproduce").info("%d lines", script.count("\n"))
    log.info("versions: %s", params.versions)
