"""bayes_many (evsynth.stats.bayes_batch) equals bayes_meta, analysis by analysis.

The batched path runs the same quadrature rule and iterations with an analysis axis; every
summary of every analysis must agree with the single path to TOL["bayes_abs"] (1e-10; the
oracle's tolerance, measured <= 1e-13 here), on random data of mixed k (1 ... 25), every
prior family, flat and normal priors on mu, and extremes: near-equal estimates (tau's
posterior piled at 0), tiny variances (a sharp posterior), huge ones (the prior alone).
The R oracle itself is applied to bayes_many in tests/oracle/test_bayes_oracle.py.
"""

from dataclasses import astuple

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evsynth.stats.bayes import MuPrior, bayes_meta
from evsynth.stats.bayes_batch import bayes_many
from evsynth.stats.bayes_priors import TauPrior
from oracle._oracle import TOL

PRIORS = [
    (TauPrior("half-normal", 0.5), MuPrior()),
    (TauPrior("half-cauchy", 0.5), MuPrior(0.0, 2.0)),
    (TauPrior("log-normal", 1.71, -2.05), MuPrior()),
    (TauPrior("log-t", 2.27, -3.02), MuPrior(0.1, 1.0)),
]
SUMMARIES = ("mu", "tau", "prediction")
VECTORS = ("prob_above", "prob_above_prediction", "shrunken_median", "shrunken_lower", "shrunken_upper")


def _datasets(seed: int):
    rng = np.random.default_rng(seed)
    yis, vis = [], []
    for k in (1, 2, 3, 5, 10, 10, 10, 25):
        for _ in range(6):
            yis.append(rng.normal(0.3, 0.6, k))
            vis.append(rng.uniform(0.01, 0.6, k))
    yis += [np.full(4, 0.2) + 1e-9 * np.arange(4), rng.normal(0, 0.05, 8), rng.normal(0, 1, 3)]
    vis += [np.full(4, 0.1), np.full(8, 1e-4), np.full(3, 50.0)]
    return yis, vis


def assert_same(batch, single):
    assert len(batch) == len(single)
    for j, (a, b) in enumerate(zip(batch, single)):
        assert (a.k, a.level, a.tau_prior, a.mu_prior, a.thresholds) == (b.k, b.level, b.tau_prior, b.mu_prior,
                                                                          b.thresholds)  # fmt: skip
        for part in SUMMARIES:
            np.testing.assert_allclose(astuple(getattr(a, part)), astuple(getattr(b, part)), rtol=0,
                                       atol=TOL["bayes_abs"], err_msg=f"analysis {j}, {part}")  # fmt: skip
        for name in VECTORS:
            assert len(getattr(a, name)) == len(getattr(b, name)), (j, name)
            np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=0, atol=TOL["bayes_abs"],
                                       err_msg=f"analysis {j}, {name}")  # fmt: skip


@pytest.mark.parametrize("tau_prior, mu_prior", PRIORS, ids=lambda p: getattr(p, "label", None))
def test_bayes_many_equals_bayes_meta(tau_prior, mu_prior):
    yis, vis = _datasets(16)
    batch = bayes_many(yis, vis, tau_prior, mu_prior, thresholds=(0.0, -0.2))
    single = [bayes_meta(y, v, tau_prior, mu_prior, thresholds=(0.0, -0.2)) for y, v in zip(yis, vis)]
    assert_same(batch, single)


def test_without_shrinkage_other_level_and_no_thresholds():
    yis, vis = _datasets(7)
    prior = TauPrior("half-normal", 0.5)
    batch = bayes_many(yis, vis, prior, level=0.8, thresholds=(), shrinkage=False)
    assert_same(batch, [bayes_meta(y, v, prior, level=0.8, thresholds=(), shrinkage=False) for y, v in zip(yis, vis)])
    assert batch[0].shrunken_median == () and batch[0].prob_above == ()


def test_chunks_do_not_change_results(monkeypatch):
    import evsynth.stats.bayes_batch as module

    yis, vis = _datasets(3)
    prior = TauPrior("half-cauchy", 0.5)
    whole = bayes_many(yis, vis, prior)
    monkeypatch.setattr(module, "CHUNK_CELLS", 1)  # one analysis per chunk
    assert_same(bayes_many(yis, vis, prior), whole)


def test_fixed_tau_and_empty_input():
    prior = TauPrior("fixed", value=0.0)
    yis, vis = _datasets(5)
    assert bayes_many(yis[:5], vis[:5], prior) == [bayes_meta(y, v, prior) for y, v in zip(yis[:5], vis[:5])]
    assert bayes_many([], [], TauPrior("half-normal", 0.5)) == []


@pytest.mark.parametrize(
    "yis, vis, message",
    [
        ([[0.1, 0.2]], [[0.1]], "analysis 0: yi and vi"),
        ([[0.1], [0.2, np.nan]], [[0.1], [0.1, 0.1]], "analysis 1: yi must be finite"),
        ([[0.1], [0.2]], [[0.1], [0.0]], "analysis 1: yi must be finite and vi finite and > 0"),
        ([[0.1]], [[0.1], [0.1]], "same number of analyses"),
    ],
)
def test_bad_input_names_the_analysis(yis, vis, message):
    with pytest.raises(ValueError, match=message):
        bayes_many(yis, vis, TauPrior("half-normal", 0.5))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.lists(
        st.integers(1, 6).flatmap(
            lambda k: st.tuples(
                st.lists(st.floats(-3, 3, allow_nan=False), min_size=k, max_size=k),
                st.lists(st.floats(0.005, 2.0, allow_nan=False), min_size=k, max_size=k),
            )
        ),
        min_size=1,
        max_size=8,
    ),
    family=st.sampled_from(range(len(PRIORS))),
)
def test_bayes_many_equals_bayes_meta_on_any_data(data, family):
    tau_prior, mu_prior = PRIORS[family]
    yis, vis = [d[0] for d in data], [d[1] for d in data]
    batch = bayes_many(yis, vis, tau_prior, mu_prior)
    assert_same(batch, [bayes_meta(y, v, tau_prior, mu_prior) for y, v in zip(yis, vis)])
