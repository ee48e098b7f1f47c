"""Method profiles, per-setting overrides, the RevMan SMD formula and the robustness table."""

import numpy as np
import pytest

from conftest import as_array, normand_rows
from evsynth.data.config import Outcome, resolve_settings
from evsynth.stats.escalc import from_means
from evsynth.stats.profiles import PROFILES, settings_from_dict
from evsynth.tables.pooled import robustness_records


def test_default_profile_is_cochrane_2025():
    settings = resolve_settings({"profile": "cochrane-2025", "alpha": 0.05})
    assert (settings.estimator, settings.ci_method, settings.prediction_interval, settings.i2, settings.tau2_ci) == (
        "REML", "hksj", "t_k-1", "tau2", "qprofile")
    assert settings.label == "cochrane-2025"


def test_override_on_top_of_profile_is_named_in_the_label():
    settings = resolve_settings({"profile": "revman5", "alpha": 0.1, "estimator": "REML", "ci_method": "wald"})
    assert settings.estimator == "REML" and settings.alpha == 0.1
    assert settings.overridden == ("estimator",)  # wald is revman5's own choice: no override
    assert settings.label == "revman5 (estimator=REML)"
    assert settings_from_dict(settings.as_dict()) == settings


def test_revman_smd_variance_dat_normand1999(metafor):
    """anchors.md c.7 (RevMan column: J = 1-3/(4N-9), var = N/(n1n2) + g²/(2(N-3.94))):
    Edinburgh 0.0130673, Orpington-Moderate 0.0463223, Orpington-Severe 0.1667050, Montreal-Home 0.2062448."""
    i = metafor["normand_smd_dl_z"]["inputs"]
    _, v = from_means("SMD", i["m1i"], i["sd1i"], i["n1i"], i["m2i"], i["sd2i"], i["n2i"], smd_variance="revman")
    assert v[[0, 2, 3, 4]] == pytest.approx([0.0130673, 0.0463223, 0.1667050, 0.2062448], rel=1e-5)


def test_robustness_flags_the_normand_conclusion_flip(metafor):
    """anchors.md c.7: on dat.normand1999 SMD the DL-Wald CI excludes 0 but REML-HKSJ does not."""
    rows = normand_rows(metafor)
    outcome = Outcome("los", "Length of stay", "SMD", higher_is_better=False)
    records = robustness_records(rows, outcome, ["coach", "usual_care"], PROFILES["cochrane-2025"], 0.5, "post")
    verdict = {r["profile"]: (r["ci_excludes_no_effect"], r["conclusion_differs_from_chosen"]) for r in records}
    assert verdict == {
        "cochrane-2025": (False, False), "revman5": (True, True), "metafor": (False, False),
        # Orpington-Moderate is both an outlier and influential (metafor_exclusion.json).
        "cochrane-2025, excluding outliers": (False, False),
        "cochrane-2025, excluding influential trials": (False, False),
    }
    cochrane = next(r for r in records if r["chosen"])
    expected = metafor["normand_smd_reml_knha"]["outputs"]
    assert cochrane["estimate"] == pytest.approx(expected["beta"], rel=1e-6)
    assert np.isfinite(as_array([cochrane["pi_lower"], cochrane["pi_upper"]])).all()
