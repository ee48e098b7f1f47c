"""Which unit tests execute which lines of ``evsynth/stats`` and ``evsynth/data`` (mutation/run.py).

Coverage-based test selection, as mutmut does it: the fast suite runs once with a line tracer
(``sys.settrace``, limited to the two layers' files, so no coverage.py is needed) and records,
per test, the lines it executes in setup, call and teardown. A mutant then runs only the tests
that execute its statement; a statement no test executes is "not covered" without running
anything. Two things a per-test line map misses are put back:

- lines run while a module-, class- or session-scoped fixture is set up belong to every test
  sharing that fixture (the test that happened to come first computed it for all of them);
- statements outside function bodies (module constants, default arguments, class bodies) run at
  import, in no test: their mutants run every test that executes any line of the module.

The map is cached in ``.mutation-cache/`` under a hash of the package and test sources.
"""

from __future__ import annotations

import ast
import hashlib
import json
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "workflow" / "lib" / "evsynth"
TESTS = REPO / "tests"
CACHE = REPO / ".mutation-cache"
LAYERS = ("stats", "data")


def source_hash() -> str:
    digest = hashlib.sha256()
    for root in (PACKAGE, TESTS):
        for path in sorted(root.rglob("*")):
            skip = "__pycache__" in path.parts or path.relative_to(root).parts[0] == "workflow"
            if path.is_file() and not skip:
                digest.update(str(path.relative_to(REPO)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


class LineRecorder:
    """pytest plugin: lines of the layers' files executed by each test (setup, call, teardown)."""

    def __init__(self, package: Path):
        self.files = {str(p.resolve()): str(p.relative_to(package)) for layer in LAYERS
                      for p in (package / layer).rglob("*.py")}
        self.lines: dict[str, dict[str, set[int]]] = {}  # test id -> module -> lines
        self.setup_lines: dict[str, dict[str, set[int]]] = {}
        self.shared: dict[str, list[str]] = {}  # test id -> its fixtures wider than a function
        self.seconds: dict[str, float] = {}
        self.current: dict[str, set[int]] | None = None

    # the tracer: a 'call' event decides per frame whether its lines are recorded
    def _global(self, frame, event, arg):
        module = self.files.get(frame.f_code.co_filename)
        if module is None or self.current is None:
            return None
        lines = self.current.setdefault(module, set())
        lines.add(frame.f_lineno)

        def local(frame, event, arg):
            if event == "line":
                lines.add(frame.f_lineno)
            return local

        return local

    def _phase(self, target: dict[str, set[int]] | None):
        self.current = target
        sys.settrace(self._global if target is not None else None)
        threading.settrace(self._global if target is not None else None)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_setup(self, item):
        infos = getattr(item, "_fixtureinfo", None)
        wide = []
        for name, defs in (infos.name2fixturedefs.items() if infos else ()):
            for fixturedef in defs:
                if fixturedef.scope != "function":
                    wide.append(f"{fixturedef.baseid}::{name}")
        self.shared[item.nodeid] = sorted(set(wide))
        start = time.perf_counter()
        self._phase(self.setup_lines.setdefault(item.nodeid, {}))
        yield
        self._phase(None)
        self.seconds[item.nodeid] = time.perf_counter() - start

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item):
        start = time.perf_counter()
        self._phase(self.lines.setdefault(item.nodeid, {}))
        yield
        self._phase(None)
        self.seconds[item.nodeid] += time.perf_counter() - start

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_teardown(self, item, nextitem):
        self._phase(self.lines.setdefault(item.nodeid, {}))
        yield
        self._phase(None)


def build(tests: list[str]) -> dict:
    """Run the fast suite once under the recorder (in this process) and return the line map."""
    recorder = LineRecorder(PACKAGE)
    args = ["-q", "-p", "no:cacheprovider", "-p", "no:randomly", "--hypothesis-seed=0", "-o", "addopts=",
            *tests]
    code = pytest.main(args, plugins=[recorder])
    if code != 0:
        raise SystemExit(f"the unit tests fail on the unmutated package (pytest exit {code}): fix them first")
    by_line: dict[str, dict[str, list[str]]] = {}  # module -> line -> test ids
    tests_of_fixture: dict[str, list[str]] = {}
    for test, fixtures in recorder.shared.items():
        for fixture in fixtures:
            tests_of_fixture.setdefault(fixture, []).append(test)
    for test in recorder.seconds:
        sharing = {t for f in recorder.shared.get(test, ()) for t in tests_of_fixture[f]}
        for module, lines in recorder.setup_lines.get(test, {}).items():
            for line in lines:
                by_line.setdefault(module, {}).setdefault(str(line), []).extend(sorted(sharing | {test}))
        for module, lines in recorder.lines.get(test, {}).items():
            for line in lines:
                by_line.setdefault(module, {}).setdefault(str(line), []).append(test)
    by_line = {m: {line: sorted(set(t)) for line, t in lines.items()} for m, lines in by_line.items()}
    return {"seconds": {t: round(s, 4) for t, s in recorder.seconds.items()}, "lines": by_line}


def load(key: str) -> dict:
    """The map built for sources hashing to ``key`` (by ``python mutation/linemap.py``)."""
    path = CACHE / f"linemap-{key}.json"
    if not path.is_file():
        raise SystemExit(f"no line map for the current sources ({path.name}): were tests edited while it was built?")
    return json.loads(path.read_text())


def load_or_build(tests: list[str]) -> dict:
    key = source_hash()
    path = CACHE / f"linemap-{key}.json"
    if path.is_file():
        return json.loads(path.read_text())
    print("mapping the unit tests to the lines they execute (once per source state, ~2 min) ...", flush=True)
    started = time.monotonic()
    data = build(tests)
    data["build_s"] = round(time.monotonic() - started)
    CACHE.mkdir(exist_ok=True)
    (CACHE / ".gitignore").write_text("*\n")
    path.write_text(json.dumps(data))
    return data


def function_body_lines(source: str) -> set[int]:
    """Lines inside a function's body: they run when the function is called, not at import."""
    inside: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inside.update(range(node.body[0].lineno, node.end_lineno + 1))
        elif isinstance(node, ast.Lambda):
            inside.update(range(node.body.lineno, node.body.end_lineno + 1))
    return inside


def statement_spans(tree: ast.AST) -> dict[int, range]:
    """For each node (by ``id``), the lines of the innermost statement holding it (the header only,
    for a compound one): the tracer reports a multi-line statement on whichever of its lines has
    instructions, not necessarily the line of the mutated node."""
    spans: dict[int, range] = {}

    def visit(node: ast.AST, span: range | None):
        if isinstance(node, ast.stmt):
            end = node.end_lineno
            body = getattr(node, "body", None)
            if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
                end = max(node.lineno, body[0].lineno - 1)
            span = range(node.lineno, end + 1)
        line = getattr(node, "lineno", 0)
        spans[id(node)] = span if span is not None else range(line, line + 1)
        for child in ast.iter_child_nodes(node):
            visit(child, span)

    visit(tree, None)
    return spans


def select(linemap: dict, module: str, span: range, module_level: bool, order: dict[str, int]) -> list[str]:
    """Test ids to run against a mutant: nearest test files first (``order``), then fastest."""
    lines = linemap["lines"].get(module, {})
    if module_level:
        chosen = {t for tests in lines.values() for t in tests}
    else:
        chosen = {t for line in span for t in lines.get(str(line), ())}
    seconds = linemap["seconds"]
    return sorted(chosen, key=lambda t: (order.get(t.split("::")[0], 99), seconds.get(t, 0.0), t))


if __name__ == "__main__":  # run by mutation/run.py in a child process, so that it imports no evsynth itself
    sys.path.insert(0, str(PACKAGE.parent))
    load_or_build([str(TESTS), f"--ignore={TESTS / 'workflow'}"])
