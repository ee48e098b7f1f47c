"""RESOLVE (DeBar et al., JAMA 2025, doi:10.1001/jama.2025.11178) Table 2 rebuilt from its arms.

A published analysis reproduced end to end, like metafor's test_analysis_example_* tests.
Table 2 is copied to tests/fixtures/resolve_table2.csv from ../shared/evidence/resolve_tables.csv:
27 arm rows (adjusted % with 95% CI) and the 27 published adjusted RRs. The arm rows go through
the study table's checks (evsynth.data.studies.load_studies) and become contrasts
(evsynth.data.contrasts.arm_contrasts). Rebuilding each RR from two arms (log scale, SE from each
arm's CI, variances added) must reproduce the published estimate and both CI limits to within
0.011: the inputs are rounded to 0.1 percentage points and the RRs to 0.01 (NOTES.md, addendum
"RESOLVE Tables 2 and 3").
"""

import math

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO
from evsynth.data.config import outcomes_from_config
from evsynth.data.contrasts import arm_contrasts
from evsynth.data.studies import load_studies
from evsynth.stats.escalc import z_for_level

CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
OUTCOMES = outcomes_from_config(CONFIG)
MODES = list(CONFIG["modes"])
TABLE2 = pd.read_csv(REPO / "tests" / "fixtures" / "resolve_table2.csv", comment="#")
SOURCE = "doi:10.1001/jama.2025.11178, Table 2"
Z = z_for_level(95)


def table2_arms(tmp_path) -> pd.DataFrame:
    """Table 2's 27 arm rows as a study table (one arm's adjusted % per row), read and checked."""
    rows = [
        {"study": "DeBar 2025", "year": "2025", "treatment": "", "comparator": "", "outcome": r.outcome,
         "timepoint": str(r.timepoint_months), "arm": r.arm, "arm_measure": "percent", "arm_estimate": str(r.estimate),
         "arm_ci_lower": str(r.ci_lower), "arm_ci_upper": str(r.ci_upper), "source": SOURCE,
         "n_arm": str(r.n_analysed)}
        for r in TABLE2[TABLE2["level"] == "arm"].itertuples()
    ]
    path = tmp_path / "studies.tsv"
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
    return load_studies(path, CONFIG)


def test_rebuilds_all_27_published_rrs(tmp_path):
    """All 27 adjusted RRs of RESOLVE Table 2 from the arms' adjusted % and 95% CIs, within 0.011."""
    studies = table2_arms(tmp_path)
    effects = arm_contrasts(studies, OUTCOMES, MODES).effects
    published = TABLE2[TABLE2["level"] == "contrast"]
    assert len(effects) == len(published) == 27
    worst = 0.0
    for pub in published.itertuples():
        row = effects[
            (effects["outcome"] == pub.outcome)
            & (effects["timepoint_months"] == pub.timepoint_months)
            & (effects["treatment"] == pub.arm)
            & (effects["comparator"] == pub.comparator)
        ]
        assert len(row) == 1
        yi, se = row["yi"].iloc[0], row["se"].iloc[0]
        derived = (math.exp(yi), math.exp(yi - Z * se), math.exp(yi + Z * se))
        for ours, theirs in zip(derived, (pub.estimate, pub.ci_lower, pub.ci_upper)):
            worst = max(worst, abs(ours - theirs))
    assert worst <= 0.011


def test_primary_outcome_matches_notes_addendum(tmp_path):
    """NOTES.md addendum: 1.538 [1.299, 1.822], 1.279 [1.055, 1.550], 1.203 [1.030, 1.405]; UC SE 0.07339."""
    studies = table2_arms(tmp_path)
    result = arm_contrasts(studies, OUTCOMES, MODES)
    first = result.effects.iloc[:3]
    assert list(zip(first["treatment"], first["comparator"])) == [
        ("coach", "online"),
        ("coach", "usual_care"),
        ("online", "usual_care"),
    ]
    rr = np.exp(np.column_stack([first["yi"], first["yi"] - Z * first["se"], first["yi"] + Z * first["se"]]))
    np.testing.assert_allclose(rr, [[1.203, 1.030, 1.405], [1.538, 1.299, 1.822], [1.279, 1.055, 1.550]], atol=5e-4)
    v_uc = ((math.log(24.0) - math.log(18.0)) / (2 * Z)) ** 2
    assert math.sqrt(v_uc) == pytest.approx(0.07339, abs=5e-6)
    assert "Computed, not a published contrast" in first["derivation"].iloc[0]
    assert first["derivation"].iloc[0].startswith("derived from arm-level estimates: log RR = ln(32%) - ln(26.6%)")
    assert list(first["n_treat"]) == [690, 690, 643] and list(first["n_ctrl"]) == [643, 703, 703]
