"""The oracles' loader and tolerance table (not a test module), like metafor's tests/settings.r.

Every metafor value is written by an R script in tests/oracle/reference/ (metafor 3.8-1,
R 4.2.2, ``control=list(threshold=1e-12)`` for rma()) to tests/oracle/data/<name>.json;
each case stores its R calls (``r_setup``, ``r_call``). The tests name the dataset, the R
call and the source of each expected value; this module only reads the files and holds the
one table of tolerances, each named by what it bounds.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data"

TOL = {
    # Relative error against metafor's fits: rma(), rma.mv(), leave1out(), influence(), cumul(),
    # regtest(), ranktest(), trimfill() and the subgroup Q tests (the foundation issue's 1e-6).
    "rel": 1e-6,
    # Absolute error where a pooled value (or a weight) from rma() is 0.
    "abs": 1e-9,
    # tau² near 0: metafor's Fisher scoring keeps halving its step and stops at ~1e-13, where ours
    # (and evsynth.stats.tau2) snaps to 0; so tau² and what follows from it get an absolute tolerance.
    "tau2_abs": 1e-10,
    # I² near tau² = 0 (percent: 100 * 1e-10 / ṽ).
    "i2_abs": 1e-7,
    # Absolute error where metafor gives exactly 0 (QE and logLik of a saturated fit, I² = 0,
    # a contrast of equal values).
    "zero_abs": 1e-12,
    # escalc(): closed-form effect sizes and sampling variances; yi that are 0.
    "escalc_rel": 1e-10,
    "escalc_abs": 1e-14,
    # Network rma.mv at the exact REML/ML score root (the issue asks for 1e-5; measured ~1e-12).
    "network_rel": 1e-8,
    # Node-splitting: direct and indirect estimates from separate fits.
    "nodesplit_rel": 1e-7,
    # tau² from rma.mv's own optimiser (nlminb, kept as tau2_nlminb), good to ~1e-6 relative.
    "nlminb_rel": 1e-5,
    # Three-level / CHE models at the exact REML/ML score root, CR2 (clubSandwich), AR/HAR at
    # fixed G, aggregation (metafor_dependent.json; measured <= 3e-10, the worst being dat.bcg's
    # rma() tau² from metafor's Fisher scoring at threshold 1e-12).
    "dependent_rel": 1e-8,
    # selmodel(): metafor maximises with optim() (and numDeriv's Hessian), good to ~2e-5 relative
    # in the estimates and SEs; the maximised log-likelihood and the LRT agree to ~1e-11.
    "selmodel_rel": 5e-5,
    "selmodel_ll_abs": 1e-8,
    # The Bayesian posterior against tests/oracle/reference/bayes_reference.R (integrate() at
    # rel.tol 1e-12, uniroot() at 1e-13), absolute on the analysis scale: measured <= 3e-14 for
    # medians, central intervals, means, probabilities and shrunken effects.
    "bayes_abs": 1e-10,
    # Shortest intervals: R finds them with optimize() over the lower tail probability (tol
    # 1e-10), which leaves its endpoints ~5e-8 off (ours solve f(a) = f(b) by Newton).
    "bayes_shortest_abs": 2e-7,
}

#: metafor test= -> our ci_method.
TESTS = {"z": "wald", "knha": "hksj", "adhoc": "hksj-adhoc"}
#: metafor's predict(): normal quantile under test="z", t(k-1) with the KH SE otherwise.
DEFAULT_PI = {"z": "normal", "knha": "t_k-1", "adhoc": "t_k-1"}

#: The rma() cases of metafor_reference.json that pool() and its fast paths are pinned to.
POOLING_CASES = [
    "bcg_rr_reml_z", "bcg_rr_reml_knha", "bcg_rr_dl_z", "bcg_rr_dl_knha", "bcg_rr_ml_z",
    "bcg_rr_ml_knha", "bcg_rr_he_z", "bcg_rr_he_knha", "bcg_or_dl_z", "bcg_rd_dl_z",
    "normand_smd_reml_z", "normand_smd_reml_knha", "normand_smd_dl_z", "normand_smd_dl_knha",
    "normand_md_reml_z", "normand_md_dl_z", "zero_cells_or_dl_z", "zero_cells_rr_dl_z",
    "zero_cells_rd_dl_z", "reported_ci_mixed_reml_z", "reported_ci_mixed_dl_z",
    "huge_variance_reml", "k2_reml_z", "k2_dl_knha", "bcg_rr_pm_z", "bcg_rr_pm_knha", "bcg_rr_sj_z",
    "bcg_rr_sj_knha", "bcg_rr_eb_z", "bcg_rr_eb_knha", "bcg_rr_reml_adhoc", "smallk_dl_z", "smallk_dl_knha",
    "smallk_dl_adhoc", "smallk_reml_z", "smallk_reml_knha", "smallk_reml_adhoc",
    "shipped_interference_coach_reml_z", "shipped_interference_coach_reml_knha",
    "shipped_interference_coach_dl_z", "shipped_interference_coach_dl_knha",
]


@cache
def _document(name: str) -> dict:
    return json.loads((DATA / f"{name}.json").read_text())


def load(name: str, section: str = "cases") -> dict:
    """The cases of tests/oracle/data/<name>.json, written by tests/oracle/reference/<name>.R.

    ``section`` picks another top-level key (``rank_cases`` of metafor_sensitivity).
    """
    return _document(name)[section]


def rma_inputs(case: dict) -> tuple[np.ndarray, np.ndarray, dict]:
    """yi, vi and our pooling settings for the rma() call of a metafor_sensitivity case."""
    settings = {"estimator": case["method"], "ci_method": TESTS[case["test"]], "alpha": 0.05}
    return np.array(case["inputs"]["yi"], float), np.array(case["inputs"]["vi"], float), settings


def expected(values) -> np.ndarray:
    """R's values as floats (JSON null, R's NA, becomes NaN)."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def max_rel_error(ours, theirs, atol: float = 0.0) -> float:
    """Largest relative error; differences within ``atol`` count as 0.

    Where R has no value (NA) the pair is skipped; where R has one and ours is NaN the error is
    infinite (a NaN of ours must never pass as agreement).
    """
    ours, theirs = np.broadcast_arrays(np.asarray(ours, float), expected(np.atleast_1d(theirs)))
    err = np.abs(ours - theirs) / np.maximum(np.abs(theirs), np.finfo(float).tiny)
    err[np.abs(ours - theirs) <= atol] = 0.0
    err[np.isnan(ours) & ~np.isnan(theirs)] = np.inf
    return float(np.nanmax(err)) if err.size else 0.0


def rma_pairs(result, expected: dict) -> dict[str, tuple]:
    """(ours, metafor's) for every summary an ``rma()`` case of metafor_reference.json stores."""
    stat = expected.get("zval", expected.get("tval"))
    return {
        "beta": (result.theta, expected["beta"]),
        "se": (result.se, expected["se"]),
        "ci_lb": (result.ci_lower, expected["ci_lb"]),
        "ci_ub": (result.ci_upper, expected["ci_ub"]),
        "stat": (result.stat, stat),
        "pval": (result.p_value, expected["pval"]),
        "tau2": (result.tau2, expected["tau2"]),
        "I2": (result.i2, expected["I2"]),
        "H2": (result.h2, expected["H2"]),
        "QE": (result.q, expected["QE"]),
        "QEp": (result.q_p, expected["QEp"]),
        "pi_lb": (result.pi_lower, expected["pi_lb"]),
        "pi_ub": (result.pi_upper, expected["pi_ub"]),
    }
