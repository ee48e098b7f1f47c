"""Processes and machine facts for the benchmark runner (benchmarks/run.py): wall and CPU time
of a process tree, fresh-process workers (``workers.py``), medians of repeated samples."""

from __future__ import annotations

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
PYTHON = sys.executable
SNAKEMAKE = [PYTHON, "-m", "snakemake"]


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
