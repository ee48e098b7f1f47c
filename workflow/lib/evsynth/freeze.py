"""Freeze the current results as the baseline of the next review update.

Usage (from the review's working directory, after ``snakemake --cores 4`` has finished)::

    python -m evsynth.freeze results baselines/2026-11

copies the summary tables of ``results/`` (every ``results/*.tsv`` and
``results/sensitivity/*.tsv``, not the change log, figures or logs) into
``baselines/2026-11/`` with a ``BASELINE.md`` naming the study-table and method hashes.
Commit that directory, then set ``changes: baseline: baselines/2026-11`` in
config.yaml: the next run's ``results/changes.md`` compares with it. An existing,
non-empty target is never overwritten unless ``--force`` is given.
"""

from __future__ import annotations

import argparse
import datetime
import shutil
import sys
from pathlib import Path

from evsynth.data.io import read_tsv, write_text_atomic

#: Files of results/ that a baseline does not keep: they describe the previous comparison.
SKIPPED = ("changes.tsv",)


def freeze(source: str | Path, target: str | Path, force: bool = False) -> list[Path]:
    """Copy the summary tables of ``source`` into ``target``; return the files written."""
    source, target = Path(source), Path(target)
    if not (source / "pooled.tsv").is_file():
        raise SystemExit(f"{source}/pooled.tsv not found: run snakemake first, then freeze its results")
    if target.exists() and any(target.iterdir()) and not force:
        raise SystemExit(f"{target} exists and is not empty; choose a new name or pass --force to overwrite it")
    if target.resolve() == source.resolve() or source.resolve() in target.resolve().parents:
        raise SystemExit(f"{target} is inside {source}: keep baselines outside results/ (e.g. baselines/<name>)")
    if force and target.exists():  # only what a freeze writes, so nothing else of the user's is lost
        for stale in (*target.glob("*.tsv"), *target.glob("sensitivity/*.tsv"), target / "BASELINE.md"):
            stale.unlink(missing_ok=True)
    files = sorted(p for p in source.glob("*.tsv") if p.name not in SKIPPED)
    files += sorted((source / "sensitivity").glob("*.tsv"))
    written = []
    for path in files:
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
        written.append(destination)
    write_text_atomic(target / "BASELINE.md", _describe(source, target, written))
    written.append(target / "BASELINE.md")
    return written


def _describe(source: Path, target: Path, files: list[Path]) -> str:
    lines = [
        f"# Baseline `{target.name}`",
        "",
        f"Frozen from `{source}` on {datetime.date.today().isoformat()} with `python -m evsynth.freeze`.",
    ]
    provenance = source / "provenance.tsv"
    if provenance.is_file():
        table = read_tsv(provenance)
        if len(table):
            first = table.iloc[0]
            lines.append(
                f"Study table #{first['table_hash']} ({first['table']}), method #{first['method_hash']} "
                f"({first['profile']}); evsynth {first['evsynth']}, PyMARE {first['pymare']}."
            )
    else:
        lines.append("No provenance.tsv in these results (made before provenance was recorded).")
    lines += [
        "",
        f"Compare later results with it: set `changes: baseline: {target}` in config.yaml.",
        "",
        "Files:",
        "",
        *(f"- `{p.relative_to(target)}`" for p in files),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evsynth.freeze", description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="the results directory to freeze (normally results)")
    parser.add_argument("target", help="where to keep the baseline, e.g. baselines/2026-11")
    parser.add_argument("--force", action="store_true", help="overwrite a non-empty target")
    args = parser.parse_args(argv)
    written = freeze(args.source, args.target, force=args.force)
    print(f"Froze {len(written) - 1} table(s) of {args.source} into {args.target}; "
          f"name it in config.yaml as changes: baseline: {args.target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
