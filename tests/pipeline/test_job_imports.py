"""Each job imports only what it uses (issue 18): interpreter start-up and imports, paid again by
every job, were most of a cold run's time (`import pymare` 1.1-1.9 s, because it imports sympy and
scipy.stats; scipy.stats alone ~0.4 s; matplotlib ~0.5 s; benchmarks/results.md).

Every script's evsynth imports are run in a fresh interpreter (the way a Snakemake job starts)
and ``sys.modules`` is read: PyMARE and sympy are imported by no script (``stats.pooling`` imports
PyMARE when it first pools), scipy.stats only by the scripts that pool, and matplotlib only by
the scripts that draw.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = sorted((REPO / "scripts").glob("*.py"))
#: Scripts whose jobs pool (random-effects fits, their tests and CIs): they may import scipy.stats.
POOLING = {"analyse"}


def _evsynth_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = [n.module for n in tree.body if isinstance(n, ast.ImportFrom) and n.module]
    found += [a.name for n in tree.body if isinstance(n, ast.Import) for a in n.names]
    return [m for m in found if m.split(".")[0] == "evsynth"]


#: Run in one fresh interpreter: the imports every job shares first (none heavy), then one forked
#: child per entry, so each entry is checked as if alone at a fraction of a new interpreter's cost.
DRIVER = """
import importlib, json, os, sys
import evsynth.data.io, evsynth.pipeline.logs  # what every job imports
HEAVY = ('pymare', 'sympy', 'scipy.stats', 'matplotlib')
assert not [m for m in HEAVY if m in sys.modules]
result = {}
for name, modules in json.loads(sys.argv[1]).items():
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        for m in modules:
            importlib.import_module(m)
        os.write(write, json.dumps([m for m in HEAVY if m in sys.modules]).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as fh:
        result[name] = json.loads(fh.read() or 'null')
    os.waitpid(pid, 0)
print(json.dumps(result))
"""


def _heavy_modules(entries: dict[str, list[str]]) -> dict[str, list[str] | None]:
    """For each entry, the heavy modules in ``sys.modules`` after importing its modules."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "workflow" / "lib")}
    run = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(entries)], capture_output=True, text=True,
                         env=env, timeout=300, check=True)
    return json.loads(run.stdout)


def _allowed(rule: str) -> set[str]:
    allowed = set()
    if rule in POOLING:
        allowed.add("scipy.stats")
    if rule.startswith("plot_"):
        allowed.add("matplotlib")
    return allowed


def test_every_script_imports_only_what_its_job_uses():
    assert len(SCRIPTS) > 10 and POOLING <= {p.stem for p in SCRIPTS}
    entries = {p.stem: _evsynth_imports(p) for p in SCRIPTS}
    # Controls: the check sees a heavy import (PyMARE brings sympy), and the pooling table pulls
    # scipy.stats but PyMARE only when it pools.
    controls = {"control: pymare": ["pymare"], "control: tables.pooled": ["evsynth.tables.pooled"],
                "control: figures.forest": ["evsynth.figures.forest"]}
    found = _heavy_modules({**entries, **controls})
    assert found["control: pymare"] == ["pymare", "sympy", "scipy.stats"]
    assert found["control: tables.pooled"] == ["scipy.stats"]
    assert found["control: figures.forest"] == ["matplotlib"]
    problems = [f"scripts/{rule}.py imports {sorted(set(found[rule]) - _allowed(rule))}"
                for rule in entries if set(found[rule]) - _allowed(rule)]
    assert problems == []
