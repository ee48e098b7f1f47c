"""Meta-regression bubble plots (evsynth.figures.bubble): fitted lines, CI bands and per-level
estimates pinned to metafor's predict() and clubSandwich's linear_contrast(), bubble weights to
metafor's weights(), and byte-stable figures.

Reference: tests/oracle/data/metaregression_bubble.json, written by
tests/oracle/reference/metaregression_bubble.R (R calls in each case). Tolerance: 1e-6 relative
(_oracle.TOL["rel"]) for the trial-level fits (metafor at threshold 1e-12); the CHE cases at
1e-5 (TOL["nlminb_rel"]): rma.mv's sigma² comes from nlminb, good to ~1e-8 relative, ours from
the exact score root.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from evsynth.data.config import DependentConfig
from evsynth.data.config import Outcome as ConfigOutcome
from evsynth.figures._base import figure_context, save_figure
from evsynth.figures.bubble import GRID_POINTS, bubble_data, bubble_figure, message_figure, summary_text
from evsynth.stats.dependent import ClusteredCovariance
from evsynth.stats.metaregression import moderator_design, predict
from evsynth.stats.multilevel import fit_multilevel
from evsynth.stats.multivariate import rma_mv
from evsynth.stats.robust import cr2, linear_contrasts
from evsynth.tables.dependent import comparison_blocks, metaregression_records
from oracle._oracle import TOL, load, max_rel_error

CASES = load("metaregression_bubble")
MD = ConfigOutcome("delinquency", "Delinquency", "MD", False)


def _bcg(moderator: str):
    i = CASES[f"bcg_{moderator}_knha"]["inputs"]
    kind = "continuous" if moderator == "ablat" else "categorical"
    return np.array(i["yi"]), np.array(i["vi"]), [str(n) for n in range(len(i["yi"]))], i[moderator], kind


def _assink(moderator: str):
    i = CASES[f"assink_{moderator}_che"]["inputs"]
    kind = "continuous" if moderator == "year" else "categorical"
    return np.array(i["yi"]), np.array(i["vi"]), [str(s) for s in i["study"]], i[moderator], kind


@pytest.mark.parametrize("moderator", ["ablat", "alloc"])
def test_trial_level_fitted_values_match_metafor_predict(moderator):
    """dat.bcg: rma(yi, vi, mods, test="knha"); predict(res, newmods=) and weights(res)."""
    y, v, _, values, kind = _bcg(moderator)
    out = CASES[f"bcg_{moderator}_knha"]["outputs"]
    X, names = moderator_design([(moderator, values, kind)])
    fit = rma_mv(y, v, X, names=names, test="knha")
    C = np.column_stack((np.ones(len(out["newmods"])), np.array(out["newmods"], float)))
    pred = predict(fit, C)
    for ours, theirs in ((pred.estimate, "pred"), (pred.se, "se"), (pred.ci_lower, "ci_lb"), (pred.ci_upper, "ci_ub")):
        assert max_rel_error(ours, out[theirs]) < TOL["rel"], theirs
    data = bubble_data(y, v, [str(n) for n in range(len(y))], values, kind, 0.6, 0.05, moderator)
    assert data.model == "trial-level"
    assert max_rel_error(data.weight, out["weights"]) < TOL["rel"]
    if kind == "categorical":  # the plot's level estimates are predict() at each level
        assert data.at == ("alternate", "random", "systematic")
        assert max_rel_error(data.fitted.ci_upper, out["ci_ub"]) < TOL["rel"]
    else:
        assert len(data.at) == GRID_POINTS and data.at[0] == min(values) and data.at[-1] == max(values)


@pytest.mark.parametrize("moderator", ["year", "deltype"])
def test_che_fitted_values_match_clubsandwich_linear_contrast(moderator):
    """dat.assink2016 CHE (rho 0.6): linear_contrast(res, vcov="CR2", test="Satterthwaite"), weights(res)."""
    y, v, trial, values, kind = _assink(moderator)
    out = CASES[f"assink_{moderator}_che"]["outputs"]
    X, names = moderator_design([(moderator, values, kind)])
    fit = fit_multilevel(y, ClusteredCovariance.constant_correlation(v, trial, 0.6), X, names=names, test="t")
    got = linear_contrasts(fit, np.array(out["contrasts"], float))
    for ours, theirs in ((got.estimate, "est"), (got.se, "se"), (got.df, "df"), (got.ci_lower, "ci_lb"),
                         (got.ci_upper, "ci_ub")):
        assert max_rel_error(ours, out[theirs]) < TOL["nlminb_rel"], theirs
    data = bubble_data(y, v, trial, values, kind, 0.6, 0.05, moderator)
    assert data.model == "che"
    assert max_rel_error(data.weight, out["weights"]) < TOL["nlminb_rel"]


def test_contrasts_of_single_coefficients_are_cr2s():
    """linear_contrasts with C = I gives cr2's per-coefficient SEs and Satterthwaite df exactly."""
    y, v, trial, values, kind = _assink("year")
    X, names = moderator_design([("year", values, kind)])
    fit = fit_multilevel(y, ClusteredCovariance.constant_correlation(v, trial, 0.6), X, names=names, test="t")
    got, robust = linear_contrasts(fit, np.eye(2)), cr2(fit)
    np.testing.assert_allclose(got.se, robust.se, rtol=1e-13)
    np.testing.assert_allclose(got.df, robust.df, rtol=1e-13)


def _bytes(fig, fmt: str) -> bytes:
    buffer = io.BytesIO()
    with figure_context():
        fig.savefig(buffer, format=fmt, metadata={"svg": {"Date": None}, "png": {"Software": None}}[fmt])
    return buffer.getvalue()


def _figure(moderator: str, ratio: bool):
    y, v, trial, values, kind = _bcg(moderator)
    data = bubble_data(y, v, trial, values, kind, 0.6, 0.05, moderator)
    summary = summary_text({"qm": 10.5, "qm_df1": 1, "qm_df2": 11, "qm_p": 0.0078, "r2": 75.6,
                            "qm_permutation_p": ""})
    return bubble_figure(data, title="BCG vaccine, post", comparison="Vaccine vs no vaccine",
                         measure="Risk ratio" if ratio else "log risk ratio", ratio=ratio, summary=summary)


@pytest.mark.parametrize("moderator", ["ablat", "alloc"])
def test_bubble_plots_are_byte_stable(moderator, tmp_path):
    first, second = _figure(moderator, True), _figure(moderator, True)
    for fmt in ("svg", "png"):
        assert _bytes(first, fmt) == _bytes(second, fmt), fmt
    paths = {fmt: tmp_path / f"bubble.{fmt}" for fmt in ("svg", "png", "pdf")}
    save_figure(first, paths)
    assert all(p.stat().st_size > 1000 for p in paths.values())


def test_ratio_axis_is_on_the_reporting_scale():
    fig = _figure("ablat", True)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "1" in labels and all(not label.startswith("-") for label in labels)
    assert _figure("ablat", False).axes[0].get_yscale() == "linear"


def test_summary_and_message():
    row = {"qm": 10.5, "qm_df1": 1, "qm_df2": 11, "qm_p": 0.0078, "r2": 75.6, "qm_permutation_p": 0.01}
    assert summary_text(row) == "omnibus F(1, 11) = 10.5, p = 0.0078; permutation p = 0.01; R² = 75.6%"
    assert summary_text({"status": "not fitted"}) == ""
    fig = message_figure("Pain, post", "Coach vs usual care", "not fitted: year: constant (2010) in this analysis")
    assert fig.get_size_inches()[1] < 2
    assert any("constant" in t.get_text() for t in fig.texts)


def test_constant_moderator_is_refused():
    y, v, trial, values, kind = _bcg("ablat")
    with pytest.raises(ValueError, match="constant"):
        bubble_data(y, v, trial, [10] * len(y), "continuous", 0.6, 0.05, "ablat")


def test_each_bubble_is_one_row_of_the_tables_model():
    """rule plot_metaregression draws comparison_blocks' rows, the rows rule analyse
    fits: every effect of the comparison (secondary rows too), each sized by its weight in the
    table's model; the drawn line is the table's coefficients. dat.assink2016 (CHE, rho 0.6) as
    coach vs usual care, each trial's first effect its primary one, behind another comparison."""
    y, v, trial, values, kind = _assink("year")
    assink = pd.DataFrame({"study": trial, "treatment": "coach", "comparator": "usual_care", "yi": y, "vi": v,
                           "estimable": True, "year": values})
    assink["primary"] = np.where(assink.duplicated("study"), "no", "")
    other = pd.DataFrame({"study": ["a", "b", "c"], "treatment": "online", "comparator": "usual_care",
                          "yi": [0.1, 0.2, 0.3], "vi": 0.1, "estimable": True, "year": [2001, 2002, 2003],
                          "primary": ""})
    blocks = dict(comparison_blocks(pd.concat([other, assink.iloc[::-1]]), ["coach", "online", "usual_care"]))
    assert list(blocks) == [("coach", "usual_care"), ("online", "usual_care")]  # config order
    block = blocks["coach", "usual_care"]
    assert len(block) == len(y) > block["study"].nunique() and (block["primary"] == "no").any()
    by, bv, btrial = block["yi"].to_numpy(float), block["vi"].to_numpy(float), block["study"].tolist()
    rows = metaregression_records(MD, "post", "coach", "usual_care", by, bv, btrial,
                                  {"year": (block["year"].tolist(), kind)}, DependentConfig(rho=0.6))
    data = bubble_data(by, bv, btrial, block["year"].tolist(), kind, 0.6, 0.05, "year")
    assert data.model == rows[0]["model"] == "che" and len(data.y) == rows[0]["k_effects"]
    assert np.array_equal(data.y, by)
    fit = fit_multilevel(by, ClusteredCovariance.constant_correlation(bv, btrial, 0.6),
                         moderator_design([("year", block["year"].tolist(), kind)])[0], test="t")
    w = np.empty(len(by))
    for idx, W in zip(fit.model.rows, fit.model.W):
        w[idx] = np.diagonal(W, axis1=-2, axis2=-1)
    assert max_rel_error(data.weight, 100 * w / w.sum()) < 1e-12
    intercept, slope = (r["theta"] for r in rows)
    assert max_rel_error(data.fitted.estimate, intercept + slope * np.array(data.at)) < 1e-9
