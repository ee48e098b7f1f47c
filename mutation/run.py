"""Mutation testing of the statistics and data layers: does a small, realistic bug fail a test?

Every mutant is one change to one module of ``workflow/lib/evsynth/{stats,data}``, made on its
syntax tree (``ast``): an arithmetic operator swapped (``+``/``-``, ``*``/``/``, ``**``/``*``), a
comparison flipped (``<``/``<=``, ``>``/``>=``, ``==``/``!=``, ``is``/``is not``, ``in``/``not in``),
``and``/``or`` swapped, a ``not`` dropped, a unary minus dropped (sign flip), a number changed
(an integer by one, off by one; a float doubled, 0.0 made 1.0) or a boolean negated. Docstrings,
other strings, annotations and ``__all__`` are left alone.

For each mutant the module is rewritten in a temporary copy of the package (the working tree is
never touched; ``PYTHONPATH`` points the tests at the copy) and only the fast tests that import it,
directly or through other evsynth modules, run (``tests/workflow`` never), nearest importers first,
stopping at the first failure (``-x``) or after ``--timeout`` seconds (a timeout is reported apart,
neither killed nor survived). A mutant that passes every test survives; ``mutation/equivalent.tsv``
explains those that cannot change any output (equivalent mutants). Mutant ids
(``module:line:col:n``) and the sample drawn by ``--sample N --seed S`` are deterministic.

    python mutation/run.py                          # every mutant: hours on 2 cores
    python mutation/run.py --sample 150 --seed 21   # a reproducible sample; writes mutation/report.md
    python mutation/run.py --modules stats/escalc.py data/checks.py --list
    python mutation/run.py --rerun                  # re-run the survivors of mutation/results.json

Results go to ``mutation/results.json`` (one record per mutant run) and ``mutation/report.md``.

References: DeMillo, Lipton & Sayward (1978), Hints on test data selection, Computer 11(4);
Offutt et al. (1996), An experimental determination of sufficient mutant operators, TOSEM 5(2).
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "workflow" / "lib" / "evsynth"
TESTS = REPO / "tests"
LAYERS = ("stats", "data")
EQUIVALENT = REPO / "mutation" / "equivalent.tsv"
RESULTS = REPO / "mutation" / "results.json"

BINARY = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.Pow: ast.Mult,
          ast.FloorDiv: ast.Div, ast.Mod: ast.FloorDiv}
COMPARE = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
           ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In}
SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**", ast.FloorDiv: "//", ast.Mod: "%",
          ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=", ast.Is: "is",
          ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in", ast.And: "and", ast.Or: "or"}


@dataclass(frozen=True)
class Mutant:
    module: str  # e.g. stats/escalc.py
    line: int
    col: int
    n: int  # index of the node in ast.walk order (with line/col, a stable id)
    description: str

    @property
    def id(self) -> str:
        return f"{self.module}:{self.line}:{self.col}:{self.n}"


def _skipped_nodes(tree: ast.AST) -> set[int]:
    """Nodes never mutated: docstrings, annotations, ``__all__``."""
    skip: set[int] = set()

    def mark(node):
        for sub in ast.walk(node):
            skip.add(id(sub))

    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for arg in [*node.args.args, *node.args.kwonlyargs, *node.args.posonlyargs]:
                if arg.annotation is not None:
                    mark(arg.annotation)
            if node.returns is not None:
                mark(node.returns)
        if isinstance(node, ast.AnnAssign):
            mark(node.annotation)
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            mark(node)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            mark(node)
    return skip


def _mutations(node: ast.AST) -> list[tuple[str, object]]:
    """(description, how) for each mutation of ``node``; ``how`` is applied by :func:`_apply`."""
    out: list[tuple[str, object]] = []
    if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
        new = BINARY[type(node.op)]
        out.append((f"`{SYMBOL[type(node.op)]}` -> `{SYMBOL[new]}`", ("binop", new)))
    elif isinstance(node, ast.AugAssign) and type(node.op) in BINARY:
        new = BINARY[type(node.op)]
        out.append((f"`{SYMBOL[type(node.op)]}=` -> `{SYMBOL[new]}=`", ("augop", new)))
    elif isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            if type(op) in COMPARE:
                new = COMPARE[type(op)]
                out.append((f"`{SYMBOL[type(op)]}` -> `{SYMBOL[new]}`", ("compare", i, new)))
    elif isinstance(node, ast.BoolOp):
        new = ast.Or if isinstance(node.op, ast.And) else ast.And
        out.append((f"`{SYMBOL[type(node.op)]}` -> `{SYMBOL[new]}`", ("boolop", new)))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        out.append(("dropped `not`", ("unwrap",)))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        out.append(("sign flip: dropped unary `-`", ("unwrap",)))
    elif isinstance(node, ast.Constant) and type(node.value) in (int, float, bool):
        v = node.value
        if isinstance(v, bool):
            out.append((f"`{v}` -> `{not v}`", ("const", not v)))
        elif isinstance(v, int):
            out.append((f"`{v}` -> `{v + 1}` (off by one)", ("const", v + 1)))
        else:
            new = 1.0 if v == 0 else 2 * v
            out.append((f"`{v!r}` -> `{new!r}`", ("const", new)))
    return out


def _apply(node: ast.AST, how: tuple) -> ast.AST:
    kind = how[0]
    if kind in ("binop", "augop", "boolop"):
        node.op = how[1]()
    elif kind == "compare":
        node.ops[how[1]] = how[2]()
    elif kind == "unwrap":
        return node.operand
    elif kind == "const":
        node.value = how[1]
    return node


def mutants_of(module: str) -> list[tuple[Mutant, tuple]]:
    tree = ast.parse((PACKAGE / module).read_text())
    skip = _skipped_nodes(tree)
    found = []
    for n, node in enumerate(ast.walk(tree)):
        if id(node) in skip:
            continue
        for description, how in _mutations(node):
            found.append((Mutant(module, node.lineno, node.col_offset, n, description), how))
    return found


def mutated_source(source: str, mutant: Mutant, how: tuple) -> str:
    tree = ast.parse(source)
    nodes = list(ast.walk(tree))
    target = nodes[mutant.n]
    replacement = _apply(target, how)
    if replacement is not target:  # splice the operand in place of the unary node
        for parent in nodes:
            for field, value in ast.iter_fields(parent):
                if value is target:
                    setattr(parent, field, replacement)
                elif isinstance(value, list):
                    for i, item in enumerate(value):
                        if item is target:
                            value[i] = replacement
    return ast.unparse(ast.fix_missing_locations(copy.deepcopy(tree)))


# ------------------------------------------------------------------ which tests cover a module


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("evsynth"):
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("evsynth"))
    return names


def covering_tests(module: str) -> list[Path]:
    """Unit-test files importing the module, directly first, then through other evsynth modules."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    target = _module_name(PACKAGE / module)
    importers = {m: {i for i in _imports(p) if i in modules} for m, p in modules.items()}
    distance = {target: 0}
    frontier = [target]
    while frontier:
        nxt = []
        for m, deps in importers.items():
            if m not in distance and any(d in frontier for d in deps):
                distance[m] = distance[frontier[0]] + 1
                nxt.append(m)
        frontier = nxt
    # A test importing a layer's package itself (``import evsynth.stats``) may walk all its modules.
    packages = {m for m, p in modules.items() if p.name == "__init__.py" and target.startswith(m + ".")}
    tests = []
    for path in sorted(TESTS.rglob("test_*.py")):
        if "workflow" in path.relative_to(TESTS).parts:
            continue
        imported = _imports(path)
        hits = [distance[i] for i in imported if i in distance]
        if any(f"import {p}\n" in path.read_text() for p in packages):
            hits.append(1)
        if hits:
            tests.append((min(hits), str(path.relative_to(REPO)), path))
    return [p for _, _, p in sorted(tests)]


# ------------------------------------------------------------------ running


def run_tests(copy_root: Path, tests: list[Path], timeout: float) -> tuple[str, float]:
    env = {**os.environ, "PYTHONPATH": str(copy_root), "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONHASHSEED": "0", "MPLBACKEND": "Agg"}
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
               "--hypothesis-seed=0", *map(str, tests)]
    start = time.monotonic()
    try:
        result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - start
    status = {0: "survived", 1: "killed"}.get(result.returncode, "error")
    if status == "error" and str(copy_root) in result.stdout + result.stderr:
        status = "killed"  # the mutated module fails at import: every test of it fails
    return status, time.monotonic() - start


def equivalent_notes() -> dict[str, str]:
    if not EQUIVALENT.is_file():
        return {}
    notes = {}
    for line in EQUIVALENT.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, why = line.partition("\t")
            notes[key.strip()] = why.strip()
    return notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", nargs="*", help="paths under workflow/lib/evsynth (default: stats/ and data/)")
    parser.add_argument("--sample", type=int, help="run a random sample of this many mutants")
    parser.add_argument("--seed", type=int, default=21, help="seed of the sample (default 21)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per mutant (default 600)")
    parser.add_argument("--report", default=str(REPO / "mutation" / "report.md"))
    parser.add_argument("--results", default=str(RESULTS), help="JSON record of the run (mutation/results.json)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--rerun", action="store_true",
                        help="re-run the survivors of mutation/results.json not explained as equivalent "
                        "(after adding tests; timeouts are not re-run)")
    args = parser.parse_args(argv)
    results_path = Path(args.results)
    previous = json.loads(results_path.read_text()) if args.rerun else None
    if previous:
        for key in ("modules", "sample", "seed"):
            setattr(args, key, previous["settings"][key])

    modules = args.modules or sorted(
        str(p.relative_to(PACKAGE)) for layer in LAYERS for p in (PACKAGE / layer).rglob("*.py"))
    everything = [m for module in modules for m in mutants_of(module)]
    chosen = everything
    if args.sample is not None and args.sample < len(everything):
        picked = sorted(random.Random(args.seed).sample(range(len(everything)), args.sample))
        chosen = [everything[i] for i in picked]
    if previous:
        known = equivalent_notes()  # explained as equivalent: they survive by definition
        again = {r["id"] for r in previous["mutants"] if r["status"] == "survived" and r["id"] not in known}
        chosen = [(m, how) for m, how in chosen if m.id in again]
    if args.list:
        for mutant, _ in chosen:
            print(f"{mutant.id}\t{mutant.description}")
        print(f"{len(chosen)} of {len(everything)} mutants", file=sys.stderr)
        return 0

    results = []
    started = time.monotonic()
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory(prefix="evsynth-mutation-") as tmp:
        copy_root = Path(tmp)
        shutil.copytree(PACKAGE, copy_root / "evsynth", ignore=shutil.ignore_patterns("__pycache__"))
        tests_of = {}
        for i, (mutant, how) in enumerate(chosen, 1):
            target = copy_root / "evsynth" / mutant.module
            original = target.read_text()
            tests = tests_of.setdefault(mutant.module, covering_tests(mutant.module))
            target.write_text(mutated_source(original, mutant, how))
            try:
                status, seconds = run_tests(copy_root, tests, args.timeout) if tests else ("no tests", 0.0)
            finally:
                target.write_text(original)
            results.append((mutant, status, seconds))
            print(f"[{i}/{len(chosen)}] {status:9s} {seconds:5.1f}s {mutant.id} {mutant.description}", flush=True)
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_seconds = (cpu.ru_utime - cpu_before.ru_utime) + (cpu.ru_stime - cpu_before.ru_stime)
    records = [{"id": m.id, "module": m.module, "line": m.line, "description": m.description, "status": s,
                "seconds": round(t, 1)} for m, s, t in results]
    runs = [{"mutants": len(records), "wall_s": round(time.monotonic() - started), "cpu_s": round(cpu_seconds)}]
    if previous:  # the survivors' new verdicts replace the old ones
        new = {r["id"]: r for r in records}
        records = [new.get(r["id"], r) for r in previous["mutants"]]
        runs = previous["runs"] + runs
    document = {"settings": {"modules": args.modules, "sample": args.sample, "seed": args.seed,
                             "timeout": args.timeout, "generated": len(everything), "n_modules": len(modules)},
                "runs": runs, "mutants": records}
    results_path.write_text(json.dumps(document, indent=1) + "\n")
    Path(args.report).write_text(render(document, equivalent_notes()))
    print(f"wrote {results_path} and {args.report}")
    return 0


def _source_line(module: str, line: int) -> str:
    text = (PACKAGE / module).read_text().splitlines()[line - 1].strip()
    return re.sub(r"\|", r"\\|", text)[:90]


def render(document: dict, notes: dict[str, str]) -> str:
    settings, mutants = document["settings"], document["mutants"]
    command = "mutation/run.py"
    if settings["modules"]:
        command += " --modules " + " ".join(settings["modules"])
    if settings["sample"] is not None:
        command += f" --sample {settings['sample']} --seed {settings['seed']}"
    wall = sum(r["wall_s"] for r in document["runs"]) / 60
    cpu = sum(r["cpu_s"] for r in document["runs"]) / 60
    runs = "; ".join(f"{r['mutants']} mutants in {r['wall_s'] / 60:.0f} min" for r in document["runs"])
    sampled = len(mutants) < settings["generated"]
    lines = [
        "# Mutation score of the statistics and data layers",
        "",
        "Written by `mutation/run.py` (how it works: its docstring and the README, \"Mutation score\"). Re-run with:",
        "",
        "```bash",
        f"PYTHONPATH=workflow/lib nice -n 10 .venv/bin/python {command}",
        "PYTHONPATH=workflow/lib nice -n 10 .venv/bin/python mutation/run.py --rerun  # survivors, after new tests",
        "```",
        "",
        f"- Mutants: {len(mutants)} run of {settings['generated']} generated over {settings['n_modules']} modules "
        f"of `evsynth/stats` and `evsynth/data`"
        f"{' (a deterministic sample, seed ' + str(settings['seed']) + ')' if sampled else ''}.",
        f"- Time: {wall:.0f} min wall, {cpu:.0f} min CPU ({runs}; 2 cores shared with other jobs), "
        f"per-mutant timeout {settings['timeout']:.0f} s.",
        "- Killed: a covering unit test failed. Equivalent: the mutant cannot change any output (why: "
        "`mutation/equivalent.tsv`). Timed out: the covering tests did not finish in time (not counted).",
        "",
        "| layer / module | mutants | killed | equivalent | survived | timed out | score (killed / decided) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]

    def row(name, group):
        killed = sum(r["status"] == "killed" for r in group)
        eq = sum(r["status"] == "survived" and r["id"] in notes for r in group)
        timeout = sum(r["status"] == "timeout" for r in group)
        survived = len(group) - killed - eq - timeout
        decided = killed + survived
        pct = f"{100 * killed / decided:.1f}%" if decided else "-"
        return f"| {name} | {len(group)} | {killed} | {eq} | {survived} | {timeout} | {pct} |"

    for layer in LAYERS:
        lines.append(row(f"**{layer}**", [r for r in mutants if r["module"].startswith(layer + "/")]))
    lines.append(row("**stats + data**", mutants))
    for module in sorted({r["module"] for r in mutants}):
        lines.append(row(module, [r for r in mutants if r["module"] == module]))
    open_ = [r for r in mutants if r["status"] not in ("killed",)]
    lines += ["", "## Surviving and timed-out mutants", ""]
    if not open_:
        lines.append("None.")
    else:
        lines += ["| mutant (module:line:col:node) | mutation | line | verdict |", "|---|---|---|---|"]
        for r in open_:
            if r["status"] == "survived" and r["id"] in notes:
                verdict = notes[r["id"]]
            else:
                verdict = f"**{r['status']}**"
            lines.append(f"| `{r['id']}` | {r['description']} | `{_source_line(r['module'], r['line'])}` | {verdict} |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
