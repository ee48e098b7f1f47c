"""benchmarks/results.md and results.json from a run's results; ``--merge`` splices a re-run
case into the existing page."""

from __future__ import annotations

import json
from pathlib import Path

import conversions_case
from targets import cpu_median, fmt_s, ratio_text, spread


def write_report(results: dict, out: Path, smoke: bool, command: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    info = results["machine"]
    lines = [
        "# evsynth benchmarks" + (" (smoke run: tiny sizes, no targets)" if smoke else ""),
        "",
        f"Written by `{command}` on {results['finished']} in {results['duration_s'] / 60:.1f} min "
        f"(machine-readable copy: `results.json`).",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        f"| CPU | {info['cpu']}, nproc = {info['nproc']} |",
        f"| memory | {info['memory_gb']} GB |",
        f"| load average (1, 5, 15 min) | start {', '.join(f'{x:.1f}' for x in info['load_average_start'])}; "
        f"end {', '.join(f'{x:.1f}' for x in info['load_average_end'])} |",
        f"| platform | {info['platform']} |",
        f"| versions | Python {info['python']}, numpy {info['numpy']}, scipy {info['scipy']}, pandas {info['pandas']}, "
        f"PyMARE {info['pymare']}, Snakemake {info['snakemake']}, matplotlib {info['matplotlib']}, "
        f"R {info['r']}, metafor {info['metafor']} |",
        f"| evsynth | git {info['git']} |",
        "",
        "Times are wall-clock medians [min–max] ×repetitions, with the median CPU time in "
        "parentheses (for a pipeline run: of the whole process tree, so above wall time when jobs run "
        "in parallel). A load average above nproc means other processes shared the CPUs: wall times "
        "then overstate; CPU times and ratios (always measured in the same run, alternating) much less.",
        "",
    ]
    targets = results["targets"]
    if targets:
        lines += ["## Targets", "",
                  "Judged on wall-clock time, as the targets are stated; the same measurement in CPU time "
                  "(what the work cost, whatever else ran on the machine) beside it.", "",
                  "| case | target | measured (wall) | met | measured (CPU) | met (CPU) |",
                  "|---|---|---|---|---|---|"]
        for t in targets:
            met = {True: "yes", False: "**no**", None: "—"}
            why = f" ({t['why']})" if t["why"] else ""
            lines.append(f"| {t['case']} | {t['target']} | {t['measured']}{why} | {met[t['met']]} | "
                         f"{t.get('measured_cpu', '—')} | {met[t.get('met_cpu')]} |")
        lines.append("")
    c1 = results.get("case1")
    if c1:
        lines += [
            "## 1. One analysis, full summary",
            "",
            "`pool(yi, vi, estimator, ci_method='hksj', prediction_interval='t_k-1', tau2_ci='qprofile')` "
            "(PyMARE below k = 100,000, `pool_large_k` from there) against metafor "
            "`rma(yi, vi, method, test='knha')` + `confint()` + `predict()` on the same data "
            "(vᵢ ~ U(0.01, 1), yᵢ ~ N(0.2, vᵢ + 0.05)), and against a bare numpy Fisher-scoring loop "
            "for REML tau² alone (`workers.bare_fisher_scoring`; the yardstick of the k = 10⁶ target "
            "for both estimators).",
            "",
            "| k | method | evsynth | metafor | metafor / evsynth | bare Fisher loop | evsynth / bare | "
            "peak memory of the call | PyMARE engine forced |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for row in c1["rows"]:
            py, mf = row["python"], row["metafor"]
            if "error" in py:
                lines.append(f"| {row['k']:,} | {row['estimator']} | error: {py['error'][:120]} | | | | | | |")
                continue
            ours = py["evsynth"]
            if mf.get("ok"):
                mf_text, ratio = spread(mf), ratio_text(mf, ours)
            elif "skipped" in mf:
                mf_text, ratio = f"skipped ({mf['skipped']})", "—"
            else:
                mf_text, ratio = f"fails after {fmt_s(mf.get('elapsed'))}: {mf.get('error', '')[:90]}", "—"
            bare = py["bare_fisher"]
            forced = spread(py["pymare_forced"]) if "pymare_forced" in py else "—"
            lines.append(
                f"| {row['k']:,} | {row['estimator']} | {spread(ours)} | {mf_text} | {ratio} | {spread(bare)} | "
                f"{ratio_text(ours, bare, '{:.2f}x')} | {py['peak_traced_mb']:.1f} MB (process max RSS "
                f"{py['max_rss_mb']:.0f} MB) | {forced} |")
        lines.append("")
    c2 = results.get("case2")
    if c2:
        lines += [
            f"## 2. {c2['n']:,} separate analyses of k = {c2['k']} in one process",
            "",
            "Each run is a fresh process: interpreter start, imports, data, pooling with the full "
            "cochrane-2025 summary. `batch` is `pool_many` (PyMARE parallel datasets); `loop` is "
            "`[pool(y, v) for ...]`.",
            "",
            "| method / mode | whole process | of which pooling | of which imports | max RSS |",
            "|---|---|---|---|---|",
        ]
        for name, entry in c2["runs"].items():
            if "process" not in entry:
                lines.append(f"| {name} | error: {'; '.join(entry['errors'])[:150]} | | | |")
                continue
            lines.append(f"| {name} | {spread(entry['process'])} | {spread(entry['pool'])} | "
                         f"{spread(entry['import'])} | {entry['max_rss_mb']:.0f} MB |")
        for est in ("REML", "DL"):
            a, b = c2["runs"].get(f"{est}/batch", {}), c2["runs"].get(f"{est}/loop", {})
            if "pool" in a and "pool" in b:
                lines.append(f"\n{est}: `pool_many` is {b['pool']['median'] / a['pool']['median']:.1f}x faster "
                             "than the loop of `pool` (pooling time, same data).")
        lines.append("")
    c3 = results.get("case3")
    if c3:
        r = c3["result"]
        lines += [f"## 3. Leave-one-out and influence diagnostics, k = {c3['k']:,} (REML)", ""]
        if "skipped" in r or "error" in r:
            lines += [f"Skipped: {r.get('skipped') or r.get('error')}", ""]
        else:
            ratio = ratio_text(r["pymare_loop"], r["evsynth_interleaved"])
            lines += [
                f"`{r['entry_point']}` against PyMARE refits in a loop (`workers.pymare_refit_loop`: "
                "one `VarianceBasedLikelihoodEstimator` fit + `get_fe_stats` per left-out study).",
                "",
                "| | time | peak memory |",
                "|---|---|---|",
                f"| evsynth | {spread(r['evsynth'])} | {r['peak_traced_mb']:.1f} MB |",
                f"| evsynth (alternating with the loop) | {spread(r['evsynth_interleaved'])} | |",
                f"| PyMARE refits in a loop | {spread(r['pymare_loop'])} | |",
                "",
                f"Ratio (same run): {ratio}.",
                "",
            ]
    c4 = results.get("case4")
    if c4:
        r = c4["result"]
        lines += [f"## 4. Network meta-analysis, {c4['treatments']} treatments, {c4['trials']} trials", ""]
        data = r.get("data", {})
        if data:
            lines += [f"Synthetic network (`synthetic.network`): {data.get('arms')} arms, "
                      f"{data.get('multi_arm_trials')} multi-arm trials.", ""]
        if "skipped" in r or "error" in r:
            lines += [f"Skipped: {r.get('skipped') or r.get('error')}", ""]
        else:
            lines += [f"`{r['entry_point']}`: {spread(r['evsynth'])}, peak memory {r['peak_traced_mb']:.1f} MB.", ""]
    c5 = results.get("case5")
    if c5:
        review = c5.get("review_table", {})
        lines += [
            "## 5. The pipeline",
            "",
            f"`snakemake --cores 4` in a temporary snapshot of the workflow (Snakefile, workflow/, scripts/; "
            f"PYTHONPATH at the snapshot's package). `snakemake --version`: {spread(c5['version'])}. The "
            f"synthetic review has {review.get('rows', '?'):,} rows ({review.get('shipped_rows')} shipped), "
            f"{review.get('trials')} trials, {review.get('outcomes')} outcomes, "
            f"{review.get('timepoint_windows')} timepoint windows (`synthetic.write_review`, scale "
            f"{review.get('scale')}).",
            "",
        ]
        if "dry_run" in c5.get("review_run", {}):
            for label in ("review_run",):
                run = c5[label]["dry_run"]
                lines.append(f"- synthetic review: dry run {fmt_s(run['wall_s'])}, exit {run['returncode']}, "
                             f"{run['jobs']} jobs" + (f": {run['error'][-300:]}" if run.get("error") else ""))
            lines.append("")
        else:
            lines += ["| table | cold | no-op re-run | one-row edit | jobs (cold / no-op / edit) | "
                      "figures (formats) | largest process RSS |", "|---|---|---|---|---|---|---|"]
            for label, key in (("shipped", "shipped"), ("20x review", "review_run")):
                r = c5.get(key, {})
                if "cold" not in r:
                    lines.append(f"| {label} | {r.get('error', 'not run')[:200]} | | | | | |")
                    continue
                jobs = f"{r.get('jobs')} / {r.get('noop_jobs')} / {r.get('edit_jobs')}"
                formats = " + ".join(f.upper() for f in r.get("figure_formats", ["svg", "png", "pdf"]))
                lines.append(f"| {label} | {spread(r['cold'])} | {spread(r.get('noop'))} | "
                             f"{spread(r.get('edit'))} | {jobs} | {r.get('figures', '?')} ({formats}) | "
                             f"{r['cold_max_rss_mb']:.0f} MB |")
            lines.append("")
            lines += _floor_lines(c5)
            lines += _drawing_analysis(c5)
    c6 = results.get("case6")
    if c6:
        py, mf = c6["python"], c6["metafor"]
        lines += [f"## 6. Several effects per trial: CHE + CR2, {c6['effects']:,} effects in {c6['trials']} trials",
                  "",
                  "`fit_multilevel(yi, ClusteredCovariance.constant_correlation(vi, trial, 0.6), test='t')` + "
                  "`cr2(fit)` against metafor `vcalc(rho=0.6)` + `rma.mv(yi, V, random=~1|trial/obs, test='t')` + "
                  "clubSandwich `coef_test(vcov='CR2', test='Satterthwaite')` on the same data "
                  "(`synthetic.dependent_effects`), alternating in two rounds.",
                  ""]
        if "error" in py:
            lines += [f"evsynth failed: {py['error'][:300]}", ""]
        else:
            mf_text = spread(mf) if mf.get("ok") else (mf.get("skipped") or mf.get("error", ""))[:200]
            ratio = ratio_text(mf, py["evsynth"], "{:,.0f}x") if mf.get("ok") else "—"
            lines += ["| evsynth | metafor + clubSandwich | metafor / evsynth | peak memory of the call |",
                      "|---|---|---|---|",
                      f"| {spread(py['evsynth'])} | {mf_text} | {ratio} | {py['peak_traced_mb']:.1f} MB |", "",
                      f"Check: sigma² = {py['check']['sigma2']}, estimate {py['check']['beta']:.6f}, CR2 SE "
                      f"{py['check']['se_cr2']:.6f} on {py['check']['df']:.2f} df "
                      f"({py['check']['iterations']} Fisher-scoring steps).", ""]
    c7 = results.get("case7")
    if c7:
        lines += [f"## 7. Bayesian random-effects posterior, k = {c7['k']}", "",
                  "`bayes_meta(yi, vi, TauPrior('half-normal', 0.5))`: posterior median, central and shortest "
                  "95% intervals of mu, tau and a new trial's effect, P(mu > 0), and (with shrinkage) each "
                  "trial's shrunken median and interval. `many` is a fresh process running "
                  f"{c7['n']:,} analyses through `bayes_many` (`evsynth.stats.bayes_batch`, the same "
                  "computation vectorised over analyses) (interpreter, imports, data and fits).", "",
                  "| | one call | many: whole process | of which fitting | max RSS |", "|---|---|---|---|---|"]
        for label, run in c7["runs"].items():
            one, many = run["one"].get("evsynth"), run["many"]
            if "process" in many and one:
                lines.append(f"| {label} | {spread(one)} | {spread(many['process'])} | {spread(many['fit'])} | "
                             f"{many['max_rss_mb']:.0f} MB |")
            else:
                lines.append(f"| {label} | error: {str(run)[:150]} | | | |")
        lines.append("")
    if results.get("case8"):
        lines += conversions_case.report(results["case8"], spread, fmt_s)
    if results.get("notes"):
        lines += ["## Notes", ""] + [f"- {n}" for n in results["notes"]] + [""]
    (out / "results.md").write_text("\n".join(lines))


def _floor_lines(c5: dict) -> list[str]:
    """The floor of each table (issue 18): its cost, what it checked, and the cold run against it."""
    lines = ["The floor (`benchmarks/floor.py`): every job of the cold run (the scripts Snakemake ran, kept "
             "with `--skip-script-cleanup`, each with its pickled inputs and params) run again in one process, "
             "in the order the cold run started them; its files are compared byte for byte (sha256, logs "
             "excepted) with the cold run's.", "",
             "| table | floor | jobs | files identical | cold / floor (wall) | cold / floor (CPU) | "
             "CPU by rule in the floor |", "|---|---|---|---|---|---|---|"]
    notes: list[str] = []
    for label, key in (("shipped", "shipped"), ("20x review", "review_run")):
        run = c5.get(key) or {}
        floor = run.get("floor")
        if not floor or "cold" not in run:
            continue
        if "error" in floor:
            lines.append(f"| {label} | {floor['error'][:200]} | | | | | |")
            continue
        by_rule = sorted(floor["cpu_per_rule_s"].items(), key=lambda kv: -kv[1])
        rules = ", ".join(f"{name} {fmt_s(cpu)}" for name, cpu in by_rule[:6])
        same = floor["files_compared"] - len(floor["files_differing"])
        differing = f" (differ: {', '.join(floor['files_differing'][:5])})" if floor["files_differing"] else ""
        if "cold_greedy" in run:
            greedy = run["cold_greedy"]
            notes.append(f"- {label}: a cold run with `--scheduler greedy` (no ILP solve per job selection): "
                         f"{spread(greedy)}, {greedy['median'] / floor['run']['median']:.2f}x the floor "
                         f"(CPU {cpu_median(greedy) / cpu_median(floor['run']):.2f}x).")
        lines.append(f"| {label} | {spread(floor['run'])} | {floor['jobs']} | {same} of {floor['files_compared']}"
                     f"{differing} | {run['cold']['median'] / floor['run']['median']:.2f}x | "
                     f"{cpu_median(run['cold']) / cpu_median(floor['run']):.2f}x | {rules} |")
    lines.append("")
    return lines + ([*notes, ""] if notes else [])


def _drawing_analysis(c5: dict) -> list[str]:
    """How much of each cold run drawing figures explains (the 20x review's ratio)."""
    cost, shipped, review = c5.get("figure_cost") or {}, c5.get("shipped") or {}, c5.get("review_run") or {}
    if "error" in cost or not cost or "cold" not in shipped:
        return []
    parts = {fmt: cost[fmt]["cpu_median"] if "cpu_median" in cost[fmt] else cost[fmt]["median"]
             for fmt in ("draw", "svg", "png", "pdf")}
    one = sum(parts.values())
    lines = [
        f"Drawing one figure (the forest plot of {cost['analysis']}, CPU time, median of "
        f"{cost['draw']['reps']}): layout {fmt_s(parts['draw'])}, SVG {fmt_s(parts['svg'])}, "
        f"PNG {fmt_s(parts['png'])}, PDF {fmt_s(parts['pdf'])} (TrueType fonts subset and embedded); "
        f"{fmt_s(one)} in all.",
        "",
    ]
    for label, r in (("shipped table", shipped), ("20x review", review)):
        if "cold" in r and r.get("figures"):
            cpu = r["cold"].get("cpu_median") or r["cold"]["median"]
            formats = r.get("figure_formats", ["svg", "png", "pdf"])
            each = parts["draw"] + sum(parts[f] for f in formats)
            lines.append(f"- {label}: {r['figures']:,} figures ({' + '.join(f.upper() for f in formats)}) x "
                         f"{fmt_s(each)} = about {r['figures'] * each:,.0f} CPU s of drawing, of a cold run "
                         f"of {cpu:,.0f} CPU s ({r['jobs']:,} jobs).")
    lines.append("")
    return lines


def splice(previous: str, fresh: str, merged: list[str], note: str) -> str:
    """``previous`` results.md with the merged cases' target rows and sections taken from ``fresh``."""
    numbers = {c.removeprefix("case") for c in merged}
    old, new = previous.split("\n"), fresh.split("\n")

    def targets(lines):
        """Line numbers of the Targets table's rows (other tables' first cells may be numbers too)."""
        start = next(i for i, line in enumerate(lines) if line == "## Targets")
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        return [i for i in range(start, end) if lines[i].startswith("| ") and lines[i][2:3].isdigit()]

    def rows(lines):
        return [i for i in targets(lines) if lines[i][2:].split(" |")[0] in numbers]

    def section(lines, number):
        start = next((i for i, line in enumerate(lines) if line.startswith(f"## {number}. ")), None)
        if start is None:
            return None, None
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        return start, end

    out = [line for i, line in enumerate(old) if i not in set(rows(old))]
    table_end = max(targets(out), default=None)
    if table_end is not None:
        out[table_end + 1:table_end + 1] = [new[i] for i in rows(new)]
    for number in sorted(numbers):
        start, end = section(new, number)
        if start is None:
            continue
        o_start, o_end = section(out, number)
        if o_start is not None:
            out[o_start:o_end] = new[start:end]
        else:
            at = next((i for i, line in enumerate(out) if line == "## Notes"), len(out))
            out[at:at] = new[start:end]
    header = next(i for i, line in enumerate(out) if line.startswith("Written by `"))
    out[header] = out[header].split(" Case re-runs: ")[0] + f" Case re-runs: {note}"
    return "\n".join(out)


def previous_command(out: Path) -> str:
    """The command in an earlier results.md's header (results.json did not keep it)."""
    import re

    found = re.search(r"^Written by `(.*?)` on ", (out / "results.md").read_text(), flags=re.MULTILINE | re.DOTALL)
    return found.group(1) if found else "an earlier run of benchmarks/run.py"
