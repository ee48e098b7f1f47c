"""The Bayesian columns and tables (evsynth.tables.bayes) and the adjusted-estimate rows of
small_study.tsv (evsynth.tables.small_study_adjusted): which rows exist, what they say when a
method cannot run, the direction of benefit, and that the numbers are the stats functions'."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from evsynth.data.bayes_config import bayes_settings
from evsynth.data.config import Outcome, resolve_settings, sensitivity_config
from evsynth.stats.bayes import bayes_meta
from evsynth.stats.bayes_priors import TauPrior
from evsynth.stats.selection import selection_model
from evsynth.tables.bayes import (
    bayes_columns,
    bayes_robustness_records,
    prior_sensitivity_records,
    shrinkage_columns,
)
from evsynth.tables.small_study_adjusted import ADJUSTED_TESTS, adjusted_records
from oracle._oracle import load

SMD = Outcome("pain", "Pain", "SMD", higher_is_better=False)
RR = Outcome("resp", "Response", "RR", higher_is_better=True)
RAW = {"bayes": {}, "summary_of_findings": {"mid": {"resp": 1.25}}}
POOLING = resolve_settings({"profile": "cochrane-2025"})


def _effects(yi, vi, treatment="coach"):
    return pd.DataFrame({"treatment": treatment, "comparator": "usual_care", "study": [f"s{i}" for i in range(len(yi))],
                         "yi": yi, "vi": vi, "estimable": True})


def _row(k, treatment="coach", measure="SMD", status="pooled"):
    return {"outcome": "x", "timepoint": "post", "treatment": treatment, "comparator": "usual_care",
            "measure": measure, "k": k, "status": status}


def test_bayes_columns_for_k_1_and_2_and_a_reason_elsewhere():
    effects = pd.concat([_effects([0.3], [0.04], "coach"), _effects([0.2, -0.1], [0.05, 0.02], "online")])
    bayes = bayes_settings(RAW, "resp", "RR").as_dict()
    rows = [_row(1, "coach", "RR", "single study"), _row(2, "online", "RR"),
            _row(3, "any_remote_cbt", "RR", "pooled across delivery modes")]
    out, fits = bayes_columns(rows, effects, RR, bayes)
    assert out[0]["bayes_status"] == "posterior from 1 trial" and out[1]["bayes_status"] == "posterior from 2 trials"
    assert out[2]["bayes_status"].startswith("not run: the across-modes estimate")
    direct = bayes_meta([0.2, -0.1], [0.05, 0.02], TauPrior("half-normal", 0.5), thresholds=(0.0, math.log(1.25)))
    assert out[1]["bayes_estimate"] == pytest.approx(math.exp(direct.mu.median), rel=1e-12)
    assert out[1]["bayes_prob_benefit"] == pytest.approx(direct.prob_above[0], rel=1e-12)  # higher is better
    assert out[1]["bayes_prob_mid"] == pytest.approx(direct.prob_above[1], rel=1e-12)
    shrunk = shrinkage_columns(effects, fits, RR)
    assert shrunk["bayes_shrunken_estimate"].notna().all()
    robust = bayes_robustness_records(out, {("online", "usual_care"): False})
    assert [r["treatment"] for r in robust] == ["online"] and robust[0]["profile"].startswith("bayes (half-normal(0.5)")


def test_benefit_is_below_zero_when_lower_is_better_and_rd_needs_a_scale():
    effects = _effects([-0.3, -0.5], [0.04, 0.05])
    out, _ = bayes_columns([_row(2)], effects, SMD, bayes_settings(RAW, "pain", "SMD").as_dict())
    direct = bayes_meta([-0.3, -0.5], [0.04, 0.05], TauPrior("half-normal", 0.5))
    assert out[0]["bayes_prob_benefit"] == pytest.approx(1 - direct.prob_above[0], rel=1e-12)
    rd = Outcome("resp", "Response", "RD", higher_is_better=True)
    out, _ = bayes_columns([_row(2, measure="RD")], effects, rd, bayes_settings(RAW, "resp", "RD").as_dict())
    assert out[0]["bayes_status"] == ("not run: no prior scale for a RD outcome: set config.yaml: bayes.priors.resp: "
                                      "{prior: ..., scale: ...} (analysis scale)")
    rd_bayes = bayes_settings(RAW, "resp", "RD").as_dict()
    priors = prior_sensitivity_records([_row(2, measure="RD")], effects, rd, rd_bayes)
    assert all(r["status"].startswith("not run") for r in priors)


def test_md_prior_is_a_quarter_of_the_trials_uisd_and_says_so():
    """Röver et al. 2021 eq. 6: UISD = sqrt(sum n / sum 1/v), here over both comparisons."""
    md = Outcome("bpi", "BPI", "MD", higher_is_better=False)
    effects = pd.concat([_effects([-1.0, -0.4], [0.30, 0.12]), _effects([-0.7], [0.2], "online")])
    effects = effects.assign(n_treat=[20, 50, 30], n_ctrl=[20, 50, 31])
    bayes = bayes_settings(RAW, "bpi", "MD").as_dict()
    assert bayes["uisd_multiple"] == 0.25 and bayes["prior"]["scale"] is None
    out, _ = bayes_columns([_row(2, measure="MD"), _row(1, "online", "MD", "single study")], effects, md, bayes)
    uisd = math.sqrt((40 + 100 + 61) / (1 / 0.30 + 1 / 0.12 + 1 / 0.2))
    direct = bayes_meta([-1.0, -0.4], [0.30, 0.12], TauPrior("half-normal", uisd / 4))
    assert out[0]["bayes_estimate"] == pytest.approx(direct.mu.median, rel=1e-12)
    assert out[0]["bayes_tau_prior"] == f"half-normal({uisd / 4:g}; UISD/4, UISD {uisd:.4g} from 3 contrasts)"
    assert out[1]["bayes_tau_prior"] == out[0]["bayes_tau_prior"]  # one prior per analysis
    priors = prior_sensitivity_records([_row(2, measure="MD")], effects, md, bayes)
    assert priors[0]["configured"] and priors[0]["bayes_estimate"] == out[0]["bayes_estimate"]
    no_sizes = effects.assign(n_treat=None)
    out, _ = bayes_columns([_row(2, measure="MD")], no_sizes, md, bayes)
    assert out[0]["bayes_status"].startswith("not run: no trial of this analysis reports its arm sizes")
    assert "bayes.priors.bpi" in out[0]["bayes_status"]
    given = bayes_settings({"bayes": {"priors": {"bpi": {"prior": "half-normal", "scale": 2.0}}}}, "bpi", "MD")
    assert given.uisd_multiple is None and given.prior["scale"] == 2.0  # a configured scale wins


def test_prior_sensitivity_lists_every_prior_and_refuses_ones_for_other_measures():
    effects = _effects([-0.3, -0.5, 0.1], [0.04, 0.05, 0.03])
    records = prior_sensitivity_records([_row(3)], effects, SMD, bayes_settings(RAW, "pain", "SMD").as_dict())
    assert [r["configured"] for r in records] == [True] + [False] * 5
    assert records[4]["status"].startswith("not run: not defined for SMD")  # turner2015 is for RR and OR
    assert records[5]["tau_prior"].startswith("rhodes2015 any, any: log-t")
    assert records[0]["bayes_estimate"] == records[1]["bayes_estimate"]  # the default is half-normal(0.5)


HACK = load("small_study_adjusted")["hackshaw_or"]


def test_adjusted_rows_are_the_stats_functions_in_the_benefit_direction():
    yi, vi = np.array(HACK["inputs"]["yi"]), np.array(HACK["inputs"]["vi"])
    config = sensitivity_config({"small_study_min_k": 10, "selection_cut_points": [0.025, 0.5]})
    # an outcome where lower is better sees the mirrored data: selection favours negative estimates
    lower = Outcome("o", "O", "OR", higher_is_better=False)
    rows = {r["test"]: r for r in adjusted_records(-yi, vi, POOLING, lower, config)}
    assert list(rows) == list(ADJUSTED_TESTS)
    fit = selection_model(yi, vi, (0.025,))
    assert rows["selection_3psm"]["theta"] == pytest.approx(-fit.theta, rel=1e-6)
    assert rows["selection_3psm"]["estimate"] == pytest.approx(math.exp(-fit.theta), rel=1e-6)
    assert rows["selection_3psm"]["p_value"] == pytest.approx(fit.lrt_p, rel=1e-5)
    assert rows["selection_user"]["status"] == "computed"
    assert all(r["status"] == "computed" for r in rows.values())


def test_adjusted_rows_say_why_they_do_not_run():
    yi, vi = np.array([0.1, 0.2, 0.3, 0.5]), np.array([0.01, 0.02, 0.04, 0.09])
    rows = adjusted_records(yi, vi, POOLING, RR, sensitivity_config({"small_study_min_k": 10}))
    assert [r["status"] for r in rows[:1]] == [
        "skipped: 4 trials; needs at least 10 (a selection model estimates tau² and the selection weights "
        "from the trials' p-values, which few trials cannot inform)"]
    assert rows[-1]["test"] == "waap_wls" and rows[-1]["status"] == "computed"
    # every trial significant at one-sided 0.025: the 3PSM's second interval is empty
    big = adjusted_records(np.full(10, 2.0) + np.arange(10) / 10, np.full(10, 0.01), POOLING, RR,
                           sensitivity_config({"small_study_min_k": 10}))
    three = next(r for r in big if r["test"] == "selection_3psm")
    assert three["status"].startswith("not run: a one-sided p-value interval has no trial")
    user = next(r for r in big if r["test"] == "selection_user")
    assert user["status"] == "not run: no sensitivity.selection_cut_points configured"
    pet = next(r for r in big if r["test"] == "pet")
    assert pet["status"] == "not run: every trial has the same SE, so a slope on the SE cannot be estimated"
