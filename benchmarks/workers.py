"""Measurements run in a fresh Python process each: ``python benchmarks/workers.py TASK 'JSON'``.

Each task prints one JSON object on its last stdout line. Timings use
``time.perf_counter``; a *sample* is the mean time of one call over a batch of calls long
enough (>= ``min_batch`` seconds) to be measured reliably, after one warm-up call. When two
things are compared (ours against a baseline), their samples are taken alternately, so
both see the same machine load, and the ratio is that of the medians.

Each sample also records the CPU time of the process over the batch (``cpu_samples``):
on a shared machine wall time includes waiting for a CPU, CPU time does not.

Memory: ``peak_traced_mb`` is the peak of tracemalloc (numpy registers its buffers with
it) during one call, over what was allocated before it; ``max_rss_mb`` is the worker
process's peak resident set (``resource.getrusage``), interpreter and imports included.
"""

from __future__ import annotations

import json
import math
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import dependent_effects, many_meta_data, meta_data, network  # noqa: E402

COCHRANE = dict(ci_method="hksj", alpha=0.05, prediction_interval="t_k-1", i2="tau2", tau2_ci="qprofile")


# ---------------------------------------------------------------------------------------
# Timing helpers
# ---------------------------------------------------------------------------------------


def summary(samples: list[float], calls: int, cpu: list[float] | None = None) -> dict:
    ordered = sorted(samples)
    out = {
        "median": statistics.median(ordered),
        "min": ordered[0],
        "max": ordered[-1],
        "reps": len(ordered),
        "calls_per_rep": calls,
        "samples": ordered,
    }
    if cpu:
        out["cpu_median"] = statistics.median(cpu)
        out["cpu_samples"] = sorted(cpu)
    return out


def _batch_size(fn, min_batch: float, max_calls: int) -> int:
    start = time.perf_counter()
    fn()
    once = time.perf_counter() - start
    return max(1, min(max_calls, math.ceil(min_batch / max(once, 1e-9))))


def _sample(fn, calls: int) -> tuple[float, float]:
    """(wall, CPU) seconds per call over a batch; CPU time (this process, all threads) is
    what the call cost, whatever else the machine was doing."""
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls, (time.process_time() - cpu) / calls


def measure(fns: dict, reps: int, min_batch: float = 0.05, max_calls: int = 2000) -> dict:
    """Time every function in ``fns`` ``reps`` times, alternating between them."""
    calls = {name: _batch_size(fn, min_batch, max_calls) for name, fn in fns.items()}
    samples: dict[str, list[float]] = {name: [] for name in fns}
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            wall, used = _sample(fn, calls[name])
            samples[name].append(wall)
            cpu[name].append(used)
    return {name: summary(samples[name], calls[name], cpu[name]) for name in fns}


def peak_traced_mb(fn) -> float:
    tracemalloc.start()
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return (peak - base) / 2**20


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------------------------
# Baselines
# ---------------------------------------------------------------------------------------


def bare_fisher_scoring(yi: np.ndarray, vi: np.ndarray, tol: float = 1e-12, max_iter: int = 1000) -> float:
    """The bare numpy Fisher-scoring loop for REML tau² (Viechtbauer 2005; metafor's
    algorithm and start, the HE estimate), sums over studies, fresh arrays each step:
    the textbook loop, frozen here as the yardstick (``evsynth.stats.tau2.fisher_scoring_tau2``
    at commit 7e201a7)."""
    tau2 = max(0.0, float(np.var(yi, ddof=1) - np.mean(vi)))
    for _ in range(max_iter):
        w = 1.0 / (vi + tau2)
        sw = w.sum()
        resid = yi - (w * yi).sum() / sw
        py = w * resid
        sw2, sw3 = (w**2).sum(), (w**3).sum()
        trace_p = sw - sw2 / sw
        trace_pp = sw2 - 2 * sw3 / sw + (sw2 / sw) ** 2
        step = ((py**2).sum() - trace_p) / trace_pp
        while tau2 + step < 0:
            step /= 2
            if abs(step) < tol:
                step = -tau2
                break
        tau2 += step
        if abs(step) < tol:
            break
    return tau2


def pymare_refit_loop(yi: np.ndarray, vi: np.ndarray, estimator: str = "REML") -> list:
    """Leave-one-out by PyMARE refits in a Python loop: one REML fit (estimate, SE, CI, p,
    tau²) per left-out study, the way a script without a vectorised refit would do it."""
    from pymare import Dataset
    from pymare.estimators import VarianceBasedLikelihoodEstimator

    out = []
    for i in range(len(yi)):
        keep = np.arange(len(yi)) != i
        model = VarianceBasedLikelihoodEstimator(method=estimator, small_sample_correction="wald")
        model.fit_dataset(Dataset(y=yi[keep], v=vi[keep]))
        out.append((model.summary().get_fe_stats(alpha=0.05), model.params_["tau2"]))
    return out


# ---------------------------------------------------------------------------------------
# Tasks
# ---------------------------------------------------------------------------------------


def task_pool(args: dict) -> dict:
    """Case 1: one analysis, full summary, cochrane-2025 settings."""
    from evsynth.stats import pooling

    k, estimator, reps = args["k"], args["estimator"], args["reps"]
    yi, vi = meta_data(k)
    if args.get("write_data"):
        np.concatenate([yi, vi]).astype("<f8").tofile(args["write_data"])
    ours = lambda: pooling.pool(yi, vi, estimator, **COCHRANE)  # noqa: E731
    bare = lambda: bare_fisher_scoring(yi, vi)  # noqa: E731
    result = measure({"evsynth": ours, "bare_fisher": bare}, reps, min_batch=args.get("min_batch", 0.05))
    fit = ours()
    result["path"] = "pool_large_k (numpy)" if k >= pooling.LARGE_K else "PyMARE"
    result["check"] = {"tau2": fit.tau2, "theta": fit.theta, "tau2_ci": [fit.tau2_ci_lower, fit.tau2_ci_upper]}
    result["peak_traced_mb"] = peak_traced_mb(ours)
    if args.get("pymare_forced_reps"):
        # What pool() cost with PyMARE as the engine at this k (before the large-k path).
        pooling.LARGE_K = 10**12
        result["pymare_forced"] = measure({"x": ours}, args["pymare_forced_reps"], min_batch=0.0)["x"]
    result["max_rss_mb"] = max_rss_mb()
    return result


def task_batch(args: dict) -> dict:
    """Case 2: n analyses of k studies in one process (the parent also times the process)."""
    t0, cpu0 = time.perf_counter(), time.process_time()
    import pymare.estimators  # noqa: F401 - imported lazily by pool(); counted with the imports here

    from evsynth.stats.batch import pool_many
    from evsynth.stats.pooling import pool

    imported = time.perf_counter()
    yis, vis = many_meta_data(args["n"], args["k"])
    generated = time.perf_counter()
    if args.get("mode", "batch") == "batch":
        results = pool_many(yis, vis, args["estimator"], **COCHRANE)
    else:
        results = [pool(y, v, args["estimator"], **COCHRANE) for y, v in zip(yis, vis)]
    done = time.perf_counter()
    assert len(results) == args["n"]
    return {
        "import_s": imported - t0,
        "generate_s": generated - imported,
        "pool_s": done - generated,
        "in_process_s": done - t0,
        "in_process_cpu_s": time.process_time() - cpu0,
        "max_rss_mb": max_rss_mb(),
        "mean_tau2": float(np.mean([r.tau2 for r in results])),
    }


def task_influence(args: dict) -> dict:
    """Case 3: leave-one-out + influence diagnostics at k (REML)."""
    k, estimator = args["k"], args["estimator"]
    yi, vi = meta_data(k)
    try:
        from evsynth.stats import influence as module
    except Exception as err:  # noqa: BLE001 - another engineer's module may be mid-edit
        return {"skipped": f"evsynth.stats.influence not importable: {type(err).__name__}: {err}"}
    if not hasattr(module, "influence"):
        return {"skipped": "evsynth.stats.influence has no influence() function"}
    ours = lambda: module.influence(yi, vi, estimator=estimator)  # noqa: E731
    loop = lambda: pymare_refit_loop(yi, vi, estimator)  # noqa: E731
    result = measure({"evsynth": ours}, args["reps"], min_batch=0.1)
    both = measure({"evsynth": ours, "pymare_loop": loop}, args["loop_reps"], min_batch=0.0)
    result["evsynth_interleaved"] = both["evsynth"]
    result["pymare_loop"] = both["pymare_loop"]
    result["entry_point"] = "evsynth.stats.influence.influence(yi, vi, estimator=...) (includes leave_one_out)"
    result["peak_traced_mb"] = peak_traced_mb(ours)
    result["max_rss_mb"] = max_rss_mb()
    return result


def task_network(args: dict) -> dict:
    """Case 4: network meta-analysis (T treatments, N trials, multi-arm trials), REML, with
    everything ``fit_network`` computes by default (both models, node splitting, P-scores)."""
    import importlib
    import importlib.util

    data = network(args["treatments"], args["trials"])
    studies = {a["study"] for a in data["arms"]}
    described = {
        "treatments": len(data["treatments"]),
        "trials": args["trials"],
        "arms": len(data["arms"]),
        "contrasts": len(data["contrasts"]),
        "multi_arm_trials": sum(1 for s in studies if sum(c["study"] == s for c in data["contrasts"]) > 1),
    }
    if importlib.util.find_spec("evsynth.data.network") is None:
        return {"skipped": "evsynth.data.network not available", "data": described}
    try:
        module = importlib.import_module("evsynth.data.network")
    except Exception as err:  # noqa: BLE001 - another engineer's module may be mid-edit
        return {"skipped": f"evsynth.data.network not importable: {type(err).__name__}: {err}", "data": described}
    if not callable(getattr(module, "fit_network", None)):
        return {"skipped": "evsynth.data.network has no fit_network()", "data": described}
    import pandas as pd

    contrasts = pd.DataFrame(data["contrasts"])
    call = lambda: module.fit_network(contrasts, treatments=data["treatments"], method="REML")  # noqa: E731
    fit = call()
    status = getattr(fit, "status", "?")
    if status != "fitted":
        return {"skipped": f"fit_network returned status {status!r}: {getattr(fit, 'message', '')}",
                "data": described}
    result = measure({"evsynth": call}, args["reps"], min_batch=0.0)
    result["entry_point"] = "evsynth.data.network.fit_network(contrasts, treatments=..., method='REML')"
    result["data"] = described
    result["peak_traced_mb"] = peak_traced_mb(call)
    result["max_rss_mb"] = max_rss_mb()
    return result


def task_dependent(args: dict) -> dict:
    """Case 6: CHE working model (rho = 0.6) + CR2 / Satterthwaite inference, from the effects:
    the within-trial covariance, the REML fit and the robust tests (what metafor's
    ``vcalc`` + ``rma.mv`` + clubSandwich's ``coef_test`` do)."""
    from evsynth.stats.dependent import ClusteredCovariance
    from evsynth.stats.multilevel import fit_multilevel
    from evsynth.stats.robust import cr2

    data = dependent_effects(args["effects"], args["trials"])
    yi, vi, trial = data["yi"], data["vi"], data["trial"]
    if args.get("write_data"):
        np.concatenate([yi, vi, trial.astype(float)]).astype("<f8").tofile(args["write_data"])

    def call():
        fit = fit_multilevel(yi, ClusteredCovariance.constant_correlation(vi, trial, 0.6), method="REML", test="t")
        return fit, cr2(fit)

    result = measure({"evsynth": call}, args["reps"], min_batch=args.get("min_batch", 0.05))
    fit, robust = call()
    result["check"] = {"sigma2": list(fit.sigma2), "beta": fit.beta[0], "se_cr2": robust.se[0], "df": robust.df[0],
                       "iterations": fit.iterations}
    result["peak_traced_mb"] = peak_traced_mb(call)
    result["max_rss_mb"] = max_rss_mb()
    return result


def task_imports(args: dict) -> dict:
    """Import cost of the modules a pooling job needs (fresh process)."""
    out = {}
    for module in args["modules"]:
        start = time.perf_counter()
        __import__(module)
        out[module] = time.perf_counter() - start
    return out


def task_figure(args: dict) -> dict:
    """What drawing one figure costs, per format: the forest plot of one analysis of a
    finished run (``args["workdir"]``), built as rule plot_forest builds it and saved with
    ``evsynth.figures._base.save_figure`` (byte-stable settings, PDF with embedded TrueType)."""
    import tempfile

    import yaml

    from evsynth.data.config import outcomes_from_config, resolve_settings
    from evsynth.data.io import read_tsv
    from evsynth.figures._base import save_figure
    from evsynth.figures.forest import draw_forest
    from evsynth.figures.forest_data import analysis_forest_data

    workdir = Path(args["workdir"])
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    outcome = outcomes_from_config(config)[args["outcome"]]
    base = workdir / "results" / "analyses" / args["outcome"] / args["timepoint"]
    tables = {name: read_tsv(base / f"{name}.tsv") for name in ("pooled", "studies", "robustness", "subgroups")}
    settings = resolve_settings(config["pooling"]).as_dict()

    def draw():
        return draw_forest(analysis_forest_data(tables, outcome, config["modes"], args["timepoint"], settings))

    import matplotlib.pyplot as plt

    figure = draw()
    out: dict = {"analysis": f"{args['outcome']}/{args['timepoint']}"}
    with tempfile.TemporaryDirectory() as tmp:
        calls = {"draw": lambda: plt.close(draw())}
        for fmt in ("svg", "png", "pdf"):
            calls[fmt] = lambda fmt=fmt: save_figure(figure, {fmt: str(Path(tmp) / f"forest.{fmt}")})
        out.update(measure(calls, args["reps"], min_batch=0.0, max_calls=1))
    return out


def task_bayes(args: dict) -> dict:
    """Case 7: the Bayesian posterior (half-normal(0.5) prior, flat mu): ``mode="one"`` times
    one ``bayes_meta`` call at k; ``mode="many"`` runs n analyses of k in this process through
    ``bayes_many`` (evsynth.stats.bayes_batch, the path for many analyses; the parent times
    the whole process)."""
    t0, cpu0 = time.perf_counter(), time.process_time()
    from evsynth.stats.bayes import bayes_meta
    from evsynth.stats.bayes_batch import bayes_many
    from evsynth.stats.bayes_priors import TauPrior

    prior = TauPrior("half-normal", 0.5)
    imported = time.perf_counter()
    shrinkage = args.get("shrinkage", True)
    if args["mode"] == "one":
        yi, vi = meta_data(args["k"])
        result = measure({"evsynth": lambda: bayes_meta(yi, vi, prior, shrinkage=shrinkage)}, args["reps"])
        fit = bayes_meta(yi, vi, prior)
        result["check"] = {"mu_median": fit.mu.median, "tau_median": fit.tau.median}
        return result
    yis, vis = many_meta_data(args["n"], args["k"])
    generated = time.perf_counter()
    fits = bayes_many(yis, vis, prior, shrinkage=shrinkage)
    done = time.perf_counter()
    assert len(fits) == args["n"]
    return {"import_s": imported - t0, "generate_s": generated - imported, "fit_s": done - generated,
            "in_process_s": done - t0, "in_process_cpu_s": time.process_time() - cpu0, "max_rss_mb": max_rss_mb(),
            "mean_mu_median": float(np.mean([f.mu.median for f in fits]))}


TASKS = {
    "pool": task_pool,
    "batch": task_batch,
    "influence": task_influence,
    "network": task_network,
    "dependent": task_dependent,
    "imports": task_imports,
    "figure": task_figure,
    "bayes": task_bayes,
}

if __name__ == "__main__":
    task, raw = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "{}"
    print(json.dumps(TASKS[task](json.loads(raw))))
