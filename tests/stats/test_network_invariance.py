"""Network fits do not depend on how the contrast rows are written (issue 21).

Reversing a contrast (swap treatment and comparator, negate ``yi``, swap the arm variances and
sizes), reordering rows and renaming trials describe the same data, so every estimate of the
network model must stay the same; this holds on each of the four ways the within-trial
covariance is built (from arm variances, back-calculated from all pairs, from arm sizes, or
passed explicitly). Data: dat.hasselblad1998 (two three-arm trials) and RESOLVE's single
three-arm trial, as stored in tests/oracle/data/metafor_network.json (their metafor fits are
pinned in tests/oracle/test_network_metafor.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evsynth.data.contrasts import shared_arm_covariance
from evsynth.data.network import fit_network
from oracle._oracle import load

CASES = load("metafor_network")
PATHS = ("arms", "all_pairs", "sizes", "explicit")
PROPERTY = settings(max_examples=12, deadline=None, derandomize=True)


def table(case_id: str, path: str) -> pd.DataFrame:
    frame = pd.DataFrame(CASES[case_id]["inputs"])
    if path == "arms":
        frame["arm_group"] = frame["study"]
    elif path == "sizes":  # drop one pair of every multi-arm trial: no longer all pairs, sizes known
        multi = frame["study"].duplicated(keep=False)
        frame = frame[~(multi & frame["study"].duplicated(keep="first") & ~frame["study"].duplicated(keep="last"))]
        frame = frame.drop(columns=["var_treat_arm", "var_ctrl_arm"])
    elif path == "all_pairs":
        frame = frame.drop(columns=["var_treat_arm", "var_ctrl_arm"])
    return frame.reset_index(drop=True)


def reverse(frame: pd.DataFrame, flip) -> pd.DataFrame:
    out = frame.copy()
    flip = np.asarray(flip, dtype=bool)
    for a, b in (("treatment", "comparator"), ("var_treat_arm", "var_ctrl_arm"), ("n_treat", "n_ctrl")):
        if a in out:
            out.loc[flip, [a, b]] = out.loc[flip, [b, a]].to_numpy()
    out.loc[flip, "yi"] = -out.loc[flip, "yi"]
    return out


def fit(case_id: str, frame: pd.DataFrame, path: str, nodesplit: bool = False):
    kw = {}
    if path == "explicit":  # the covariance of these rows, as written (the property test uses D V D)
        kw["covariance"] = shared_arm_covariance(frame.assign(arm_group=frame["study"]))
    out = CASES[case_id]["outputs"]
    return fit_network(frame, treatments=out["treatments"], reference=out["reference"], nodesplit=nodesplit, **kw)


def assert_same_fit(a, b, studies: dict[str, str] | None = None, ordered: bool = True):
    """Same fit; trials renamed by ``studies``; listed in the same order unless not ``ordered``
    (row order changes the order trials are listed in, nothing else)."""
    assert a.status == b.status and a.treatments == b.treatments
    assert a.k_contrasts == b.k_contrasts and a.k_multiarm == b.k_multiarm and a.designs == b.designs
    renamed = [(studies or {}).get(s, s) for s in a.studies]
    assert list(b.studies) == renamed if ordered else sorted(b.studies) == sorted(renamed)
    for ma, mb in ((a.random, b.random), (a.common, b.common)):
        assert mb.tau2 == pytest.approx(ma.tau2, rel=1e-8, abs=1e-12)
        np.testing.assert_allclose(mb.beta, ma.beta, rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(mb.vcov, ma.vcov, rtol=1e-8, atol=1e-14)
        np.testing.assert_allclose(mb.pscores, ma.pscores, rtol=1e-8, atol=1e-12)
        for ea, eb in zip(ma.league, mb.league):
            assert (ea.treatment, ea.comparator) == (eb.treatment, eb.comparator)
            assert eb.theta == pytest.approx(ea.theta, rel=1e-8, abs=1e-12)
            assert eb.se == pytest.approx(ea.se, rel=1e-8)
        for sa, sb in zip(ma.nodesplit, mb.nodesplit):
            assert (sa.treatment, sa.comparator, sa.k_direct) == (sb.treatment, sb.comparator, sb.k_direct)
            assert sb.direct == pytest.approx(sa.direct, rel=1e-7, abs=1e-12)
            assert sb.indirect == pytest.approx(sa.indirect, rel=1e-7, abs=1e-12)
    if a.q is not None:
        assert b.q == pytest.approx(a.q, rel=1e-8, abs=1e-12)


@pytest.mark.parametrize("path", PATHS)
def test_reversing_one_contrast_of_a_three_arm_trial_changes_nothing(path):
    """The survivor of issue 21: a sign error for a shared arm on opposite sides moved these
    estimates by up to 0.03. Here every contrast of Cottraux 1983 (three arms) is reversed in turn."""
    frame = table("hasselblad1998_reml", path)
    base = fit("hasselblad1998_reml", frame, path, nodesplit=True)
    rows = np.flatnonzero(frame["study"] == "Cottraux et al. 1983")
    assert len(rows) == (2 if path == "sizes" else 3)
    for r in rows:
        flip = np.arange(len(frame)) == r
        assert_same_fit(base, fit("hasselblad1998_reml", reverse(frame, flip), path, nodesplit=True))


def test_reversing_every_two_arm_trial_leaves_node_splitting_unchanged():
    """Node splitting reads each trial's own estimate of a pair, oriented earlier vs later."""
    frame = table("hasselblad1998_reml", "arms")
    flip = ~frame["study"].duplicated(keep=False).to_numpy()
    base = fit("hasselblad1998_reml", frame, "arms", nodesplit=True)
    assert base.random.nodesplit
    assert_same_fit(base, fit("hasselblad1998_reml", reverse(frame, flip), "arms", nodesplit=True))


@pytest.mark.parametrize("path", ["arms", "all_pairs", "explicit"])
def test_single_three_arm_trial_reversed_gives_its_own_contrasts(path):
    """RESOLVE alone (status 'single trial'): reversing any contrast leaves the estimates."""
    frame = table("resolve_ps3_reml", path)
    base = fit("resolve_ps3_reml", frame, path)
    assert base.status == "single trial"
    for r in range(len(frame)):
        flip = np.arange(len(frame)) == r
        assert_same_fit(base, fit("resolve_ps3_reml", reverse(frame, flip), path))


@PROPERTY
@given(path=st.sampled_from(PATHS), data=st.data())
def test_any_reversal_and_row_order_leave_the_fit_unchanged(path, data):
    frame = table("hasselblad1998_reml", path)
    flip = np.array(data.draw(st.lists(st.booleans(), min_size=len(frame), max_size=len(frame))))
    order = np.array(data.draw(st.permutations(range(len(frame)))))
    base = fit("hasselblad1998_reml", frame, path)
    moved = reverse(frame, flip).iloc[order].reset_index(drop=True)
    if path == "explicit":  # the caller's covariance of the reversed, reordered rows: P D V D P'
        V = shared_arm_covariance(frame.assign(arm_group=frame["study"]))
        d = np.where(flip, -1.0, 1.0)
        V = (V * d[:, None] * d[None, :])[np.ix_(order, order)]
        out = CASES["hasselblad1998_reml"]["outputs"]
        other = fit_network(moved, treatments=out["treatments"], reference=out["reference"], nodesplit=False,
                            covariance=V)
    else:
        other = fit("hasselblad1998_reml", moved, path)
    assert_same_fit(base, other, ordered=False)


@PROPERTY
@given(suffix=st.text(alphabet="abcXYZ 0123-'&é", min_size=1, max_size=6), path=st.sampled_from(PATHS))
def test_renaming_trials_changes_nothing_but_labels(suffix, path):
    frame = table("hasselblad1998_reml", path)
    names = {s: f"{suffix}{i}" for i, s in enumerate(dict.fromkeys(frame["study"]))}
    base = fit("hasselblad1998_reml", frame, path)
    renamed = fit("hasselblad1998_reml", frame.assign(study=frame["study"].map(names)), path)
    assert_same_fit(base, renamed, studies=names)
    assert [e.studies for e in renamed.edges] == [tuple(names[s] for s in e.studies) for e in base.edges]


def test_node_split_without_indirect_evidence_left_reports_none():
    """Back-calculation (Dias et al. 2010) divides by 1 - prop_direct: where the direct evidence
    is practically all of it (prop >= 1 - 1e-10) the indirect estimate is undefined and reported
    as None with a note, while the other pairs of the same loop keep theirs (both directions)."""
    frame = pd.DataFrame({"study": ["s1", "s2", "s3", "s4"], "treatment": ["B", "C", "C", "B"],
                          "comparator": ["A", "A", "B", "A"], "yi": [0.5, 0.3, -0.1, 0.52],
                          "vi": [1e-6, 1e4, 1e4, 1e-6]})
    common = fit_network(frame, treatments=["A", "B", "C"], reference="A").common
    split = {(s.treatment, s.comparator): s for s in common.nodesplit}
    ab = split["A", "B"]
    assert ab.prop_direct > 1 - 1e-10 and ab.indirect is None and ab.p_value is None
    assert "back-calculation undefined" in ab.note
    assert split["A", "C"].indirect is not None and split["A", "C"].note == ""
