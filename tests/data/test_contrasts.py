"""Arm-level rows: table checks and contrasts with shared-arm covariance.

The rows are RESOLVE's (DeBar et al., JAMA 2025, doi:10.1001/jama.2025.11178) Table 2 arms,
tests/fixtures/resolve_table2.csv; that its 27 published RRs are rebuilt from them is checked
in tests/oracle/test_published_resolve.py.
"""

import math

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO
from evsynth.data.config import outcomes_from_config
from evsynth.data.contrasts import arm_contrasts, arm_scale, covariance_pairs, shared_arm_covariance
from evsynth.data.studies import StudyTableError, load_studies
from evsynth.stats.escalc import z_for_level

CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
OUTCOMES = outcomes_from_config(CONFIG)
MODES = list(CONFIG["modes"])
TABLE2 = pd.read_csv(REPO / "tests" / "fixtures" / "resolve_table2.csv", comment="#")
SOURCE = "doi:10.1001/jama.2025.11178, Table 2"
Z = z_for_level(95)


def arm_row(arm, estimate, lower, upper, outcome="pain_severity_response", timepoint="3", measure="percent", **extra):
    row = {
        "study": "DeBar 2025",
        "year": "2025",
        "treatment": "",
        "comparator": "",
        "outcome": outcome,
        "timepoint": timepoint,
        "arm": arm,
        "arm_measure": measure,
        "arm_estimate": str(estimate),
        "arm_ci_lower": str(lower),
        "arm_ci_upper": str(upper),
        "source": SOURCE,
    }
    row.update(extra)
    return row


def write(tmp_path, rows):
    path = tmp_path / "studies.tsv"
    pd.DataFrame(rows).fillna("").to_csv(path, sep="\t", index=False)
    return path


def problems(tmp_path, rows):
    with pytest.raises(StudyTableError) as err:
        load_studies(write(tmp_path, rows), CONFIG)
    return err.value.problems


def resolve_rows():
    arms = TABLE2[TABLE2["level"] == "arm"]
    return [
        arm_row(r.arm, r.estimate, r.ci_lower, r.ci_upper, r.outcome, str(r.timepoint_months), n_arm=str(r.n_analysed))
        for r in arms.itertuples()
    ]


def test_shared_arm_covariance_signs(tmp_path):
    """cov = +var(shared) on the same side, -var(shared) on opposite sides."""
    studies = load_studies(write(tmp_path, resolve_rows()[:3]), CONFIG)  # severity, 3 months
    result = arm_contrasts(studies, OUTCOMES, MODES)
    e = result.effects  # coach-online, coach-uc, online-uc
    var = {
        arm: v
        for arm, v in zip(
            ["coach", "online", "usual_care"],
            arm_scale("RR", "percent", [32.0, 26.6, 20.8], [29.3, 23.4, 18.0], [35.0, 30.2, 24.0])[1],
        )
    }
    V = result.matrix()
    np.testing.assert_allclose(np.diag(V), e["vi"], rtol=1e-15)
    assert V[0, 1] == pytest.approx(var["coach"], rel=1e-14)  # coach treatment in both
    assert V[0, 2] == pytest.approx(-var["online"], rel=1e-14)  # online: comparator, then treatment
    assert V[1, 2] == pytest.approx(var["usual_care"], rel=1e-14)  # usual care comparator in both
    assert [(c.row_i, c.row_j) for c in result.covariance] == [(0, 1), (0, 2), (1, 2)]
    # Any selection and order of rows: the matching sub-matrix, zero for unrelated rows.
    sub = e.iloc[[2, 1]]
    np.testing.assert_allclose(shared_arm_covariance(sub), V[np.ix_([2, 1], [2, 1])], rtol=1e-15)
    other = sub.assign(arm_group=["a", "b"])
    assert covariance_pairs(other) == ()


def test_minimal_columns_as_a_pooling_job_passes_them():
    """Only the fields a per-analysis job needs: the same contrasts, included, no lines."""
    rows = [
        {
            "study": "DeBar 2025",
            "outcome": "pain_severity_response",
            "timepoint": "3",
            "form": "arm",
            "arm": arm,
            "arm_measure": "percent",
            "arm_estimate": est,
            "arm_ci_lower": lo,
            "arm_ci_upper": hi,
        }
        for arm, est, lo, hi in (("usual_care", 20.8, 18.0, 24.0), ("coach", 32.0, 29.3, 35.0))
    ]
    e = arm_contrasts(rows, OUTCOMES, MODES).effects
    assert (e["treatment"].iloc[0], e["comparator"].iloc[0]) == ("coach", "usual_care")
    assert e["yi"].iloc[0] == pytest.approx(math.log(32.0 / 20.8), rel=1e-15)
    assert e["include"].iloc[0] and pd.isna(e["n_treat"].iloc[0])


# ---- scales ------------------------------------------------------------------------------


def test_arm_scales_or_rd_md_and_delta_method():
    """OR: logit with SE from logit-transformed CI limits; RD, MD: natural scale; arm_se by the delta method."""
    f, v = arm_scale("OR", "percent", [32.0], [29.3], [35.0])
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    assert f[0] == pytest.approx(logit(0.32), rel=1e-15)
    assert math.sqrt(v[0]) == pytest.approx((logit(0.35) - logit(0.293)) / (2 * Z), rel=1e-14)
    f, v = arm_scale("RD", "proportion", [0.32], [0.293], [0.35])
    assert (f[0], math.sqrt(v[0])) == pytest.approx((0.32, (0.35 - 0.293) / (2 * Z)), rel=1e-14)
    f, v = arm_scale("RD", "percent", [32.0], [29.3], [35.0])
    assert (f[0], math.sqrt(v[0])) == pytest.approx((0.32, (0.35 - 0.293) / (2 * Z)), rel=1e-14)
    f, v = arm_scale("MD", "mean", [-1.2], [-1.5], [-0.9], level=[90])
    assert (f[0], math.sqrt(v[0])) == pytest.approx((-1.2, 0.6 / (2 * z_for_level(90))), rel=1e-14)
    _, v = arm_scale("RR", "percent", [32.0, 32.0], [29.3, None], [35.0, None], se=[None, 1.5])
    assert math.sqrt(v[1]) == pytest.approx(0.015 / 0.32, rel=1e-14)  # se / p
    _, v = arm_scale("OR", "proportion", [0.32], se=[0.015])
    assert math.sqrt(v[0]) == pytest.approx(0.015 / (0.32 * 0.68), rel=1e-14)
    with pytest.raises(ValueError):
        arm_scale("MD", "percent", [32.0], [29.3], [35.0])


def test_md_arms_and_exclusion(tmp_path):
    """Mean arms give MD contrasts; a contrast with an excluded arm is kept but not included."""
    rows = [
        arm_row("coach", -1.9, -2.1, -1.7, "bpi_pain_severity", measure="mean"),
        arm_row("online", -1.8, -2.0, -1.6, "bpi_pain_severity", measure="mean"),
        arm_row(
            "usual_care",
            -1.4,
            -1.6,
            -1.2,
            "bpi_pain_severity",
            measure="mean",
            include="no",
            exclusion_reason="sensitivity",
        ),
    ]
    studies = load_studies(write(tmp_path, rows), CONFIG)
    e = arm_contrasts(studies, OUTCOMES, MODES).effects
    assert e["yi"].tolist() == pytest.approx([-0.1, -0.5, -0.4], abs=1e-12)
    assert e["vi"].iloc[0] == pytest.approx(2 * (0.4 / (2 * Z)) ** 2, rel=1e-12)
    assert e["include"].tolist() == [True, False, False]
    assert "arm 'usual_care' (line 4) excluded: sensitivity" in e["exclusion_reason"].iloc[1]
    assert set(e["measure"]) == {"MD"} and e["estimable"].all()


# ---- study-table checks -----------------------------------------------------------------


def test_arm_rows_load_without_treatment_columns(tmp_path):
    rows = [{k: v for k, v in r.items() if k not in ("treatment", "comparator")} for r in resolve_rows()[:3]]
    studies = load_studies(write(tmp_path, rows), CONFIG)
    assert set(studies["form"]) == {"arm"} and list(studies["arm"]) == ["online", "coach", "usual_care"]
    assert studies["n_arm"].tolist() == [643, 690, 703]


@pytest.mark.parametrize(
    "change,column,rule",
    [
        ({"treatment": "coach"}, "treatment", "must be empty on an arm row"),
        ({"arm": "coch"}, "arm", "did you mean 'coach'"),
        ({"arm_estimate": "100"}, "arm_estimate", "strictly between 0 and 100"),
        ({"arm_measure": "proportion"}, "arm_estimate", "strictly between 0 and 1"),
        ({"arm_estimate": "36"}, "arm_estimate", "lies outside its own CI"),
        ({"arm_ci_lower": "36"}, "arm_ci_lower", "CI is reversed"),
        ({"arm_ci_upper": ""}, "arm_ci_upper", "give both CI limits or neither"),
        ({"arm_ci_lower": "", "arm_ci_upper": ""}, "arm_ci_lower", "or its SE (arm_se)"),
        ({"arm_measure": "mean"}, "arm_measure", "analysed as RR"),
        ({"arm_measure": "odds"}, "arm_measure", "must be one of percent, proportion, mean"),
        ({"outcome": "disability"}, "arm_measure", "analysed as SMD"),
        ({"n_treat": "690"}, "n_treat", "give the arm's size in n_arm"),
        ({"n_arm": "0"}, "n_arm", "at least 1"),
        ({"effect_measure": "RR", "effect": "1.5"}, "", "more than one form"),
    ],
)
def test_arm_row_rules(tmp_path, change, column, rule):
    rows = resolve_rows()[:3]
    rows[1] = {**rows[1], **change}
    found = problems(tmp_path, rows)
    assert any(p.line == 3 and p.column == column and rule in p.rule for p in found), found


def test_orphan_duplicate_and_mixed_arms(tmp_path):
    rows = resolve_rows()[:3] + [arm_row("coach", 30.0, 27.0, 33.0, timepoint="4")]
    found = problems(tmp_path, rows)
    orphan = [p for p in found if "orphan arm row" in p.rule]
    assert [(p.line, p.column, p.value) for p in orphan] == [(5, "arm", "coach")]
    assert "no other included arm of 'DeBar 2025'" in orphan[0].rule
    duplicate = [p for p in found if "duplicate arm" in p.rule]
    assert [(p.line, p.value) for p in duplicate] == [(5, "coach")] and "as line 3" in duplicate[0].rule

    rows = resolve_rows()[:3]
    rows[2] = {
        **rows[2],
        "arm_measure": "proportion",
        "arm_estimate": "0.208",
        "arm_ci_lower": "0.18",
        "arm_ci_upper": "0.24",
    }
    assert any(
        p.line == 4 and p.column == "arm_measure" and "differs from line 2" in p.rule for p in problems(tmp_path, rows)
    )


def test_contrast_row_duplicating_arm_contrast_is_refused(tmp_path):
    contrast = {
        "study": "DeBar 2025",
        "year": "2025",
        "treatment": "usual_care",
        "comparator": "coach",
        "outcome": "pain_severity_response",
        "timepoint": "3",
        "effect_measure": "RR",
        "effect": "0.65",
        "ci_lower": "0.55",
        "ci_upper": "0.77",
        "source": SOURCE,
    }
    found = problems(tmp_path, resolve_rows()[:3] + [contrast])
    assert [(p.line, p.column) for p in found] == [(5, "study")]
    assert "formed from the arm rows on lines 3 and 4" in found[0].rule
    load_studies(
        write(tmp_path, resolve_rows()[:3] + [{**contrast, "include": "no", "exclusion_reason": "arms used"}]), CONFIG
    )


def test_n_arm_only_on_arm_rows(tmp_path):
    row = {
        "study": "Trial 2020",
        "year": "2020",
        "treatment": "coach",
        "comparator": "usual_care",
        "outcome": "pain_severity_response",
        "timepoint": "3",
        "events_treat": "12",
        "n_treat": "50",
        "events_ctrl": "8",
        "n_ctrl": "50",
        "n_arm": "50",
        "source": "PMID 1",
    }
    assert [(p.column, p.rule.split(";")[0]) for p in problems(tmp_path, [row])] == [("n_arm", "only for arm rows")]
