"""Seed-3005 mutation survivors (issue 21): behaviour the sample showed untested.

- The single Bayesian path keeps its quadrature panels inside u < 1 when the posterior of tau
  is the heavy-tailed Rhodes log-t prior (one trial): it must still equal the batched path.
- ``fit_multilevel(sigma2=...)`` rejects negative variance components and a wrong count.
- A network with exactly one residual df (a three-study loop) has a prediction interval.
"""

from __future__ import annotations

from dataclasses import astuple

import numpy as np
import pandas as pd
import pytest
from scipy import special

from evsynth.data.network import fit_network
from evsynth.stats.bayes import MuPrior, bayes_meta
from evsynth.stats.bayes_batch import bayes_many
from evsynth.stats.bayes_priors import TauPrior
from evsynth.stats.dependent import ClusteredCovariance
from evsynth.stats.multilevel import fit_multilevel
from oracle._oracle import TOL


def test_one_trial_under_the_log_t_prior_single_path_equals_batch():
    """k = 1: tau's posterior is nearly the log-t(2.27, -3.02) prior (Rhodes 2015), whose upper
    tail pushes the last panel edges towards u = 1; capping them below 1 keeps the single path's
    rule equal to the batched one (TOL["bayes_abs"])."""
    tau_prior, mu_prior = TauPrior("log-t", 2.27, -3.02), MuPrior(0.1, 1.0)
    rng = np.random.default_rng(3005)
    ys = [rng.normal(0.3, 0.6, 1) for _ in range(12)]
    vs = [rng.uniform(0.001, 0.6, 1) * s for s in (1e-3, 1.0, 100.0) for _ in range(4)]
    batch = bayes_many(ys, vs, tau_prior, mu_prior)
    for j, (y, v) in enumerate(zip(ys, vs)):
        single = bayes_meta(y, v, tau_prior, mu_prior)
        for part in ("mu", "tau", "prediction"):
            np.testing.assert_allclose(astuple(getattr(single, part)), astuple(getattr(batch[j], part)), rtol=0,
                                       atol=TOL["bayes_abs"], err_msg=f"analysis {j}, {part}")  # fmt: skip


@pytest.mark.parametrize("sigma2", [(-0.01, 0.02), (0.05, -1e-9), (0.05,), (0.05, 0.02, 0.01)])
def test_fixed_variance_components_must_be_two_non_negative_values(sigma2):
    """A held sigma2 that is negative or of the wrong length is refused, not fitted."""
    rng = np.random.default_rng(3005)
    trial = np.repeat(np.arange(6), 2)
    vi = rng.uniform(0.02, 0.2, 12)
    yi = rng.normal(0.3, 0.3, 12)
    V = ClusteredCovariance.constant_correlation(vi, trial)
    with pytest.raises(ValueError, match="sigma2 must be 2 non-negative values"):
        fit_multilevel(yi, V, sigma2=sigma2)


def test_a_loop_of_three_studies_has_one_df_and_a_prediction_interval():
    """Three two-arm studies on A-B, B-C, A-C: k - p = 1 residual df, so tau² is estimable and the
    normal prediction interval is theta +- z * sqrt(tau² + se²) (netmeta's rule); t_k-1 uses 1 df."""
    rows = [("s1", "A", "B", 0.5, 0.1), ("s2", "B", "C", 0.3, 0.1), ("s3", "A", "C", 2.0, 0.1)]
    frame = pd.DataFrame(rows, columns=["study", "treatment", "comparator", "yi", "vi"])
    z = special.ndtri(0.975)
    for prediction, crit in (("normal", z), ("t_k-1", special.stdtrit(1, 0.975))):
        fit = fit_network(frame, method="REML", prediction=prediction)
        assert fit.q_df == 1
        model = fit.random
        assert model.tau2 > 0
        e = model.effect("B", "A")
        half = crit * np.sqrt(model.tau2 + e.se**2)
        assert e.pi_lower == pytest.approx(e.theta - half, rel=1e-12)
        assert e.pi_upper == pytest.approx(e.theta + half, rel=1e-12)
