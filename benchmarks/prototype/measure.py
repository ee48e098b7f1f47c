"""Measure the per-outcome batching PROTOTYPE against the current per-analysis rules.

    .venv/bin/python benchmarks/prototype/measure.py [--tables shipped,review] [--out DIR]

For each table (the shipped one, and the synthetic review 20x larger of benchmarks/run.py)
and each variant, in temporary snapshots of the workflow:

* ``current``: the repo's rules as they are;
* ``batched``: ``pool_analysis`` and ``plot_forest`` replaced by one job per outcome
  (``batched.smk`` + ``run_batched.py``; the per-analysis scripts run unchanged),

it times ``snakemake --cores 4 bench_target`` cold, as a no-op re-run and after editing one
row, where ``bench_target`` asks for what those two rules make: results/pooled.tsv,
results/robustness.tsv and every forest plot (SVG, PNG, PDF). The other per-analysis
rules (sensitivity, network, risk of bias) are left out of the target, so the comparison
isolates the effect of batching; they would batch the same way. Writes
``prototype_results.md``/``.json`` to ``--out`` (default: this directory).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import run as bench  # noqa: E402
import synthetic  # noqa: E402

TARGET = '''

rule bench_target:
    input:
        "results/pooled.tsv",
        "results/robustness.tsv",
        analysis_outputs("results/forest/{outcome}_{timepoint}.svg"),
        analysis_outputs("results/forest/{outcome}_{timepoint}.png"),
        analysis_outputs("results/forest/{outcome}_{timepoint}.pdf"),
    localrule: True
'''


def prepare(directory: Path, variant: str, table: str) -> dict:
    bench._snapshot(directory)
    info = {}
    if table == "review":
        trials, outcomes, timepoints = bench.FULL["case5"]["review"]
        info = synthetic.write_review(directory, trials, outcomes, timepoints)
    with open(directory / "Snakefile", "a") as snakefile:
        snakefile.write(TARGET)
    if variant == "batched":
        rules = directory / "workflow" / "rules"
        pool = (rules / "pool.smk").read_text()
        start = pool.index("rule pool_analysis:")
        end = pool.index("rule collect_tables:")
        (rules / "pool.smk").write_text(pool[:start] + pool[end:] + '\n\ninclude: "batched.smk"\n')
        plot = (rules / "plot.smk").read_text()
        assert plot.lstrip().startswith("rule plot_forest:") and plot.count("\nrule ") == 0, "plot.smk changed"
        (rules / "plot.smk").write_text("# replaced by batched.smk (prototype)\n")
        shutil.copy(HERE / "batched.smk", rules / "batched.smk")
        (directory / "benchmarks_prototype").mkdir()
        shutil.copy(HERE / "run_batched.py", directory / "benchmarks_prototype" / "run_batched.py")
    return info


def measure(directory: Path, timeout: float, log) -> dict:
    out = {}
    runs = {"cold": [], "noop": [], "edit": []}
    log("cold")
    runs["cold"].append(bench._snakemake(directory, timeout, "bench_target"))
    if runs["cold"][0]["returncode"] != 0:
        return {"error": runs["cold"][0].get("error", "")[-2000:], "runs": runs}
    for _ in range(2):
        log("no-op")
        runs["noop"].append(bench._snakemake(directory, timeout, "bench_target"))
    for rep in range(2):
        edited = bench._edit_one_row(directory, rep)
        log(f"edit {edited}")
        run = bench._snakemake(directory, timeout, "bench_target")
        run["edited_row"] = edited
        runs["edit"].append(run)
    for key, values in runs.items():
        out[key] = bench.stats([r["wall_s"] for r in values])
        out[f"{key}_jobs"] = [r["jobs"] for r in values]
        out[f"{key}_failed"] = [r.get("error", "")[-500:] for r in values if r["returncode"] != 0]
    out["max_rss_mb"] = max(r["max_rss_mb"] for values in runs.values() for r in values)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", default="shipped,review")
    parser.add_argument("--variants", default="current,batched")
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results = {"machine": bench.machine(), "runs": {}}

    for table in args.tables.split(","):
        for variant in args.variants.split(","):
            label = f"{table}/{variant}"

            def log(message, label=label):
                print(f"[{time.perf_counter() - started:7.1f} s] {label}: {message}", flush=True)

            with tempfile.TemporaryDirectory(prefix="evsynth-proto-") as tmp:
                directory = Path(tmp) / "wf"
                info = prepare(directory, variant, table)
                results["runs"][label] = {"table": info, **measure(directory, args.timeout, log)}
    results["machine"]["load_average_end"] = bench.os.getloadavg()
    results["duration_s"] = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "prototype_results.json").write_text(json.dumps(results, indent=1, default=str))
    lines = [
        "# Per-outcome batching prototype: pool_analysis + plot_forest",
        "",
        f"`python benchmarks/prototype/measure.py`, {results['duration_s'] / 60:.1f} min; machine as in "
        f"results.md (nproc {results['machine']['nproc']}, load average start "
        f"{', '.join(f'{x:.1f}' for x in results['machine']['load_average_start'])}, end "
        f"{', '.join(f'{x:.1f}' for x in results['machine']['load_average_end'])}).",
        "",
        "Target `bench_target`: results/pooled.tsv, results/robustness.tsv and every forest plot.",
        "",
        "| table / variant | cold | no-op | one-row edit | jobs cold / no-op / edit | edit / cold |",
        "|---|---|---|---|---|---|",
    ]
    for label, r in results["runs"].items():
        if "cold" not in r:
            lines.append(f"| {label} | failed: {r.get('error', '')[-200:]} | | | | |")
            continue
        lines.append(
            f"| {label} | {bench._spread(r['cold'])} | {bench._spread(r['noop'])} | {bench._spread(r['edit'])} | "
            f"{r['cold_jobs']} / {r['noop_jobs']} / {r['edit_jobs']} | "
            f"{r['edit']['median'] / r['cold']['median']:.2f} |")
    runs = results["runs"]
    for variant in args.variants.split(","):
        a, b = runs.get(f"shipped/{variant}", {}), runs.get(f"review/{variant}", {})
        if "cold" in a and "cold" in b:
            lines.append(f"\n{variant}: 20x review cold / shipped cold = "
                         f"{b['cold']['median'] / a['cold']['median']:.2f}x")
    (args.out / "prototype_results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
