# PROTOTYPE, for benchmarks/prototype/measure.py only (never included by the repo's
# Snakefile): the rules of workflow/rules/pool.smk and plot.smk, batched per outcome. One
# pool job and one forest-plot job per outcome run the unchanged per-analysis scripts once
# per timepoint window, in one process (benchmarks/prototype/run_batched.py), so imports
# (PyMARE, scipy.stats, pandas, matplotlib: ~1-1.5 s a process) are paid once per outcome
# instead of once per analysis. Outputs, logs, params per analysis and the scripts are the
# same as the per-analysis rules'; an edited row re-runs its outcome's two jobs.
from snakemake.iocontainers import Wildcards

TIMEPOINTS_OF = {}
for _o, _t in ANALYSES:
    TIMEPOINTS_OF.setdefault(_o, []).append(_t)
BATCH_RUNNER = str(Path(workflow.basedir) / "benchmarks_prototype" / "run_batched.py")


def _window_params(outcome_id, **getters):
    """timepoint -> {param: value}, each value from the per-analysis rule's param function."""

    def get(wildcards):
        out = {}
        for t in TIMEPOINTS_OF[outcome_id]:
            wc = Wildcards(fromdict={"outcome": outcome_id, "timepoint": t})
            out[t] = {k: (g(wc) if callable(g) else g) for k, g in getters.items()}
        return out

    return get


def _files(outcome, pattern):
    return [
        pattern.format(outcome=outcome, timepoint=t) for t in TIMEPOINTS_OF[outcome]
    ]


for _outcome in TIMEPOINTS_OF:

    rule:
        name:
            f"pool_outcome_{_outcome}"
        input:
            code=code("pool_analysis"),
        output:
            pooled=_files(_outcome, "results/analyses/{outcome}/{timepoint}/pooled.tsv"),
            studies=_files(
                _outcome, "results/analyses/{outcome}/{timepoint}/studies.tsv"
            ),
            robustness=_files(
                _outcome, "results/analyses/{outcome}/{timepoint}/robustness.tsv"
            ),
            subgroups=_files(
                _outcome, "results/analyses/{outcome}/{timepoint}/subgroups.tsv"
            ),
        log:
            _files(_outcome, "results/logs/pool_analysis/{outcome}_{timepoint}.log"),
        threads: 1
        params:
            outcome=_outcome,
            timepoints=TIMEPOINTS_OF[_outcome],
            script="scripts/pool_analysis.py",
            per_window=_window_params(
                _outcome,
                rows=JOB.analysis_rows,
                outcome=JOB.outcome,
                modes=MODES,
                method=METHOD,
                continuity_correction=PLAN.config.continuity_correction,
                versions=VERSIONS,
            ),
        script:
            BATCH_RUNNER

    rule:
        name:
            f"plot_outcome_{_outcome}"
        input:
            pooled=_files(_outcome, "results/analyses/{outcome}/{timepoint}/pooled.tsv"),
            studies=_files(
                _outcome, "results/analyses/{outcome}/{timepoint}/studies.tsv"
            ),
            robustness=_files(
                _outcome, "results/analyses/{outcome}/{timepoint}/robustness.tsv"
            ),
            subgroups=_files(
                _outcome, "results/analyses/{outcome}/{timepoint}/subgroups.tsv"
            ),
            code=code("plot_forest"),
        output:
            svg=_files(_outcome, "results/forest/{outcome}_{timepoint}.svg"),
            png=_files(_outcome, "results/forest/{outcome}_{timepoint}.png"),
            pdf=_files(_outcome, "results/forest/{outcome}_{timepoint}.pdf"),
        log:
            _files(_outcome, "results/logs/plot_forest/{outcome}_{timepoint}.log"),
        threads: 1
        params:
            outcome=_outcome,
            timepoints=TIMEPOINTS_OF[_outcome],
            script="scripts/plot_forest.py",
            shared_inputs=["code"],
            per_window=_window_params(
                _outcome,
                outcome=JOB.outcome,
                mode_labels=MODE_LABELS,
                method=METHOD,
                matplotlib=MATPLOTLIB_VERSION,
                rob=JOB.rob_rows,
                provenance=JOB.forest_provenance,
            ),
        script:
            BATCH_RUNNER
