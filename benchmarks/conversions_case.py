"""Case 8 of benchmarks/run.py: what converting data as trials report it costs (issue 14).

The study table is read, checked and converted once per Snakemake invocation, at parse time
(``Plan.load`` in workflow/rules/common.smk -> ``evsynth.data.studies.load_studies``); jobs get
the converted rows through their params. So the conversions cost (a) CPU time when the table is
read, and (b) whatever converted rows add downstream: a footnote on their forest plot, and the
reported-only re-run of each comparison they sit in (``results/sensitivity/subsets.tsv``,
``robustness.tsv``). Both are measured on the same trials entered two ways:

* **direct**: the shipped ``studies.tsv``;
* **reported**: the same file with every included arm-means row rewritten in a reported form,
  in turn: the SE of each arm mean, its CI, median with quartiles (S2), median with range (S1),
  and every included contrast with a CI rewritten as its t statistic or exact p-value. Each form
  is the exact inverse of its conversion (S1/S2: median = mean, quartiles or range at
  mean -/+ SD x eta(n)/2 or xi(n)/2; a CI at the quantile the reader uses), so both tables hold
  the same trials and give the same analyses, up to rounding in the last digits.

(a) ``load_studies`` on both files in one fresh process, alternating, CPU time (``parse``
below). (b) Cold ``snakemake --cores 4`` runs of a snapshot of the workflow with each table,
both at once (so that both see the same load on a shared machine), timed as each process
tree's CPU time. The target: the reported table's cold
run costs under 5% more than the direct one's.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FORMS = ("sem", "mean_ci", "median_iqr", "median_range")
CONTRAST_FORMS = ("t_stat", "p_value")


def _num(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def reported_table(source: Path, target: Path) -> dict:
    """Write ``source``'s trials to ``target`` in reported forms; return how many rows got each."""
    import pandas as pd

    sys.path.insert(0, str(REPO / "workflow" / "lib"))
    from evsynth.stats.conversions import _eta, _xi, mean_ci_quantile
    from evsynth.stats.escalc import z_for_level

    table = pd.read_csv(source, sep="\t", dtype=str, keep_default_na=False)
    new = [
        *(f"{s}_{arm}" for s in ("sem", "mean_ci_lower", "mean_ci_upper", "median", "q1", "q3", "min", "max")
          for arm in ("treat", "ctrl")),
        "p_value",
        "t_stat",
    ]
    for column in new:
        if column not in table:
            table[column] = ""
    counts = dict.fromkeys((*FORMS, *CONTRAST_FORMS), 0)
    means_i = contrast_i = 0
    for i, row in table.iterrows():
        if row["include"] != "yes":
            continue
        arms = {a: (_num(row[f"n_{a}"]), _num(row[f"mean_{a}"]), _num(row[f"sd_{a}"])) for a in ("treat", "ctrl")}
        if all(None not in v for v in arms.values()) and row["effect"] == "" and row.get("arm_group", "") == "":
            form = FORMS[means_i % len(FORMS)]
            if form.startswith("median") and min(v[0] for v in arms.values()) < 5:
                form = "sem"
            means_i += 1
            counts[form] += 1
            for arm, (n, mean, sd) in arms.items():
                cell = {}
                if form == "sem":
                    cell["sem"] = sd / math.sqrt(n)
                elif form == "mean_ci":
                    half = float(mean_ci_quantile(n, 95.0)) * sd / math.sqrt(n)
                    cell |= {"mean_ci_lower": mean - half, "mean_ci_upper": mean + half}
                else:
                    spread, low, high = (_eta(n), "q1", "q3") if form == "median_iqr" else (_xi(n), "min", "max")
                    cell |= {"median": mean, low: mean - sd * spread / 2, high: mean + sd * spread / 2}
                    table.at[i, f"mean_{arm}"] = ""
                for stat, value in cell.items():
                    table.at[i, f"{stat}_{arm}"] = repr(float(value))
                table.at[i, f"sd_{arm}"] = ""
            continue
        effect, lower, upper = _num(row["effect"]), _num(row["ci_lower"]), _num(row["ci_upper"])
        if row["arm"] != "" or None in (effect, lower, upper):
            continue
        ratio = row["effect_measure"] in ("RR", "OR")
        if ratio and min(effect, lower, upper) <= 0:
            continue
        y = math.log(effect) if ratio else effect
        width = (math.log(upper) - math.log(lower)) if ratio else upper - lower
        se = _num(row["se"]) or width / (2 * z_for_level(_num(row["ci_level"]) or 95.0))
        if y == 0 or se <= 0:
            continue  # no effect: no SE can be recovered from t = 0 or p = 1
        form = CONTRAST_FORMS[contrast_i % 2]
        contrast_i += 1
        p = math.erfc(abs(y / se) / math.sqrt(2))  # two-sided normal p (no arm sizes on these rows)
        if form == "p_value" and (p <= 0 or p >= 1 or _num(row["n_treat"]) or _num(row["n_ctrl"])):
            form = "t_stat"
        counts[form] += 1
        table.at[i, form] = repr(y / se) if form == "t_stat" else repr(p)
        for column in ("ci_lower", "ci_upper", "se"):
            table.at[i, column] = ""
    table.to_csv(target, sep="\t", index=False, lineterminator="\n")
    return {"rows": len(table), "converted": counts}


def parse(direct: str, reported: str, reps: int) -> dict:
    """CPU time of ``load_studies`` (read, check, convert) on both tables, alternating."""
    import yaml

    from evsynth.data.studies import load_studies

    raw = yaml.safe_load((REPO / "config.yaml").read_text())
    out = {"direct": [], "reported": []}
    for path in (direct, reported):
        load_studies(path, raw)  # warm: imports, caches
    for _ in range(reps):
        for label, path in (("direct", direct), ("reported", reported)):
            start = time.process_time()
            rows = load_studies(path, raw)
            out[label].append(time.process_time() - start)
            out[f"{label}_rows"] = len(rows)
            if label == "reported":
                out["reported_converted_rows"] = int((rows["conversion"] != "").sum())
    out["same_analyses"] = same_analyses(direct, reported, raw)
    return {k: (sorted(v) if isinstance(v, list) else v) for k, v in out.items()}


def same_analyses(direct: str, reported: str, raw: dict) -> dict:
    """Both tables through the parse-time plan: the analyses, and the largest relative
    difference of any effect size or variance (the reported forms are exact inverses)."""
    import numpy as np

    from evsynth.pipeline.plan import Plan

    a, b = Plan.load({**raw, "studies": direct}), Plan.load({**raw, "studies": reported})
    worst, effects = 0.0, 0
    for key, ea in a._effects.items():
        eb = b._effects.get(key)
        if eb is None or len(eb) != len(ea):
            return {"same": False, "analysis": list(key)}
        for column in ("yi", "vi"):
            x, y = ea[column].to_numpy(float), eb[column].to_numpy(float)
            ok = np.isfinite(x) & np.isfinite(y)
            if len(x) and ok.any():
                worst = max(worst, float(np.max(np.abs(x[ok] - y[ok]) / np.maximum(np.abs(x[ok]), 1e-300))))
        effects += len(ea)
    return {"same": set(a._effects) == set(b._effects), "analyses": len(a._effects), "effects": effects,
            "max_rel_diff": worst}


def first(path: str) -> dict:
    """CPU time of the first ``load_studies`` in a fresh process: imports and lazy imports
    (scipy.stats, which a small arm's CI or a p-value needs) included, as at Snakemake's parse."""
    start = time.process_time()
    import yaml

    from evsynth.data.studies import load_studies

    load_studies(path, yaml.safe_load((REPO / "config.yaml").read_text()))
    return {"cpu_s": time.process_time() - start, "scipy_stats": "scipy.stats" in sys.modules}


def case8(cfg: dict, log, run_process, snapshot, snakemake, stats) -> dict:
    import tempfile

    c = cfg["case8"]
    import subprocess

    git = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True, text=True)
    out: dict = {"load_average_start": list(os.getloadavg()), "git": git.stdout.strip() or "unknown"}
    with tempfile.TemporaryDirectory(prefix="evsynth-bench-conv-") as tmp:
        tmp = Path(tmp)
        reported = tmp / "studies_reported.tsv"
        out["table"] = reported_table(REPO / "studies.tsv", reported)
        log(f"case 8: load_studies, direct vs reported forms ({c['parse_reps']} reps)")
        env = dict(os.environ, PYTHONPATH=str(REPO / "workflow" / "lib"))
        run = run_process([sys.executable, str(Path(__file__)), "parse",
                           json.dumps([str(REPO / "studies.tsv"), str(reported), c["parse_reps"]])],
                          cwd=REPO, env=env, timeout=1200)
        lines = [line for line in run["output"].splitlines() if line.startswith("{")]
        out["parse"] = json.loads(lines[-1]) if run["returncode"] == 0 and lines else {"error": run["output"][-2000:]}
        firsts: dict = {"direct": [], "reported": []}
        for _ in range(c["first_reps"]):
            for label, path in (("direct", REPO / "studies.tsv"), ("reported", reported)):
                run = run_process([sys.executable, str(Path(__file__)), "first", json.dumps([str(path)])],
                                  cwd=REPO, env=env, timeout=600)
                lines = [line for line in run["output"].splitlines() if line.startswith("{")]
                if run["returncode"] == 0 and lines:
                    firsts[label].append(json.loads(lines[-1]))
        out["first"] = firsts
        if c.get("cold_reps", 0):
            dirs = {"direct": tmp / "direct", "reported": tmp / "reported"}
            snapshot(dirs["direct"])
            snapshot(dirs["reported"], table=reported)
            runs: dict = {"direct": [], "reported": []}
            for rep in range(c["cold_reps"]):
                for label in dirs:
                    for leftover in (".snakemake", "results"):
                        shutil.rmtree(dirs[label] / leftover, ignore_errors=True)
                # Both tables' cold runs at once: they share whatever else loads the machine, so
                # their CPU times are comparable (one after the other, a shared machine's load drifts).
                log(f"case 8: cold runs, direct and reported tables side by side ({rep + 1}/{c['cold_reps']})")
                with ThreadPoolExecutor(2) as pool:
                    done = {label: pool.submit(snakemake, d, c["timeout"]) for label, d in dirs.items()}
                for label, future in done.items():
                    runs[label].append(future.result())
            out["cold_runs"] = runs
            for label, rs in runs.items():
                good = [r for r in rs if r["returncode"] == 0]
                if not good:
                    out[f"cold_{label}"] = {"error": rs[-1].get("error", "failed")[-1500:]}
                    continue
                out[f"cold_{label}"] = stats([r["wall_s"] for r in good], [r["cpu_s"] for r in good])
                out[f"cold_{label}"]["jobs"] = good[-1]["jobs"]
                out[f"cold_{label}"]["figures"] = sum(1 for _ in (dirs[label] / "results").rglob("*.svg"))
    out["load_average_end"] = list(os.getloadavg())
    return out


def summary(r: dict) -> dict:
    """Ratios and shares the report and the target use (medians of CPU time)."""
    s: dict = {}
    p = r.get("parse", {})
    if "direct" in p:
        s["parse_direct"], s["parse_reported"] = statistics.median(p["direct"]), statistics.median(p["reported"])
        s["parse_extra"] = s["parse_reported"] - s["parse_direct"]
    f = r.get("first", {})
    if f.get("direct") and f.get("reported"):
        s["first_direct"] = statistics.median(x["cpu_s"] for x in f["direct"])
        s["first_reported"] = statistics.median(x["cpu_s"] for x in f["reported"])
        s["first_extra"] = s["first_reported"] - s["first_direct"]
    d, rep = r.get("cold_direct", {}), r.get("cold_reported", {})
    if "cpu_median" in d and "cpu_median" in rep:
        s["cold_ratio_cpu"] = rep["cpu_median"] / d["cpu_median"]
        s["cold_ratio_wall"] = rep["median"] / d["median"]
        if "parse_extra" in s:
            s["parse_share"] = s["parse_extra"] / d["cpu_median"]
        if "first_extra" in s:
            s["first_share"] = s["first_extra"] / d["cpu_median"]
    return s


if __name__ == "__main__":
    print(json.dumps({"parse": parse, "first": first}[sys.argv[1]](*json.loads(sys.argv[2]))))


def report(r: dict, spread, fmt_s) -> list[str]:
    """The case's section of results.md."""
    s = summary(r)

    def diff(x: float) -> str:
        return f"{fmt_s(abs(x))} {'more' if x >= 0 else 'less'}"

    table = r.get("table", {})
    forms = ", ".join(f"{k} {v}" for k, v in table.get("converted", {}).items())
    lines = ["## 8. Data as trials report it: what the conversions cost", "",
             f"The shipped table's {table.get('rows')} rows entered directly, and the same trials with the included "
             f"arm-means rows and contrasts rewritten in reported forms ({forms} rows; each the exact inverse of its "
             "conversion, so both tables give the same analyses): `benchmarks/conversions_case.py`, evsynth git "
             f"{r.get('git', '?')}. Load average "
             f"{', '.join(f'{x:.1f}' for x in r['load_average_start'])} at the start, "
             f"{', '.join(f'{x:.1f}' for x in r['load_average_end'])} at the end (nproc 2, shared machine).", ""]
    p = r.get("parse", {})
    if "direct" in p:
        lines += [f"- Reading, checking and converting the table (`load_studies`, once per Snakemake invocation, "
                  f"at parse time; CPU, median of {len(p['direct'])}, alternating in one process): direct "
                  f"{fmt_s(s['parse_direct'])}, reported {fmt_s(s['parse_reported'])} "
                  f"({p.get('reported_converted_rows')} rows converted): {diff(s['parse_extra'])}."]
        same = p.get("same_analyses")
        if same:
            lines += [f"- Same analyses: {same.get('analyses')} analyses, {same.get('effects')} effect sizes in both; "
                      f"largest relative difference of any yi or vi {same.get('max_rel_diff', float('nan')):.1e}."
                      if same.get("same") else f"- The two tables give different analyses: {same}."]
    if "first_extra" in s:
        loads = any(x.get("scipy_stats") for x in r["first"]["reported"])
        lines += [f"- The same as the first call of a fresh process (imports included, as at Snakemake's parse; "
                  f"CPU, median of {len(r['first']['direct'])}): direct {fmt_s(s['first_direct'])}, reported "
                  f"{fmt_s(s['first_reported'])} ({diff(s['first_extra'])}: within the spread; "
                  + ("the reported table's conversions imported scipy.stats)." if loads else
                     "the conversions take their t and normal quantiles from scipy.special, so scipy.stats is "
                     "not imported at parse time).")]
    for label in ("direct", "reported"):
        c = r.get(f"cold_{label}")
        if c is None:
            continue
        if "error" in c:
            lines += [f"- Cold run, {label} table: failed: {c['error'][-300:]}"]
        else:
            lines += [f"- Cold run, {label} table: {spread(c)}, {c['jobs']} jobs, {c['figures']} figures (SVG)."]
    if "cold_ratio_cpu" in s:
        lines += ["", f"Reported / direct cold run: {s['cold_ratio_cpu']:.3f}x in CPU time "
                      f"({100 * (s['cold_ratio_cpu'] - 1):+.1f}%), {s['cold_ratio_wall']:.3f}x in wall time. Of the "
                      f"direct cold run's CPU time, the conversions at parse time are {100 * s['parse_share']:+.3f}% "
                      f"(warm) and {100 * s.get('first_share', 0):+.3f}% in a fresh process (imports included); "
                      "the rest of any difference is what the converted rows add downstream (their footnotes, the "
                      "reported-only re-runs) and the spread between two cold runs on a shared machine."]
    return lines + [""]
