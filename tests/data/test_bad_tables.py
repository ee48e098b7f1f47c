"""The bad-input corpus: 62 study tables and 8 configs a reviewer could plausibly produce.

Each table in tests/fixtures/bad_tables/ is one spreadsheet mistake (some several at once);
tests/fixtures/bad_tables/expected.yaml lists exactly the problems it must report, each with
spreadsheet line, column and the rule broken, all in one report. A table listed with no problem
(hostile but valid labels) must be accepted with every label unchanged. Each file in
tests/fixtures/bad_configs/ is an override merged onto config.yaml (as ``--configfile`` does)
that breaks one rule of the JSON schema or of the window checks.
"""

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from conftest import REPO
from evsynth.data.config import ConfigError, windows_from_config
from evsynth.data.studies import StudyTableError, load_studies

CORPUS = REPO / "tests" / "fixtures" / "bad_tables"
EXPECTED = yaml.safe_load((CORPUS / "expected.yaml").read_text())
CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def test_corpus_is_complete():
    tables = sorted(p.name for p in CORPUS.iterdir() if p.name != "expected.yaml")
    assert tables == sorted(EXPECTED) and len(tables) >= 40


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED if EXPECTED[n]))
def test_bad_table_reports_every_problem(name):
    with pytest.raises(StudyTableError) as err:
        load_studies(CORPUS / name, CONFIG)
    found = [(p.line, p.column, p.rule) for p in err.value.problems]
    assert [(line, column) for line, column, _ in found] == [(line, column) for line, column, _ in EXPECTED[name]]
    for (_, _, rule), (_, _, words) in zip(found, EXPECTED[name]):
        assert words in rule
    message = str(err.value)
    assert message.startswith(f"The study table has {len(found)} problem(s); nothing was pooled:")
    assert all(p.file == str(CORPUS / name) for p in err.value.problems)


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED if not EXPECTED[n]))
def test_hostile_but_valid_table_is_accepted_unchanged(name):
    raw = pd.read_csv(CORPUS / name, sep="\t", dtype=str, keep_default_na=False)
    studies = load_studies(CORPUS / name, CONFIG)
    assert list(studies["study"]) == list(raw["study"])
    assert "../../x" in set(studies["study"]) and "<script>alert(1)</script> 2011" in set(studies["study"])


def test_bom_is_not_part_of_the_first_column_name():
    with pytest.raises(StudyTableError) as err:
        load_studies(CORPUS / "06_bom_and_bad_value.tsv", CONFIG)
    assert [p.column for p in err.value.problems] == ["events_treat"]  # no "unknown column '\ufeffstudy'"


def _with_override(name: str) -> dict:
    """config.yaml updated by the override file, key by key (Snakemake's --configfile merge)."""
    from snakemake.utils import update_config

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    update_config(config, yaml.safe_load((REPO / "tests" / "fixtures" / "bad_configs" / name).read_text()))
    return config


CONFIG_RULES = {
    "unknown_key.yaml": "methd",
    "misspelt_key.yaml": "profle",
    "alpha_out_of_range.yaml": "0.9",
    "unknown_profile.yaml": "revman6",
    "lowercase_estimator.yaml": "reml",
    "unknown_measure.yaml": "HR",
    "negative_correction.yaml": "-0.5",
    "rho_out_of_range.yaml": "1.0",
    "unknown_moderator_kind.yaml": "ordinal",
    "unknown_figure_format.yaml": "jpg",
    "no_figure_format.yaml": "figures",
}


@pytest.mark.parametrize("name,value", sorted(CONFIG_RULES.items()))
def test_bad_config_is_rejected_by_the_schema(name, value):
    config = _with_override(name)
    with pytest.raises(WorkflowError) as err:
        validate(config, str(SCHEMA))
    assert value in str(err.value)


def test_overlapping_windows_are_rejected():
    config = _with_override("overlapping_windows.yaml")
    validate(config, str(SCHEMA))  # valid shape; the overlap is a rule the schema cannot express
    with pytest.raises(ConfigError, match="overlap"):
        windows_from_config(config)
    assert Path(SCHEMA).is_file()


MESSAGES = json.loads((REPO / "tests" / "data" / "bad_table_messages.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_bad_table_messages_in_full(name):
    """Every problem of the corpus as the reviewer reads it (file, line, column, value, rule),
    word for word: line numbers cited inside a rule ("as line 2"), the values a rule quotes (an
    implied SE, a correlation, a range) and every bound are pinned, not only the words of
    expected.yaml. tests/data/bad_table_messages.json was written from the code once and each
    message checked by hand against its table (e.g. 56: the CI -2.0 to -0.2 implies an SE of
    1.8 / (2 x 1.95996) = 0.4592; 58: (1.8² + 2² - 4.5²) / (2 x 1.8 x 2) = -1.807)."""
    assert sorted(MESSAGES) == sorted(n for n in EXPECTED if EXPECTED[n])
    with pytest.raises(StudyTableError) as err:
        load_studies(CORPUS / name, CONFIG)
    assert [str(dataclasses.replace(p, file=name)) for p in err.value.problems] == MESSAGES[name]
