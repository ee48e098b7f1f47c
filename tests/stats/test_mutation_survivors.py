"""Small rules of the statistics layer that mutants of mutation/run.py slipped past
(mutation/report.md): each test names the rule it pins."""

from __future__ import annotations

import numpy as np

from evsynth.stats.multivariate import BlockCovariance


def test_block_covariance_of_variances_alone_is_diagonal_and_may_be_empty():
    empty = BlockCovariance.from_variances([])
    assert empty.k == 0 and empty.index == () and empty.to_dense().shape == (0, 0)
    three = BlockCovariance.from_variances([0.1, 0.2, 0.3])
    assert three.k == 3
    np.testing.assert_array_equal(three.to_dense(), np.diag([0.1, 0.2, 0.3]))
    np.testing.assert_array_equal(BlockCovariance.from_dense(np.array([0.1, 0.2])).to_dense(), np.diag([0.1, 0.2]))
