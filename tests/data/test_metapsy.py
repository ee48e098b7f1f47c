"""The Metapsy importer and exporter (evsynth.data.metapsy, evsynth.metapsy).

Reads the three Metapsy databases from ../shared/external/metapsy when that folder is there;
otherwise hand-made records in the databases' own format, holding real cells of those
databases (cited per row below), so the tests never skip. SMDs are pinned to metafor's
``escalc("SMD")`` (tests/oracle/data/metafor_metapsy.json, written by
tests/oracle/reference/metafor_metapsy.R) at ``TOL["escalc_rel"]``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from evsynth import metapsy as cli
from evsynth.data.config import outcomes_from_config, windows_from_config
from evsynth.data.metapsy import (
    MetapsyMapError,
    import_rows,
    load_map,
    metapsy_number,
    read_metapsy,
)
from evsynth.data.metapsy_export import export_rows, write_metapsy
from evsynth.data.studies import load_studies
from evsynth.stats.escalc import from_means
from oracle._oracle import TOL, load

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "external" / "metapsy"
CONFIG = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
OUTCOMES = {k: o.higher_is_better for k, o in outcomes_from_config(CONFIG).items()}
MODES = list(CONFIG["modes"])
WINDOWS = windows_from_config(CONFIG)
# escalc(measure="SMD", m1i, sd1i, n1i, m2i, sd2i, n2i) on the imported rows (metafor 3.8).
FIXTURE = load("metafor_metapsy")

# Hand-made records: real cells of the databases (row = the database's own row number).
# Bodily distress v25.0.1 (doi:10.5281/zenodo.17405019): rows 1 (Alda 2011, face to face),
# 109 (Friesen 2017 BPI), 113 (Friesen GAD-7), 115 (Friesen FIQ, stored negated, no RoB),
# 198 (Kristjansdottir VAS, label cut short in the database).
BODILY = (
    '"";"study";"condition_arm1";"condition_arm2";"multi_arm1";"outcome_type";"instrument";"time";'
    '"time_weeks";"mean_arm1";"mean_arm2";"sd_arm1";"sd_arm2";"n_arm1";"n_arm2";"outcome_domain";".g";'
    '"d1";"d2";"d3";"d4";"d5";"rob";"guidance";"internet_based";"diagnosis_which"\n'
    '"1";"Alda, 2011";"cbt";"tau";NA;"msd";"vas";"post";10;"36,88";"64,72";"8,29";"7,48";49;46;"som";'
    '"-3,491827832";"low";"low";"low";"high";"some concerns";"high";"psy";"no";"fm"\n'
    '"109";"Friesen, 2017";"cbt";"wl";NA;"msd";"bpi";"post";8;"4,99";"6,28";"1,66";"1,28";30;30;"som";'
    '"-0,859008673";"low";"low";"low";"high";"some concerns";"high";"para";"internet";"fm"\n'
    '"113";"Friesen, 2017";"cbt";"wl";NA;"msd";"gad-7";"post";8;"7,83";"9,98";"5,7";"5,15";30;30;"anx";'
    '"-0,390664833";"low";"low";"low";"high";"some concerns";"high";"para";"internet";"fm"\n'
    '"115";"Friesen, 2017";"cbt";"wl";NA;"msd";"fiq";"post";8;"-53,39";"-64,59";"18,94";"12,75";30;30;'
    '"phs";"0,684727571";NA;NA;NA;NA;NA;NA;"para";"internet";"fm"\n'
    '"198";"Kristjansdottir, ...";"cbt+ambt";"wl";NA;"msd";"vas";"post";4;"54,14";"50,56";"24,06";'
    '"23,37";47;40;"som";"0,149428677";"some concerns";"low";"low";"high";"some concerns";"high";'
    '"self-guided";"app";"cwp"\n'
)
# Depression psy vs ctr v24.0.2 (doi:10.5281/zenodo.7254845): rows 1 (Aagaard 2017, group),
# 84 (Buhrman 2015, time_weeks 0), 638 (Sander 2020); the reference cell spans two lines; the
# RoB 1 items sg, ac, ba, itt and the summary rob as the database gives them.
DEPRESSION = (
    '"";"study";"condition_arm1";"condition_arm2";".g";"instrument";"mean_arm1";"sd_arm1";"n_arm1";'
    '"mean_arm2";"sd_arm2";"n_arm2";"year";"time_weeks";"time";"format";"target_group";"sg";"ac";"ba";"itt";'
    '"rob";"full_ref"\n'
    '"1";"Aagaard, 2017";"cbt";"cau";0;"bdi-1";17,5;12,6;40;17,5;12,4;35;2017;26;"post";"grp";"adul";1;1;"sr";0;'
    '3;"Aagaard J et al.\n'
    'Nord J Psychiatry 2017"\n'
    '"84";"Buhrman, 2015";"cbt";"wl";0,297000435209749;"madrs-s";15,77;7,79;28;17,95;6,51;24;2015;0;'
    '"post";"gsh";"med";1;1;"sr";1;4;"Buhrman M et al."\n'
    '"638";"Sander, 2020";"cbt";"cau";0,42284428693507;"phq-9";6,28;3,45;149;7,86;3,99;146;2020;9;"post";'
    '"gsh";"med";1;1;"sr";1;4;"Sander LB et al."\n'
)
# Self-guided v24.0.3 (doi:10.5281/zenodo.12705748): rows 261 and 263 (O'Moore 2018); the
# bl_* columns use a decimal point in this database.
SELFGUIDED = (
    '"";"study";"condition_arm1";"condition_arm2";".g";"outcome_domain";"time";"time_weeks";"instrument";'
    '"mean_arm1";"mean_arm2";"sd_arm1";"sd_arm2";"n_arm1";"n_arm2";"bl_mean_arm1";"format_unguided";'
    '"support_unguided";"target_group";"domain.1";"domain.2";"domain.3";"domain.4";"domain.5";"overall"\n'
    '"261";"O\'Moore, 2018";"cbt";"cau";1,00777225280665;"depression";"post";11;"PHQ-9";7,65;12,46;4,73;'
    '4,7;44;25;"13.95";"internet";"pure";"med";"Some concerns";"Low risk";"Some concerns";"Low risk";'
    '"Low risk";"Some concerns"\n'
    '"263";"O\'Moore, 2018";"cbt";"cau";0,703812840340078;"QoL";"post";11;"SF-12 MSC";43,67;36,53;10,02;'
    '10,05;44;25;"33.49";"internet";"pure";"med";"Some concerns";"Low risk";"Some concerns";"Low risk";'
    '"Low risk";"Some concerns"\n'
)
DATABASES = {
    "bodily-distress-psyctr": ("chronic_pain_map.yaml", BODILY),
    "depression-psyctr": ("chronic_pain_depression_map.yaml", DEPRESSION),
    "depression-selfguided-psyctr": ("chronic_pain_selfguided_map.yaml", SELFGUIDED),
}


def data_file(database: str, tmp_path: Path) -> Path:
    shared = SHARED / f"data-{database}" / "data.csv"
    if shared.is_file():
        return shared
    path = tmp_path / f"{database}.csv"
    path.write_text(DATABASES[database][1], encoding="utf-8")
    return path


def mapping(database: str):
    return load_map(REPO / "examples" / "metapsy" / DATABASES[database][0], OUTCOMES, MODES)


def run_import(database: str, tmp_path: Path):
    records = read_metapsy(data_file(database, tmp_path))
    return records, import_rows(records, mapping(database), OUTCOMES, WINDOWS)


def test_numbers_in_both_decimal_styles():
    assert metapsy_number("-0,551649") == -0.551649
    assert metapsy_number("15.46") == 15.46
    assert metapsy_number("NA") is None and metapsy_number("") is None
    with pytest.raises(ValueError):
        metapsy_number("7,5skills")


@pytest.mark.parametrize("database", sorted(DATABASES))
def test_every_row_is_imported_or_listed_with_a_reason(database, tmp_path):
    records, result = run_import(database, tmp_path)
    assert len(result.rows) + len(result.skipped) == len(records) > 0
    assert all(s["reason"] for s in result.skipped)
    lines = [s["line"] for s in result.skipped]
    assert len(set(lines)) == len(lines)
    assert result.rows and all("doi:10.5281/zenodo." in r["source"] for r in result.rows)


@pytest.mark.parametrize("database", sorted(DATABASES))
def test_imported_smd_equals_metafor_escalc(database, tmp_path):
    _, result = run_import(database, tmp_path)
    cases = {(c["study"], c["outcome"], c["timepoint"]): c for c in FIXTURE if c["database"] == database}
    for row in result.rows:
        case = cases.pop((row["study"], row["outcome"], row["timepoint"]))
        arms = [float(row[c]) for c in ("mean_treat", "sd_treat", "n_treat", "mean_ctrl", "sd_ctrl", "n_ctrl")]
        assert arms == [case[k] for k in ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i")]
        yi, vi = from_means("SMD", *arms)
        np.testing.assert_allclose([yi, vi], [case["yi"], case["vi"]], rtol=TOL["escalc_rel"])
    if (SHARED / f"data-{database}").is_dir():
        assert cases == {}, "every fixture row is imported from the real database"


@pytest.mark.parametrize(
    ("database", "study", "outcome", "timepoint"),
    [
        # BPI severity 4.99 vs 6.28 (lower = less pain): CBT better, Metapsy .g -0.86 (arm 1 - arm 2).
        ("bodily-distress-psyctr", "Friesen 2017", "pain_intensity", "8w"),
        # FIQ stored negated (-53.39 vs -64.59, .g +0.68): on FIQ's own scale CBT is lower, so better.
        ("bodily-distress-psyctr", "Friesen 2017", "pain_interference", "8w"),
        # PHQ-9 6.28 vs 7.86, Metapsy .g +0.42 (benefit positive).
        ("depression-psyctr", "Sander 2020", "depression", "9w"),
        # PHQ-9 7.65 vs 12.46, Metapsy .g +1.01 (benefit positive).
        ("depression-selfguided-psyctr", "O'Moore 2018", "depression", "11w"),
    ],
)
def test_sign_favours_the_arm_the_database_says(database, study, outcome, timepoint, tmp_path):
    _, result = run_import(database, tmp_path)
    (index,) = [i for i, r in enumerate(result.rows) if (r["study"], r["outcome"], r["timepoint"]) ==
                (study, outcome, timepoint)]
    row, check = result.rows[index], result.g_checks[index]
    g = float(from_means("SMD", *(float(row[c]) for c in ("mean_treat", "sd_treat", "n_treat", "mean_ctrl",
                                                             "sd_ctrl", "n_ctrl")))[0])
    assert not OUTCOMES[outcome] and g < -0.1  # lower is better on all four: negative favours CBT
    assert check["agrees"] and check["g_metapsy_same_convention"] is not None


@pytest.mark.parametrize("database", sorted(DATABASES))
def test_every_imported_g_agrees_with_metapsy(database, tmp_path):
    _, result = run_import(database, tmp_path)
    assert [c for c in result.g_checks if not c["agrees"]] == []


def test_fiq_is_turned_back_and_rob_is_carried(tmp_path):
    _, result = run_import("bodily-distress-psyctr", tmp_path)
    rows = {(r["study"], r["outcome"], r["timepoint"]): r for r in result.rows}
    fiq = rows[("Friesen 2017", "pain_interference", "8w")]
    assert (fiq["mean_treat"], fiq["mean_ctrl"]) == ("53.39", "64.59")
    # NA in the database for the FIQ row: the trial's one set of judgements, noted.
    assert [fiq[c] for c in ("rob_d4", "rob_d5", "rob_overall")] == ["high", "some concerns", "high"]
    assert "every other judged result" in fiq["notes"]
    kristjansdottir = rows[("Kristjansdottir 2013", "pain_intensity", "4w")]
    assert kristjansdottir["treatment"] == "coach" and kristjansdottir["extra_therapy"] == "cbt+acceptance"
    assert "10.2196/jmir.2249" in kristjansdottir["source"]


def test_rob1_items_are_carried_as_rated_never_as_rob2(tmp_path):
    _, result = run_import("depression-psyctr", tmp_path)
    sander = next(r for r in result.rows if r["study"] == "Sander 2020")
    assert [sander[c] for c in ("rob1_sg", "rob1_ac", "rob1_ba", "rob1_itt")] == ["low", "low", "self-report", "low"]
    assert not any(sander[c] for c in ("rob_d1", "rob_d2", "rob_d3", "rob_d4", "rob_d5", "rob_overall"))
    assert "RoB 1 items as the database codes them (sg 1, ac 1, ba sr, itt 1; its summary rob = 4)" in sander["notes"]


def test_a_rob1_code_the_map_does_not_give_is_listed_not_guessed(tmp_path):
    path = tmp_path / "dep.csv"
    path.write_text(DEPRESSION.replace(';1;1;"sr";1;4;"Sander', ';1;1;2;1;4;"Sander'), encoding="utf-8")
    result = import_rows(read_metapsy(path), mapping("depression-psyctr"), OUTCOMES, WINDOWS)
    reasons = {s["row"]: s["reason"] for s in result.skipped}
    assert "RoB 1 codes not in the map's rob1 values" in reasons["638"] and "'rob1_ba': '2'" in reasons["638"]


def test_rows_not_mapped_say_why(tmp_path):
    path = tmp_path / "bd.csv"
    path.write_text(BODILY, encoding="utf-8")
    result = import_rows(read_metapsy(path), mapping("bodily-distress-psyctr"), OUTCOMES, WINDOWS)
    reasons = {s["row"]: s["reason"] for s in result.skipped}
    assert reasons["1"] == "not selected by the map: internet_based = 'no'"
    assert "anxiety" in reasons["113"]


def test_importer_output_passes_the_study_table_check(tmp_path):
    rows = []
    for database in DATABASES:
        rows += run_import(database, tmp_path)[1].rows
    out = tmp_path / "imported.tsv"
    from evsynth.data.io import write_tsv
    from evsynth.data.metapsy import IMPORT_COLUMNS

    write_tsv(rows, IMPORT_COLUMNS, out)
    assert len(load_studies(out, CONFIG)) == len(rows)


def test_a_later_row_in_the_same_window_is_kept_out(tmp_path):
    text = BODILY.splitlines()
    later = text[2].replace('"109"', '"110"').replace(';"post";8;', ';"follow up";12;')
    path = tmp_path / "bd.csv"
    path.write_text("\n".join([*text, later]) + "\n", encoding="utf-8")
    result = import_rows(read_metapsy(path), mapping("bodily-distress-psyctr"), OUTCOMES, WINDOWS)
    rows = {r["timepoint"]: r for r in result.rows if r["outcome"] == "pain_intensity" and r["study"] == "Friesen 2017"}
    assert rows["8w"]["include"] == "yes" and rows["12w"]["include"] == "no"
    assert rows["12w"]["exclusion_reason"] == "second measurement in the post window; the first (8w) is pooled"


@pytest.mark.parametrize("database", sorted(DATABASES))
def test_import_export_import_gives_the_same_rows(database, tmp_path):
    _, first = run_import(database, tmp_path)
    records, refused = export_rows(first.rows, mapping(database), OUTCOMES)
    assert refused == []
    exported = tmp_path / "export.csv"
    write_metapsy(records, exported)
    again = import_rows(read_metapsy(exported), mapping(database), OUTCOMES, WINDOWS)
    assert again.skipped == []

    def data(rows):
        return [{k: v for k, v in r.items() if k not in ("source", "notes")} for r in rows]

    assert data(again.rows) == data(first.rows)


def test_export_lists_rows_it_cannot_write():
    row = {"study": "DeBar 2025", "year": "2025", "treatment": "coach", "comparator": "usual_care",
           "outcome": "bpi_pain_intensity", "timepoint": "3", "effect_measure": "MD", "effect": "-0.3"}
    records, refused = export_rows([row], mapping("bodily-distress-psyctr"), OUTCOMES)
    assert records == [] and "not an arm-mean row" in refused[0]["reason"]


def test_a_bad_map_lists_every_problem(tmp_path):
    bad = tmp_path / "map.yaml"
    bad.write_text(yaml.safe_dump({
        "database": {"name": "x", "version": "1", "doi": "zenodo", "g_sign": "up"},
        "treatment": [{"when": {"guidance": ["psy"]}, "mode": "phone"}],
        "comparator": [{"when": {"condition_arm2": ["wl"]}, "mode": None}],
        "therapy": [{"when": {"condition_arm1": ["cbt"]}, "class": "cbt"}],
        "outcomes": [{"when": {"instrument": ["bpi"]}, "outcome": "pain"}],
        "timepoint": {"weeks_column": "time_weeks"}, "colour": "red",
    }), encoding="utf-8")
    with pytest.raises(MetapsyMapError) as err:
        load_map(bad, OUTCOMES, MODES)
    text = str(err.value)
    for part in ("unknown key 'colour'", "g_sign 'up'", "doi 'zenodo'", "mode 'phone'", "needs a 'reason'",
                 "outcome 'pain'"):
        assert part in text


def test_a_map_gives_one_risk_of_bias_tool_with_known_values(tmp_path):
    raw = yaml.safe_load((REPO / "examples" / "metapsy" / "chronic_pain_depression_map.yaml").read_text())
    raw["rob1"] = {"columns": {"rob1_sg": "sg", "rob1_ac": "ac"}, "values": {"0": "high", "1": "probably low"}}
    raw["rob"] = {"columns": {c: c for c in ("rob_d1", "rob_d2", "rob_d3", "rob_d4", "rob_d5", "rob_overall")},
                  "values": {"low": "low"}}
    bad = tmp_path / "map.yaml"
    bad.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(MetapsyMapError) as err:
        load_map(bad, OUTCOMES, MODES)
    text = str(err.value)
    for part in ("give 'rob' (RoB 2) or 'rob1', not both", "'columns' must map each of rob1_sg, rob1_ac, rob1_ba",
                 "rob1: 'values' must map database codes to high, low, self-report, unclear"):
        assert part in text


def test_command_line_writes_rows_skipped_and_xlsx(tmp_path, capsys):
    data = tmp_path / "bd.csv"
    data.write_text(BODILY, encoding="utf-8")
    out = tmp_path / "imported.tsv"
    code = cli.main([str(data), "--map", str(REPO / "examples/metapsy/chronic_pain_map.yaml"),
                     "--config", str(REPO / "config.yaml"), "--out", str(out), "--xlsx", str(tmp_path / "i.xlsx")])
    assert code == 0
    assert len(out.read_text(encoding="utf-8").splitlines()) == 1 + 3
    assert len((tmp_path / "imported.skipped.tsv").read_text(encoding="utf-8").splitlines()) == 1 + 2
    assert (tmp_path / "i.xlsx").is_file()
    back = tmp_path / "back.csv"
    assert cli.main(["--export", str(out), "--map", str(REPO / "examples/metapsy/chronic_pain_map.yaml"),
                     "--config", str(REPO / "config.yaml"), "--out", str(back)]) == 0
    assert "3 rows" in capsys.readouterr().out


def test_command_line_refuses_a_bad_map_and_writes_nothing(tmp_path, capsys):
    data = tmp_path / "bd.csv"
    data.write_text(BODILY, encoding="utf-8")
    bad = tmp_path / "map.yaml"
    bad.write_text("database: {}\n", encoding="utf-8")
    out = tmp_path / "imported.tsv"
    assert cli.main([str(data), "--map", str(bad), "--config", str(REPO / "config.yaml"), "--out", str(out)]) == 2
    assert "problem(s) in the map" in capsys.readouterr().err and not out.exists()


def test_with_secondary_other_instruments_and_later_rows_are_secondary_effects(tmp_path):
    """--secondary (issue 15): the later measurement in a window and a second instrument become
    primary = no rows, which the study-table check accepts beside their primary row."""
    text = BODILY.splitlines()
    later = text[2].replace('"109"', '"110"').replace(';"post";8;', ';"follow up";12;')
    path = tmp_path / "bd.csv"
    path.write_text("\n".join([*text, later]) + "\n", encoding="utf-8")
    plain = import_rows(read_metapsy(path), mapping("bodily-distress-psyctr"), OUTCOMES, WINDOWS)
    result = import_rows(read_metapsy(path), mapping("bodily-distress-psyctr"), OUTCOMES, WINDOWS, secondary=True)
    rows = {r["timepoint"]: r for r in result.rows if r["outcome"] == "pain_intensity" and r["study"] == "Friesen 2017"}
    assert (rows["8w"]["primary"], rows["12w"]["primary"]) == ("", "no")
    assert rows["12w"]["include"] == "yes" and "a later measurement in the post window" in rows["12w"]["notes"]
    assert len(result.rows) == len(plain.rows) and not any(r["primary"] for r in plain.rows)
    from evsynth.data.io import write_tsv
    from evsynth.data.metapsy import IMPORT_COLUMNS

    out = tmp_path / "imported.tsv"
    write_tsv(result.rows, IMPORT_COLUMNS, out)
    assert (load_studies(out, CONFIG)["primary"] == False).sum() == 1  # noqa: E712
