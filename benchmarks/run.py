"""Benchmarks of evsynth (issue #9): writes benchmarks/results.md and benchmarks/results.json.

    .venv/bin/python benchmarks/run.py            # everything: ~32 min on 2 cores, of which the
                                                  # 20x review's cold Snakemake run is ~20 min
    .venv/bin/python benchmarks/run.py --no-review   # case 5 without the 20x review: ~8 min
    .venv/bin/python benchmarks/run.py --cases 8 --merge   # case 8 alone (~4 min: two cold runs),
                                                  # the other cases kept from results.json
    .venv/bin/python benchmarks/run.py --cases 1,2,3,4   # the statistics only: ~2 min
    .venv/bin/python benchmarks/run.py --smoke    # tiny sizes, no targets (CI; < 1 minute)

Cases (targets for a 2-core machine; ratios hold anywhere):

1. One analysis, full summary (estimate, HKSJ CI, tau², Q, I², H², Q-profile CIs,
   prediction interval; the cochrane-2025 profile), REML and DL, k = 10 ... 10⁶, against
   metafor (``rma`` + ``confint`` + ``predict`` through Rscript; skipped without R) and a
   bare numpy Fisher-scoring loop for REML tau² (``workers.bare_fisher_scoring``).
2. 10,000 separate analyses of k = 10 in one process (``pool_many``; a loop of ``pool``
   for comparison), timed as the whole process: interpreter, imports, data, pooling.
3. Leave-one-out and influence diagnostics at k = 1,000 (REML) through
   ``evsynth.stats.influence.influence``, against PyMARE refits in a Python loop.
4. Network meta-analysis, 20 treatments, 300 trials (multi-arm ones included), through
   ``evsynth.stats.network`` (common-tau² contrast model, REML).
5. The Snakemake pipeline in a temporary snapshot of the workflow: cold run, no-op
   re-run, re-run after editing one row, on the shipped table and on a synthetic review
   20x larger (``synthetic.write_review``), against ``snakemake --version``.
6. Several effects per trial: the CHE working model (rho = 0.6, REML) with CR2 / Satterthwaite
   inference on 1,000 effects in 200 trials (``synthetic.dependent_effects``), through
   ``evsynth.stats.multilevel`` + ``evsynth.stats.robust``, against metafor ``vcalc`` +
   ``rma.mv`` + clubSandwich ``coef_test`` (``metafor_dependent_bench.R``; skipped without R).
7. The Bayesian random-effects posterior (``evsynth.stats.bayes``, half-normal(0.5) prior):
   one call at k = 10 (``bayes_meta``), and 10,000 analyses of k = 10 in one process
   (``bayes_many``, vectorised over analyses), each with and without the shrunken trial
   estimates.

Every case runs in fresh processes; compared timings are taken alternately in one
process (see ``workers.py``), so a ratio is always measured in the same run.

This file has the cases run in one process (1-4, 6, 7) and the command line; case 5 is in
``pipeline_case.py``, case 8 in ``conversions_case.py``, timing of processes in
``processes.py``, the targets in ``targets.py`` and results.md in ``report.py``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import conversions_case  # noqa: E402
from pipeline_case import case5, run_snakemake, snapshot  # noqa: E402
from processes import HERE, machine, metafor_available, run_process, stats, worker  # noqa: E402
from report import previous_command, splice, write_report  # noqa: E402
from targets import evaluate  # noqa: E402

FULL = {
    "case1_k": [10, 1_000, 100_000, 1_000_000],
    "case1_reps": {10: 15, 1_000: 11, 100_000: 7, 1_000_000: 5},
    "case1_pymare_forced_reps": {100_000: 3, 1_000_000: 2},
    # metafor: (reps, calls per rep); k >= 1e5 is one attempt, which fails.
    "metafor": {10: (7, 20), 1_000: (2, 1), 100_000: (1, 1), 1_000_000: (1, 1)},
    "case2": {"n": 10_000, "k": 10, "reps": 3, "loop_reps": 1},
    "case3": {"k": 1_000, "reps": 7, "loop_reps": 3},
    "case4": {"treatments": 20, "trials": 300, "reps": 3},
    # metafor + clubSandwich take ~30 CPU s per fit at this size: one call per round.
    "case6": {"effects": 1000, "trials": 200, "reps": 7, "metafor": (1, 1)},
    "case7": {"k": 10, "reps": 7, "n": 10_000, "many_reps": 2},
    "case5": {"version_reps": 5, "cold_reps": 1, "noop_reps": 3, "edit_reps": 2, "greedy_cold": False,
              "review": (5, 2, 2), "review_noop_reps": 1, "review_edit_reps": 1, "timeout": 2400},
    # One cold run per table (~200 CPU s each), the two side by side; CPU time is the measure.
    "case8": {"parse_reps": 15, "first_reps": 5, "cold_reps": 1, "timeout": 3600},
}
SMOKE = {
    "case1_k": [10],
    "case1_reps": {10: 2},
    "case1_pymare_forced_reps": {},
    "metafor": {10: (1, 3)},
    "case2": {"n": 100, "k": 10, "reps": 1, "loop_reps": 1, "estimators": ("REML",)},
    "case3": {"k": 30, "reps": 2, "loop_reps": 1},
    "case4": {"treatments": 5, "trials": 20, "reps": 1},
    "case6": {"effects": 50, "trials": 10, "reps": 2, "metafor": (1, 1)},
    "case7": {"k": 10, "reps": 2, "n": 50, "many_reps": 1},
    # Dry run of a small synthetic review: checks the generator still writes a table and
    # config the current workflow accepts.
    "case5": {"version_reps": 1, "dry_run_only": True, "review": (1, 1, 2), "timeout": 300},
    # The reported-forms table is written and read (no cold runs).
    "case8": {"parse_reps": 2, "first_reps": 1, "cold_reps": 0, "timeout": 300},
}


# ---------------------------------------------------------------------------------------
# Cases (5 is in pipeline_case.py, 8 in conversions_case.py)
# ---------------------------------------------------------------------------------------


def _metafor(info: dict, data: Path, k: int, estimator: str, reps: int, calls: int) -> dict:
    run = run_process([info["rscript"], str(HERE / "metafor_bench.R"), str(data), str(k), estimator, str(reps),
                       str(calls)], timeout=900)
    lines = [line for line in run["output"].splitlines() if line.startswith("{")]
    result = json.loads(lines[-1]) if lines else {"ok": False, "error": run["output"][-500:].strip() or "no output",
                                                  "elapsed": run["wall_s"]}
    result["max_rss_mb"] = run["max_rss_mb"]
    return result


def _merge(a: dict, b: dict) -> dict:
    """Pool the samples of two rounds of the same measurement."""
    merged = stats(a["samples"] + b["samples"], a.get("cpu_samples", []) + b.get("cpu_samples", []))
    merged["calls_per_rep"] = a.get("calls_per_rep")
    return merged


def case1(cfg: dict, info: dict, log) -> dict:
    """Where metafor runs (k <= 1,000), evsynth and metafor alternate in rounds (evsynth,
    metafor, evsynth, metafor), so both see the same machine load; samples are pooled."""
    rows = []
    use_r = metafor_available(info)
    with tempfile.TemporaryDirectory() as tmp:
        for k in cfg["case1_k"]:
            for estimator in ("REML", "DL"):
                data = Path(tmp) / f"data_{k}.bin"
                r_cfg = cfg["metafor"].get(k) if use_r else None
                rounds = 2 if r_cfg and k <= 1000 else 1
                reps = max(2, -(-cfg["case1_reps"][k] // rounds))
                row = {"k": k, "estimator": estimator}
                python, metafor = None, None
                for round_ in range(rounds):
                    args = {"k": k, "estimator": estimator, "reps": reps, "write_data": str(data)}
                    if round_ == 0 and estimator == "REML" and k in cfg["case1_pymare_forced_reps"]:
                        args["pymare_forced_reps"] = cfg["case1_pymare_forced_reps"][k]
                    log(f"case 1: k={k} {estimator}" + (f" (round {round_ + 1}/{rounds})" if rounds > 1 else ""))
                    result = worker("pool", args)
                    if "error" in result or python is None:
                        python = python if python is not None and "error" not in python else result
                    else:
                        for key in ("evsynth", "bare_fisher"):
                            python[key] = _merge(python[key], result[key])
                    if r_cfg:
                        r_reps, calls = r_cfg
                        r_reps = max(1, -(-r_reps // rounds))
                        log(f"case 1: metafor k={k} {estimator}")
                        result = _metafor(info, data, k, estimator, r_reps, calls)
                        if metafor is None or not metafor.get("ok"):
                            metafor = result
                        elif result.get("ok"):
                            metafor["samples"] += result["samples"]
                            metafor["cpu_samples"] = metafor.get("cpu_samples", []) + result.get("cpu_samples", [])
                row["python"] = python
                if metafor is None:
                    reason = "Rscript or metafor not installed" if not use_r else "not run at this size in this mode"
                    metafor = {"skipped": reason}
                elif metafor.get("ok"):
                    metafor.update(stats(metafor.pop("samples"), metafor.pop("cpu_samples", None)))
                row["metafor"] = metafor
                rows.append(row)
    return {"rows": rows}


def case2(cfg: dict, log) -> dict:
    c = cfg["case2"]
    out = {"n": c["n"], "k": c["k"], "runs": {}}
    for estimator in c.get("estimators", ("REML", "DL")):
        for mode, reps in (("batch", c["reps"]), ("loop", c["loop_reps"])):
            log(f"case 2: {c['n']} analyses, {estimator}, {mode}")
            runs = [worker("batch", {"n": c["n"], "k": c["k"], "estimator": estimator, "mode": mode})
                    for _ in range(reps)]
            good = [r for r in runs if "error" not in r]
            entry = {"errors": [r["error"] for r in runs if "error" in r]}
            if good:
                entry["process"] = stats([r["process_wall_s"] for r in good], [r["process_cpu_s"] for r in good])
                entry["pool"] = stats([r["pool_s"] for r in good])
                entry["import"] = stats([r["import_s"] for r in good])
                entry["max_rss_mb"] = max(r["max_rss_mb"] for r in good)
            out["runs"][f"{estimator}/{mode}"] = entry
    return out


def case3(cfg: dict, log) -> dict:
    c = cfg["case3"]
    log(f"case 3: influence, k={c['k']}")
    return {"k": c["k"], "estimator": "REML",
            "result": worker("influence", {"k": c["k"], "estimator": "REML", "reps": c["reps"],
                                           "loop_reps": c["loop_reps"]})}


def case4(cfg: dict, log) -> dict:
    c = cfg["case4"]
    log(f"case 4: network, {c['treatments']} treatments, {c['trials']} trials")
    return {**c, "result": worker("network", c)}


def case6(cfg: dict, info: dict, log) -> dict:
    """evsynth and metafor alternate in two rounds, as in case 1, so both see the same load."""
    c = cfg["case6"]
    out: dict = {"effects": c["effects"], "trials": c["trials"]}
    use_r = metafor_available(info)
    python, metafor = None, None
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "dependent.bin"
        for round_ in range(2 if use_r else 1):
            log(f"case 6: CHE + CR2, {c['effects']} effects in {c['trials']} trials (round {round_ + 1})")
            result = worker("dependent", {"effects": c["effects"], "trials": c["trials"], "reps": c["reps"],
                                          "write_data": str(data)})
            if python is None or "error" in python:
                python = result
            elif "error" not in result:
                python["evsynth"] = _merge(python["evsynth"], result["evsynth"])
            if use_r:
                reps, calls = c["metafor"]
                log("case 6: metafor rma.mv + clubSandwich coef_test")
                run = run_process([info["rscript"], str(HERE / "metafor_dependent_bench.R"), str(data),
                                   str(c["effects"]), str(reps), str(calls)], timeout=1800)
                lines = [line for line in run["output"].splitlines() if line.startswith("{")]
                result = json.loads(lines[-1]) if lines else {"ok": False, "error": run["output"][-500:]}
                if metafor is None or not metafor.get("ok"):
                    metafor = result
                elif result.get("ok"):
                    metafor["samples"] += result["samples"]
                    metafor["cpu_samples"] += result["cpu_samples"]
    if metafor is None:
        metafor = {"skipped": "Rscript or metafor not installed"}
    elif metafor.get("ok"):
        metafor.update(stats(metafor.pop("samples"), metafor.pop("cpu_samples", None)))
    out["python"], out["metafor"] = python, metafor
    return out


def case7(cfg: dict, log) -> dict:
    c = cfg["case7"]
    out = {**c, "runs": {}}
    for shrinkage in (True, False):
        label = "with shrinkage" if shrinkage else "without shrinkage"
        log(f"case 7: Bayesian posterior, k={c['k']}, {label}")
        out["runs"][label] = {"one": worker("bayes", {"mode": "one", "k": c["k"], "reps": c["reps"],
                                                      "shrinkage": shrinkage})}
        runs = [worker("bayes", {"mode": "many", "n": c["n"], "k": c["k"], "shrinkage": shrinkage})
                for _ in range(c["many_reps"])]
        good = [r for r in runs if "error" not in r]
        entry = {"errors": [r["error"] for r in runs if "error" in r]}
        if good:
            entry["process"] = stats([r["process_wall_s"] for r in good], [r["process_cpu_s"] for r in good])
            entry["fit"] = stats([r["fit_s"] for r in good])
            entry["max_rss_mb"] = max(r["max_rss_mb"] for r in good)
        out["runs"][label]["many"] = entry
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, no targets (CI)")
    parser.add_argument("--cases", default="1,2,3,4,5,6,7,8", help="comma-separated case numbers")
    parser.add_argument("--out", type=Path, default=HERE, help="directory for results.md and results.json")
    parser.add_argument("--no-metafor", action="store_true", help="skip the metafor runs even if R is installed")
    parser.add_argument("--no-review", action="store_true", help="case 5 without the 20x synthetic review")
    parser.add_argument("--greedy", action="store_true", help="case 5: also a cold run with --scheduler greedy")
    parser.add_argument("--reps", help="case 5: version,noop,edit repetitions (e.g. 3,2,1 on a loaded machine)")
    parser.add_argument("--note", action="append", default=[], help="a line for the report's Notes")
    parser.add_argument("--merge", action="store_true",
                        help="keep the other cases' results from the existing results.json (each case keeps its "
                             "own machine load; case 8 records its own)")
    args = parser.parse_args(argv)
    cfg = SMOKE if args.smoke else FULL
    if args.no_review:
        cfg = {**cfg, "case5": {**cfg["case5"], "skip_review": True}}
    if args.greedy:
        cfg = {**cfg, "case5": {**cfg["case5"], "greedy_cold": True}}
    if args.reps:
        version, noop, edit = (int(x) for x in args.reps.split(","))
        cfg = {**cfg, "case5": {**cfg["case5"], "version_reps": version, "noop_reps": noop, "edit_reps": edit}}
    cases = {int(c) for c in args.cases.split(",") if c}
    started = time.perf_counter()

    def log(message):
        print(f"[{time.perf_counter() - started:7.1f} s] {message}", flush=True)

    info = machine()
    if args.no_metafor:
        info["rscript"] = None
    results: dict = {"machine": info, "smoke": args.smoke, "config": {k: str(v) for k, v in cfg.items()},
                     "notes": args.note}
    if 1 in cases:
        results["case1"] = case1(cfg, info, log)
    if 2 in cases:
        results["case2"] = case2(cfg, log)
    if 3 in cases:
        results["case3"] = case3(cfg, log)
    if 4 in cases:
        results["case4"] = case4(cfg, log)
    if 5 in cases:
        results["case5"] = case5(cfg, log)
    if 6 in cases:
        results["case6"] = case6(cfg, info, log)
    if 7 in cases:
        results["case7"] = case7(cfg, log)
    if 8 in cases:
        results["case8"] = conversions_case.case8(cfg, log, run_process, snapshot, run_snakemake, stats)
    if args.merge and (args.out / "results.json").is_file():
        previous = json.loads((args.out / "results.json").read_text())
        kept = {k: v for k, v in previous.items() if k.startswith("case") and k not in results}
        results = {**previous, **results, **kept, "machine": previous.get("machine", info)}
        results["notes"] = previous.get("notes", []) + [n for n in args.note if n not in previous.get("notes", [])]
        results["merged"] = sorted(f"case{c}" for c in cases)
        info = results["machine"]
        args.note = results["notes"]
    command = "python benchmarks/run.py" + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    if results.get("merged"):  # the header stays the earlier run's; say what this run replaced
        results["merge_note"] = (f"{', '.join(results['merged'])} re-run by `{command.strip()}` on "
                                 f"{dt.datetime.now().isoformat(timespec='seconds')} in "
                                 f"{(time.perf_counter() - started) / 60:.1f} min (each such case gives its own "
                                 "machine load).")
        command = results.get("command") or previous_command(args.out)
    else:
        info["load_average_end"] = os.getloadavg()
        results["duration_s"] = time.perf_counter() - started
        results["finished"] = dt.datetime.now().isoformat(timespec="seconds")
    results["command"] = command.strip()
    results["targets"] = evaluate(results, args.smoke)
    previous_md = (args.out / "results.md").read_text() if results.get("merged") else None
    write_report(results, args.out, args.smoke, command.strip())
    if previous_md:  # keep the earlier page (hand-added sections included); splice in what was re-run
        fresh = (args.out / "results.md").read_text()
        (args.out / "results.md").write_text(splice(previous_md, fresh, results["merged"], results["merge_note"]))
    log(f"wrote {args.out / 'results.md'}")
    for t in results["targets"]:
        print(f"  case {t['case']}: {t['target']}: {t['measured']} -> {t['met']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
