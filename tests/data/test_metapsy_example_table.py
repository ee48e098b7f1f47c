"""examples/metapsy/studies.tsv (metapsyTools' depressionPsyCtr, doi:10.5281/zenodo.6566632):
every row cites the data set and its row, the table is what the importer writes from the data
set with the example's map and ``--secondary`` (byte for byte) and its numbers are the cited
rows' (both when ../shared/external/metapsy/metapsyTools is there); always: two rows give the
g that metapsyTools' tutorial prints for them."""

from __future__ import annotations

import csv
import re

import pytest

from conftest import REPO
from evsynth.data.studies import read_table
from evsynth.metapsy import main
from evsynth.stats.escalc import from_means

EXAMPLE = REPO / "examples" / "metapsy"
DATA = REPO.parent / "shared" / "external" / "metapsy" / "metapsyTools" / "depressionPsyCtr.derived.csv"
CITATION = re.compile(r"^Metapsy metapsyTools example data depressionPsyCtr v1\.0\.14, doi:10\.5281/zenodo\.6566632, "
                      r"depressionPsyCtr row (\d+) \(trial: [^)]+\)$")


def _rows():
    return read_table(EXAMPLE / "studies.tsv").to_dict("records")


def test_every_row_cites_the_data_set_and_its_row():
    rows = _rows()
    cited = [int(CITATION.match(r["source"]).group(1)) for r in rows]
    assert len(rows) == len(set(cited)) == 26
    assert sum(r["primary"] != "no" for r in rows) == len({r["study"] for r in rows}) == 14


@pytest.mark.skipif(not DATA.is_file(), reason="metapsyTools' data set not at hand; see the fallback test")
def test_table_is_what_the_importer_writes(tmp_path):
    out = tmp_path / "studies.tsv"
    assert main([str(DATA), "--map", str(EXAMPLE / "depression_psyctr_tutorial_map.yaml"), "--config",
                 str(EXAMPLE / "config.yaml"), "--secondary", "--out", str(out)]) == 0
    assert out.read_bytes() == (EXAMPLE / "studies.tsv").read_bytes()


@pytest.mark.skipif(not DATA.is_file(), reason="metapsyTools' data set not at hand; see the tutorial's g below")
def test_numbers_are_the_cited_rows():
    rows = _rows()
    with open(DATA, newline="", encoding="utf-8") as handle:
        data = list(csv.DictReader(handle))
    for row in rows:
        cells = data[int(CITATION.match(row["source"]).group(1)) - 1]
        assert f"{cells['study'].replace(',', '')}" == row["study"]
        if row["events_treat"]:
            pairs = [("events_treat", "event_arm1"), ("n_treat", "totaln_arm1"), ("events_ctrl", "event_arm2"),
                     ("n_ctrl", "totaln_arm2")]
        else:
            pairs = [(c, c.replace("_treat", "_arm1").replace("_ctrl", "_arm2")) for c in
                     ("mean_treat", "sd_treat", "n_treat", "mean_ctrl", "sd_ctrl", "n_ctrl")]
        assert all(float(row[ours]) == float(cells[theirs]) for ours, theirs in pairs), row["source"]


def test_g_of_two_rows_is_what_the_tutorial_prints():
    # metapsyTools' "Get Started" prints `.g` of depressionPsyCtr rows 10 to 15 (after
    # calculateEffectSizes): row 13 Allart van Dam 2003 -0.5696379, row 15 Ammerman 2013
    # -0.9439887. The metapsy profile's g of the rows citing them, to the 7 printed decimals.
    printed = {13: -0.5696379, 15: -0.9439887}
    for row in _rows():
        number = int(CITATION.match(row["source"]).group(1))
        if number in printed:
            g, _ = from_means("SMD", *[[float(row[c])] for c in ("mean_treat", "sd_treat", "n_treat", "mean_ctrl",
                                                                   "sd_ctrl", "n_ctrl")], smd_variance="metapsy")
            assert round(float(g[0]), 7) == printed.pop(number)
    assert not printed
