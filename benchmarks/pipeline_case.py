"""Case 5 of benchmarks/run.py: the Snakemake pipeline in a temporary snapshot of the workflow
(cold run, no-op re-run, one-row edit) on the shipped table and on the 20x synthetic review,
against ``snakemake --version`` and the floor (``floor.py``: the same work in one process)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import synthetic
from processes import HERE, PYTHON, REPO, SNAKEMAKE, run_process, stats, worker


def snapshot(directory: Path, config: Path | None = None, table: Path | None = None) -> None:
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


def run_snakemake(directory: Path, timeout: float, *extra: str) -> dict:
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
        greedy = run_snakemake(directory, c["timeout"], "--scheduler", "greedy")
        if greedy["returncode"] == 0:
            out["cold_greedy"] = stats([greedy["wall_s"]], [greedy["cpu_s"]])
    colds = []
    for rep in range(cold_reps):
        for leftover in (".snakemake", "results"):
            shutil.rmtree(directory / leftover, ignore_errors=True)
        log(f"case 5: {label}: cold run {rep + 1}/{cold_reps}")
        # The last cold run keeps each job's script (with its pickled inputs and params): the floor.
        keep = ("--skip-script-cleanup",) if rep == cold_reps - 1 else ()
        colds.append(run_snakemake(directory, c["timeout"], *keep))
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
        noops.append(run_snakemake(directory, c["timeout"]))
    out["noop_runs"] = noops
    out["noop"] = stats([r["wall_s"] for r in noops], [r["cpu_s"] for r in noops])
    out["noop_jobs"] = [r["jobs"] for r in noops]
    edits = []
    for rep in range(edit_reps):
        edited = _edit_one_row(directory, rep)
        log(f"case 5: {label}: re-run after editing {edited}")
        run = run_snakemake(directory, c["timeout"])
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
        snapshot(shipped)
        review = Path(tmp) / "review"
        snapshot(review)
        trials, outcomes, timepoints = c["review"]
        out["review_table"] = synthetic.write_review(review, trials, outcomes, timepoints,
                                               table_path=REPO / "studies.tsv", config_path=REPO / "config.yaml")
        if c.get("dry_run_only"):
            for label, directory in (("review_run", review),):
                log(f"case 5: {label}: dry run")
                run = run_snakemake(directory, c["timeout"], "--dry-run")
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
