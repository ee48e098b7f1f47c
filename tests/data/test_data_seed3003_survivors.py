"""Data-layer behaviour the seed-3003 mutation sample (mutation/report-seed3003.md) found
untested: a rule's boundary value (a mean cluster size of exactly 1), the code default of a
config key against its schema default, every malformed map rule reported (not a crash), the
identifying fields of every reconciliation cell, the line of a problem when no line is known;
and the documented input order of arm contrasts (next to the survivor there, an equivalent one)."""

from __future__ import annotations

import pytest
import yaml

from conftest import REPO
from data.test_contrasts import CONFIG, MODES, OUTCOMES, resolve_rows, write
from data.test_metapsy import DATABASES
from data.test_metapsy import MODES as METAPSY_MODES
from data.test_metapsy import OUTCOMES as METAPSY_OUTCOMES
from data.test_reconcile import CONFIG as RECONCILE_CONFIG
from data.test_reconcile import NAMES, edit, shipped
from data.test_screening import FIXTURES, REASONS, TABLE
from evsynth.data.bayes_config import bayes_settings
from evsynth.data.clusters import check_cluster
from evsynth.data.contrasts import arm_contrasts
from evsynth.data.metapsy_map import MetapsyMapError, load_map
from evsynth.data.prisma_counts import ScreeningError
from evsynth.data.reconcile import reconcile_tables
from evsynth.data.screening import load_screening
from evsynth.data.studies import load_studies


def test_arm_contrasts_keep_the_input_order_of_study_outcome_and_timepoint(tmp_path):
    """RESOLVE's arm rows (DeBar 2025, JAMA, doi:10.1001/jama.2025.11178, Table 2) with the
    groups written last first: the contrasts come out group by group in input order, not sorted."""
    rows = resolve_rows()
    groups = list(dict.fromkeys((r["outcome"], r["timepoint"]) for r in rows))
    assert len(groups) > 2 and groups != sorted(groups)
    for ordered in (groups, groups[::-1]):
        table = [r for g in ordered for r in rows if (r["outcome"], r["timepoint"]) == g]
        effects = arm_contrasts(load_studies(write(tmp_path, table), CONFIG), OUTCOMES, MODES).effects
        got = list(dict.fromkeys(zip(effects["outcome"], effects["timepoint"].astype(str))))
        assert got == ordered


@pytest.mark.parametrize(("size", "ok"), [(1.0, True), (1.5, True), (0.99, False)])
def test_mean_cluster_size_of_one_is_allowed(size, ok):
    """A mean cluster size must be at least 1 (a design effect 1 + (m - 1) ICC >= 1): 1 and 1.5
    pass, 0.99 is refused, on a contrast row with its ICC."""
    found = []
    row = {"outcome": "pain_severity_response", "cluster_size": str(size), "icc": "0.05"}
    check_cluster(row, {"cluster_size": size, "icc": 0.05}, "contrast", CONFIG, lambda c, rule: found.append((c, rule)))
    assert (found == []) == ok
    if not ok:
        assert found == [("cluster_size", "a mean cluster size must be at least 1")]


def test_bayes_forest_row_defaults_as_the_schema_says():
    """``bayes.forest_row`` left out: the code's default is the schema's (true), also when the
    bayes section is missing altogether."""
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    default = schema["properties"]["bayes"]["properties"]["forest_row"]["default"]
    assert default is True
    for raw in ({}, {"bayes": {}}, {"bayes": {"mu_prior_sd": 10}}):
        assert bayes_settings(raw, "pain_severity_response", "RR").forest_row is default


def test_map_rules_that_are_not_mappings_or_lack_a_when_mapping_are_each_reported(tmp_path):
    """A Metapsy map's treatment rules: a bare string, a rule whose ``when`` is not a mapping, and
    one without ``when`` are each reported by number (every problem at once), not a crash."""
    raw = yaml.safe_load((REPO / "examples" / "metapsy" / DATABASES["depression-psyctr"][0]).read_text())
    raw["treatment"] = ["cbt", {"when": "format", "mode": "coach"}, {"mode": "coach"}] + list(raw["treatment"])
    path = tmp_path / "map.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(MetapsyMapError) as err:
        load_map(path, METAPSY_OUTCOMES, METAPSY_MODES)
    assert err.value.problems == [f"treatment rule {i}: needs 'when: {{column: [values]}}'" for i in (1, 2, 3)]


def test_reconciled_cells_name_their_rows_study_outcome_and_timepoint():
    """Every cell of the reconciliation record (results/reconciliation) carries its row's own
    study, outcome and timepoint as the table has them (shipped rows: interference SMDs and
    RESOLVE's 3-month arm rows), agreed and disagreeing cells alike."""
    a = shipped()
    b = edit(a, "DeBar 2025", "arm_estimate", "33.0", arm="coach")
    result = reconcile_tables(a, b, None, NAMES, RECONCILE_CONFIG)
    rows = {(r.study, r.outcome, r.timepoint) for r in a.itertuples()}
    assert {c["outcome"] for c in result.cells} == set(a["outcome"])
    assert all((c["study"], c["outcome"], c["timepoint"]) in rows for c in result.cells)
    assert any(c["settled"] != "agreed" for c in result.cells)


def test_a_table_study_missing_from_the_log_has_its_line_or_none():
    """The shipped good screening log with one more study in the table than it includes: the
    problem gives that study's first table line when the lines are known, else line 0 (no line;
    line 1 is the header, which would point at the wrong row)."""
    log = FIXTURES / "screening" / "good_log.tsv"
    extra = "Nobody 2030"
    for studies, line in ([*TABLE, extra], 0), ({**{s: 2 + i for i, s in enumerate(TABLE)}, extra: 40}, 40):
        with pytest.raises(ScreeningError) as err:
            load_screening(log, REASONS, studies, "studies.tsv")
        assert [(p.file, p.line, p.column, p.value) for p in err.value.problems] == [
            ("studies.tsv", line, "study", extra)]
