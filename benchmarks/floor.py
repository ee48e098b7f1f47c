"""The floor of a pipeline run (issue 18): the same work in one process.

    python benchmarks/floor.py WORKDIR RECORDED_SCRIPTS_DIR COLD_RESULTS_DIR

A cold ``snakemake --skip-script-cleanup`` run leaves, for every job it ran, the exact script
Snakemake executed: the rule's script behind a preamble holding that job's pickled inputs,
outputs, params, wildcards and log (``.snakemake/scripts/tmp*.<rule>.py``). This runs all of
them, in the order the cold run started them (every job after the jobs it needs), in this one
interpreter: every analysis the workflow computes and every figure it draws, in the formats it
draws them, through the same scripts and package functions, with imports paid once and no
scheduler. ``run.py`` (case 5) then checks that the files it wrote are byte-identical to the cold
run's, so the floor did the same work.

Prints one JSON line: the jobs run and the CPU time per rule; run.py times the whole process.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def recorded_jobs(scripts: Path) -> list[Path]:
    """The cold run's job scripts in the order it wrote them: a job's script is written only
    after every job it depends on has finished, so this order respects the DAG."""
    return sorted(scripts.glob("tmp*.py"), key=lambda p: (p.stat().st_mtime_ns, p.name))


def run_jobs(workdir: Path, scripts: Path, cold_results: Path) -> dict:
    os.chdir(workdir)
    # Snakemake creates each output's folder before a job starts: the cold run's folders.
    for directory in sorted(d for d in cold_results.rglob("*") if d.is_dir()):
        (workdir / "results" / directory.relative_to(cold_results)).mkdir(parents=True, exist_ok=True)
    per_rule: dict[str, float] = {}
    for path in recorded_jobs(scripts):
        rule = path.name.split(".")[1]
        source = path.read_text()
        start = time.process_time()
        exec(compile(source, str(path), "exec"), {"__name__": "__main__", "__file__": str(path)})
        per_rule[rule] = per_rule.get(rule, 0.0) + time.process_time() - start
    return {"jobs": len(recorded_jobs(scripts)), "cpu_per_rule_s": per_rule,
            "heavy_modules": sorted(m for m in ("pymare", "sympy", "scipy.stats", "matplotlib") if m in sys.modules)}


if __name__ == "__main__":
    workdir, scripts, cold_results = (Path(a).resolve() for a in sys.argv[1:4])
    print(json.dumps(run_jobs(workdir, scripts, cold_results)))
