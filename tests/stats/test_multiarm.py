"""Combining a trial's arms into one group (evsynth.stats.multiarm): Table 6.5.a is the mean and SD
of the pooled raw data, the rules refuse what they cannot combine, and they say why."""

from __future__ import annotations

import numpy as np
import pytest

from evsynth.stats.multiarm import (
    NotCombinable,
    combine_groups,
    combined_arm_estimates,
    combined_contrasts,
)


def test_table_6_5_a_equals_the_pooled_raw_data():
    rng = np.random.default_rng(20)
    groups = [rng.normal(mu, sd, n) for mu, sd, n in ((1.0, 2.0, 31), (3.5, 0.7, 12), (-2.0, 4.0, 57))]
    n, m, s = combine_groups([len(g) for g in groups], [g.mean() for g in groups], [g.std(ddof=1) for g in groups])
    raw = np.concatenate(groups)
    assert n == len(raw)
    assert m == pytest.approx(raw.mean(), rel=1e-12)
    assert s == pytest.approx(raw.std(ddof=1), rel=1e-12)


def test_arm_proportions_are_the_summed_events():
    """Arm estimates: the combined proportion is events summed over participants summed."""
    n, events = np.array([40.0, 60.0]), np.array([10.0, 30.0])
    p = events / n
    var_log = (1 - p) / (p * n)  # binomial, on the log scale
    c = combined_arm_estimates("RR", n, np.log(p), var_log, np.log(0.2), 0.01)
    assert c.yi == pytest.approx(np.log(40 / 100) - np.log(0.2), rel=1e-12)
    # Delta method without the mixture term: the arms' own variances, weighted by (n_a / N)^2.
    var_p = np.sum((n / 100) ** 2 * p * (1 - p) / n)
    assert c.vi == pytest.approx(var_p / 0.4**2 + 0.01, rel=1e-12)


def test_what_cannot_be_combined_is_refused_with_the_reason():
    with pytest.raises(NotCombinable, match="reported SMD contrasts cannot be combined"):
        combined_contrasts("SMD", [50, 50], [0.2, 0.3], [0.04, 0.04], 0.04)
    with pytest.raises(NotCombinable, match="not all positive"):
        combined_contrasts("MD", [50, 50], [0.2, 0.3], [0.01, 0.01], 0.05)
    with pytest.raises(NotCombinable, match="sizes are needed"):
        combined_arm_estimates("RR", [np.nan, 50], [-1.0, -1.2], [0.01, 0.01], -1.5, 0.01)
