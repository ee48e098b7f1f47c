"""Shared-arm covariance for any subset, order and direction of contrast rows (issue 21).

A contrast ``f(t) - f(c)`` of independent arms is the row ``L = e_t - e_c`` of an incidence
matrix, so the covariance of any set of contrasts of one trial is ``L diag(var) L'``
(Gleser & Olkin 2009, §19.3): the independent oracle every case below is checked against,
in particular a shared arm sitting on opposite sides of two contrasts (``-var``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evsynth.data.contrasts import covariance_blocks, covariance_pairs, shared_arm_covariance

ARMS = ("coach", "online", "usual_care", "waitlist")
VARIANCE = {"coach": 0.011, "online": 0.017, "usual_care": 0.023, "waitlist": 0.031}
PAIRS = [(a, b) for a in ARMS for b in ARMS if a != b]  # both directions


def effects(pairs, group="T | o | 3", variance=VARIANCE) -> pd.DataFrame:
    return pd.DataFrame([
        {"study": "T", "treatment": t, "comparator": c, "arm_group": group, "var_treat_arm": variance[t],
         "var_ctrl_arm": variance[c], "vi": variance[t] + variance[c]}
        for t, c in pairs
    ])


def incidence_covariance(pairs, variance=VARIANCE) -> np.ndarray:
    L = np.array([[(a == t) - (a == c) for a in ARMS] for t, c in pairs], dtype=float)
    return L @ np.diag([variance[a] for a in ARMS]) @ L.T


def test_shared_arm_on_opposite_sides_has_negative_covariance():
    """coach - online and online - usual_care share online with opposite signs: -var(online);
    coach - online and usual_care - online share it on the same side: +var(online)."""
    V = shared_arm_covariance(effects([("coach", "online"), ("online", "usual_care"), ("usual_care", "online")]))
    assert V[0, 1] == pytest.approx(-VARIANCE["online"])
    assert V[0, 2] == pytest.approx(+VARIANCE["online"])
    assert V[1, 2] == pytest.approx(-VARIANCE["online"] - VARIANCE["usual_care"])  # the same pair reversed
    c_first = shared_arm_covariance(effects([("usual_care", "coach"), ("coach", "online")]))
    assert c_first[0, 1] == pytest.approx(-VARIANCE["coach"])


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(PAIRS), min_size=1, max_size=8))
def test_any_subset_order_and_direction_matches_the_incidence_algebra(pairs):
    frame = effects(pairs)
    expected = incidence_covariance(pairs)
    np.testing.assert_allclose(shared_arm_covariance(frame), expected, rtol=1e-14, atol=1e-16)
    for p in covariance_pairs(frame):
        assert p.row_i < p.row_j and p.cov == pytest.approx(expected[p.row_i, p.row_j])
    np.testing.assert_allclose(covariance_blocks(frame).to_dense(), expected, rtol=1e-14, atol=1e-16)


def test_rows_of_other_trials_or_not_from_arms_do_not_covary():
    frame = pd.concat([effects([("coach", "usual_care")]), effects([("online", "usual_care")], group="U | o | 3"),
                       effects([("online", "usual_care")], group="")], ignore_index=True)
    V = shared_arm_covariance(frame)
    assert np.count_nonzero(V - np.diag(np.diag(V))) == 0
