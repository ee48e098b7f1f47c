"""A rule's code inputs: the evsynth modules its script imports, directly or not.

Snakemake re-runs a job when one of its input files changes, so listing every module a
script executes makes "editing a module re-runs exactly the rules that import it" exact,
and deriving the list from the imports (with :mod:`ast`, nothing is executed) keeps it exact
after every edit. Importing ``evsynth.a.b`` runs ``evsynth/__init__.py`` and
``evsynth/a/__init__.py`` too, so those count. Paths are relative to the working
directory, so a finished review moved or copied elsewhere (with its ``.snakemake``
metadata) plans no job.
"""

from __future__ import annotations

import ast
import functools
import os
import re
from pathlib import Path

PACKAGE = "evsynth"


def _module_file(package_root: Path, dotted: str) -> Path | None:
    """``evsynth.a.b`` -> ``<root>/evsynth/a/b.py`` or ``.../b/__init__.py``; None if neither."""
    base = package_root.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _with_parents(dotted: str) -> list[str]:
    """``evsynth.a.b`` -> ``["evsynth", "evsynth.a", "evsynth.a.b"]``: importing one runs all."""
    parts = dotted.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


# Import statements at any indentation; only these are parsed, which is ~20x cheaper than
# parsing whole files on every Snakemake invocation.
_IMPORT = re.compile(
    r"^[ \t]*(?:from[ \t]+evsynth[\w.]*[ \t]+import[ \t]+(?:\([^)]*\)|[^\n]*)|import[ \t]+evsynth[^\n]*)",
    re.MULTILINE,
)


@functools.cache  # every rule shares most modules: read each file once per invocation
def imported_modules(path: Path, package_root: Path) -> frozenset[str]:
    """Dotted names of the evsynth modules ``path`` imports anywhere (module or function level)
    (``from evsynth.a import b`` names ``evsynth.a.b`` when ``b`` is a module)."""
    found: set[str] = set()
    for statement in _IMPORT.findall(path.read_text(encoding="utf-8")):
        try:
            nodes = ast.parse(statement.strip()).body
        except SyntaxError:  # e.g. a line of a docstring that reads like an import
            continue
        for node in nodes:
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
                names += [f"{node.module}.{alias.name}" for alias in node.names
                          if _module_file(package_root, f"{node.module}.{alias.name}") is not None]
            else:
                continue
            for name in names:
                if name == PACKAGE or name.startswith(PACKAGE + "."):
                    found.update(m for m in _with_parents(name) if _module_file(package_root, m) is not None)
    return frozenset(found)


@functools.cache
def _closure(script: Path, package_root: Path) -> tuple[Path, ...]:
    seen: set[str] = set()
    todo = sorted(imported_modules(script, package_root))
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(imported_modules(_module_file(package_root, name), package_root) - seen)
    return tuple(sorted(_module_file(package_root, name) for name in seen))


def module_closure(script: str | os.PathLike, package_root: str | os.PathLike) -> tuple[Path, ...]:
    """Absolute paths of every evsynth module file that running ``script`` executes.

    ``package_root`` is the directory holding the ``evsynth`` package (``workflow/lib``).
    """
    return _closure(Path(script).resolve(), Path(package_root).resolve())


def script_sources(script: str | os.PathLike, package_root: str | os.PathLike,
                   workdir: str | os.PathLike | None = None) -> list[str]:
    """:func:`module_closure` as sorted paths relative to ``workdir`` (default: the current
    directory, Snakemake's working directory at parse time)."""
    start = Path(workdir) if workdir is not None else Path.cwd()
    return sorted(os.path.relpath(p, start) for p in module_closure(script, package_root))
