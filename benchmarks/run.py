"""Benchmarks of evsynth (issue #9): writes benchmarks/results.md and benchmarks/results.json.

    .venv/bin/python benchmarks/run.py            # everything: ~32 min on 2 cores, of which the
                                                  # 20x review's cold Snakemake run is ~20 min
    .venv/bin/python benchmarks/run.py --no-review   # case 5 without the 20x review: ~8 min
    .venv/bin/python benchmarks/run.py --cases 8 --merge   # case 8 alone (~4 min: two cold runs),
                                                  # the other cases kept from results.json
    .venv/bin/python benchmarks/run.py --cases 1,2,3,4   # the statistics only: ~2 min
    .venv/bin/python benchmarks/run.py --smoke    # tiny sizes, no targets (CI; < 1 minute)

Cases (targets for a 2-core machine; ratios hold anywhere):

1. One analysis, full summary (estimate, HKSJ CI, tau², Q, I², H², Q-profile CIs,
   prediction interval; the cochrane-2025 profile), REML and DL, k = 10 ... 10⁶, against
   metafor (``rma`` + ``confint`` + ``predict`` through Rscript; skipped without R) and a
   bare numpy Fisher-scoring loop for REML tau² (``workers.bare_fisher_scoring``).
2. 10,000 separate analyses of k = 10 in one process (``pool_many``; a loop of ``pool``
   for comparison), timed as the whole process: interpreter, imports, data, pooling.
3. Leave-one-out and influence diagnostics at k = 1,000 (REML) through
   ``evsynth.stats.influence.influence``, against PyMARE refits in a Python loop.
4. Network meta-analysis, 20 treatments, 300 trials (multi-arm ones included), through
   ``evsynth.stats.network`` (common-tau² contrast model, REML).
5. The Snakemake pipeline in a temporary snapshot of the workflow: cold run, no-op
   re-run, re-run after editing one row, on the shipped table and on a synthetic review
   20x larger (``synthetic.write_review``), against ``snakemake --version``.
6. Several effects per trial: the CHE working model (rho = 0.6, REML) with CR2 / Satterthwaite
   inference on 1,000 effects in 200 trials (``synthetic.dependent_effects``), through
   ``evsynth.stats.multilevel`` + ``evsynth.stats.robust``, against metafor ``vcalc`` +
   ``rma.mv`` + clubSandwich ``coef_test`` (``metafor_dependent_bench.R``; skipped without R).
7. The Bayesian random-effects posterior (``evsynth.stats.bayes``, half-normal(0.5) prior):
   one call at k = 10 (``bayes_meta``), and 10,000 analyses of k = 10 in one process
   (``bayes_many``, vectorised over analyses), each with and without the shrunken trial
   estimates.

Every case runs in fresh processes; compared timings are taken alternately in one
process (see ``workers.py``), so a ratio is always measured in the same run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
import conversions_case  # noqa: E402
import synthetic  # noqa: E402

PYTHON = sys.executable
SNAKEMAKE = [PYTHON, "-m", "snakemake"]

FULL = {
    "case1_k": [10, 1_000, 100_000, 1_000_000],
    "case1_reps": {10: 15, 1_000: 11, 100_000: 7, 1_000_000: 5},
    "case1_pymare_forced_reps": {100_000: 3, 1_000_000: 2},
    # metafor: (reps, calls per rep); k >= 1e5 is one attempt, which fails.
    "metafor": {10: (7, 20), 1_000: (2, 1), 100_000: (1, 1), 1_000_000: (1, 1)},
    "case2": {"n": 10_000, "k": 10, "reps": 3, "loop_reps": 1},
    "case3": {"k": 1_000, "reps": 7, "loop_reps": 3},
    "case4": {"treatments": 20, "trials": 300, "reps": 3},
    # metafor + clubSandwich take ~30 CPU s per fit at this size: one call per round.
    "case6": {"effects": 1000, "trials": 200, "reps": 7, "metafor": (1, 1)},
    "case7": {"k": 10, "reps": 7, "n": 10_000, "many_reps": 2},
    "case5": {"version_reps": 5, "cold_reps": 1, "noop_reps": 3, "edit_reps": 2, "greedy_cold": False,
              "review": (5, 2, 2), "review_noop_reps": 1, "review_edit_reps": 1, "timeout": 2400},
    # One cold run per table (~200 CPU s each), the two side by side; CPU time is the measure.
    "case8": {"parse_reps": 15, "first_reps": 5, "cold_reps": 1, "timeout": 3600},
}
SMOKE = {
    "case1_k": [10],
    "case1_reps": {10: 2},
    "case1_pymare_forced_reps": {},
    "metafor": {10: (1, 3)},
    "case2": {"n": 100, "k": 10, "reps": 1, "loop_reps": 1, "estimators": ("REML",)},
    "case3": {"k": 30, "reps": 2, "loop_reps": 1},
    "case4": {"treatments": 5, "trials": 20, "reps": 1},
    "case6": {"effects": 50, "trials": 10, "reps": 2, "metafor": (1, 1)},
    "case7": {"k": 10, "reps": 2, "n": 50, "many_reps": 1},
    # Dry run of a small synthetic review: checks the generator still writes a table and
    # config the current workflow accepts.
    "case5": {"version_reps": 1, "dry_run_only": True, "review": (1, 1, 2), "timeout": 300},
    # The reported-forms table is written and read (no cold runs).
    "case8": {"parse_reps": 2, "first_reps": 1, "cold_reps": 0, "timeout": 300},
}


# ---------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------


def run_process(command, *, cwd=None, env=None, timeout=None) -> dict:
    """Run ``command``; wall time, exit code, output tail, and the largest RSS of any
    process in its tree (``wait4``'s rusage folds in every waited-for descendant)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        timed_out = threading.Event()

        def kill():
            timed_out.set()
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill) if timeout else None
        if timer:
            timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if timer:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,  # the whole process tree's CPU time
        "returncode": proc.returncode,
        "timed_out": timed_out.is_set(),
        "max_rss_mb": usage.ru_maxrss / 1024,
        "output": text,
    }


def worker(task: str, args: dict, timeout: float = 1800) -> dict:
    run = run_process([PYTHON, str(HERE / "workers.py"), task, json.dumps(args)], cwd=REPO, timeout=timeout)
    lines = [line for line in run["output"].splitlines() if line.startswith("{")]
    if run["returncode"] != 0 or not lines:
        return {"error": f"worker {task} failed (exit {run['returncode']}): {run['output'][-2000:]}"}
    result = json.loads(lines[-1])
    result["process_wall_s"] = run["wall_s"]
    result["process_cpu_s"] = run["cpu_s"]
    return result


def stats(samples: list[float], cpu: list[float] | None = None) -> dict:
    ordered = sorted(samples)
    out = {"median": statistics.median(ordered), "min": ordered[0], "max": ordered[-1], "reps": len(ordered),
           "samples": ordered}
    if cpu:
        out["cpu_median"] = statistics.median(cpu)
        out["cpu_samples"] = sorted(cpu)
    return out


# ---------------------------------------------------------------------------------------
# Machine
# ---------------------------------------------------------------------------------------


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict:
    info = {
        "nproc": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "scipy": _version("scipy"),
        "pandas": _version("pandas"),
        "pymare": _version("pymare"),
        "snakemake": _version("snakemake"),
        "matplotlib": _version("matplotlib"),
        "load_average_start": os.getloadavg(),
    }
    try:
        meminfo = Path("/proc/meminfo").read_text().splitlines()
        total = next(line for line in meminfo if line.startswith("MemTotal"))
        info["memory_gb"] = round(int(total.split()[1]) / 2**20, 1)
    except (OSError, StopIteration):
        info["memory_gb"] = None
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
        info["cpu"] = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        info["cpu"] = platform.processor() or "unknown"
    rscript = shutil.which("Rscript")
    info["rscript"] = rscript
    if rscript:
        probe = subprocess.run(
            [rscript, "-e", 'cat(R.version$major, ".", R.version$minor, " ", '
                            'tryCatch(as.character(packageVersion("metafor")), error=function(e) "none"), sep="")'],
            capture_output=True, text=True, timeout=120)
        parts = probe.stdout.split()
        info["r"] = parts[0] if parts else "unknown"
        info["metafor"] = parts[1] if len(parts) > 1 else "none"
    else:
        info["r"] = info["metafor"] = "not installed"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True)
        info["git"] = commit.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")
    except OSError:
        info["git"] = "unknown"
    return info


def metafor_available(info: dict) -> bool:
    return bool(info.get("rscript")) and info.get("metafor") not in (None, "none", "not installed")


# ---------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------


def _metafor(info: dict, data: Path, k: int, estimator: str, reps: int, calls: int) -> dict:
    run = run_process([info["rscript"], str(HERE / "metafor_bench.R"), str(data), str(k), estimator, str(reps),
                       str(calls)], timeout=900)
    lines = [line for line in run["output"].splitlines() if line.startswith("{")]
    result = json.loads(lines[-1]) if lines else {"ok": False, "error": run["output"][-500:].strip() or "no output",
                                                  "elapsed": run["wall_s"]}
    result["max_rss_mb"] = run["max_rss_mb"]
    return result


def _merge(a: dict, b: dict) -> dict:
    """Pool the samples of two rounds of the same measurement."""
    merged = stats(a["samples"] + b["samples"], a.get("cpu_samples", []) + b.get("cpu_samples", []))
    merged["calls_per_rep"] = a.get("calls_per_rep")
    return merged


def case1(cfg: dict, info: dict, log) -> dict:
    """Where metafor runs (k <= 1,000), evsynth and metafor alternate in rounds (evsynth,
    metafor, evsynth, metafor), so both see the same machine load; samples are pooled."""
    rows = []
    use_r = metafor_available(info)
    with tempfile.TemporaryDirectory() as tmp:
        for k in cfg["case1_k"]:
            for estimator in ("REML", "DL"):
                data = Path(tmp) / f"data_{k}.bin"
                r_cfg = cfg["metafor"].get(k) if use_r else None
                rounds = 2 if r_cfg and k <= 1000 else 1
                reps = max(2, -(-cfg["case1_reps"][k] // rounds))
                row = {"k": k, "estimator": estimator}
                python, metafor = None, None
                for round_ in range(rounds):
                    args = {"k": k, "estimator": estimator, "reps": reps, "write_data": str(data)}
                    if round_ == 0 and estimator == "REML" and k in cfg["case1_pymare_forced_reps"]:
                        args["pymare_forced_reps"] = cfg["case1_pymare_forced_reps"][k]
                    log(f"case 1: k={k} {estimator}" + (f" (round {round_ + 1}/{rounds})" if rounds > 1 else ""))
                    result = worker("pool", args)
                    if "error" in result or python is None:
                        python = python if python is not None and "error" not in python else result
                    else:
                        for key in ("evsynth", "bare_fisher"):
                            python[key] = _merge(python[key], result[key])
                    if r_cfg:
                        r_reps, calls = r_cfg
                        r_reps = max(1, -(-r_reps // rounds))
                        log(f"case 1: metafor k={k} {estimator}")
                        result = _metafor(info, data, k, estimator, r_reps, calls)
                        if metafor is None or not metafor.get("ok"):
                            metafor = result
                        elif result.get("ok"):
                            metafor["samples"] += result["samples"]
                            metafor["cpu_samples"] = metafor.get("cpu_samples", []) + result.get("cpu_samples", [])
                row["python"] = python
                if metafor is None:
                    reason = "Rscript or metafor not installed" if not use_r else "not run at this size in this mode"
                    metafor = {"skipped": reason}
                elif metafor.get("ok"):
                    metafor.update(stats(metafor.pop("samples"), metafor.pop("cpu_samples", None)))
                row["metafor"] = metafor
                rows.append(row)
    return {"rows": rows}


def case2(cfg: dict, log) -> dict:
    c = cfg["case2"]
    out = {"n": c["n"], "k": c["k"], "runs": {}}
    for estimator in c.get("estimators", ("REML", "DL")):
        for mode, reps in (("batch", c["reps"]), ("loop", c["loop_reps"])):
            log(f"case 2: {c['n']} analyses, {estimator}, {mode}")
            runs = [worker("batch", {"n": c["n"], "k": c["k"], "estimator": estimator, "mode": mode})
                    for _ in range(reps)]
            good = [r for r in runs if "error" not in r]
            entry = {"errors": [r["error"] for r in runs if "error" in r]}
            if good:
                entry["process"] = stats([r["process_wall_s"] for r in good], [r["process_cpu_s"] for r in good])
                entry["pool"] = stats([r["pool_s"] for r in good])
                entry["import"] = stats([r["import_s"] for r in good])
                entry["max_rss_mb"] = max(r["max_rss_mb"] for r in good)
            out["runs"][f"{estimator}/{mode}"] = entry
    return out


def case3(cfg: dict, log) -> dict:
    c = cfg["case3"]
    log(f"case 3: influence, k={c['k']}")
    return {"k": c["k"], "estimator": "REML",
            "result": worker("influence", {"k": c["k"], "estimator": "REML", "reps": c["reps"],
                                           "loop_reps": c["loop_reps"]})}


def case4(cfg: dict, log) -> dict:
    c = cfg["case4"]
    log(f"case 4: network, {c['treatments']} treatments, {c['trials']} trials")
    return {**c, "result": worker("network", c)}


def case6(cfg: dict, info: dict, log) -> dict:
    """evsynth and metafor alternate in two rounds, as in case 1, so both see the same load."""
    c = cfg["case6"]
    out: dict = {"effects": c["effects"], "trials": c["trials"]}
    use_r = metafor_available(info)
    python, metafor = None, None
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "dependent.bin"
        for round_ in range(2 if use_r else 1):
            log(f"case 6: CHE + CR2, {c['effects']} effects in {c['trials']} trials (round {round_ + 1})")
            result = worker("dependent", {"effects": c["effects"], "trials": c["trials"], "reps": c["reps"],
                                          "write_data": str(data)})
            if python is None or "error" in python:
                python = result
            elif "error" not in result:
                python["evsynth"] = _merge(python["evsynth"], result["evsynth"])
            if use_r:
                reps, calls = c["metafor"]
                log("case 6: metafor rma.mv + clubSandwich coef_test")
                run = run_process([info["rscript"], str(HERE / "metafor_dependent_bench.R"), str(data),
                                   str(c["effects"]), str(reps), str(calls)], timeout=1800)
                lines = [line for line in run["output"].splitlines() if line.startswith("{")]
                result = json.loads(lines[-1]) if lines else {"ok": False, "error": run["output"][-500:]}
                if metafor is None or not metafor.get("ok"):
                    metafor = result
                elif result.get("ok"):
                    metafor["samples"] += result["samples"]
                    metafor["cpu_samples"] += result["cpu_samples"]
    if metafor is None:
        metafor = {"skipped": "Rscript or metafor not installed"}
    elif metafor.get("ok"):
        metafor.update(stats(metafor.pop("samples"), metafor.pop("cpu_samples", None)))
    out["python"], out["metafor"] = python, metafor
    return out


def case7(cfg: dict, log) -> dict:
    c = cfg["case7"]
    out = {**c, "runs": {}}
    for shrinkage in (True, False):
        label = "with shrinkage" if shrinkage else "without shrinkage"
        log(f"case 7: Bayesian posterior, k={c['k']}, {label}")
        out["runs"][label] = {"one": worker("bayes", {"mode": "one", "k": c["k"], "reps": c["reps"],
                                                      "shrinkage": shrinkage})}
        runs = [worker("bayes", {"mode": "many", "n": c["n"], "k": c["k"], "shrinkage": shrinkage})
                for _ in range(c["many_reps"])]
        good = [r for r in runs if "error" not in r]
        entry = {"errors": [r["error"] for r in runs if "error" in r]}
        if good:
            entry["process"] = stats([r["process_wall_s"] for r in good], [r["process_cpu_s"] for r in good])
            entry["fit"] = stats([r["fit_s"] for r in good])
            entry["max_rss_mb"] = max(r["max_rss_mb"] for r in good)
        out["runs"][label]["many"] = entry
    return out


def _snapshot(directory: Path, config: Path | None = None, table: Path | None = None) -> None:
    """The workflow as it is now, so concurrent edits to the repo do not leak into a run."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "Snakefile", directory / "Snakefile")
    for sub in ("workflow", "scripts"):
        shutil.copytree(REPO / sub, directory / sub, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(config or REPO / "config.yaml", directory / "config.yaml")
    shutil.copytree(REPO / "baselines", directory / "baselines", dirs_exist_ok=True)  # changes: baseline
    shutil.copy(table or REPO / "studies.tsv", directory / "studies.tsv")
    if (REPO / "screening.yaml").is_file():  # the shipped config's screening log (docs/screening.md)
        shutil.copy(REPO / "screening.yaml", directory / "screening.yaml")


def _env(directory: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(directory / "workflow" / "lib") + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _jobs(output: str) -> int | None:
    import re

    steps = re.findall(r"(\d+) of (\d+) steps", output)
    if steps:
        return int(steps[-1][1])
    total = re.findall(r"^total\s+(\d+)\s*$", output, flags=re.MULTILINE)  # dry run's job stats
    return int(total[-1]) if total else 0 if "Nothing to be done" in output else None


def _snakemake(directory: Path, timeout: float, *extra: str) -> dict:
    run = run_process([*SNAKEMAKE, "--cores", "4", *extra], cwd=directory, env=_env(directory), timeout=timeout)
    run["jobs"] = _jobs(run["output"])
    if run["timed_out"]:
        import re

        done = re.findall(r"(\d+) of (\d+) steps", run["output"])
        progress = f" ({done[-1][0]} of {done[-1][1]} jobs done)" if done else ""
        run["error"] = f"timed out after {timeout:.0f} s{progress}"
    elif run["returncode"] != 0:
        run["error"] = run["output"][-3000:]
    run.pop("output")
    return run


def _edit_one_row(directory: Path, rep: int) -> str:
    """Shift the estimate (and its CI) of the first pooled row with a reported contrast."""
    import pandas as pd

    path = directory / "studies.tsv"
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    candidates = table[(table["include"] == "yes") & (table["effect"] != "") & (table["ci_lower"] != "")]
    index = candidates.index[0]
    ratio = table.at[index, "effect_measure"] in ("RR", "OR")
    delta = 0.01 if rep % 2 == 0 else -0.01
    for column in ("effect", "ci_lower", "ci_upper"):
        table.at[index, column] = synthetic._shift(table.at[index, column], delta, ratio)
    table.to_csv(path, sep="\t", index=False, lineterminator="\n")
    row = table.loc[index]
    return f"{row['study']} / {row['outcome']} / {row['timepoint']}"


def _digests(results: Path) -> dict[str, str]:
    """sha256 of every file under ``results`` but the logs (they hold times and process ids)."""
    import hashlib

    return {str(p.relative_to(results)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(results.rglob("*")) if p.is_file() and p.relative_to(results).parts[0] != "logs"}


def _floor(directory: Path, label: str, c: dict, log) -> dict:
    """The floor (issue 18): the cold run's jobs again, in one process (``floor.py``), timed as
    a whole process, and its files compared byte for byte with the cold run's."""
    recorded = directory.parent / f"{directory.name}-jobs"
    cold = directory.parent / f"{directory.name}-cold-results"
    shutil.rmtree(recorded, ignore_errors=True)
    shutil.move(directory / ".snakemake" / "scripts", recorded)
    (directory / "results").rename(cold)
    try:
        log(f"case 5: {label}: the floor (every job of the cold run in one process)")
        run = run_process([PYTHON, str(HERE / "floor.py"), str(directory), str(recorded), str(cold)],
                          cwd=directory, env=_env(directory), timeout=c["timeout"])
        lines = [line for line in run["output"].splitlines() if line.startswith("{")]
        if run["returncode"] != 0 or not lines:
            return {"error": f"floor failed (exit {run['returncode']}): {run['output'][-2000:]}"}
        out = {**json.loads(lines[-1]), "run": stats([run["wall_s"]], [run["cpu_s"]]),
               "max_rss_mb": run["max_rss_mb"]}
        mine, theirs = _digests(directory / "results"), _digests(cold)
        out["files_compared"] = len(theirs)
        out["files_differing"] = sorted(f for f in theirs.keys() | mine.keys() if mine.get(f) != theirs.get(f))
        return out
    finally:
        shutil.rmtree(directory / "results", ignore_errors=True)
        cold.rename(directory / "results")
        shutil.rmtree(recorded, ignore_errors=True)


def _pipeline(directory: Path, label: str, c: dict, log, cold_reps: int, noop_reps: int, edit_reps: int) -> dict:
    out: dict = {}
    if c.get("greedy_cold"):
        # Snakemake's default scheduler solves an ILP (pulp + CBC) at each of ~200 job selections.
        for leftover in (".snakemake", "results"):
            shutil.rmtree(directory / leftover, ignore_errors=True)
        log(f"case 5: {label}: cold run with --scheduler greedy")
        greedy = _snakemake(directory, c["timeout"], "--scheduler", "greedy")
        if greedy["returncode"] == 0:
            out["cold_greedy"] = stats([greedy["wall_s"]], [greedy["cpu_s"]])
    colds = []
    for rep in range(cold_reps):
        for leftover in (".snakemake", "results"):
            shutil.rmtree(directory / leftover, ignore_errors=True)
        log(f"case 5: {label}: cold run {rep + 1}/{cold_reps}")
        # The last cold run keeps each job's script (with its pickled inputs and params): the floor.
        keep = ("--skip-script-cleanup",) if rep == cold_reps - 1 else ()
        colds.append(_snakemake(directory, c["timeout"], *keep))
    out["cold_runs"] = colds
    good = [r for r in colds if r["returncode"] == 0]
    if not good:
        out["error"] = colds[-1].get("error") or ("timed out" if colds[-1]["timed_out"] else "failed")
        return out
    out["cold"] = stats([r["wall_s"] for r in good], [r["cpu_s"] for r in good])
    out["jobs"] = good[-1]["jobs"]
    # Drawing dominates a cold run: count what was drawn, in the formats config.yaml figures.formats asks for.
    drawn = [p for p in (directory / "results").rglob("*") if p.suffix in (".svg", ".png", ".pdf")]
    out["figures"] = len({p.with_suffix("") for p in drawn})
    out["figure_formats"] = [f for f in ("svg", "png", "pdf") if any(p.suffix == f".{f}" for p in drawn)]
    out["cold_max_rss_mb"] = max(r["max_rss_mb"] for r in good)
    if colds[-1]["returncode"] == 0:
        out["floor"] = _floor(directory, label, c, log)
    noops = []
    for rep in range(noop_reps):
        log(f"case 5: {label}: no-op re-run {rep + 1}/{noop_reps}")
        noops.append(_snakemake(directory, c["timeout"]))
    out["noop_runs"] = noops
    out["noop"] = stats([r["wall_s"] for r in noops], [r["cpu_s"] for r in noops])
    out["noop_jobs"] = [r["jobs"] for r in noops]
    edits = []
    for rep in range(edit_reps):
        edited = _edit_one_row(directory, rep)
        log(f"case 5: {label}: re-run after editing {edited}")
        run = _snakemake(directory, c["timeout"])
        run["edited_row"] = edited
        edits.append(run)
    out["edit_runs"] = edits
    if edits:
        out["edit"] = stats([r["wall_s"] for r in edits], [r["cpu_s"] for r in edits])
        out["edit_jobs"] = [r["jobs"] for r in edits]
    return out


def case5(cfg: dict, log) -> dict:
    c = cfg["case5"]
    out: dict = {}
    log("case 5: snakemake --version")
    versions = [run_process([*SNAKEMAKE, "--version"], cwd=REPO) for _ in range(c["version_reps"])]
    out["version"] = stats([v["wall_s"] for v in versions], [v["cpu_s"] for v in versions])
    with tempfile.TemporaryDirectory(prefix="evsynth-bench-") as tmp:
        shipped = Path(tmp) / "shipped"
        _snapshot(shipped)
        review = Path(tmp) / "review"
        _snapshot(review)
        trials, outcomes, timepoints = c["review"]
        out["review_table"] = synthetic.write_review(review, trials, outcomes, timepoints,
                                               table_path=REPO / "studies.tsv", config_path=REPO / "config.yaml")
        if c.get("dry_run_only"):
            for label, directory in (("review_run", review),):
                log(f"case 5: {label}: dry run")
                run = _snakemake(directory, c["timeout"], "--dry-run")
                out[label] = {"dry_run": run}
            return out
        out["shipped"] = _pipeline(shipped, "shipped table", c, log, c["cold_reps"], c["noop_reps"], c["edit_reps"])
        if "cold" in out["shipped"]:
            log("case 5: cost of one figure, per format")
            out["figure_cost"] = worker("figure", {"workdir": str(shipped), "outcome": "pain_severity_response",
                                                   "timepoint": "post", "reps": c.get("figure_reps", 5)})
        if c.get("skip_review"):
            out["review_run"] = {"error": "not run (--no-review)"}
        else:
            out["review_run"] = _pipeline(review, f"review {trials}x trials, {outcomes}x outcomes, "
                                                  f"{timepoints}x timepoints", c, log, 1,
                                          c["review_noop_reps"], c["review_edit_reps"])
    return out


# ---------------------------------------------------------------------------------------
# Targets and report
# ---------------------------------------------------------------------------------------


def _fmt_s(x: float | None) -> str:
    if x is None:
        return "—"
    if x < 1e-3:
        return f"{x * 1e6:.0f} µs"
    if x < 1:
        return f"{x * 1e3:.3g} ms"
    return f"{x:.3g} s"


def _spread(s: dict | None) -> str:
    if not s:
        return "—"
    cpu = f" (CPU {_fmt_s(s['cpu_median'])})" if s.get("cpu_median") else ""
    return f"{_fmt_s(s['median'])} [{_fmt_s(s['min'])}–{_fmt_s(s['max'])}] ×{s['reps']}{cpu}"


def _ratio_text(num: dict, den: dict, fmt: str = "{:,.1f}x") -> str:
    """num/den of medians, wall and (if known) CPU."""
    text = fmt.format(num["median"] / den["median"])
    if num.get("cpu_median") and den.get("cpu_median"):
        text += " (CPU " + fmt.format(num["cpu_median"] / den["cpu_median"]) + ")"
    return text


def _cpu(s: dict | None) -> float | None:
    return None if not s else s.get("cpu_median")


def evaluate(results: dict, smoke: bool) -> list[dict]:
    """One row per target: the measurement by wall-clock time (what the targets name) and,
    beside it, the same by CPU time (robust to other processes sharing the CPUs)."""
    targets: list[dict] = []

    def add(case, target, measured, met, cpu_measured="—", cpu_met=None, why=""):
        targets.append({"case": case, "target": target, "measured": measured, "met": None if smoke else met,
                        "measured_cpu": cpu_measured, "met_cpu": None if smoke else cpu_met, "why": why})

    def ratio_check(case, target, num, den, limit, fmt="{:.2f}x", below=True):
        wall = num["median"] / den["median"]
        met = wall <= limit if below else wall >= limit
        cn, cd = _cpu(num), _cpu(den)
        if cn and cd:
            cpu = cn / cd
            add(case, target, fmt.format(wall), met, fmt.format(cpu), cpu <= limit if below else cpu >= limit)
        else:
            add(case, target, fmt.format(wall), met)

    for row in results.get("case1", {}).get("rows", []):
        py, mf = row["python"], row["metafor"]
        k, est = row["k"], row["estimator"]
        if "error" in py:
            add(1, f"k={k:,} {est}", py["error"][:200], False)
            continue
        ours = py["evsynth"]
        if k == 10 or k >= 1000:
            need = 5 if k == 10 else 50
            target = f"k={k:,} {est}: ≥{need}x faster than metafor"
            if mf.get("ok"):
                ratio_check(1, target, mf, ours, need, "{:,.1f}x", below=False)
            elif "skipped" in mf:
                add(1, target, f"metafor skipped ({mf['skipped']})", None)
            else:
                add(1, target, "metafor fails: " + mf.get("error", "")[:80], True, why="metafor cannot run at this k")
        if k == 1_000_000:
            ratio_check(1, f"k=1,000,000 {est}: within 2x of a bare numpy Fisher-scoring loop", ours,
                        py["bare_fisher"], 2)
            add(1, f"k=1,000,000 {est}: under 0.5 s", _fmt_s(ours["median"]), ours["median"] < 0.5,
                _fmt_s(_cpu(ours)), (_cpu(ours) or 1e9) < 0.5)
    c2 = results.get("case2")
    if c2:
        for est in ("REML", "DL"):
            if f"{est}/batch" not in c2["runs"]:
                continue
            entry = c2["runs"][f"{est}/batch"]
            target = f"{c2['n']:,} analyses of k={c2['k']} in one process ({est}): under 10 s"
            if "process" in entry:
                wall, cpu = entry["process"]["median"], _cpu(entry["process"])
                add(2, target, f"{_fmt_s(wall)} (whole process)", wall < 10, _fmt_s(cpu), (cpu or 1e9) < 10)
            else:
                add(2, target, "; ".join(entry.get("errors", []))[:200], False)
    c3 = results.get("case3", {}).get("result")
    if c3:
        if "skipped" in c3 or "error" in c3:
            add(3, "leave-one-out + influence, k=1,000 REML", c3.get("skipped") or c3.get("error")[:200], None)
        else:
            ours = c3["evsynth"]
            add(3, f"leave-one-out + influence, k={results['case3']['k']:,} REML: under 0.3 s",
                _fmt_s(ours["median"]), ours["median"] < 0.3, _fmt_s(_cpu(ours)), (_cpu(ours) or 1e9) < 0.3)
            ratio_check(3, "≥10x faster than PyMARE refits in a loop", c3["pymare_loop"], c3["evsynth_interleaved"],
                        10, "{:,.1f}x", below=False)
    c4 = results.get("case4", {}).get("result")
    if c4:
        target = "network meta-analysis, 20 treatments, 300 trials: under 2 s"
        if "skipped" in c4 or "error" in c4:
            add(4, target, "skipped: " + (c4.get("skipped") or c4.get("error"))[:200], None)
        else:
            ours = c4["evsynth"]
            add(4, target, _fmt_s(ours["median"]), ours["median"] < 2, _fmt_s(_cpu(ours)), (_cpu(ours) or 1e9) < 2)
    c5 = results.get("case5")
    if c5 and "shipped" in c5 and "cold" in c5["shipped"]:
        s, version = c5["shipped"], c5["version"]
        # Issue 18's targets (issue 9 asked for 2x and 1/3).
        ratio_check(5, "no-op re-run under 1.5x `snakemake --version`", s["noop"], version, 1.5)
        if "edit" in s:
            ratio_check(5, "one-row edit under 5% of the cold run", s["edit"], s["cold"], 0.05)
        r = c5.get("review_run", {})
        for name, run in (("shipped", s), ("20x review", r)):
            floor = (run.get("floor") or {}).get("run")
            if floor and "cold" in run:
                ratio_check(5, f"{name}: cold run within 2x of the floor (same work, one process)", run["cold"],
                            floor, 2)
            elif "cold" in run:
                error = (run.get("floor") or {}).get("error", "no floor")
                add(5, f"{name}: cold run within 2x of the floor", error[:200], False)
        if "cold" in r:
            ratio_check(5, "20x review: cold run under 4x the shipped table's", r["cold"], s["cold"], 4)
        else:
            error = r.get("error", "not run")
            timed_out = [c for c in r.get("cold_runs", []) if c.get("timed_out")]
            if timed_out:
                bound = timed_out[0]["wall_s"] / s["cold"]["median"]
                error = f"> {bound:.1f}x: {error}"
            add(5, "20x review: cold run under 4x the shipped table's", error[:200],
                None if "--no-review" in error else False)
    elif c5 and not smoke:
        add(5, "pipeline", (c5.get("shipped") or {}).get("error", "not run")[:300], False)
    c6 = results.get("case6")
    if c6:
        size = f"{c6['effects']:,} effects in {c6['trials']} trials"
        py, mf = c6["python"], c6["metafor"]
        if "error" in py:
            add(6, f"CHE + CR2, {size}", py["error"][:200], False)
        else:
            ours = py["evsynth"]
            add(6, f"CHE + CR2, {size}: under 50 ms", _fmt_s(ours["median"]), ours["median"] < 0.05,
                _fmt_s(_cpu(ours)), (_cpu(ours) or 1e9) < 0.05)
            target = "≥20x faster than metafor rma.mv + clubSandwich coef_test"
            if mf.get("ok"):
                ratio_check(6, target, mf, ours, 20, "{:,.0f}x", below=False)
            else:
                add(6, target, "metafor " + (mf.get("skipped") or mf.get("error", ""))[:120], None)
    c7 = results.get("case7")
    if c7:
        for label, run in c7["runs"].items():
            one = run["one"].get("evsynth")
            if one:
                add(7, f"Bayesian posterior, k={c7['k']}, {label}: under 5 ms", _fmt_s(one["median"]),
                    one["median"] < 0.005, _fmt_s(_cpu(one)), (_cpu(one) or 1e9) < 0.005)
            many = run["many"]
            target = f"{c7['n']:,} Bayesian analyses of k={c7['k']}, {label}, one process: under 10 s"
            if "process" in many:
                wall, cpu = many["process"]["median"], _cpu(many["process"])
                add(7, target, f"{_fmt_s(wall)} (whole process)", wall < 10, _fmt_s(cpu), (cpu or 1e9) < 10)
            else:
                add(7, target, "; ".join(many.get("errors", []))[:200], False)
    c8 = results.get("case8")
    if c8:
        s = conversions_case.summary(c8)
        target = "reported forms: cold run under 5% above the same trials entered directly"
        if "cold_ratio_cpu" in s:
            add(8, target, f"{100 * (s['cold_ratio_wall'] - 1):+.1f}%", s["cold_ratio_wall"] < 1.05,
                f"{100 * (s['cold_ratio_cpu'] - 1):+.1f}%", s["cold_ratio_cpu"] < 1.05)
        elif not smoke:
            add(8, target, str(c8.get("cold_reported", c8.get("cold_direct", "not run")))[:200], False)
    return targets


def write_report(results: dict, out: Path, smoke: bool, command: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    info = results["machine"]
    lines = [
        "# evsynth benchmarks" + (" (smoke run: tiny sizes, no targets)" if smoke else ""),
        "",
        f"Written by `{command}` on {results['finished']} in {results['duration_s'] / 60:.1f} min "
        f"(machine-readable copy: `results.json`).",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        f"| CPU | {info['cpu']}, nproc = {info['nproc']} |",
        f"| memory | {info['memory_gb']} GB |",
        f"| load average (1, 5, 15 min) | start {', '.join(f'{x:.1f}' for x in info['load_average_start'])}; "
        f"end {', '.join(f'{x:.1f}' for x in info['load_average_end'])} |",
        f"| platform | {info['platform']} |",
        f"| versions | Python {info['python']}, numpy {info['numpy']}, scipy {info['scipy']}, pandas {info['pandas']}, "
        f"PyMARE {info['pymare']}, Snakemake {info['snakemake']}, matplotlib {info['matplotlib']}, "
        f"R {info['r']}, metafor {info['metafor']} |",
        f"| evsynth | git {info['git']} |",
        "",
        "Times are wall-clock medians [min–max] ×repetitions, with the median CPU time in "
        "parentheses (for a pipeline run: of the whole process tree, so above wall time when jobs run "
        "in parallel). A load average above nproc means other processes shared the CPUs: wall times "
        "then overstate; CPU times and ratios (always measured in the same run, alternating) much less.",
        "",
    ]
    targets = results["targets"]
    if targets:
        lines += ["## Targets", "",
                  "Judged on wall-clock time, as the targets are stated; the same measurement in CPU time "
                  "(what the work cost, whatever else ran on the machine) beside it.", "",
                  "| case | target | measured (wall) | met | measured (CPU) | met (CPU) |",
                  "|---|---|---|---|---|---|"]
        for t in targets:
            met = {True: "yes", False: "**no**", None: "—"}
            why = f" ({t['why']})" if t["why"] else ""
            lines.append(f"| {t['case']} | {t['target']} | {t['measured']}{why} | {met[t['met']]} | "
                         f"{t.get('measured_cpu', '—')} | {met[t.get('met_cpu')]} |")
        lines.append("")
    c1 = results.get("case1")
    if c1:
        lines += [
            "## 1. One analysis, full summary",
            "",
            "`pool(yi, vi, estimator, ci_method='hksj', prediction_interval='t_k-1', tau2_ci='qprofile')` "
            "(PyMARE below k = 100,000, `pool_large_k` from there) against metafor "
            "`rma(yi, vi, method, test='knha')` + `confint()` + `predict()` on the same data "
            "(vᵢ ~ U(0.01, 1), yᵢ ~ N(0.2, vᵢ + 0.05)), and against a bare numpy Fisher-scoring loop "
            "for REML tau² alone (`workers.bare_fisher_scoring`; the yardstick of the k = 10⁶ target "
            "for both estimators).",
            "",
            "| k | method | evsynth | metafor | metafor / evsynth | bare Fisher loop | evsynth / bare | "
            "peak memory of the call | PyMARE engine forced |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for row in c1["rows"]:
            py, mf = row["python"], row["metafor"]
            if "error" in py:
                lines.append(f"| {row['k']:,} | {row['estimator']} | error: {py['error'][:120]} | | | | | | |")
                continue
            ours = py["evsynth"]
            if mf.get("ok"):
                mf_text, ratio = _spread(mf), _ratio_text(mf, ours)
            elif "skipped" in mf:
                mf_text, ratio = f"skipped ({mf['skipped']})", "—"
            else:
                mf_text, ratio = f"fails after {_fmt_s(mf.get('elapsed'))}: {mf.get('error', '')[:90]}", "—"
            bare = py["bare_fisher"]
            forced = _spread(py["pymare_forced"]) if "pymare_forced" in py else "—"
            lines.append(
                f"| {row['k']:,} | {row['estimator']} | {_spread(ours)} | {mf_text} | {ratio} | {_spread(bare)} | "
                f"{_ratio_text(ours, bare, '{:.2f}x')} | {py['peak_traced_mb']:.1f} MB (process max RSS "
                f"{py['max_rss_mb']:.0f} MB) | {forced} |")
        lines.append("")
    c2 = results.get("case2")
    if c2:
        lines += [
            f"## 2. {c2['n']:,} separate analyses of k = {c2['k']} in one process",
            "",
            "Each run is a fresh process: interpreter start, imports, data, pooling with the full "
            "cochrane-2025 summary. `batch` is `pool_many` (PyMARE parallel datasets); `loop` is "
            "`[pool(y, v) for ...]`.",
            "",
            "| method / mode | whole process | of which pooling | of which imports | max RSS |",
            "|---|---|---|---|---|",
        ]
        for name, entry in c2["runs"].items():
            if "process" not in entry:
                lines.append(f"| {name} | error: {'; '.join(entry['errors'])[:150]} | | | |")
                continue
            lines.append(f"| {name} | {_spread(entry['process'])} | {_spread(entry['pool'])} | "
                         f"{_spread(entry['import'])} | {entry['max_rss_mb']:.0f} MB |")
        for est in ("REML", "DL"):
            a, b = c2["runs"].get(f"{est}/batch", {}), c2["runs"].get(f"{est}/loop", {})
            if "pool" in a and "pool" in b:
                lines.append(f"\n{est}: `pool_many` is {b['pool']['median'] / a['pool']['median']:.1f}x faster "
                             "than the loop of `pool` (pooling time, same data).")
        lines.append("")
    c3 = results.get("case3")
    if c3:
        r = c3["result"]
        lines += [f"## 3. Leave-one-out and influence diagnostics, k = {c3['k']:,} (REML)", ""]
        if "skipped" in r or "error" in r:
            lines += [f"Skipped: {r.get('skipped') or r.get('error')}", ""]
        else:
            ratio = _ratio_text(r["pymare_loop"], r["evsynth_interleaved"])
            lines += [
                f"`{r['entry_point']}` against PyMARE refits in a loop (`workers.pymare_refit_loop`: "
                "one `VarianceBasedLikelihoodEstimator` fit + `get_fe_stats` per left-out study).",
                "",
                "| | time | peak memory |",
                "|---|---|---|",
                f"| evsynth | {_spread(r['evsynth'])} | {r['peak_traced_mb']:.1f} MB |",
                f"| evsynth (alternating with the loop) | {_spread(r['evsynth_interleaved'])} | |",
                f"| PyMARE refits in a loop | {_spread(r['pymare_loop'])} | |",
                "",
                f"Ratio (same run): {ratio}.",
                "",
            ]
    c4 = results.get("case4")
    if c4:
        r = c4["result"]
        lines += [f"## 4. Network meta-analysis, {c4['treatments']} treatments, {c4['trials']} trials", ""]
        data = r.get("data", {})
        if data:
            lines += [f"Synthetic network (`synthetic.network`): {data.get('arms')} arms, "
                      f"{data.get('multi_arm_trials')} multi-arm trials.", ""]
        if "skipped" in r or "error" in r:
            lines += [f"Skipped: {r.get('skipped') or r.get('error')}", ""]
        else:
            lines += [f"`{r['entry_point']}`: {_spread(r['evsynth'])}, peak memory {r['peak_traced_mb']:.1f} MB.", ""]
    c5 = results.get("case5")
    if c5:
        review = c5.get("review_table", {})
        lines += [
            "## 5. The pipeline",
            "",
            f"`snakemake --cores 4` in a temporary snapshot of the workflow (Snakefile, workflow/, scripts/; "
            f"PYTHONPATH at the snapshot's package). `snakemake --version`: {_spread(c5['version'])}. The "
            f"synthetic review has {review.get('rows', '?'):,} rows ({review.get('shipped_rows')} shipped), "
            f"{review.get('trials')} trials, {review.get('outcomes')} outcomes, "
            f"{review.get('timepoint_windows')} timepoint windows (`synthetic.write_review`, scale "
            f"{review.get('scale')}).",
            "",
        ]
        if "dry_run" in c5.get("review_run", {}):
            for label in ("review_run",):
                run = c5[label]["dry_run"]
                lines.append(f"- synthetic review: dry run {_fmt_s(run['wall_s'])}, exit {run['returncode']}, "
                             f"{run['jobs']} jobs" + (f": {run['error'][-300:]}" if run.get("error") else ""))
            lines.append("")
        else:
            lines += ["| table | cold | no-op re-run | one-row edit | jobs (cold / no-op / edit) | "
                      "figures (formats) | largest process RSS |", "|---|---|---|---|---|---|---|"]
            for label, key in (("shipped", "shipped"), ("20x review", "review_run")):
                r = c5.get(key, {})
                if "cold" not in r:
                    lines.append(f"| {label} | {r.get('error', 'not run')[:200]} | | | | | |")
                    continue
                jobs = f"{r.get('jobs')} / {r.get('noop_jobs')} / {r.get('edit_jobs')}"
                formats = " + ".join(f.upper() for f in r.get("figure_formats", ["svg", "png", "pdf"]))
                lines.append(f"| {label} | {_spread(r['cold'])} | {_spread(r.get('noop'))} | "
                             f"{_spread(r.get('edit'))} | {jobs} | {r.get('figures', '?')} ({formats}) | "
                             f"{r['cold_max_rss_mb']:.0f} MB |")
            lines.append("")
            lines += _floor_lines(c5)
            lines += _drawing_analysis(c5)
    c6 = results.get("case6")
    if c6:
        py, mf = c6["python"], c6["metafor"]
        lines += [f"## 6. Several effects per trial: CHE + CR2, {c6['effects']:,} effects in {c6['trials']} trials",
                  "",
                  "`fit_multilevel(yi, ClusteredCovariance.constant_correlation(vi, trial, 0.6), test='t')` + "
                  "`cr2(fit)` against metafor `vcalc(rho=0.6)` + `rma.mv(yi, V, random=~1|trial/obs, test='t')` + "
                  "clubSandwich `coef_test(vcov='CR2', test='Satterthwaite')` on the same data "
                  "(`synthetic.dependent_effects`), alternating in two rounds.",
                  ""]
        if "error" in py:
            lines += [f"evsynth failed: {py['error'][:300]}", ""]
        else:
            mf_text = _spread(mf) if mf.get("ok") else (mf.get("skipped") or mf.get("error", ""))[:200]
            ratio = _ratio_text(mf, py["evsynth"], "{:,.0f}x") if mf.get("ok") else "—"
            lines += ["| evsynth | metafor + clubSandwich | metafor / evsynth | peak memory of the call |",
                      "|---|---|---|---|",
                      f"| {_spread(py['evsynth'])} | {mf_text} | {ratio} | {py['peak_traced_mb']:.1f} MB |", "",
                      f"Check: sigma² = {py['check']['sigma2']}, estimate {py['check']['beta']:.6f}, CR2 SE "
                      f"{py['check']['se_cr2']:.6f} on {py['check']['df']:.2f} df "
                      f"({py['check']['iterations']} Fisher-scoring steps).", ""]
    c7 = results.get("case7")
    if c7:
        lines += [f"## 7. Bayesian random-effects posterior, k = {c7['k']}", "",
                  "`bayes_meta(yi, vi, TauPrior('half-normal', 0.5))`: posterior median, central and shortest "
                  "95% intervals of mu, tau and a new trial's effect, P(mu > 0), and (with shrinkage) each "
                  "trial's shrunken median and interval. `many` is a fresh process running "
                  f"{c7['n']:,} analyses through `bayes_many` (`evsynth.stats.bayes_batch`, the same "
                  "computation vectorised over analyses) (interpreter, imports, data and fits).", "",
                  "| | one call | many: whole process | of which fitting | max RSS |", "|---|---|---|---|---|"]
        for label, run in c7["runs"].items():
            one, many = run["one"].get("evsynth"), run["many"]
            if "process" in many and one:
                lines.append(f"| {label} | {_spread(one)} | {_spread(many['process'])} | {_spread(many['fit'])} | "
                             f"{many['max_rss_mb']:.0f} MB |")
            else:
                lines.append(f"| {label} | error: {str(run)[:150]} | | | |")
        lines.append("")
    if results.get("case8"):
        lines += conversions_case.report(results["case8"], _spread, _fmt_s)
    if results.get("notes"):
        lines += ["## Notes", ""] + [f"- {n}" for n in results["notes"]] + [""]
    (out / "results.md").write_text("\n".join(lines))


def _floor_lines(c5: dict) -> list[str]:
    """The floor of each table (issue 18): its cost, what it checked, and the cold run against it."""
    lines = ["The floor (`benchmarks/floor.py`): every job of the cold run (the scripts Snakemake ran, kept "
             "with `--skip-script-cleanup`, each with its pickled inputs and params) run again in one process, "
             "in the order the cold run started them; its files are compared byte for byte (sha256, logs "
             "excepted) with the cold run's.", "",
             "| table | floor | jobs | files identical | cold / floor (wall) | cold / floor (CPU) | "
             "CPU by rule in the floor |", "|---|---|---|---|---|---|---|"]
    notes: list[str] = []
    for label, key in (("shipped", "shipped"), ("20x review", "review_run")):
        run = c5.get(key) or {}
        floor = run.get("floor")
        if not floor or "cold" not in run:
            continue
        if "error" in floor:
            lines.append(f"| {label} | {floor['error'][:200]} | | | | | |")
            continue
        by_rule = sorted(floor["cpu_per_rule_s"].items(), key=lambda kv: -kv[1])
        rules = ", ".join(f"{name} {_fmt_s(cpu)}" for name, cpu in by_rule[:6])
        same = floor["files_compared"] - len(floor["files_differing"])
        differing = f" (differ: {', '.join(floor['files_differing'][:5])})" if floor["files_differing"] else ""
        if "cold_greedy" in run:
            greedy = run["cold_greedy"]
            notes.append(f"- {label}: a cold run with `--scheduler greedy` (no ILP solve per job selection): "
                         f"{_spread(greedy)}, {greedy['median'] / floor['run']['median']:.2f}x the floor "
                         f"(CPU {_cpu(greedy) / _cpu(floor['run']):.2f}x).")
        lines.append(f"| {label} | {_spread(floor['run'])} | {floor['jobs']} | {same} of {floor['files_compared']}"
                     f"{differing} | {run['cold']['median'] / floor['run']['median']:.2f}x | "
                     f"{_cpu(run['cold']) / _cpu(floor['run']):.2f}x | {rules} |")
    lines.append("")
    return lines + ([*notes, ""] if notes else [])


def _drawing_analysis(c5: dict) -> list[str]:
    """How much of each cold run drawing figures explains (the 20x review's ratio)."""
    cost, shipped, review = c5.get("figure_cost") or {}, c5.get("shipped") or {}, c5.get("review_run") or {}
    if "error" in cost or not cost or "cold" not in shipped:
        return []
    parts = {fmt: cost[fmt]["cpu_median"] if "cpu_median" in cost[fmt] else cost[fmt]["median"]
             for fmt in ("draw", "svg", "png", "pdf")}
    one = sum(parts.values())
    lines = [
        f"Drawing one figure (the forest plot of {cost['analysis']}, CPU time, median of "
        f"{cost['draw']['reps']}): layout {_fmt_s(parts['draw'])}, SVG {_fmt_s(parts['svg'])}, "
        f"PNG {_fmt_s(parts['png'])}, PDF {_fmt_s(parts['pdf'])} (TrueType fonts subset and embedded); "
        f"{_fmt_s(one)} in all.",
        "",
    ]
    for label, r in (("shipped table", shipped), ("20x review", review)):
        if "cold" in r and r.get("figures"):
            cpu = r["cold"].get("cpu_median") or r["cold"]["median"]
            formats = r.get("figure_formats", ["svg", "png", "pdf"])
            each = parts["draw"] + sum(parts[f] for f in formats)
            lines.append(f"- {label}: {r['figures']:,} figures ({' + '.join(f.upper() for f in formats)}) x "
                         f"{_fmt_s(each)} = about {r['figures'] * each:,.0f} CPU s of drawing, of a cold run "
                         f"of {cpu:,.0f} CPU s ({r['jobs']:,} jobs).")
    lines.append("")
    return lines


def _splice(previous: str, fresh: str, merged: list[str], note: str) -> str:
    """``previous`` results.md with the merged cases' target rows and sections taken from ``fresh``."""
    numbers = {c.removeprefix("case") for c in merged}
    old, new = previous.split("\n"), fresh.split("\n")

    def targets(lines):
        """Line numbers of the Targets table's rows (other tables' first cells may be numbers too)."""
        start = next(i for i, line in enumerate(lines) if line == "## Targets")
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        return [i for i in range(start, end) if lines[i].startswith("| ") and lines[i][2:3].isdigit()]

    def rows(lines):
        return [i for i in targets(lines) if lines[i][2:].split(" |")[0] in numbers]

    def section(lines, number):
        start = next((i for i, line in enumerate(lines) if line.startswith(f"## {number}. ")), None)
        if start is None:
            return None, None
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        return start, end

    out = [line for i, line in enumerate(old) if i not in set(rows(old))]
    table_end = max(targets(out), default=None)
    if table_end is not None:
        out[table_end + 1:table_end + 1] = [new[i] for i in rows(new)]
    for number in sorted(numbers):
        start, end = section(new, number)
        if start is None:
            continue
        o_start, o_end = section(out, number)
        if o_start is not None:
            out[o_start:o_end] = new[start:end]
        else:
            at = next((i for i, line in enumerate(out) if line == "## Notes"), len(out))
            out[at:at] = new[start:end]
    header = next(i for i, line in enumerate(out) if line.startswith("Written by `"))
    out[header] = out[header].split(" Case re-runs: ")[0] + f" Case re-runs: {note}"
    return "\n".join(out)


def _previous_command(out: Path) -> str:
    """The command in an earlier results.md's header (results.json did not keep it)."""
    import re

    found = re.search(r"^Written by `(.*?)` on ", (out / "results.md").read_text(), flags=re.MULTILINE | re.DOTALL)
    return found.group(1) if found else "an earlier run of benchmarks/run.py"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, no targets (CI)")
    parser.add_argument("--cases", default="1,2,3,4,5,6,7,8", help="comma-separated case numbers")
    parser.add_argument("--out", type=Path, default=HERE, help="directory for results.md and results.json")
    parser.add_argument("--no-metafor", action="store_true", help="skip the metafor runs even if R is installed")
    parser.add_argument("--no-review", action="store_true", help="case 5 without the 20x synthetic review")
    parser.add_argument("--greedy", action="store_true", help="case 5: also a cold run with --scheduler greedy")
    parser.add_argument("--reps", help="case 5: version,noop,edit repetitions (e.g. 3,2,1 on a loaded machine)")
    parser.add_argument("--note", action="append", default=[], help="a line for the report's Notes")
    parser.add_argument("--merge", action="store_true",
                        help="keep the other cases' results from the existing results.json (each case keeps its "
                             "own machine load; case 8 records its own)")
    args = parser.parse_args(argv)
    cfg = SMOKE if args.smoke else FULL
    if args.no_review:
        cfg = {**cfg, "case5": {**cfg["case5"], "skip_review": True}}
    if args.greedy:
        cfg = {**cfg, "case5": {**cfg["case5"], "greedy_cold": True}}
    if args.reps:
        version, noop, edit = (int(x) for x in args.reps.split(","))
        cfg = {**cfg, "case5": {**cfg["case5"], "version_reps": version, "noop_reps": noop, "edit_reps": edit}}
    cases = {int(c) for c in args.cases.split(",") if c}
    started = time.perf_counter()

    def log(message):
        print(f"[{time.perf_counter() - started:7.1f} s] {message}", flush=True)

    info = machine()
    if args.no_metafor:
        info["rscript"] = None
    results: dict = {"machine": info, "smoke": args.smoke, "config": {k: str(v) for k, v in cfg.items()},
                     "notes": args.note}
    if 1 in cases:
        results["case1"] = case1(cfg, info, log)
    if 2 in cases:
        results["case2"] = case2(cfg, log)
    if 3 in cases:
        results["case3"] = case3(cfg, log)
    if 4 in cases:
        results["case4"] = case4(cfg, log)
    if 5 in cases:
        results["case5"] = case5(cfg, log)
    if 6 in cases:
        results["case6"] = case6(cfg, info, log)
    if 7 in cases:
        results["case7"] = case7(cfg, log)
    if 8 in cases:
        results["case8"] = conversions_case.case8(cfg, log, run_process, _snapshot, _snakemake, stats)
    if args.merge and (args.out / "results.json").is_file():
        previous = json.loads((args.out / "results.json").read_text())
        kept = {k: v for k, v in previous.items() if k.startswith("case") and k not in results}
        results = {**previous, **results, **kept, "machine": previous.get("machine", info)}
        results["notes"] = previous.get("notes", []) + [n for n in args.note if n not in previous.get("notes", [])]
        results["merged"] = sorted(f"case{c}" for c in cases)
        info = results["machine"]
        args.note = results["notes"]
    command = "python benchmarks/run.py" + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    if results.get("merged"):  # the header stays the earlier run's; say what this run replaced
        results["merge_note"] = (f"{', '.join(results['merged'])} re-run by `{command.strip()}` on "
                                 f"{dt.datetime.now().isoformat(timespec='seconds')} in "
                                 f"{(time.perf_counter() - started) / 60:.1f} min (each such case gives its own "
                                 "machine load).")
        command = results.get("command") or _previous_command(args.out)
    else:
        info["load_average_end"] = os.getloadavg()
        results["duration_s"] = time.perf_counter() - started
        results["finished"] = dt.datetime.now().isoformat(timespec="seconds")
    results["command"] = command.strip()
    results["targets"] = evaluate(results, args.smoke)
    previous_md = (args.out / "results.md").read_text() if results.get("merged") else None
    write_report(results, args.out, args.smoke, command.strip())
    if previous_md:  # keep the earlier page (hand-added sections included); splice in what was re-run
        fresh = (args.out / "results.md").read_text()
        (args.out / "results.md").write_text(_splice(previous_md, fresh, results["merged"], results["merge_note"]))
    log(f"wrote {args.out / 'results.md'}")
    for t in results["targets"]:
        print(f"  case {t['case']}: {t['target']}: {t['measured']} -> {t['met']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
