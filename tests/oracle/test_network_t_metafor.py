"""The network under the profile's CI method (issue 20, point 3), pinned to metafor's rma.mv(test = "t").

Expected values: tests/oracle/data/metafor_network_t.json, written by
tests/oracle/reference/metafor_network_t.R (metafor 3.8-1, R 4.2.2; each case stores r_setup and
r_call): ``rma.mv(yi, V, mods = ~ 0 + <treatments>, random = ~ comp | study, rho = 1/2, tau2 = tau2,
test = "t")`` with its default ``dfs = "residual"`` (k - p df), the league from ``predict()`` and
the t statistics and p-values from ``anova(res, X = )``, on dat.senn2013, dat.hasselblad1998 and the
shipped table's pain-interference (post) network, REML (exact score root) and DL. Tolerance:
TOL["network_rel"] (1e-8 relative; measured ~1e-12).

Under cochrane-2025 (HKSJ) the pipeline's network now uses these t intervals; under a Wald profile
every network table says "wald". Before issue 20 the network was Wald whatever the profile, so
test_cochrane_profile_gives_metafor_t_intervals_on_the_shipped_network fails on that code.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO, TABLE_BEFORE_METAPSY
from evsynth.data.config import outcomes_from_config, resolve_settings
from evsynth.data.contrasts import analysis_effects
from evsynth.data.network import fit_network
from evsynth.data.studies import load_studies
from evsynth.figures.network import ci_wording
from evsynth.tables.network import analyse_network, network_tables
from oracle._oracle import TOL, load

CASES = load("metafor_network_t")
CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
OUTCOMES = outcomes_from_config(CONFIG)
MODES = list(CONFIG["modes"])


def close(actual, expected, rel=TOL["network_rel"], abs_=TOL["zero_abs"]):
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float), rtol=rel,
                               atol=abs_)


def fit_case(case: dict, test: str):
    """Fit the case's baseline contrasts with their covariance (vb: the baseline arm's variance)."""
    rows = pd.DataFrame({k: case["inputs"][k] for k in ("study", "treatment", "comparator", "yi", "vi")})
    vb = np.asarray(case["inputs"]["vb"], dtype=float)
    same = rows["study"].to_numpy()[:, None] == rows["study"].to_numpy()[None, :]
    V = np.where(same, vb[:, None], 0.0)
    np.fill_diagonal(V, rows["vi"].to_numpy(dtype=float))
    out = case["outputs"]
    return fit_network(rows, treatments=out["treatments"], reference=out["reference"], method=case["method"],
                       covariance=V, test=test)


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_t_league_matches_metafor(case_id):
    case = CASES[case_id]
    out, league = case["outputs"], case["outputs"]["league"]
    assert out["test"] == "t" and out["ddf"] == out["k"] - out["p"]  # metafor's dfs = "residual"
    fit = fit_case(case, "t")
    model = fit.random
    close(model.tau2, out["tau2"], abs_=TOL["tau2_abs"])
    assert model.test == "t" and model.stat_df == out["ddf"] == fit.q_df
    effects = [model.effect(t, c) for t, c in zip(league["treatment"], league["comparator"])]
    close([e.theta for e in effects], league["estimate"], abs_=1e-13)
    close([e.se for e in effects], league["se"])
    close([e.ci_lower for e in effects], league["ci_lb"], abs_=1e-13)
    close([e.ci_upper for e in effects], league["ci_ub"], abs_=1e-13)
    close([e.stat for e in effects], league["tval"], abs_=1e-12)
    close([e.p_value for e in effects], league["pval"])
    # The same fit under "z": same estimates and SEs, narrower (Wald) intervals; common effect always Wald.
    wald = fit_case(case, "z")
    assert [e.se for e in wald.random.league] == pytest.approx([e.se for e in model.league], rel=1e-12)
    assert all(w.ci_upper - w.ci_lower < t.ci_upper - t.ci_lower for w, t in zip(wald.random.league, model.league))
    assert fit.common.test == "z" and fit.common.stat_df is None


def shipped_network(profile: str, **overrides):
    table = load_studies(TABLE_BEFORE_METAPSY, CONFIG)
    rows = table[(table["outcome"] == "pain_interference") & (table["window"] == "post") & table["include"]]
    settings = resolve_settings({"profile": profile, **overrides})
    outcome = OUTCOMES["pain_interference"]
    effects = analysis_effects(rows.to_dict("records"), outcome, MODES, settings, 0.5)
    fit = analyse_network(effects, outcome, MODES, settings)
    return fit, network_tables(fit, outcome, "post", dict(CONFIG["modes"]), settings)


def test_cochrane_profile_gives_metafor_t_intervals_on_the_shipped_network():
    """cochrane-2025 (REML, HKSJ) on the shipped pain-interference network = metafor's test = "t" fit,
    and every table and the plot say so."""
    case = CASES["shipped_pain_interference_post_reml_t"]
    league = case["outputs"]["league"]
    fit, tables = shipped_network("cochrane-2025")
    random = [r for r in tables["league"] if r["model"] == "random"]
    by_pair = {(r["treatment"], r["comparator"]): r for r in random}
    rows = [by_pair[t, c] for t, c in zip(league["treatment"], league["comparator"])]
    close([r["theta"] for r in rows], league["estimate"], abs_=1e-13)  # SMD: analysis = reporting scale
    close([r["ci_lower"] for r in rows], league["ci_lb"], abs_=1e-13)
    close([r["ci_upper"] for r in rows], league["ci_ub"], abs_=1e-13)
    close([r["p_value"] for r in rows], league["pval"])
    assert {(r["ci_method"], r["ci_df"]) for r in random} == {("t", 8.0)}
    assert {(r["ci_method"], r["ci_df"]) for r in tables["league"] if r["model"] == "common"} == {("wald", None)}
    summary = tables["summary"][0]
    assert summary["ci_method"] == "t" and summary["ci_df"] == 8.0
    assert "t on k - p = 8 df (metafor rma.mv test='t', dfs='residual')" in summary["note"]
    assert {r["ci_method"] for r in tables["ranking"] if r["model"] == "random"} == {"t"}
    assert ci_wording(summary).startswith("random effects t on 8 df (k - p")


def test_wald_profiles_say_wald_on_every_network_output():
    """revman5 and metafor keep Wald: the league, ranking and summary rows and the plot say so."""
    for profile in ("revman5", "metafor"):
        fit, tables = shipped_network(profile)
        assert fit.random.test == "z" and fit.random.stat_df is None
        for name in ("league", "ranking", "summary"):
            assert {r["ci_method"] for r in tables[name]} == {"wald"}, (profile, name)
        summary = tables["summary"][0]
        assert f"network CIs are Wald (z), as the {profile} profile's wald" in summary["note"]
        assert ci_wording(summary) == "Wald (z), both models"
        e = fit.random.effect("coach", "usual_care")
        assert e.ci_upper - e.theta == pytest.approx(1.959963984540054 * e.se, rel=1e-12)


def test_a_single_trial_has_no_t_interval_and_says_so():
    """RESOLVE alone: k - p = 0, so metafor's t interval does not exist; Wald is used with a note."""
    rows = pd.DataFrame({"study": ["DeBar 2025"] * 3, "treatment": ["coach", "coach", "online"],
                         "comparator": ["online", "usual_care", "usual_care"], "yi": [0.18, 0.43, 0.25],
                         "vi": [0.006, 0.007, 0.008], "arm_group": ["g"] * 3,
                         "var_treat_arm": [0.002, 0.002, 0.003], "var_ctrl_arm": [0.003, 0.004, 0.004]})
    fit = fit_network(rows, treatments=MODES, test="t")
    assert fit.status == "single trial" and fit.random.test == "z" and fit.random.stat_df is None
    assert "t intervals need residual df" in fit.random.note
    with pytest.raises(ValueError, match="network test must be one of z, t"):
        fit_network(rows, treatments=MODES, test="knha")
