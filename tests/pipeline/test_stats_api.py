"""evsynth.stats' public API (evsynth/stats/__init__.py) and what importing the statistics costs.

The API is loaded on first use, so it neither slows the workflow's parse time nor widens any
rule's import closure; the repository itself imports from the defining modules, so that
:mod:`evsynth.pipeline.sources` sees every module a script runs.
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import evsynth.stats

REPO = Path(__file__).resolve().parents[2]
STATS = REPO / "workflow" / "lib" / "evsynth" / "stats"
SUBMODULES = {p.stem for p in STATS.glob("*.py")} | {p.name for p in STATS.iterdir() if (p / "__init__.py").is_file()}
#: What the workflow imports from the statistics layer at parse time (network_status and the
#: effect sizes that decide the plots); none of it may pull in these.
PARSE_TIME = ("evsynth.pipeline.sources", "evsynth.data.studies", "evsynth.data.network", "evsynth.stats.pooling")
HEAVY = ("scipy.stats", "scipy.optimize", "pymare", "matplotlib")


@pytest.mark.parametrize("name", sorted(evsynth.stats.API))
def test_a_public_name_is_the_defining_modules_object(name):
    module = importlib.import_module(f"evsynth.stats.{evsynth.stats.API[name]}")
    assert name not in SUBMODULES  # `evsynth.stats.<name>` would be the module once it is imported
    assert getattr(evsynth.stats, name) is getattr(module, name)


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError):
        evsynth.stats.no_such_function  # noqa: B018


def _facade_imports(path: Path) -> list[str]:
    """``from evsynth.stats import X`` where X is not a submodule, in one file."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".py":
        names = [alias.name for node in ast.walk(ast.parse(text)) if isinstance(node, ast.ImportFrom)
                 and node.level == 0 and node.module == "evsynth.stats" for alias in node.names]
    else:  # Snakemake files are not Python; their imports are plain lines
        names = [n.strip() for m in re.finditer(r"from evsynth\.stats import ([\w, ]+)", text) for n in m[1].split(",")]
    return [f"{path.relative_to(REPO)}: {n}" for n in names if n not in SUBMODULES]


def test_the_repository_imports_from_the_defining_modules():
    files = [*(REPO / "workflow" / "lib").rglob("*.py"), *(REPO / "scripts").glob("*.py"),
             *(REPO / "workflow" / "rules").glob("*.smk"), REPO / "Snakefile"]
    assert [hit for f in files if f.is_file() for hit in _facade_imports(f)] == []


def test_parse_time_imports_stay_light():
    code = (f"import sys, {', '.join(PARSE_TIME)}, evsynth.stats\n"
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(REPO / "workflow" / "lib")})
    assert run.stdout.strip() == "[]"


def test_converting_reported_forms_at_parse_time_stays_light(tmp_path):
    # The study table is read and converted at parse time (Plan.load). The test table of
    # tests/data/test_reported_forms.py holds every reported form, among them a small arm's CI
    # (a t quantile) and p-values (t and normal quantiles), which must not pull in scipy.stats.
    from data.test_reported_forms import BASE, CONFIG, ROWS

    table, config = tmp_path / "studies.tsv", tmp_path / "config.json"
    header = list(dict.fromkeys(k for r in ROWS for k in {**BASE, **r}))
    lines = ["\t".join(header), *("\t".join({**BASE, **r}.get(k, "") for k in header) for r in ROWS)]
    table.write_text("\n".join(lines) + "\n")
    config.write_text(json.dumps(CONFIG))
    code = ("import json, sys\nfrom evsynth.data.studies import load_studies\n"
            f"rows = load_studies({str(table)!r}, json.loads(open({str(config)!r}).read()))\n"
            f"print(int((rows['conversion'] != '').sum()), [m for m in {HEAVY!r} if m in sys.modules])")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(REPO / "workflow" / "lib")})
    converted, heavy = run.stdout.strip().split(" ", 1)
    assert int(converted) >= 5 and heavy == "[]"
