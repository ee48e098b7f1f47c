"""config.yaml: bayes and sensitivity.selection_cut_points: each bad value in
tests/fixtures/bad_configs/ passes the schema and is refused by load_config with a message
naming the config key, the value and the rule."""

from pathlib import Path

import pytest
import yaml
from snakemake.utils import update_config, validate

from conftest import REPO
from evsynth.data.bayes_config import bayes_settings
from evsynth.data.config import ConfigError, load_config

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
BAD = REPO / "tests" / "fixtures" / "bad_configs"

EXPECTED = {
    "bayes_scale_not_positive.yaml": "config.yaml: bayes.priors.depression.scale = 0: a prior scale must be a number "
    "above 0",
    "bayes_unknown_prior.yaml": "config.yaml: bayes.default.prior = 'half-student': unknown prior; one of half-normal, "
    "half-cauchy, turner2015, rhodes2015",
    "bayes_prior_for_other_measure.yaml": "config.yaml: bayes.priors.bpi_pain_severity: prior 'rhodes2015' is defined "
    "for SMD only, not MD",
    "selection_cut_points_out_of_range.yaml": "config.yaml: sensitivity.selection_cut_points = [0.025, 1.5]: every cut "
    "point is a one-sided p-value strictly between 0 and 1",
    "selection_cut_points_unsorted.yaml": "config.yaml: sensitivity.selection_cut_points = [0.5, 0.025]: give the cut "
    "points in increasing order",
}


def _config(name: str | None = None) -> dict:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    if name:
        update_config(config, yaml.safe_load((BAD / name).read_text()))
    validate(config, str(SCHEMA))
    return config


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_bayes_and_selection_settings_name_their_key(name):
    with pytest.raises(ConfigError) as err:
        load_config(_config(name))
    assert EXPECTED[name] in str(err.value)


def test_the_shipped_config_resolves_a_prior_or_a_reason_for_every_outcome():
    config = _config()
    load_config(config)
    for oid, spec in config["outcomes"].items():
        settings = bayes_settings(config, oid, spec["measure"])
        assert settings.prior is not None
        if spec["measure"] == "MD":  # the outcome's own units: UISD / 4, resolved from the trials
            assert settings.uisd_multiple == 0.25 and settings.prior["scale"] is None
        else:
            assert settings.uisd_multiple is None
    pain = bayes_settings(config, "pain_severity_response", "RR")
    assert (pain.prior["family"], pain.prior["location"], pain.prior["scale"]) == ("log-normal", -2.05, 1.71)
    assert pain.mid == 1.25


def test_every_fixture_is_tested():
    names = {p.name for p in Path(BAD).iterdir() if p.name.startswith(("bayes_", "selection_"))}
    assert names == set(EXPECTED)
