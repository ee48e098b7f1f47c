"""Rules analyse (dependent effects), plot_metaregression, analyse_timepoints and summarise_dependent end to
end (issue 15), on the shipped pain-interference SMD rows (real, cited; Menga 2014 gives a
secondary effect, its 12-week FIQ, so online vs usual care has 5 effects in 4 trials) with a
meta-regression on publication year (fitted: a bubble plot) and on extra_therapy (empty for some
trials: the table row and the plot say why it is not fitted); and a moderator column the table
lacks, which stops the run naming it before any job runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from matplotlib.image import imread

from conftest import REPO, copy_config, review_config, run_workflow
from evsynth.tables.dependent import DEPENDENT_COLUMNS, METAREGRESSION_COLUMNS, MODELS
from evsynth.tables.pooled import ROBUSTNESS_COLUMNS
from evsynth.tables.timepoints import TIMEPOINT_COLUMNS

pytestmark = pytest.mark.workflow

PLOTS = "results/metaregression/pain_interference_post/{}_coach_vs_usual_care.png"
TARGETS = (
    "results/dependent/pain_interference_post.tsv",
    "results/metaregression/pain_interference_post.tsv",
    PLOTS.format("year"),
    PLOTS.format("extra_therapy"),
)
MORE = ("results/dependent/pain_interference_timepoints.tsv", "results/robustness.tsv", "results/dependent.html",
        "results/metaregression/pain_interference_post/year_online_vs_usual_care.png")


def prepare(path: Path, moderators: list[dict]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    config = review_config()
    config["dependent_effects"] = {"rho": 0.6, "moderators": moderators, "permutations": 200}
    copy_config(path, config)
    table = pd.read_csv(REPO / "studies.tsv", sep="\t", dtype=str, keep_default_na=False)
    table[table["outcome"] == "pain_interference"].to_csv(
        path / "studies.tsv", sep="\t", index=False, lineterminator="\n"
    )
    return path


def test_dependent_and_metaregression_tables(tmp_path):
    work = prepare(tmp_path / "run", [{"column": "year", "kind": "continuous"},
                                      {"column": "extra_therapy", "kind": "categorical"}])
    run_workflow(work, *TARGETS, *MORE)
    dependent = pd.read_csv(work / TARGETS[0], sep="\t", keep_default_na=False)
    assert tuple(dependent.columns) == DEPENDENT_COLUMNS
    coach = dependent[dependent["treatment"] == "coach"]
    assert coach["model"].tolist() == list(MODELS)
    # One effect per trial: no within-trial level, and the aggregated row is the trials' own REML + HK.
    assert coach.set_index("model").loc["che", "status"].startswith("one effect per trial")
    studies = pd.read_csv(work / "results/analyses/pain_interference/post/studies.tsv", sep="\t")
    trials = studies[(studies["treatment"] == "coach") & (studies["comparator"] == "usual_care")
                     & (studies["estimable"] == "yes")]
    assert coach.set_index("model").loc["aggregated", "k_trials"] == trials["study"].nunique() >= 7
    # Online vs usual care: Menga 2014's secondary effect gives the within-trial level.
    online = dependent[dependent["treatment"] == "online"].set_index("model")
    assert online.loc["che", "status"] == "fitted" and online.loc["che", "k_effects"] == 5
    assert online.loc["che", "k_trials"] == 4 and float(online.loc["che", "robust_df"]) > 0
    robustness = pd.read_csv(work / MORE[1], sep="\t", keep_default_na=False)
    assert tuple(robustness.columns) == ROBUSTNESS_COLUMNS
    models = robustness[robustness["profile"].str.startswith("dependent: ")]
    assert set(zip(models["treatment"], models["comparator"])) == {("online", "usual_care")}
    che = models[models["profile"] == "dependent: che (rho 0.6), CR2"]
    assert float(che["ci_lower"].item()) == pytest.approx(float(online.loc["che", "robust_ci_lower"]), rel=1e-9)
    timepoints = pd.read_csv(work / MORE[0], sep="\t", keep_default_na=False)
    assert tuple(timepoints.columns) == TIMEPOINT_COLUMNS and set(timepoints["timepoint"]) >= {"post"}
    assert "Several effects per trial" in (work / MORE[2]).read_text(encoding="utf-8")
    regression = pd.read_csv(work / TARGETS[1], sep="\t", keep_default_na=False)
    assert tuple(regression.columns) == METAREGRESSION_COLUMNS
    slope = regression[(regression["treatment"] == "coach") & (regression["coefficient"] == "year")]
    assert len(slope) == 1 and slope["model"].item() == "trial-level"
    assert 0 < float(slope["permutation_p"].item()) <= 1 and "seed 20240101" in slope["note"].item()
    therapy = regression[(regression["treatment"] == "coach") & (regression["moderator"] == "extra_therapy")]
    assert therapy["status"].item().startswith("not fitted: extra_therapy: study ")
    # The bubble plot of year is a full figure; extra_therapy's a short one saying why there is none.
    heights = {m: imread(work / PLOTS.format(m)).shape[0] for m in ("year", "extra_therapy")}
    assert heights["year"] > 800 and heights["extra_therapy"] < heights["year"] / 2
    assert (work / PLOTS.format("year").replace(".png", ".svg")).stat().st_size > 10_000
    # Online vs usual care's bubbles are the CHE model's 5 effects (Menga 2014's secondary one
    # too), as the table's row, not the 4 primary rows of studies.tsv.
    (online_year,) = regression[(regression["treatment"] == "online") & (regression["coefficient"] == "year")
                                ].to_dict("records")
    assert (online_year["model"], online_year["k_effects"], online_year["k_trials"]) == ("che", 5, 4)
    log = work / "results/logs/plot_metaregression/pain_interference_post_year_online_vs_usual_care.log"
    assert "fitted; 5 effects of 4 trials drawn" in log.read_text()
    first = {t: (work / t).read_bytes() for t in TARGETS[1:]}
    (work / TARGETS[1]).unlink()
    run_workflow(work, *TARGETS)
    for target, content in first.items():  # same input, same bytes (seeded permutations)
        assert (work / target).read_bytes() == content, target


def test_missing_moderator_column_stops_the_run(tmp_path):
    work = prepare(tmp_path / "bad", [{"column": "sessions", "kind": "continuous"}])
    result = run_workflow(work, *TARGETS[:2], check=False)  # the tables: plots of year are not planned here
    assert result.returncode != 0
    assert "dependent_effects.moderators names column(s) sessions" in result.stdout + result.stderr
    assert not (work / "results" / "dependent").exists()
