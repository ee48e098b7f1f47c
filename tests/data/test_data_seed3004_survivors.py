"""Data-layer behaviour the seed-3004 mutation sample (mutation/report-seed3004.md) found
untested: what compute_all_effects returns (nothing but its two parts), the SE-against-CI check at
the lowest CI level the table allows, a reported effect of exactly 0 with a p-value or t statistic
(no SE, never a zero variance), the file line of the first Metapsy record, and a Metapsy map's
``extra`` columns that are not ``extra_`` columns or that the importer writes itself.

The rows are rule fixtures, not data: they never enter a study table."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from conftest import REPO
from data.test_data_rules_exact import EFFECT_OUTCOMES, MEANS, MODES, _arm
from data.test_metapsy import MODES as METAPSY_MODES
from data.test_metapsy import OUTCOMES as METAPSY_OUTCOMES
from data.test_validate_boundaries import CONFIG, OUTCOMES, ROWS, WINDOWS
from evsynth.data.contrasts import arm_contrasts, compute_all_effects, compute_effects
from evsynth.data.metapsy import read_metapsy
from evsynth.data.metapsy_map import MetapsyMapError, load_map
from evsynth.data.validate import check_row


def _check(form: str, **cells) -> tuple[list[tuple[str, str, str]], dict]:
    found, values = check_row({**ROWS[form], **cells}, 7, "t.tsv", CONFIG, OUTCOMES, WINDOWS)
    return [(p.column, p.value, p.rule) for p in found], values


# --- compute_all_effects: compute_effects of the other rows, then the arm contrasts, nothing more -------------
def test_all_effects_are_the_two_parts_and_carry_no_column_of_the_input_index():
    """Kills data/contrasts.py:492:48:1728 (``reset_index(drop=True)`` -> ``drop=False``, which adds
    the input frame's index as a column ``index``). A pooling job passes a filtered frame (here
    index 7, 3, 5): the result is exactly compute_effects of its non-arm rows followed by the arm
    contrasts, renumbered from 0, with no column beyond those of the two parts."""
    rows = pd.DataFrame([{**MEANS, "outcome": "md"}, _arm("coach", 2.0, 1.0, 3.0), _arm("usual_care", 3.0, 2.2, 3.8)],
                        index=[7, 3, 5])
    expected = pd.concat([compute_effects(rows.iloc[:1], EFFECT_OUTCOMES),
                          arm_contrasts(rows.iloc[1:], EFFECT_OUTCOMES, MODES).effects], ignore_index=True)
    got = compute_all_effects(rows, EFFECT_OUTCOMES, MODES)
    pd.testing.assert_frame_equal(got, expected)
    for part in (rows.iloc[:1], rows.iloc[1:]):  # either part alone, as an analysis of one form passes it
        assert "index" not in compute_all_effects(part, EFFECT_OUTCOMES, MODES).columns


# --- an SE beside a CI: checked at every level the table allows, 50% included ---------------------------------
# The 50% CI -0.7 to -0.1 implies an SE of 0.6 / (2 x 0.67449) = 0.4448; the 95% one 0.1531.
SE_50 = ("se", "0.1531", "disagrees with the CI beside it, which implies an SE of 0.4448 (more than 10% apart); "
                         "check both, keep the one the source reports")


@pytest.mark.parametrize(("level", "se", "expected"), [
    ("50", "0.4448", []), ("50", "0.1531", [SE_50]),  # the lowest allowed level is checked, not skipped
    ("95", "0.1531", []),
    ("49", "0.1531", [("ci_level", "49", "must be a percentage between 50 and 100, e.g. 95")]),  # refused instead
])
def test_an_se_is_checked_against_a_ci_at_the_lowest_allowed_level(level, se, expected):
    """Kills data/conversions.py:332:11:1345 (``50 <= level`` -> ``51 <= level``: a 50% CI, which
    the table accepts, would no longer be compared with the SE beside it, so a 95%-CI SE typed
    next to a 50% CI would pass silently)."""
    assert _check("contrast", ci_level=level, se=se)[0] == expected


# --- an effect of exactly 0 with a p-value or t statistic: no SE, so not estimable ------------------------------
NO_SE = "no SE (an estimate of no effect, p = 1 or t = 0), so not estimable"


@pytest.mark.parametrize(("cells", "detail"), [
    ({"p_value": "0.6"}, "SE 0 = |SMD 0| / z quantile of p = 0.6 (two-sided)"),
    ({"t_stat": "0.5"}, "SE 0 = |SMD 0 / t 0.5|"),
])
def test_an_effect_of_zero_gives_no_se_and_is_not_pooled(cells, detail):
    """Kills data/conversions.py:364:47:1447 (``se > 0`` -> ``se >= 0``). A contrast reported as
    0 (e.g. rounded) with a p-value or t statistic gives |0| / quantile = 0: no SE can be recovered
    (Cochrane Handbook v6.5 §6.3.2), so the row is not estimable; an SE of 0 would give the trial
    a variance of 0, an infinite weight in every pooled analysis."""
    problems, values = _check("contrast", effect="0", ci_lower="", ci_upper="", **cells)
    assert problems == []
    assert values["se"] is None
    assert values["conversion_detail"].startswith(f"{detail}: {NO_SE} (Cochrane Handbook v6.5 §6.3.2")
    row = {**ROWS["contrast"], **values, "form": "contrast"}
    (effect,) = compute_effects([row], OUTCOMES).to_dict("records")
    assert not effect["estimable"]
    assert effect["derivation"].startswith("not estimable: reported SMD without arm sizes, CI or SE; ")


# --- read_metapsy: the file line of every record, the first one included -------------------------------------
DATA = '"";"study";"g"\n"1";"A, 2019";0,5\n"2";"B, 2020";"0,7"\n'


def test_the_first_metapsy_record_is_on_file_line_2(tmp_path):
    """Kills data/metapsy.py:97:28:1220 (``reader.line_num + 1`` -> ``- 1``: the first record on
    line 0). The header is line 1, so records are on lines 2 and 3, and a short first record is
    reported on line 2, where an editor shows it."""
    path = tmp_path / "data.csv"
    path.write_text(DATA, encoding="utf-8")
    assert [line for line, _ in read_metapsy(path)] == [2, 3]
    path.write_text(DATA.replace('"1";"A, 2019";0,5', '"1";"A, 2019"'), encoding="utf-8")
    with pytest.raises(ValueError, match=r"data\.csv, line 2: 2 cells, the header has 3$"):
        read_metapsy(path)


# --- a Metapsy map's extra columns: extra_ columns the importer does not write itself ----------------------------
def test_a_map_extra_column_must_be_an_extra_column_the_importer_does_not_write(tmp_path):
    """Kills data/metapsy_map.py:158:46:836 (``not v.startswith("extra_") or v in reserved`` ->
    ``and``, which refuses nothing). docs/metapsy.md: ``extra`` copies a database column to a
    study-table ``extra_`` column; one without the prefix, and one the importer fills itself
    (``extra_therapy``), are each reported; ``extra_rob_score`` is accepted."""
    raw = yaml.safe_load((REPO / "examples" / "metapsy" / "chronic_pain_map.yaml").read_text(encoding="utf-8"))
    raw["extra"] = {"rob": "extra_rob_score", "country": "country", "format": "extra_therapy"}
    path = tmp_path / "map.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(MetapsyMapError) as err:
        load_map(path, METAPSY_OUTCOMES, METAPSY_MODES)
    assert err.value.problems == [f"extra: '{k}' -> '{v}' must name a study-table column starting with 'extra_'"
                                  for k, v in (("country", "country"), ("format", "extra_therapy"))]
    raw["extra"] = {"rob": "extra_rob_score"}
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    assert load_map(path, METAPSY_OUTCOMES, METAPSY_MODES).extra == {"rob": "extra_rob_score"}
