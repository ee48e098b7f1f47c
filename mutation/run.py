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
stopping at the first failure (``-x``) or after ``--timeout`` seconds (a timeout counts as killed).
A mutant that passes every test survives; ``mutation/equivalent.tsv`` explains those that cannot
change any output (equivalent mutants). Mutant ids (``module:line:col:n``) and the sample drawn by
``--sample N --seed S`` are deterministic.

    python mutation/run.py                          # every mutant: hours on 2 cores
    python mutation/run.py --sample 150 --seed 21   # a reproducible sample; writes mutation/report.md
    python mutation/run.py --modules stats/escalc.py data/checks.py --list

References: DeMillo, Lipton & Sayward (1978), Hints on test data selection, Computer 11(4);
Offutt et al. (1996), An experimental determination of sufficient mutant operators, TOSEM 5(2).
"""

from __future__ import annotations

import argparse
import ast
import copy
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


def mutated_source(mutant: Mutant, how: tuple) -> str:
    tree = ast.parse((PACKAGE / mutant.module).read_text())
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
    tests = []
    for path in sorted(TESTS.rglob("test_*.py")):
        if "workflow" in path.relative_to(TESTS).parts:
            continue
        hits = [distance[i] for i in _imports(path) if i in distance]
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
    status = {0: "survived", 1: "killed"}.get(result.returncode, f"error {result.returncode}")
    if status.startswith("error") and "Error" in result.stdout + result.stderr:
        status = "killed"  # the mutant broke collection (e.g. an import-time constant): a test failed to run
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
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per mutant (default 180)")
    parser.add_argument("--report", default=str(REPO / "mutation" / "report.md"))
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = parser.parse_args(argv)

    modules = args.modules or sorted(
        str(p.relative_to(PACKAGE)) for layer in LAYERS for p in (PACKAGE / layer).rglob("*.py"))
    everything = [m for module in modules for m in mutants_of(module)]
    chosen = everything
    if args.sample is not None and args.sample < len(everything):
        picked = sorted(random.Random(args.seed).sample(range(len(everything)), args.sample))
        chosen = [everything[i] for i in picked]
    if args.list:
        for mutant, _ in chosen:
            print(f"{mutant.id}\t{mutant.description}")
        print(f"{len(chosen)} of {len(everything)} mutants", file=sys.stderr)
        return 0

    notes = equivalent_notes()
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
            target.write_text(mutated_source(mutant, how))
            try:
                status, seconds = run_tests(copy_root, tests, args.timeout) if tests else ("no tests", 0.0)
            finally:
                target.write_text(original)
            results.append((mutant, status, seconds))
            print(f"[{i}/{len(chosen)}] {status:9s} {seconds:5.1f}s {mutant.id} {mutant.description}", flush=True)
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_seconds = (cpu.ru_utime - cpu_before.ru_utime) + (cpu.ru_stime - cpu_before.ru_stime)
    Path(args.report).write_text(render(results, len(everything), args, modules, notes,
                                        time.monotonic() - started, cpu_seconds))
    print(f"wrote {args.report}")
    return 0


def _source_line(mutant: Mutant) -> str:
    line = (PACKAGE / mutant.module).read_text().splitlines()[mutant.line - 1].strip()
    return re.sub(r"\|", r"\\|", line)[:90]


def render(results, total, args, modules, notes, wall, cpu) -> str:
    by_layer: dict[str, list] = {}
    for mutant, status, _ in results:
        by_layer.setdefault(mutant.module.split("/")[0], []).append(status)
    by_module: dict[str, list] = {}
    for mutant, status, _ in results:
        by_module.setdefault(mutant.module, []).append(status)

    survivors = [(m, s) for m, s, _ in results if s not in ("killed", "timeout")]
    equivalent = {m.id for m, _ in survivors if m.id in notes}
    command = "python mutation/run.py"
    if args.modules:
        command += " --modules " + " ".join(args.modules)
    if args.sample is not None:
        command += f" --sample {args.sample} --seed {args.seed}"
    lines = [
        "# Mutation score of the statistics and data layers",
        "",
        "Written by `mutation/run.py` (how it works: its docstring; README, \"Tests\"). Re-run with:",
        "",
        "```bash",
        f"PYTHONPATH=workflow/lib nice -n 10 {command}",
        "```",
        "",
        f"- Mutants: {len(results)} run of {total} generated over {len(modules)} modules "
        f"({'a deterministic sample, seed ' + str(args.seed) if len(results) < total else 'all'}).",
        f"- Time: {wall / 60:.1f} min wall, {cpu / 60:.1f} min CPU (tests of each mutant only; 2 shared cores).",
        "- Killed: a covering test failed (or the run timed out); equivalent: cannot change any output "
        "(reason below, from `mutation/equivalent.tsv`).",
        "",
        "| layer / module | mutants | killed | equivalent | survived | score (killed / non-equivalent) |",
        "|---|---:|---:|---:|---:|---:|",
    ]

    def row(name, statuses, ids):
        killed = sum(s in ("killed", "timeout") for s in statuses)
        eq = sum(1 for i in ids if i in equivalent)
        survived = len(statuses) - killed - eq
        denominator = len(statuses) - eq
        pct = f"{100 * killed / denominator:.1f}%" if denominator else "-"
        return f"| {name} | {len(statuses)} | {killed} | {eq} | {survived} | {pct} |"

    for layer in LAYERS:
        ids = [m.id for m, _, _ in results if m.module.startswith(layer + "/")]
        lines.append(row(f"**{layer}**", by_layer.get(layer, []), ids))
    all_ids = [m.id for m, _, _ in results]
    lines.append(row("**stats + data**", [s for _, s, _ in results], all_ids))
    for module, statuses in sorted(by_module.items()):
        ids = [m.id for m, _, _ in results if m.module == module]
        lines.append(row(module, statuses, ids))
    lines += ["", "## Surviving mutants", ""]
    if not survivors:
        lines.append("None.")
    else:
        lines += ["| mutant (module:line:col:node) | mutation | line | verdict |", "|---|---|---|---|"]
        for mutant, status in survivors:
            verdict = f"equivalent: {notes[mutant.id]}" if mutant.id in notes else f"**{status}**: needs a test"
            lines.append(f"| `{mutant.id}` | {mutant.description} | `{_source_line(mutant)}` | {verdict} |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
