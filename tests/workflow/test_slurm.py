"""The whole workflow through a real Slurm: a single node on localhost (Debian's slurm-wlm
and munge, started by tests/slurm/start_slurm.sh), driven by snakemake-executor-plugin-slurm
with the shipped profile workflow/profiles/slurm, ends with the same bytes under results/
as a local run (``--cores 2``) of the same code and table.

Both runs use the session's snapshot of the Snakefile, workflow/ and scripts/, each review
carrying a copy (its evsynth first on PYTHONPATH, which sbatch passes on to the jobs), so an
edit to the repo during the run cannot make them differ. The table is the workflow tests'
subset (conftest.small_table, 4 analyses): it runs every rule the full shipped table runs but
the PRISMA figure, in a fraction of the time; the local run is the session's shared run of
it. Only what a localhost Slurm without accounting needs is overridden on the command line:
job status from `squeue` (no slurmdbd, so no `sacct`), a 1 s first status check, kept Slurm
logs (to count the jobs) and no retries (so that a failure shows).

Needs root, the Debian packages (`apt-get install -y --no-install-recommends slurm-wlm
munge`) and the plugin (requirements-test.txt); skipped without them, unless
EVSYNTH_REQUIRE_SLURM=1 (set by .ci/run, which installs the packages) turns the skip into a
failure. Slurm is left running (`bash tests/slurm/start_slurm.sh stop` stops it). Slow
(marked ``workflow``): about 50 s on an idle 2-core machine for the Slurm run (its group jobs
of 2 CPUs each take turns on the 2-CPU node), besides the shared local run.
"""

from __future__ import annotations

import filecmp
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from conftest import REPO, all_formats_config, figure_formats, new_review

pytestmark = pytest.mark.workflow

START = REPO / "tests" / "slurm" / "start_slurm.sh"
DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "sinfo")
# Overrides of workflow/profiles/slurm for a localhost Slurm without slurmdbd (see the docstring).
LOCALHOST = ("--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "1",
             "--slurm-keep-successful-logs", "--retries", "0")
SUBMITTED = re.compile(r"has been submitted with SLURM jobid (\d+) \(log: (.+?)\)\.")
RULE = re.compile(r"^\s*(local)?rule (\w+):$", re.MULTILINE)


def unavailable(reason: str) -> None:
    if os.environ.get("EVSYNTH_REQUIRE_SLURM") == "1":
        pytest.fail(f"{reason}; EVSYNTH_REQUIRE_SLURM=1 (.ci/run installs Slurm), so this test must run")
    pytest.skip(f"{reason}; it runs as root after `apt-get install -y --no-install-recommends slurm-wlm "
                "munge` and `pip install -r requirements-test.txt`")


def snakemake(code: Path, workdir: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the snapshot's Snakefile in ``workdir`` with the snapshot's evsynth first on the path."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(code / "workflow" / "lib")] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])))
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(code / "Snakefile"),
               "--directory", str(workdir), *args]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
    except subprocess.TimeoutExpired as timeout:
        output = "".join(part.decode() if isinstance(part, bytes) else part
                         for part in (timeout.stdout or "", timeout.stderr or ""))
        jobs = SUBMITTED.findall(output)
        if jobs:  # leave no job of this run behind in the queue
            subprocess.run(["scancel", *(job for job, _ in jobs)], check=False)
        queue = subprocess.run(["squeue", "--states=all"], capture_output=True, text=True).stdout
        raise AssertionError(f"snakemake timed out:\n{output[-3000:]}\nsqueue:\n{queue}") from None
    if result.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return result


@pytest.fixture(scope="module")
def slurm():
    """A running single-node Slurm, left running (another pytest run may be using it; the next
    start is then instant): `bash tests/slurm/start_slurm.sh stop` stops it."""
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        unavailable("snakemake-executor-plugin-slurm is not installed")
    if os.geteuid() != 0:
        unavailable("starting munged, slurmctld and slurmd needs root")
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin"
    missing = [name for name in DAEMONS if shutil.which(name, path=path) is None]
    if missing:
        unavailable(f"Slurm is not installed ({', '.join(missing)} not found)")
    started = subprocess.run(["bash", str(START)], capture_output=True, text=True, timeout=180)
    assert started.returncode == 0, f"tests/slurm/start_slurm.sh failed:\n{started.stdout}\n{started.stderr}"


@pytest.fixture(scope="module")
def runs(slurm, small_review, code_snapshot, tmp_path_factory):
    """(Slurm run directory, its snakemake output, what `scontrol` said about each of its
    Slurm jobs right after the run, local run directory). The local run is the session's
    (conftest.small_review), a review carrying the same code snapshot as the Slurm run's."""
    on_slurm = new_review(code_snapshot, tmp_path_factory.mktemp("slurm") / "on_slurm")
    run = snakemake(on_slurm, on_slurm, "--workflow-profile", str(on_slurm / "workflow" / "profiles" / "slurm"),
                    *LOCALHOST)
    output = run.stdout + run.stderr
    # Asked now: slurmctld forgets a finished job MinJobAge (300 s) after its end.
    shown = {job: subprocess.run(["scontrol", "show", "job", "--oneliner", job], capture_output=True,
                                 text=True).stdout for job, _ in SUBMITTED.findall(output)}
    return on_slurm, output, shown, small_review


def results(root: Path) -> list[str]:
    """Every file under results/ but the logs (which hold times and paths)."""
    return sorted(str(p.relative_to(root)) for p in (root / "results").rglob("*")
                  if p.is_file() and "logs" not in p.relative_to(root).parts)


def test_slurm_run_gives_the_same_bytes_as_a_local_run(runs):
    on_slurm, _, _, local = runs
    files = results(local)
    assert len(files) > 15
    suffixes = {f".{ext}" for ext in figure_formats(all_formats_config())}
    assert {Path(f).suffix for f in files} >= {".tsv", ".md", ".html", *suffixes}
    assert results(on_slurm) == files
    _, mismatch, errors = filecmp.cmpfiles(local, on_slurm, files, shallow=False)
    assert mismatch == [] and errors == []


def test_every_non_local_job_ran_as_a_completed_slurm_job(runs):
    on_slurm, output, shown, _ = runs
    submitted = SUBMITTED.findall(output)
    assert submitted, output[-3000:]
    for job, log in submitted:
        # Slurm itself has the job completed, run in the Slurm run's directory.
        assert "JobState=COMPLETED" in shown[job].split(), shown[job]
        assert f"WorkDir={on_slurm}" in shown[job].split(), shown[job]
        assert Path(log).is_file() and Path(log).is_relative_to(on_slurm / ".snakemake" / "slurm_logs")
    # The rules the Slurm jobs ran (their logs) are exactly the non-local rules of the run:
    # none ran on the submitting side, and no localrule went to Slurm.
    in_slurm_jobs = Counter()
    for _, log in submitted:
        in_slurm_jobs.update(rule for local, rule in RULE.findall(Path(log).read_text()) if not local)
    submitting_side = RULE.findall(output)
    non_local = Counter(rule for local, rule in submitting_side if not local)
    local_rules = {rule for local, rule in submitting_side if local}
    assert in_slurm_jobs == non_local
    assert {"analyse", "plot_forest"} <= set(non_local)
    assert local_rules and not local_rules & set(non_local)
