"""Code inputs are exactly each script's import closure: editing any evsynth module re-runs
the rules whose scripts import it, directly or not, and no other; a finished review copied
to another path plans nothing.

The expected rules come from Python's own import machinery (each script's import statements
are executed in a fresh interpreter and ``sys.modules`` is read), not from
evsynth.pipeline.sources, which the workflow uses; the observed ones from dry runs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import REPO, copy_review

pytestmark = pytest.mark.workflow

PACKAGE = REPO / "workflow" / "lib" / "evsynth"
MODULES = sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py"))


def _first_and_last_per_folder(modules: list[str]) -> list[str]:
    """Each package folder's first and last module besides ``__init__``, and the package's own
    ``__init__``: every layer's edits are dry-run (~17 runs, not one per module; the closure
    test above checks every module's code inputs exactly)."""
    folders: dict[str, list[str]] = {}
    for m in modules:
        if not m.endswith("/__init__.py"):
            folders.setdefault(m.rpartition("/")[0], []).append(m)
    return sorted({m for group in folders.values() for m in (group[0], group[-1])})


EDITED_MODULES = _first_and_last_per_folder(MODULES)

# Runs every script's imports (and only them) and prints which package files each loads.
_IMPORTS_PROBE = r"""
import ast, json, sys
from pathlib import Path
package = Path(sys.argv[1])
closures = {}
for script in sys.argv[2:]:
    tree = ast.parse(Path(script).read_text())
    for name in [m for m in sys.modules if m == "evsynth" or m.startswith("evsynth.")]:
        del sys.modules[name]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("evsynth") or (
                isinstance(node, ast.Import) and any(a.name.startswith("evsynth") for a in node.names)):
            exec(ast.unparse(node), {})
    closures[Path(script).stem] = sorted(
        Path(m.__file__).resolve().relative_to(package).as_posix()
        for n, m in list(sys.modules.items()) if n == "evsynth" or n.startswith("evsynth.")
    )
print(json.dumps(closures))
"""


def snakemake(review: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(review / "Snakefile"),
               "--directory", str(review), "--cores", "2", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def planned_rules(review: Path, *args: str) -> dict[str, int]:
    lines = snakemake(review, "--dry-run", *args).stdout.splitlines()
    counts = {}
    if "Job stats:" in lines:
        for line in lines[lines.index("Job stats:") + 3:]:
            parts = line.split()
            if len(parts) != 2 or parts[0] == "total":
                break
            counts[parts[0]] = int(parts[1])
    counts.pop("all", None)
    return counts


def dry_run_jobs(review: Path, *args: str) -> list[tuple[str, list[str]]]:
    """(rule, input files) of every job a dry run plans."""
    jobs, rule = [], None
    for line in snakemake(review, "--dry-run", *args).stdout.splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == "rule" and words[1].endswith(":"):
            rule = words[1][:-1]
        elif words[:1] == ["input:"] and rule is not None:
            jobs.append((rule, line.split(": ", 1)[1].split(", ")))
    return jobs


def rule_graph(review: Path) -> dict[str, set[str]]:
    """rule -> the rules that read its outputs (``snakemake --rulegraph``)."""
    dot = snakemake(review, "--rulegraph").stdout
    names = dict(re.findall(r'^\s*(\d+)\[label = "(\w+)"', dot, flags=re.M))
    graph = {name: set() for name in names.values()}
    for a, b in re.findall(r"^\s*(\d+) -> (\d+)", dot, flags=re.M):
        graph[names[a]].add(names[b])  # producer -> consumer
    return graph


def downstream(graph: dict[str, set[str]], rules: set[str]) -> set[str]:
    found, todo = set(rules), list(rules)
    while todo:
        for consumer in graph.get(todo.pop(), ()):
            if consumer not in found:
                found.add(consumer)
                todo.append(consumer)
    return found


@pytest.fixture(scope="module")
def review(small_review, tmp_path_factory) -> Path:
    """A finished review in its own folder: the workflow's code, config and a small table (a copy
    of the session's conftest.small_review, which carries its code; the tests below edit it)."""
    return copy_review(small_review, tmp_path_factory.mktemp("review") / "a")


@pytest.fixture(scope="module")
def closures(review) -> dict[str, list[str]]:
    scripts = sorted(str(p) for p in (REPO / "scripts").glob("*.py"))
    out = subprocess.run([sys.executable, "-c", _IMPORTS_PROBE, str(PACKAGE), *scripts],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def graph(review) -> dict[str, set[str]]:
    return rule_graph(review)


@pytest.fixture(scope="module")
def forced_jobs(review) -> list[tuple[str, list[str]]]:
    return dry_run_jobs(review, "--forceall")


@pytest.fixture(scope="module")
def rules_with_jobs(forced_jobs) -> set[str]:
    return {rule for rule, _ in forced_jobs} - {"all"}


def test_every_job_lists_exactly_its_scripts_import_closure(closures, forced_jobs):
    prefix = "workflow/lib/evsynth/"
    for rule, inputs in forced_jobs:
        if rule != "all":
            assert sorted(f[len(prefix):] for f in inputs if f.startswith(prefix)) == closures[rule], rule


def test_a_finished_review_copied_elsewhere_plans_nothing(review, tmp_path):
    copy = tmp_path / "moved" / "review"
    shutil.copytree(review, copy, symlinks=True)  # copy2: modification times kept, as `cp -a`
    assert planned_rules(review) == {}
    assert planned_rules(copy) == {}


def planned_after_editing(review: Path, module: str) -> set[str]:
    """Rules a dry run plans after an edit to ``module`` (undone afterwards)."""
    path = review / "workflow" / "lib" / "evsynth" / module
    text, before = path.read_bytes(), path.stat()
    # An edit, not a touch: Snakemake compares the checksum of an input newer than its outputs.
    path.write_bytes(text + b"\n# edited\n")
    os.utime(path, ns=(before.st_atime_ns, time.time_ns() + 3_600 * 10**9))  # newer than every output
    try:
        return set(planned_rules(review))
    finally:
        path.write_bytes(text)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


@pytest.fixture(scope="module")
def planned_by_module(review, tmp_path_factory) -> dict[str, set[str]]:
    """One dry run per edited module, two at a time on two copies of the review (each ~2 s of parsing)."""
    copies = [review, tmp_path_factory.mktemp("review_copy") / "a"]
    shutil.copytree(review, copies[1], symlinks=True)

    def run(worker: int) -> dict[str, set[str]]:
        return {m: planned_after_editing(copies[worker], m) for m in EDITED_MODULES[worker::2]}

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(run, range(2)))
    return {**results[0], **results[1]}


@pytest.mark.parametrize("module", EDITED_MODULES)
def test_editing_a_module_reruns_exactly_its_importers(planned_by_module, closures, rules_with_jobs, graph, module):
    """The importers' jobs re-run, then whatever reads their outputs; nothing else."""
    importers = {rule for rule, files in closures.items() if module in files}
    assert planned_by_module[module] == downstream(graph, importers & rules_with_jobs) - {"all"}
