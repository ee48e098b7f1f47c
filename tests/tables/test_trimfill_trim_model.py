"""The method setting ``pooling.trimfill_trim_model``: which model trim-and-fill estimates the
number of missing studies under in small_study.tsv (evsynth.tables.sensitivity).

dat.bcg (log RR, 13 trials; metafor's escalc("RR", dat.bcg)) is the data set on which the two
rules differ: metafor's ``trimfill(rma(method = "FE"))`` fills 4 trials, its REML trimming 1
(tests/oracle/reference/metapsy_tutorial.R, case ``trimfill_fe_bcg``). The metapsy profile must
trim as R meta's ``trimfill`` does (common effect, metapsyTools' ``correctPublicationBias``),
every other profile as metafor does (under its own estimator)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evsynth.data.config import Outcome, resolve_settings, sensitivity_config
from evsynth.data.hashes import method_hash
from evsynth.reports.methods_text import methods_blocks, to_markdown
from evsynth.stats.profiles import PROFILES
from evsynth.stats.smallstudy import trim_and_fill
from evsynth.tables import sensitivity
from evsynth.tables.sensitivity import analyse_sensitivity
from oracle._oracle import TOL, load

BCG = load("metapsy_tutorial")["trimfill_fe_bcg"]
OUTCOME = Outcome("tb", "Tuberculosis", "RR", False)
SENSITIVITY = sensitivity_config({"small_study_min_k": 10})
COMMON_NOTE = "k0 and side estimated under the common-effect model"


def _studies() -> pd.DataFrame:
    k = len(BCG["yi"])
    return pd.DataFrame({
        "outcome": OUTCOME.id, "timepoint": "post", "treatment": "bcg", "comparator": "none",
        "study": [f"Trial {i + 1}" for i in range(k)], "year": [1940 + i for i in range(k)],
        "yi": BCG["yi"], "vi": BCG["vi"], "estimable": True,
    })


def _tables(pooling: dict) -> dict[str, list[dict]]:
    studies = _studies()
    rows = [{"study": s, "treatment": "bcg", "comparator": "none"} for s in studies["study"]]
    with pytest.MonkeyPatch.context() as patch:
        # The selection models etc. (seconds of optimisation) do not trim: left out for speed.
        patch.setattr(sensitivity, "adjusted_records", lambda *args, **kwargs: [])
        return analyse_sensitivity(studies, rows, OUTCOME, resolve_settings(pooling), SENSITIVITY, "post")


def _trim_row(tables: dict[str, list[dict]]) -> dict:
    (row,) = [r for r in tables["small_study"] if r["test"] == "trim_and_fill"]
    return row


def test_profiles_name_their_trimming_model():
    assert PROFILES["metapsy"].trimfill_trim_model == "common"
    assert {name: p.trimfill_trim_model for name, p in PROFILES.items() if name != "metapsy"} == {
        name: "analysis" for name in PROFILES if name != "metapsy"
    }


def test_metapsy_profile_trims_under_the_common_effect_model():
    tables = _tables({"profile": "metapsy", "alpha": 0.05})
    row = _trim_row(tables)
    # metafor: trimfill(rma(yi, vi, method = "FE")) on dat.bcg.
    assert (row["k0"], row["side"], row["k_filled"]) == (BCG["k0"], BCG["side"], 13 + BCG["k0"]) == (4, "right", 17)
    filled = sorted((r["yi"], r["se"] ** 2) for r in tables["funnel"] if r["filled"])
    expected = sorted(zip(BCG["filled_yi"], BCG["filled_vi"]))
    assert np.allclose(filled, expected, rtol=TOL["rel"], atol=0)
    assert COMMON_NOTE in row["note"]
    # The filled-in studies are pooled as the analysis is (REML, Hartung-Knapp), not as FE.
    pooled = trim_and_fill(BCG["yi"], BCG["vi"], estimator="REML", ci_method="hksj", trim_estimator="FE").pooled
    assert (row["theta"], np.log(row["ci_lower"]), np.log(row["ci_upper"]), row["stat_df"]) == pytest.approx(
        (pooled.theta, pooled.ci_lower, pooled.ci_upper, 16), rel=1e-12)  # RR: the table's CI is exp()


@pytest.mark.parametrize("pooling", [
    {"profile": "cochrane-2025", "alpha": 0.05},
    {"profile": "metafor", "alpha": 0.05},
    {"profile": "metapsy", "alpha": 0.05, "trimfill_trim_model": "analysis"},
])
def test_other_profiles_trim_under_their_own_estimator(pooling):
    row = _trim_row(_tables(pooling))
    # metafor: trimfill(rma(yi, vi, method = "REML")) on dat.bcg.
    assert (row["k0"], row["side"]) == (BCG["reml_k0"], BCG["reml_side"]) == (1, "right")
    assert COMMON_NOTE not in row["note"]
    assert row["note"] == "Duval & Tweedie 2000, L0 estimator; theta = estimate with k0 filled studies"


def test_override_is_named_and_common_trimming_is_hashed():
    settings = resolve_settings({"profile": "cochrane-2025", "alpha": 0.05, "trimfill_trim_model": "common"})
    assert settings.trimfill_trim_model == "common"
    assert settings.label == "cochrane-2025 (trimfill_trim_model=common)"
    assert _trim_row(_tables({"profile": "cochrane-2025", "alpha": 0.05, "trimfill_trim_model": "common"}))["k0"] == 4
    default = resolve_settings({"profile": "cochrane-2025", "alpha": 0.05}).as_dict()
    assert method_hash(settings.as_dict(), 0.5) != method_hash(default, 0.5)
    # A setting added later is hashed only off its old behaviour: configs made before it keep
    # their method hash (the frozen baselines' provenance).
    before = {k: v for k, v in default.items() if k not in ("subgroup_se", "trimfill_trim_model")}
    assert method_hash(default, 0.5) == method_hash(before, 0.5)


def test_methods_text_names_common_effect_trimming_only_when_used():
    def text(profile: str) -> str:
        blocks = methods_blocks(PROFILES[profile].as_dict(), {OUTCOME.id: OUTCOME.as_dict()}, {}, 0.5, {}, [], None)
        return to_markdown(blocks)

    assert "trim-and-fill (Duval & Tweedie 2000) (the number of missing trials estimated under the common-effect " \
           "model (Peters et al. 2007)" in text("metapsy")
    assert "Peters JL" in text("metapsy")
    assert "common-effect model" not in text("cochrane-2025") and "Peters JL" not in text("cochrane-2025")
