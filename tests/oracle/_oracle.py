"""The metafor oracle of the sensitivity tests (not a test module).

tests/data/metafor_sensitivity.json is written by tests/reference/metafor_sensitivity.R
(metafor 3.8-1, R 4.2.2, ``control=list(threshold=1e-12)``); each case stores its R calls.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

ORACLE = Path(__file__).resolve().parents[1] / "data" / "metafor_sensitivity.json"
CASES: dict = json.loads(ORACLE.read_text())["cases"]
CASE_IDS = sorted(CASES)
#: metafor test= -> our ci_method.
TESTS = {"z": "wald", "knha": "hksj", "adhoc": "hksj-adhoc"}

RTOL = 1e-6
#: Near tau² = 0 metafor's Fisher scoring keeps halving its step and stops at ~1e-13, where
#: ours (and evsynth.stats.tau2) snaps to 0; so tau² and what follows from it get an absolute
#: tolerance there (I² is in percent: 100 * 1e-10 / ṽ).
TAU2_ATOL, I2_ATOL = 1e-10, 1e-7


def inputs(case_id: str) -> tuple[np.ndarray, np.ndarray, dict]:
    case = CASES[case_id]
    settings = {"estimator": case["method"], "ci_method": TESTS[case["test"]], "alpha": 0.05}
    return np.array(case["inputs"]["yi"], float), np.array(case["inputs"]["vi"], float), settings


def expected(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def max_rel_error(ours, theirs, atol: float = 0.0) -> float:
    ours, theirs = np.asarray(ours, float), expected(np.atleast_1d(theirs))
    err = np.abs(ours - theirs) / np.maximum(np.abs(theirs), np.finfo(float).tiny)
    err[np.abs(ours - theirs) <= atol] = 0.0
    return float(np.nanmax(err)) if err.size else 0.0
