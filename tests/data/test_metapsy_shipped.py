"""The shipped rows imported from the Metapsy databases (docs/shipped_studies.md): each equals
what the importer gives from the database row it cites (when ../shared/external/metapsy is
there), the two extractions of Friesen 2017 and Menga 2014 reconcile to exactly the rows of
studies.tsv, and the RoB 2 judgements are on every row whose database has them."""

from __future__ import annotations

import pytest
import yaml

from conftest import REPO
from evsynth.data.config import outcomes_from_config, windows_from_config
from evsynth.data.metapsy import import_rows, load_map, read_metapsy
from evsynth.data.reconcile import reconcile_extractions
from evsynth.data.studies import read_table
from oracle._oracle import load

CONFIG = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
SHARED = REPO.parent / "shared" / "external" / "metapsy"
EXTRACTION = REPO / "extraction" / "metapsy"
MAPS = {
    "bodily-distress-psyctr": "chronic_pain_map.yaml",
    "depression-psyctr": "chronic_pain_depression_map.yaml",
    "depression-selfguided-psyctr": "chronic_pain_selfguided_map.yaml",
}
ARMS = ("mean_treat", "sd_treat", "n_treat", "mean_ctrl", "sd_ctrl", "n_ctrl")
#: Imported rows the reviewers left out of every analysis (include = no), with the reason.
EXCLUDED = {("Nhu 2024", "pain_interference", "8w", "bpi-inteference"): "arm sizes 53 and 49 against 17 and 18"}
DOIS = {"bodily-distress-psyctr": "10.5281/zenodo.17405019", "depression-psyctr": "10.5281/zenodo.7254845",
        "depression-selfguided-psyctr": "10.5281/zenodo.12705748"}


def shipped_metapsy_rows() -> list[dict[str, str]]:
    return [r for r in read_table(REPO / "studies.tsv").to_dict("records") if r["source"].startswith("Metapsy ")]


def database_of(row) -> str:
    return next(db for db in MAPS if row["source"].startswith(f"Metapsy {db} v"))


def test_every_imported_row_cites_its_database_doi_and_row():
    rows = shipped_metapsy_rows()
    # 24 primary effects and 7 secondary ones (issue 15): 6 other instruments of 5 trials, and Menga
    # 2014's 12-week measurement in the post window (before: include = no).
    assert len(rows) == 31 and sum(r["primary"] == "no" for r in rows) == 7
    for row in rows:
        assert f"doi:{DOIS[database_of(row)]}, data.csv row " in row["source"]
        assert "(trial: " in row["source"]


@pytest.mark.parametrize("database", sorted(MAPS))
def test_shipped_rows_are_what_the_importer_gives(database):
    data = SHARED / f"data-{database}" / "data.csv"
    shipped = [r for r in shipped_metapsy_rows() if database_of(r) == database]
    if not data.is_file():  # without the databases: the arm data the metafor fixture copied from them
        cases = {(c["study"], c["outcome"], c["timepoint"]): c for c in load("metafor_metapsy")
                 if c["database"] == database}
        # The fixture holds the effect of each key the primary analysis pools, or the only one.
        by_key = [(r["study"], r["outcome"], r["timepoint"]) for r in shipped]
        shipped = [r for r, key in zip(shipped, by_key) if r["primary"] != "no" or by_key.count(key) == 1]
        assert len(shipped) == len(cases)
        for row in shipped:
            case = cases[(row["study"], row["outcome"], row["timepoint"])]
            assert [float(row[c]) for c in ARMS] == [case[k] for k in ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i")]
        return
    outcomes = {k: o.higher_is_better for k, o in outcomes_from_config(CONFIG).items()}
    mapping = load_map(REPO / "examples" / "metapsy" / MAPS[database], outcomes, list(CONFIG["modes"]))
    imported = import_rows(read_metapsy(data), mapping, outcomes, windows_from_config(CONFIG), secondary=True).rows
    for row in shipped:
        reason = EXCLUDED.get((row["study"], row["outcome"], row["timepoint"], row["extra_metapsy_instrument"]))
        if reason:
            assert row["include"] == "no" and row["exclusion_reason"].startswith(reason)
            row.update(include="yes", exclusion_reason="")  # as imported

    def data_cells(rows):
        return sorted(({k: v for k, v in r.items() if k != "notes" and k in imported[0]} for r in rows),
                      key=lambda r: (r["study"], r["outcome"], r["timepoint"], r["extra_metapsy_instrument"]))

    assert data_cells(shipped) == data_cells(imported)


def test_every_imported_row_has_the_judgements_of_its_database():
    """RoB 2 (domains and overall) from bodily distress and self-guided, the four RoB 1 items
    from depression-psyctr (which rates nothing else), never both, and the notes say so."""
    rob2 = ("rob_d1", "rob_d2", "rob_d3", "rob_d4", "rob_d5", "rob_overall")
    rob1 = ("rob1_sg", "rob1_ac", "rob1_ba", "rob1_itt")
    for row in shipped_metapsy_rows():
        by_rob1 = database_of(row) == "depression-psyctr"
        assert all(row[c] for c in (rob1 if by_rob1 else rob2)), row["study"]
        assert not any(row[c] for c in (rob2 if by_rob1 else rob1)), row["study"]
        if by_rob1:
            assert "RoB 1 items as the database codes them" in row["notes"], row["study"]


def test_the_two_extractions_reconcile_to_the_shipped_rows():
    section = {name: str(EXTRACTION / f"{name}.tsv") for name in ("extraction_a", "extraction_b", "adjudication")}
    result = reconcile_extractions({"reviewer_a": section["extraction_a"], "reviewer_b": section["extraction_b"],
                                    "adjudication": section["adjudication"]}, CONFIG)
    assert not result.blocked and len(result.discrepancies) == 22
    assert all(d["status"] == "adjudicated" and d["who"] and d["why"] for d in result.discrepancies)
    reconciled = result.raw.to_dict("records")
    keys = {(r["study"], r["outcome"], r["timepoint"]) for r in reconciled}
    table = read_table(REPO / "studies.tsv")
    # The two extractions hold one effect per key; Friesen 2017's HADS-D depression row, a
    # secondary effect added from the database alone (issue 15), is not in them.
    effects = {(r["study"], r["outcome"], r["timepoint"], r["extra_metapsy_instrument"]) for r in reconciled}
    shipped = [{c: r[c] for c in reconciled[0]} for r in table.to_dict("records")
               if (r["study"], r["outcome"], r["timepoint"]) in keys
               and (r["study"], r["outcome"], r["timepoint"], r["extra_metapsy_instrument"]) in effects]
    assert sorted(shipped, key=str) == sorted(reconciled, key=str)
    # A's rows that the adjudication left out are not in the shipped table.
    first = read_table(EXTRACTION / "extraction_a.tsv")
    dropped = {(r["study"], r["outcome"], r["timepoint"]) for r in first.to_dict("records")} - keys
    assert dropped == {("Friesen 2017", "pain_interference", "post"), ("Menga 2014", "pain_interference", "post")}
    assert not any((r["study"], r["outcome"], r["timepoint"]) in dropped for r in table.to_dict("records"))


def test_screening_log_counts_each_database_s_rows_and_the_selected_trials():
    """screening.yaml (the update's PRISMA counts, docs/screening.md) names each database version's
    DOI with its number of data rows; the maps' select keeps the 12 trials the table imports."""
    log = yaml.safe_load((REPO / "screening.yaml").read_text(encoding="utf-8"))["databases_and_registers"]
    sources = log["databases"]
    assert len(sources) == len(MAPS)
    imported = {r["study"] for r in shipped_metapsy_rows()}
    assert log["assessed"] == len(imported) == 12
    for database, map_name in MAPS.items():
        (name, rows), = [(k, v) for k, v in sources.items() if f"doi:{DOIS[database]} " in k]
        mapping = yaml.safe_load((REPO / "examples" / "metapsy" / map_name).read_text(encoding="utf-8"))
        assert f"v{mapping['database']['version']}," in name
        data = SHARED / f"data-{database}" / "data.csv"
        if data.is_file():  # without the databases, the counts are checked where they are read
            records = [cells for _, cells in read_metapsy(data)]
            assert rows == len(records), name
            chosen = [c for c in records if all(c.get(k, "") in v for k, v in mapping["select"].items())]
            trials = {r["study"] for r in shipped_metapsy_rows() if database_of(r) == database}
            assert len({c["study"] for c in chosen}) == len(trials), name
