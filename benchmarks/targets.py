"""The targets of benchmarks/run.py (its docstring) evaluated on a run's results, and the
number formats results.md shares."""

from __future__ import annotations

import conversions_case


def fmt_s(x: float | None) -> str:
    if x is None:
        return "—"
    if x < 1e-3:
        return f"{x * 1e6:.0f} µs"
    if x < 1:
        return f"{x * 1e3:.3g} ms"
    return f"{x:.3g} s"


def spread(s: dict | None) -> str:
    if not s:
        return "—"
    cpu = f" (CPU {fmt_s(s['cpu_median'])})" if s.get("cpu_median") else ""
    return f"{fmt_s(s['median'])} [{fmt_s(s['min'])}–{fmt_s(s['max'])}] ×{s['reps']}{cpu}"


def ratio_text(num: dict, den: dict, fmt: str = "{:,.1f}x") -> str:
    """num/den of medians, wall and (if known) CPU."""
    text = fmt.format(num["median"] / den["median"])
    if num.get("cpu_median") and den.get("cpu_median"):
        text += " (CPU " + fmt.format(num["cpu_median"] / den["cpu_median"]) + ")"
    return text


def cpu_median(s: dict | None) -> float | None:
    return None if not s else s.get("cpu_median")


def evaluate(results: dict, smoke: bool) -> list[dict]:
    """One row per target: the measurement by wall-clock time (what the targets name) and,
    beside it, the same by CPU time (robust to other processes sharing the CPUs)."""
    targets: list[dict] = []

    def add(case, target, measured, met, cpu_measured="—", cpu_met=None, why=""):
        targets.append({"case": case, "target": target, "measured": measured, "met": None if smoke else met,
                        "measured_cpu": cpu_measured, "met_cpu": None if smoke else cpu_met, "why": why})

    def ratio_check(case, target, num, den, limit, fmt="{:.2f}x", below=True):
        wall = num["median"] / den["median"]
        met = wall <= limit if below else wall >= limit
        cn, cd = cpu_median(num), cpu_median(den)
        if cn and cd:
            cpu = cn / cd
            add(case, target, fmt.format(wall), met, fmt.format(cpu), cpu <= limit if below else cpu >= limit)
        else:
            add(case, target, fmt.format(wall), met)

    for row in results.get("case1", {}).get("rows", []):
        py, mf = row["python"], row["metafor"]
        k, est = row["k"], row["estimator"]
        if "error" in py:
            add(1, f"k={k:,} {est}", py["error"][:200], False)
            continue
        ours = py["evsynth"]
        if k == 10 or k >= 1000:
            need = 5 if k == 10 else 50
            target = f"k={k:,} {est}: ≥{need}x faster than metafor"
            if mf.get("ok"):
                ratio_check(1, target, mf, ours, need, "{:,.1f}x", below=False)
            elif "skipped" in mf:
                add(1, target, f"metafor skipped ({mf['skipped']})", None)
            else:
                add(1, target, "metafor fails: " + mf.get("error", "")[:80], True, why="metafor cannot run at this k")
        if k == 1_000_000:
            ratio_check(1, f"k=1,000,000 {est}: within 2x of a bare numpy Fisher-scoring loop", ours,
                        py["bare_fisher"], 2)
            add(1, f"k=1,000,000 {est}: under 0.5 s", fmt_s(ours["median"]), ours["median"] < 0.5,
                fmt_s(cpu_median(ours)), (cpu_median(ours) or 1e9) < 0.5)
    c2 = results.get("case2")
    if c2:
        for est in ("REML", "DL"):
            if f"{est}/batch" not in c2["runs"]:
                continue
            entry = c2["runs"][f"{est}/batch"]
            target = f"{c2['n']:,} analyses of k={c2['k']} in one process ({est}): under 10 s"
            if "process" in entry:
                wall, cpu = entry["process"]["median"], cpu_median(entry["process"])
                add(2, target, f"{fmt_s(wall)} (whole process)", wall < 10, fmt_s(cpu), (cpu or 1e9) < 10)
            else:
                add(2, target, "; ".join(entry.get("errors", []))[:200], False)
    c3 = results.get("case3", {}).get("result")
    if c3:
        if "skipped" in c3 or "error" in c3:
            add(3, "leave-one-out + influence, k=1,000 REML", c3.get("skipped") or c3.get("error")[:200], None)
        else:
            ours = c3["evsynth"]
            add(3, f"leave-one-out + influence, k={results['case3']['k']:,} REML: under 0.3 s",
                fmt_s(ours["median"]), ours["median"] < 0.3, fmt_s(cpu_median(ours)), (cpu_median(ours) or 1e9) < 0.3)
            ratio_check(3, "≥10x faster than PyMARE refits in a loop", c3["pymare_loop"], c3["evsynth_interleaved"],
                        10, "{:,.1f}x", below=False)
    c4 = results.get("case4", {}).get("result")
    if c4:
        target = "network meta-analysis, 20 treatments, 300 trials: under 2 s"
        if "skipped" in c4 or "error" in c4:
            add(4, target, "skipped: " + (c4.get("skipped") or c4.get("error"))[:200], None)
        else:
            ours = c4["evsynth"]
            add(4, target, fmt_s(ours["median"]), ours["median"] < 2, fmt_s(cpu_median(ours)),
                (cpu_median(ours) or 1e9) < 2)
    c5 = results.get("case5")
    if c5 and "shipped" in c5 and "cold" in c5["shipped"]:
        s, version = c5["shipped"], c5["version"]
        # Issue 18's targets (issue 9 asked for 2x and 1/3).
        ratio_check(5, "no-op re-run under 1.5x `snakemake --version`", s["noop"], version, 1.5)
        if "edit" in s:
            ratio_check(5, "one-row edit under 5% of the cold run", s["edit"], s["cold"], 0.05)
        r = c5.get("review_run", {})
        for name, run in (("shipped", s), ("20x review", r)):
            floor = (run.get("floor") or {}).get("run")
            if floor and "cold" in run:
                ratio_check(5, f"{name}: cold run within 2x of the floor (same work, one process)", run["cold"],
                            floor, 2)
            elif "cold" in run:
                error = (run.get("floor") or {}).get("error", "no floor")
                add(5, f"{name}: cold run within 2x of the floor", error[:200], False)
        if "cold" in r:
            ratio_check(5, "20x review: cold run under 4x the shipped table's", r["cold"], s["cold"], 4)
        else:
            error = r.get("error", "not run")
            timed_out = [c for c in r.get("cold_runs", []) if c.get("timed_out")]
            if timed_out:
                bound = timed_out[0]["wall_s"] / s["cold"]["median"]
                error = f"> {bound:.1f}x: {error}"
            add(5, "20x review: cold run under 4x the shipped table's", error[:200],
                None if "--no-review" in error else False)
    elif c5 and not smoke:
        add(5, "pipeline", (c5.get("shipped") or {}).get("error", "not run")[:300], False)
    c6 = results.get("case6")
    if c6:
        size = f"{c6['effects']:,} effects in {c6['trials']} trials"
        py, mf = c6["python"], c6["metafor"]
        if "error" in py:
            add(6, f"CHE + CR2, {size}", py["error"][:200], False)
        else:
            ours = py["evsynth"]
            add(6, f"CHE + CR2, {size}: under 50 ms", fmt_s(ours["median"]), ours["median"] < 0.05,
                fmt_s(cpu_median(ours)), (cpu_median(ours) or 1e9) < 0.05)
            target = "≥20x faster than metafor rma.mv + clubSandwich coef_test"
            if mf.get("ok"):
                ratio_check(6, target, mf, ours, 20, "{:,.0f}x", below=False)
            else:
                add(6, target, "metafor " + (mf.get("skipped") or mf.get("error", ""))[:120], None)
    c7 = results.get("case7")
    if c7:
        for label, run in c7["runs"].items():
            one = run["one"].get("evsynth")
            if one:
                add(7, f"Bayesian posterior, k={c7['k']}, {label}: under 5 ms", fmt_s(one["median"]),
                    one["median"] < 0.005, fmt_s(cpu_median(one)), (cpu_median(one) or 1e9) < 0.005)
            many = run["many"]
            target = f"{c7['n']:,} Bayesian analyses of k={c7['k']}, {label}, one process: under 10 s"
            if "process" in many:
                wall, cpu = many["process"]["median"], cpu_median(many["process"])
                add(7, target, f"{fmt_s(wall)} (whole process)", wall < 10, fmt_s(cpu), (cpu or 1e9) < 10)
            else:
                add(7, target, "; ".join(many.get("errors", []))[:200], False)
    c8 = results.get("case8")
    if c8:
        s = conversions_case.summary(c8)
        target = "reported forms: cold run under 5% above the same trials entered directly"
        if "cold_ratio_cpu" in s:
            add(8, target, f"{100 * (s['cold_ratio_wall'] - 1):+.1f}%", s["cold_ratio_wall"] < 1.05,
                f"{100 * (s['cold_ratio_cpu'] - 1):+.1f}%", s["cold_ratio_cpu"] < 1.05)
        elif not smoke:
            add(8, target, str(c8.get("cold_reported", c8.get("cold_direct", "not run")))[:200], False)
    return targets
