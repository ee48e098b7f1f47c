"""mutation/report.md from a run's record (mutation/run.py)."""

from __future__ import annotations

import math
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "workflow" / "lib" / "evsynth"
LAYERS = ("stats", "data")
SURVIVING = ("survived", "not covered")
SELECTION = {"lines": "the unit tests that execute the mutated statement",
             "imports": "the unit-test files importing the mutated module"}


def wilson(killed: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (Wilson 1927, JASA 22(158):209-212)."""
    if n == 0:
        return (math.nan, math.nan)
    p = killed / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (centre - half, centre + half)


def counts(group: list[dict], notes: dict[str, str]) -> dict[str, int]:
    killed = sum(r["status"] == "killed" for r in group)
    eq = sum(r["status"] in SURVIVING and r["id"] in notes for r in group)
    uncovered = sum(r["status"] == "not covered" and r["id"] not in notes for r in group)
    timeout = sum(r["status"] in ("timeout", "error") for r in group)
    survived = len(group) - killed - eq - timeout
    return {"n": len(group), "killed": killed, "equivalent": eq, "survived": survived, "uncovered": uncovered,
            "timeout": timeout, "decided": killed + survived}


def score(c: dict[str, int], interval: bool = False) -> str:
    if not c["decided"]:
        return "-"
    text = f"{100 * c['killed'] / c['decided']:.1f}%"
    if interval:
        lo, hi = wilson(c["killed"], c["decided"])
        text += f" ({100 * lo:.1f}-{100 * hi:.1f}%)"
    return text


def _source_line(module: str, line: int) -> str:
    text = (PACKAGE / module).read_text().splitlines()[line - 1].strip()
    return re.sub(r"\|", r"\\|", text)[:90]


def _first_layer(first: dict, layer: str, mutants: list[dict], notes: dict[str, str]) -> dict[str, int]:
    """The first run's counts in one layer, less the survivors shown equivalent since."""
    keys = [k for k in first["modules"] if k.startswith(layer + "/")]
    c = {f: sum(first["modules"][k][f] for k in keys) for f in ("killed", "decided", "equivalent")}
    now = counts([r for r in mutants if r["module"].startswith(layer + "/")], notes)
    return {**c, "decided": c["decided"] - (now["equivalent"] - c["equivalent"])}


def render(document: dict, notes: dict[str, str]) -> str:
    settings, mutants = document["settings"], document["mutants"]
    command = "mutation/run.py"
    if settings["modules"]:
        command += " --modules " + " ".join(settings["modules"])
    if settings["sample"] is not None:
        command += f" --sample {settings['sample']} --seed {settings['seed']}"
    wall = sum(r["wall_s"] for r in document["runs"]) / 60
    cpu = sum(r["cpu_s"] for r in document["runs"]) / 60
    how = settings.get("select")
    runs = "; ".join(f"{r['mutants']} mutants in {r['wall_s'] / 60:.0f} min"
                     + (f" (tests by {r['select']})" if r.get("select", how) != how else "") for r in document["runs"])
    sampled = len(mutants) < settings["generated"]
    first = document.get("first")
    lines = [
        "# Mutation score of the statistics and data layers",
        "",
        "Written by `mutation/run.py` (how it works: its docstring and the README, \"Mutation score\"). Re-run with:",
        "",
        "```bash",
        f"PYTHONPATH=workflow/lib nice -n 15 .venv/bin/python {command}",
        "PYTHONPATH=workflow/lib nice -n 15 .venv/bin/python mutation/run.py --rerun  # survivors, after new tests",
        "```",
        "",
        f"- Mutants: {len(mutants)} run of {settings['generated']} generated over {settings['n_modules']} modules "
        f"of `evsynth/stats` and `evsynth/data`"
        f"{' (a deterministic sample, seed ' + str(settings['seed']) + ')' if sampled else ''}.",
        f"- Tests per mutant: {settings.get('select', 'imports')} ({SELECTION[settings.get('select', 'imports')]}"
        f"{', run in a forked interpreter with the libraries imported' if settings.get('fork') else ''}).",
        f"- Time: {wall:.0f} min wall, {cpu:.0f} min CPU ({runs}; 2 cores shared with other jobs), "
        f"per-mutant timeout {settings['timeout']:.0f} s.",
        "- Killed: a covering unit test failed. Equivalent: the mutant cannot change any output (why: "
        "`mutation/equivalent.tsv`). Survived: every selected test passed, or (not covered) no unit test "
        "executes the mutated statement. Timed out or error: not counted.",
    ]
    if first:
        c = first
        lines += ["", f"**Before the tests written for this run's survivors** (the estimate for the whole population): "
                      f"{c['killed']} of {c['decided']} decided mutants killed, {score(c, interval=True)} "
                      f"(95% Wilson interval); {c['equivalent']} equivalent, {c['timeout']} timed out or errors."]
    total = counts(mutants, notes)
    if first and total["equivalent"] > first["equivalent"]:
        # The survivors shown equivalent since cannot change an output: taken out of the
        # first run's denominator too (each was a survivor then, never a killed mutant).
        c = {**first, "decided": first["decided"] - (total["equivalent"] - first["equivalent"])}
        by_layer = "; ".join(
            f"{layer} {score(_first_layer(first, layer, mutants, notes))}" for layer in LAYERS)
        lines += ["", f"**Before those tests, over the mutants that can change an output** (the "
                      f"{total['equivalent'] - first['equivalent']} shown equivalent since taken out too): "
                      f"{c['killed']} of {c['decided']} killed, {score(c, interval=True)} ({by_layer})."]
    lines += ["", f"**Now**: {total['killed']} of {total['decided']} killed, {score(total, interval=True)}.", "",
              "| layer / module | mutants | killed | equivalent | survived (not covered) | timed out / error "
              "| score now (95% interval) | score before new tests |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]

    def row(name, group):
        c = counts(group, notes)
        before = "-"
        if first and "modules" in first:
            key = name.strip("*")
            keys = [k for k in first["modules"] if key == "stats + data" or k == key or k.startswith(key + "/")]
            b = {f: sum(first["modules"][k][f] for k in keys) for f in ("killed", "decided")}
            before = f"{100 * b['killed'] / b['decided']:.1f}%" if b["decided"] else "-"
        return (f"| {name} | {c['n']} | {c['killed']} | {c['equivalent']} | {c['survived']} ({c['uncovered']}) "
                f"| {c['timeout']} | {score(c, interval=True)} | {before} |")

    for layer in LAYERS:
        lines.append(row(f"**{layer}**", [r for r in mutants if r["module"].startswith(layer + "/")]))
    lines.append(row("**stats + data**", mutants))
    for module in sorted({r["module"] for r in mutants}):
        lines.append(row(module, [r for r in mutants if r["module"] == module]))
    open_ = [r for r in mutants if r["status"] != "killed"]
    lines += ["", "## Surviving, equivalent and timed-out mutants", ""]
    if not open_:
        lines.append("None.")
    else:
        lines += ["| mutant (module:line:col:node) | mutation | line | verdict |", "|---|---|---|---|"]
        for r in open_:
            if r["status"] in SURVIVING and r["id"] in notes:
                verdict = notes[r["id"]]
            else:
                verdict = f"**{r['status']}**"
            lines.append(f"| `{r['id']}` | {r['description']} | `{_source_line(r['module'], r['line'])}` | {verdict} |")
    lines.append("")
    return "\n".join(lines)
