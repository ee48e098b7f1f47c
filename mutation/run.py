"""Mutation testing of the statistics and data layers: does a small, realistic bug fail a test?

Every mutant is one change to one module of ``workflow/lib/evsynth/{stats,data}``, made on its
syntax tree (``ast``): an arithmetic operator swapped (``+``/``-``, ``*``/``/``, ``**``/``*``), a
comparison flipped (``<``/``<=``, ``>``/``>=``, ``==``/``!=``, ``is``/``is not``, ``in``/``not in``),
``and``/``or`` swapped, a ``not`` dropped, a unary minus dropped (sign flip), a number changed
(an integer by one, off by one; a float doubled, 0.0 made 1.0) or a boolean negated. Docstrings,
other strings, annotations and ``__all__`` are left alone.

For each mutant the module is rewritten in a temporary copy of the package (the working tree is
never touched; the tests import the copy) and only the unit tests that execute the mutated
statement run (``tests/workflow`` never): ``mutation/linemap.py`` maps every line of the two
layers to the tests executing it, once per state of the sources (about 3 minutes, cached in
``.mutation-cache/``). A statement no unit test executes is "not covered", a survivor, at once.
The tests run nearest test file first (in imports), fastest first within it, stopping at the
first failure (``-x``), in a fork of the runner that has numpy, scipy, pandas, PyMARE, pytest and
hypothesis imported (never evsynth), or after a timeout (reported apart, neither killed nor
survived). ``--select imports --no-fork`` is the runner before this: every unit-test file
importing the module, in a new interpreter (17 s a mutant; a killed verdict of the line
selection is one of it too, its tests being a subset). A mutant that passes every test survives;
``mutation/equivalent.tsv`` explains those that cannot change any output (equivalent mutants).
Mutant ids (``module:line:col:n``, and ``/k`` for the k-th operator, k >= 1, of a chained
comparison) and the sample drawn by ``--sample N --seed S`` are
deterministic.

    python mutation/run.py                           # every mutant (~7,000): about a day on 2 shared cores
    python mutation/run.py --sample 120 --seed 3001  # a reproducible sample; writes mutation/report.md
    python mutation/run.py --modules stats/escalc.py data/checks.py --list
    python mutation/run.py --rerun                   # re-run the survivors of mutation/results.json
    python mutation/run.py --ids stats/tau2.py:153:79:1084 --select imports --no-fork   # one, the old way

Running the tests: ``mutation/execute.py``; the report: ``mutation/render.py``.

Results go to ``mutation/results.json`` (one record per mutant run) and ``mutation/report.md``.

References: DeMillo, Lipton & Sayward (1978), Hints on test data selection, Computer 11(4);
Offutt et al. (1996), An experimental determination of sufficient mutant operators, TOSEM 5(2).
"""

from __future__ import annotations

import argparse
import ast
import copy
import functools
import importlib
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import linemap
from execute import PRELOAD, run_tests, run_tests_forked
from render import SURVIVING, counts, render

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
    variant: int = 0  # which of the node's mutations: a chained comparison has one per operator

    @property
    def id(self) -> str:
        # The first keeps the plain id (the records before the suffix name it that way), so
        # an equivalent.tsv line or --ids names one mutant, never both sides of `0 <= x < 1`.
        suffix = f"/{self.variant}" if self.variant else ""
        return f"{self.module}:{self.line}:{self.col}:{self.n}{suffix}"


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
        for variant, (description, how) in enumerate(_mutations(node)):
            found.append((Mutant(module, node.lineno, node.col_offset, n, description, variant), how))
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


@functools.cache
def _imports(path: Path) -> frozenset[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("evsynth"):
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("evsynth"))
    return frozenset(names)


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


def equivalent_notes() -> dict[str, str]:
    if not EQUIVALENT.is_file():
        return {}
    notes = {}
    for line in EQUIVALENT.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, why = line.partition("\t")
            notes[key.strip()] = why.strip()
    return notes


def _test_order() -> dict[str, int]:
    """Each unit-test file's distance (in imports) from the nearest module of the layers."""
    order: dict[str, int] = {}
    for module in sorted(str(p.relative_to(PACKAGE)) for layer in LAYERS for p in (PACKAGE / layer).rglob("*.py")):
        for rank, path in enumerate(covering_tests(module)):
            key = str(path.relative_to(REPO))
            order[key] = min(order.get(key, rank), rank)
    return order


class Selector:
    """The tests a mutant runs: by executed lines (default) or by imports (the files importing its module)."""

    def __init__(self, how: str):
        self.how, self.files, self.sources = how, {}, {}
        if how == "lines":
            key = linemap.source_hash()  # the runner itself never imports evsynth or the tests
            subprocess.run([sys.executable, str(Path(__file__).with_name("linemap.py"))], cwd=REPO, check=True,
                           env={**os.environ, "PYTHONHASHSEED": "0", "MPLBACKEND": "Agg"})
            self.linemap = linemap.load(key)
            self.order = _test_order()

    def timeout(self, tests: list[str], most: float) -> float:
        if self.how == "imports":
            return most
        return min(most, 60 + 20 * sum(self.linemap["seconds"].get(t, 1.0) for t in tests))

    def __call__(self, mutant: Mutant) -> list[str]:
        if self.how == "imports":
            if mutant.module not in self.files:
                self.files[mutant.module] = [str(p) for p in covering_tests(mutant.module)]
            return self.files[mutant.module]
        if mutant.module not in self.sources:
            source = (PACKAGE / mutant.module).read_text()
            tree = ast.parse(source)
            spans = linemap.statement_spans(tree)
            self.sources[mutant.module] = ([spans[id(n)] for n in ast.walk(tree)], linemap.function_body_lines(source))
        spans, body = self.sources[mutant.module]
        module_level = mutant.line not in body
        tests = linemap.select(self.linemap, mutant.module, spans[mutant.n], module_level, self.order)
        if module_level:  # a test may read a module's constants or dataclass flags without running a line of it
            files = self._direct_importers(mutant.module)
            tests += [t for t in sorted(self.linemap["seconds"]) if t.split("::")[0] in files and t not in tests]
        return tests

    def _direct_importers(self, module: str) -> set[str]:
        name = _module_name(PACKAGE / module)
        package = ".".join(name.split(".")[:2])  # evsynth.stats or evsynth.data
        found = set()
        for path in sorted(TESTS.rglob("test_*.py")):
            if "workflow" in path.relative_to(TESTS).parts:
                continue
            imported = _imports(path)
            if name in imported or any(i.startswith(name + ".") for i in imported) or \
                    f"import {package}\n" in path.read_text():
                found.add(str(path.relative_to(REPO)))
        return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", nargs="*", help="paths under workflow/lib/evsynth (default: stats/ and data/)")
    parser.add_argument("--sample", type=int, help="run a random sample of this many mutants")
    parser.add_argument("--seed", type=int, default=21, help="seed of the sample (default 21)")
    parser.add_argument("--ids", nargs="*", help="run only these mutant ids (module:line:col:node)")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds per mutant at most (default 600; with --select lines, 60 s plus 20 times "
                        "what its tests took in the mapping run, if less: a mutant that loops ends sooner)")
    parser.add_argument("--select", choices=("lines", "imports"),
                        help="tests per mutant: those executing its statement (default), or every unit-test "
                        "file importing its module (slow; the runner before coverage-based selection)")
    parser.add_argument("--no-fork", action="store_true",
                        help="start a new interpreter per mutant instead of forking this one")
    parser.add_argument("--report", default=str(REPO / "mutation" / "report.md"))
    parser.add_argument("--results", default=str(RESULTS), help="JSON record of the run (mutation/results.json)")
    parser.add_argument("--list", action="store_true", help="list the mutants (and their tests) and exit")
    parser.add_argument("--rerun", action="store_true",
                        help="re-run the survivors of mutation/results.json not explained as equivalent "
                        "(after adding tests; timeouts are not re-run)")
    parser.add_argument("--moved", nargs="*", default=[], metavar="OLD=NEW",
                        help="with --rerun: a survivor's id in the record and its id now, for a statement an edit "
                        "renumbered (ids count the module's nodes, so an edit anywhere in it can shift them)")
    args = parser.parse_args(argv)
    if os.environ.get("PYTHONHASHSEED") != "0":  # forked children inherit the hash seed: fix it first
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"})
    results_path = Path(args.results)
    previous = json.loads(results_path.read_text()) if args.rerun else None
    if previous:
        for key in ("modules", "sample", "seed", "ids", "select"):
            if getattr(args, key) is None or key not in ("select", "ids"):  # a rerun may narrow or re-select
                setattr(args, key, previous["settings"].get(key, getattr(args, key)))
    args.select = args.select or "lines"

    modules = args.modules or sorted(
        str(p.relative_to(PACKAGE)) for layer in LAYERS for p in (PACKAGE / layer).rglob("*.py"))
    everything = [m for module in modules for m in mutants_of(module)]
    chosen = everything
    if args.sample is not None and args.sample < len(everything):
        picked = sorted(random.Random(args.seed).sample(range(len(everything)), args.sample))
        chosen = [everything[i] for i in picked]
    if args.ids:
        chosen = [(m, how) for m, how in chosen if m.id in set(args.ids)]
    if previous:
        known = equivalent_notes()  # explained as equivalent: they survive by definition
        moved = dict(pair.split("=", 1) for pair in args.moved)
        again = {moved.get(r["id"], r["id"]) for r in previous["mutants"]
                 if r["status"] in SURVIVING and r["id"] not in known}
        # By id, not by re-drawing the sample: a source edit since the run changes the number of
        # mutants, and with it which ones a seed draws.
        wanted = again & set(args.ids) if args.ids else again
        chosen = [(m, how) for m, how in everything if m.id in wanted]
        missing = wanted - {m.id for m, _ in chosen}
        if missing:
            print(f"{len(missing)} survivor(s) no longer generated (their statement moved or changed; map a moved one "
                  "with --moved OLD=NEW): "
                  + ", ".join(sorted(missing)), file=sys.stderr)
    select = Selector(args.select)
    if args.list:
        for mutant, _ in chosen:
            print(f"{mutant.id}\t{mutant.description}\t{len(select(mutant))} tests")
        print(f"{len(chosen)} of {len(everything)} mutants", file=sys.stderr)
        return 0

    fork = not args.no_fork
    if fork:
        os.environ["MPLBACKEND"] = "Agg"
        for name in PRELOAD:
            try:
                importlib.import_module(name)
            except ImportError:
                pass
    results = []
    started = time.monotonic()
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory(prefix="evsynth-mutation-") as tmp:
        copy_root = Path(tmp)
        shutil.copytree(PACKAGE, copy_root / "evsynth", ignore=shutil.ignore_patterns("__pycache__"))
        for i, (mutant, how) in enumerate(chosen, 1):
            target = copy_root / "evsynth" / mutant.module
            original = target.read_text()
            tests = select(mutant)
            target.write_text(mutated_source(original, mutant, how))
            try:
                if not tests:
                    status, seconds = "not covered", 0.0
                else:
                    status, seconds = (run_tests_forked if fork else run_tests)(copy_root, tests,
                                                                                select.timeout(tests, args.timeout))
            finally:
                target.write_text(original)
            results.append((mutant, status, seconds, len(tests)))
            print(f"[{i}/{len(chosen)}] {status:11s} {seconds:5.1f}s {len(tests):4d} tests {mutant.id} "
                  f"{mutant.description}", flush=True)
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_seconds = (cpu.ru_utime - cpu_before.ru_utime) + (cpu.ru_stime - cpu_before.ru_stime)
    records = [{"id": m.id, "module": m.module, "line": m.line, "description": m.description, "status": s,
                "seconds": round(t, 1), "tests": n} for m, s, t, n in results]
    runs = [{"mutants": len(records), "wall_s": round(time.monotonic() - started), "cpu_s": round(cpu_seconds),
             "select": args.select}]
    if previous:  # the survivors' new verdicts replace the old ones
        new = {r["id"]: r for r in records}
        records = [new.get(moved.get(r["id"], r["id"]), r) for r in previous["mutants"]]
        runs = previous["runs"] + runs
    notes = equivalent_notes()
    document = {"settings": {"modules": args.modules, "sample": args.sample, "seed": args.seed, "ids": args.ids,
                             "timeout": args.timeout, "fork": fork,
                             "select": previous["settings"].get("select", "imports") if previous else args.select,
                             # A rerun keeps the count the sample was drawn from.
                             "generated": previous["settings"]["generated"] if previous else len(everything),
                             "n_modules": len(modules)},
                "runs": runs, "mutants": records}
    # The verdicts before any test written for this run's survivors: the population estimate.
    modules_run = sorted({r["module"] for r in records})
    by_module = {m: counts([r for r in records if r["module"] == m], notes) for m in modules_run}
    document["first"] = previous.get("first") if previous else {**counts(records, notes), "modules": by_module}
    results_path.write_text(json.dumps(document, indent=1) + "\n")
    Path(args.report).write_text(render(document, notes))
    print(f"wrote {results_path} and {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
