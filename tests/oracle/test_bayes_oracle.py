"""The Bayesian random-effects posterior pinned to an independent R computation
(tests/oracle/data/bayes_reference.json, written by tests/oracle/reference/bayes_reference.R).

The R script integrates the posterior of tau with base R's integrate() at rel.tol 1e-12, finds
every quantile with uniroot() (tol 1e-13) and every shortest interval with optimize() over
the lower tail probability; it computes the marginal likelihood and the conditional posterior
of mu with matrices (GLS, or the multivariate normal density of y under a normal prior on
mu), not with the sums evsynth.stats.bayes uses. Datasets: dat.bcg (log RR, k = 13, and its
first 1 and 2 trials), dat.normand1999 (SMD, k = 9) and Crins et al. 2014 (log OR, k = 6, the
example data of Röver 2020, J Stat Softw 93(6)); priors half-normal(0.5), half-Cauchy(0.5),
Turner 2015's and Rhodes 2015's marginal predictive priors, flat or normal prior on mu.
Tolerances TOL["bayes_abs"] (1e-10, absolute, analysis scale; measured <= 3e-14) and
TOL["bayes_shortest_abs"] for shortest intervals (R's optimize() is the limit; measured 5e-8).

The same cases go through the batched path (evsynth.stats.bayes_batch.bayes_many), the
cases sharing a prior, level and thresholds in one call, at the same tolerances.

"normand_md_uisd_halfnormal" is dat.normand1999 as a mean difference (length of stay, days) under
the default prior of an outcome on its own scale, half-normal(UISD / 4), with R's UISD computed
from bayesmeta's second form (mean n x harmonic mean of the variances); the pipeline's
resolution of that prior (evsynth.tables.bayes.resolved_prior) is checked against it too.

"joint_check" computes P(mu > -0.5) for dat.bcg once more by a double integral of the joint
density over (mu, tau), without integrating mu out analytically.
"""

import numpy as np
import pandas as pd
import pytest

from evsynth.data.bayes_config import bayes_settings
from evsynth.data.config import Outcome
from evsynth.stats.bayes import MuPrior, bayes_meta
from evsynth.stats.bayes_batch import bayes_many
from evsynth.stats.bayes_priors import TauPrior, unit_information_sd
from evsynth.tables.bayes import bayes_columns
from oracle._oracle import TOL, load

CASES = load("bayes_reference")
IDS = sorted(CASES)
FIELDS = ("median", "central_lower", "central_upper", "shortest_lower", "shortest_upper")


def _tau_prior(spec: dict) -> TauPrior:
    return TauPrior(spec["family"], scale=spec["scale"], location=spec.get("location", 0.0), df=spec.get("df", 5.0))


def _mu_prior(case: dict) -> MuPrior:
    mu = case["mu_prior"]
    return MuPrior() if mu == "flat" else MuPrior(mu["mean"], mu["sd"])


def _fit(case: dict):
    return bayes_meta(case["inputs"]["yi"], case["inputs"]["vi"], _tau_prior(case["tau_prior"]), _mu_prior(case),
                      level=case["level"], thresholds=case["thresholds"])


def _batch_fits() -> dict:
    """Every case through bayes_many, one call per (priors, level, thresholds)."""
    groups: dict = {}
    for case_id in IDS:
        case = CASES[case_id]
        key = (_tau_prior(case["tau_prior"]), _mu_prior(case), case["level"], tuple(case["thresholds"]))
        groups.setdefault(key, []).append(case_id)
    out = {}
    for (tau_prior, mu_prior, level, thresholds), ids in groups.items():
        inputs = [CASES[i]["inputs"] for i in ids]
        fitted = bayes_many([x["yi"] for x in inputs], [x["vi"] for x in inputs], tau_prior, mu_prior, level=level,
                            thresholds=thresholds)  # fmt: skip
        out.update(zip(ids, fitted))
    return out


@pytest.fixture(scope="module", params=["bayes_meta", "bayes_many"])
def fits(request):
    if request.param == "bayes_many":
        return _batch_fits()
    return {case_id: _fit(CASES[case_id]) for case_id in IDS}


@pytest.mark.parametrize("case_id", IDS)
def test_posterior_summaries_match_integrate(case_id, fits):
    ours, r = fits[case_id], CASES[case_id]
    for part in ("mu", "tau", "prediction"):
        for field in FIELDS:
            tol = TOL["bayes_shortest_abs"] if field.startswith("shortest") else TOL["bayes_abs"]
            assert getattr(getattr(ours, part), field) == pytest.approx(r[part][field], abs=tol), (part, field)
    assert ours.mu.mean == pytest.approx(r["mu"]["mean"], abs=TOL["bayes_abs"])
    assert ours.tau.mean == pytest.approx(r["tau"]["mean"], abs=TOL["bayes_abs"])
    np.testing.assert_allclose(ours.prob_above, r["prob_above"], atol=TOL["bayes_abs"], rtol=0)
    np.testing.assert_allclose(ours.prob_above_prediction, r["prob_above_prediction"], atol=TOL["bayes_abs"], rtol=0)


@pytest.mark.parametrize("case_id", IDS)
def test_shrunken_trial_effects_match_integrate(case_id, fits):
    ours, r = fits[case_id], CASES[case_id]
    for field in ("shrunken_median", "shrunken_lower", "shrunken_upper"):
        np.testing.assert_allclose(getattr(ours, field), r[field], atol=TOL["bayes_abs"], rtol=0, err_msg=field)


def test_mu_integrated_out_analytically_matches_the_double_integral(fits):
    check = load("bayes_reference", "joint_check")["bcg_halfnormal"]
    case = CASES["bcg_halfnormal"]
    assert case["thresholds"][1] == check["threshold"]
    assert fits["bcg_halfnormal"].prob_above[1] == pytest.approx(check["prob_above"], abs=TOL["bayes_abs"])


def test_uisd_and_the_md_default_prior_match_r():
    case = CASES["normand_md_uisd_halfnormal"]
    n, vi = case["n"], case["inputs"]["vi"]
    uisd = unit_information_sd(n, vi)
    assert uisd == pytest.approx(case["uisd"], rel=1e-14)
    assert case["tau_prior"]["scale"] == pytest.approx(uisd / 4, rel=1e-14)
    # the pipeline's path: an MD outcome without a configured scale, trials with arm sizes
    effects = pd.DataFrame({"treatment": "coach", "comparator": "usual_care", "study": [f"s{i}" for i in range(len(n))],
                            "yi": case["inputs"]["yi"], "vi": vi, "estimable": True,
                            "n_treat": n, "n_ctrl": 0})  # only the total n enters the UISD
    los = Outcome("los", "Length of stay", "MD", higher_is_better=False)
    row = {"outcome": "los", "timepoint": "post", "treatment": "coach", "comparator": "usual_care",
           "measure": "MD", "k": len(n), "status": "pooled"}
    (out,), _ = bayes_columns([row], effects, los, bayes_settings({"bayes": {}}, "los", "MD").as_dict())
    assert out["bayes_estimate"] == pytest.approx(case["mu"]["median"], abs=TOL["bayes_abs"])
    assert out["bayes_ci_lower"] == pytest.approx(case["mu"]["central_lower"], abs=TOL["bayes_abs"])
    assert out["bayes_tau"] == pytest.approx(case["tau"]["median"], abs=TOL["bayes_abs"])
    assert out["bayes_tau_prior"].startswith(f"half-normal({uisd / 4:g}; UISD/4, UISD {uisd:.4g} from 9 contrasts")
