"""Every branch of :func:`evsynth.data.contrasts.compute_effects`, its derivation text in full and
its numbers against the closed forms (issue 21).

One row per branch (counts as RR, OR, RD, with a zero cell, with none in both arms, in an SMD
outcome by Chinn 2000, events that are good; a reported contrast with an SE, a CI at 95% and
90%, an SMD from arm sizes only, nothing to estimate from; a direction to reverse) under each
``smd_variance`` profile. The expected numbers are written out from the formulas (Cochrane
Handbook v6.5 §6.3, §10.6 for Chinn's conversion; metafor's escalc with ``add = 1/2,
to = "only0"``; RevMan 5's SMD variance; metapsyTools' J), at 1e-12 relative: the closed form
and the code compute the same floating-point expression up to rounding. metafor itself pins
these functions in tests/oracle/test_effects_metafor.py; here the branches are pinned.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from evsynth.data.config import Outcome
from evsynth.data.contrasts import compute_effects

OUTCOMES = {"rr": Outcome("rr", "R", "RR", True), "or": Outcome("or", "R", "OR", True),
            "rd": Outcome("rd", "R", "RD", True), "smd": Outcome("smd", "P", "SMD", False),
            "md": Outcome("md", "P", "MD", False), "smd_up": Outcome("smd_up", "P", "SMD", True)}
COUNTS = {"form": "counts", "events_treat": 12, "n_treat": 50, "events_ctrl": 6, "n_ctrl": 50}
REPORTED = {"form": "contrast", "effect_measure": "SMD", "effect": -0.4, "ci_lower": None, "ci_upper": None,
            "se": None, "ci_level": None, "n_treat": None, "n_ctrl": None}
Z95, Z90 = 1.959963984540054, 1.6448536269514722
CHINN = math.sqrt(3) / math.pi
LOG_OR = math.log(12 * 44 / (38 * 6))
VAR_LOG_OR = 1 / 12 + 1 / 38 + 1 / 6 + 1 / 44
J_METAPSY = 1 - 3 / (4 * 100 - 9)
NOT_ESTIMABLE = (math.nan, math.nan)

CASES = [  # row, {profile: (yi, vi)} or (yi, vi) for all, derivation (or {profile: derivation})
    ({**COUNTS, "outcome": "rr"}, (math.log(12 / 6), 1 / 12 - 1 / 50 + 1 / 6 - 1 / 50), "log RR from counts"),
    ({**COUNTS, "outcome": "or", "events_ctrl": 0},
     (math.log(12.5 * 50.5 / (38.5 * 0.5)), 1 / 12.5 + 1 / 38.5 + 1 / 0.5 + 1 / 50.5),
     "log OR from counts; 0.5 added to each cell (zero cell)"),
    ({**COUNTS, "outcome": "rd", "events_treat": 0, "events_ctrl": 0},  # metafor keeps a double zero for RD
     (0.0, 2 * (0.5 / 51) * (50.5 / 51) / 51), "RD from counts; 0.5 added to each cell (zero cell)"),
    ({**COUNTS, "outcome": "rr", "events_treat": 0, "events_ctrl": 0}, NOT_ESTIMABLE,
     "not estimable: no events (or only events) in both arms"),
    ({**COUNTS, "outcome": "rr", "events_treat": 50, "events_ctrl": 50}, NOT_ESTIMABLE,
     "not estimable: no events (or only events) in both arms"),
    ({**COUNTS, "outcome": "smd"},
     {"metafor": (LOG_OR * CHINN, VAR_LOG_OR * CHINN**2),
      "metapsy": (LOG_OR * CHINN * J_METAPSY, VAR_LOG_OR * CHINN**2)},
     {"metafor": "log OR from counts", "metapsy": "log OR from counts; times J = 1-3/(4N-9) (metapsyTools)"}),
    ({**COUNTS, "outcome": "smd", "effect_direction": "benefit_positive"},
     {"metafor": (-LOG_OR * CHINN, VAR_LOG_OR * CHINN**2),
      "metapsy": (-LOG_OR * CHINN * J_METAPSY, VAR_LOG_OR * CHINN**2)},
     {"metafor": "log OR from counts; sign reversed (events are good; lower is better here)",
      "metapsy": "log OR from counts; times J = 1-3/(4N-9) (metapsyTools); sign reversed (events are good; lower "
                 "is better here)"}),
    ({**COUNTS, "outcome": "smd_up", "effect_direction": "benefit_positive"},  # higher is better: no reversal
     {"metafor": (LOG_OR * CHINN, VAR_LOG_OR * CHINN**2),
      "metapsy": (LOG_OR * CHINN * J_METAPSY, VAR_LOG_OR * CHINN**2)},
     {"metafor": "log OR from counts", "metapsy": "log OR from counts; times J = 1-3/(4N-9) (metapsyTools)"}),
    ({**REPORTED, "outcome": "smd", "se": 0.2}, (-0.4, 0.04), "reported SMD with SE"),
    ({**REPORTED, "outcome": "smd", "ci_lower": -0.7, "ci_upper": -0.1}, (-0.4, (0.6 / (2 * Z95)) ** 2),
     "reported SMD with 95% CI: se = (SMD upper - lower) / (2 x 1.9600)"),
    ({**REPORTED, "outcome": "smd", "ci_lower": -0.7, "ci_upper": -0.1, "ci_level": 90.0},
     (-0.4, (0.6 / (2 * Z90)) ** 2), "reported SMD with 90% CI: se = (SMD upper - lower) / (2 x 1.6449)"),
    ({**REPORTED, "outcome": "rr", "effect_measure": "RR", "effect": 1.5, "ci_lower": 1.1, "ci_upper": 2.0},
     (math.log(1.5), ((math.log(2.0) - math.log(1.1)) / (2 * Z95)) ** 2),
     "reported RR with 95% CI: se = (log RR upper - lower) / (2 x 1.9600)"),
    ({**REPORTED, "outcome": "smd", "n_treat": 30, "n_ctrl": 35},
     {"metafor": (-0.4, 1 / 30 + 1 / 35 + 0.16 / (2 * 65)), "revman": (-0.4, 65 / (30 * 35) + 0.16 / (2 * (65 - 3.94))),
      "metapsy": (-0.4, 65 / (30 * 35) + 0.16 / (2 * 65))},
     {"metafor": "reported SMD without CI or SE: variance 1/n1+1/n2+d²/(2N) from arm sizes",
      "revman": "reported SMD without CI or SE: variance N/(n1n2)+d²/(2(N-3.94)) from arm sizes",
      "metapsy": "reported SMD without CI or SE: variance N/(n1n2)+d²/(2N) from arm sizes"}),
    ({**REPORTED, "outcome": "smd", "n_treat": 30}, NOT_ESTIMABLE,
     "not estimable: reported SMD without arm sizes, CI or SE"),
    ({**REPORTED, "outcome": "md", "effect_measure": "MD", "n_treat": 30, "n_ctrl": 35}, NOT_ESTIMABLE,
     "not estimable: reported MD without CI or SE"),
    ({**REPORTED, "outcome": "smd", "se": 0.2, "effect": 0.4, "effect_direction": "benefit_positive"}, (-0.4, 0.04),
     "reported SMD with SE; sign reversed (source: positive favours treatment; lower is better here)"),
    ({**REPORTED, "outcome": "smd_up", "se": 0.2, "effect": 0.4, "effect_direction": "benefit_positive"}, (0.4, 0.04),
     "reported SMD with SE"),
    ({**REPORTED, "outcome": "smd", "se": 0.2, "effect_direction": "treatment_minus_control"}, (-0.4, 0.04),
     "reported SMD with SE"),
]


@pytest.mark.parametrize("profile", ["metafor", "revman", "metapsy"])
def test_each_branch_of_compute_effects(profile):
    frame = compute_effects([row for row, _, _ in CASES], OUTCOMES, smd_variance=profile)
    for i, (_, numbers, derivation) in enumerate(CASES):
        yi, vi = numbers.get(profile, numbers["metafor"]) if isinstance(numbers, dict) else numbers
        text = derivation.get(profile, derivation["metafor"]) if isinstance(derivation, dict) else derivation
        assert frame["derivation"][i] == text, i
        np.testing.assert_allclose([frame["yi"][i], frame["vi"][i]], [yi, vi], rtol=1e-12, atol=0, err_msg=str(i))
        assert frame["estimable"][i] == (not math.isnan(yi))
        if not math.isnan(vi):
            assert frame["se"][i] == pytest.approx(math.sqrt(vi), rel=1e-12)


def test_design_effect_inflates_the_variance_of_its_row_only():
    rows = [{**REPORTED, "outcome": "smd", "se": 0.2, "design_effect": 1.5},
            {**REPORTED, "outcome": "smd", "se": 0.2, "design_effect": None}]
    frame = compute_effects(rows, OUTCOMES)
    assert list(frame["vi"]) == pytest.approx([0.06, 0.04], rel=1e-12)


def test_a_conversion_detail_follows_the_derivation():
    rows = [{**REPORTED, "outcome": "smd", "se": 0.2, "conversion_detail": "SE 0.2 from p = 0.045"},
            {**REPORTED, "outcome": "smd", "se": 0.2, "conversion_detail": ""}]
    frame = compute_effects(rows, OUTCOMES)
    assert list(frame["derivation"]) == ["reported SMD with SE; SE 0.2 from p = 0.045", "reported SMD with SE"]
