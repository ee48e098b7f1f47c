"""Provenance hashes (evsynth.tables.provenance): stable under what re-runs nothing, changed by what
re-runs something; and the trace from each pooled line to its study-table rows."""

from __future__ import annotations

import pandas as pd

from conftest import REPO
from evsynth.data.hashes import footer_line, method_hash, rows_hash, table_hash
from evsynth.data.studies import read_table
from evsynth.tables.provenance import trace_analysis


def test_table_hash_ignores_order_notes_and_empty_columns_but_not_data():
    table = read_table(REPO / "studies.tsv")
    reference = table_hash(table)
    assert len(reference) == 12 and int(reference, 16) >= 0
    shuffled = table.sample(frac=1, random_state=1)[list(reversed(table.columns))].copy()
    shuffled["notes"] = "edited"
    shuffled["extra_empty"] = ""
    assert table_hash(shuffled) == reference
    edited = table.copy()
    edited.loc[0, "n_treat"] = "999"
    assert table_hash(edited) != reference


def test_rows_and_method_hashes():
    rows = [{"study": "A 2020", "effect": 0.5}, {"study": "B 2021", "effect": 0.2}]
    assert rows_hash(rows) == rows_hash([dict(r) for r in rows])
    assert rows_hash(rows) != rows_hash([rows[0], {**rows[1], "effect": 0.3}])
    settings = {"estimator": "REML", "ci_method": "hksj", "alpha": 0.05}
    assert method_hash(settings, 0.5) == method_hash(dict(reversed(list(settings.items()))), 0.5)
    assert method_hash(settings, 0.5) != method_hash({**settings, "estimator": "DL"}, 0.5)
    assert method_hash(settings, 0.5) != method_hash(settings, 0.0)
    line = footer_line("aaaaaaaaaaaa", "bbbbbbbbbbbb", "cochrane-2025")
    assert "#aaaaaaaaaaaa" in line and "#bbbbbbbbbbbb (cochrane-2025)" in line


def test_trace_maps_contrasts_to_their_row_and_arm_contrasts_to_both_arms():
    pooled = pd.DataFrame([
        {"outcome": "o", "timepoint": "post", "treatment": "coach", "comparator": "usual_care", "k": 2,
         "status": "pooled", "studies": "A 2020; R 2025"},
        {"outcome": "o", "timepoint": "post", "treatment": "online", "comparator": "usual_care", "k": 1,
         "status": "single study: shown, not pooled", "studies": "R 2025"},
        {"outcome": "o", "timepoint": "post", "treatment": "any_remote_cbt", "comparator": "usual_care", "k": 3,
         "status": "pooled across delivery modes", "studies": "A 2020; R 2025"},
    ])
    effects = pd.DataFrame([
        {"study": "A 2020", "treatment": "coach", "comparator": "usual_care", "estimable": True, "arm_group": None},
        {"study": "X 2019", "treatment": "coach", "comparator": "usual_care", "estimable": False, "arm_group": None},
        {"study": "R 2025", "treatment": "coach", "comparator": "usual_care", "estimable": True, "arm_group": "g"},
        {"study": "R 2025", "treatment": "online", "comparator": "usual_care", "estimable": True, "arm_group": "g"},
    ])
    base = {"outcome": "o", "window": "post", "timepoint": "3", "settled": ""}
    rows = [
        {**base, "study": "A 2020", "form": "contrast", "treatment": "usual_care", "comparator": "coach", "arm": "",
         "source": "doi:10.1/a"},
        {**base, "study": "X 2019", "form": "means", "treatment": "coach", "comparator": "usual_care", "arm": "",
         "source": "doi:10.1/x"},
        *({**base, "study": "R 2025", "form": "arm", "treatment": "", "comparator": "", "arm": arm,
           "source": "doi:10.1/r"} for arm in ("coach", "online", "usual_care")),
    ]
    summary, traced = trace_analysis(pooled, effects, rows, {"rows_hash": "h"})
    assert [s["table_rows"] for s in summary] == [4, 2, 4]
    assert summary[0]["sources"] == "doi:10.1/a | doi:10.1/x | doi:10.1/r" and summary[0]["rows_hash"] == "h"
    coach = [(t["study"], t["table_arm"], t["used"]) for t in traced if t["treatment"] == "coach"]
    assert coach == [("A 2020", "", "pooled"), ("X 2019", "", "not estimable"), ("R 2025", "coach", "pooled"),
                     ("R 2025", "usual_care", "pooled")]
    overall = [(t["study"], t["table_arm"]) for t in traced if t["treatment"] == "any_remote_cbt"]
    assert overall == [("A 2020", ""), ("R 2025", "coach"), ("R 2025", "usual_care"), ("R 2025", "online")]
    assert {t["used"] for t in traced if t["treatment"] == "online"} == {"shown, not pooled"}
