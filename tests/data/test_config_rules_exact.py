"""config.yaml rules the schema cannot express, each at and across its boundary, message in full.

:func:`evsynth.data.config.load_config` lists every problem at once; each case below changes one
setting of the shipped config.yaml and pins the exact list of problems (an empty list on the
allowed side of a bound), so that a flipped comparison or a changed bound is seen.
"""

from __future__ import annotations

import copy

import pytest
import yaml

from conftest import REPO
from evsynth.data.config import ConfigError, dependent_config, load_config

CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
CUTS = "config.yaml: sensitivity.selection_cut_points"


def _problems(**sections) -> list[str]:
    raw = copy.deepcopy(CONFIG)
    raw["changes"] = {**raw.get("changes", {}), "baseline": ""}  # no file lookup from the working directory
    for key, value in sections.items():
        raw[key] = value if not isinstance(value, dict) else {**(raw.get(key) or {}), **value}
    try:
        load_config(raw)
    except ConfigError as err:
        return str(err).split("\n")
    return []


@pytest.mark.parametrize("timepoints,problems", [
    ({"post": [0, 4], "6m": [4, 9]}, []),  # touching windows do not overlap
    ({"post": [0, 4], "6m": [3.5, 9]}, ["config.yaml: timepoints.post [0, 4] and timepoints.6m [3.5, 9] overlap: a "
                                        "row would belong to both"]),
    ({"6m": [4, 9], "post": [0, 5]}, ["config.yaml: timepoints.post [0, 5] and timepoints.6m [4, 9] overlap: a row "
                                      "would belong to both"]),  # config order is not start order
    ({"post": [0, 0.5]}, []),
    ({"post": [2, 2]}, ["config.yaml: timepoints.post = [2, 2]: the start must be below the end"]),
    ({"post": [3, 2]}, ["config.yaml: timepoints.post = [3, 2]: the start must be below the end"]),
])
def test_timepoint_windows(timepoints, problems):
    assert _problems(timepoints=timepoints) == problems


@pytest.mark.parametrize("cuts,problem", [
    ([0.025, 0.5], None), ([0.001], None), ([0.999], None), ([], None),
    ([0], "every cut point is a one-sided p-value strictly between 0 and 1"),
    ([1], "every cut point is a one-sided p-value strictly between 0 and 1"),
    ([0.5, 1.5], "every cut point is a one-sided p-value strictly between 0 and 1"),
    ([True], "every cut point is a one-sided p-value strictly between 0 and 1"),
    (["0.5"], "every cut point is a one-sided p-value strictly between 0 and 1"),
    ([0.5, 0.5], "give the cut points in increasing order, each once, e.g. [0.025, 0.5]"),
    ([0.5, 0.025], "give the cut points in increasing order, each once, e.g. [0.025, 0.5]"),
])
def test_selection_cut_points(cuts, problem):
    expected = [] if problem is None else [f"{CUTS} = {cuts}: {problem}"]
    assert _problems(sensitivity={"selection_cut_points": cuts}) == expected


@pytest.mark.parametrize("bands,ok", [([25, 50, 75], True), ([10], True), ([25, 25, 75], False), ([50, 25], False)])
def test_i2_bands_increase(bands, ok):
    expected = [] if ok else [f"config.yaml: changes.i2_bands = {bands}: give increasing cut points, e.g. [25, 50, 75]"]
    assert _problems(changes={"i2_bands": bands}) == expected


@pytest.mark.parametrize("rho,ok", [(0, True), (0.99, True), (1, False), (-0.01, False), (1.5, False)])
def test_dependent_rho_in_0_1(rho, ok):
    config, problems = dependent_config({"rho": rho})
    assert config.rho == float(rho)
    expected = [] if ok else [f"config.yaml: dependent_effects.rho = {float(rho)}: the within-trial correlation "
                              "must lie in [0, 1)"]
    assert problems == expected


def test_dependent_section_problems_all_at_once_and_defaults_kept():
    config, problems = dependent_config({
        "moderators": [{"column": "b", "kind": "continuous"}, {"column": "a", "kind": "categorical"},
                       {"column": "b", "kind": "continuous"}, {"column": "a", "kind": "categorical"}],
        "che_variances": "pooled", "timepoint_structure": "CS"})
    assert problems == [
        "config.yaml: dependent_effects.moderators: column 'a' is listed more than once",
        "config.yaml: dependent_effects.moderators: column 'b' is listed more than once",
        "config.yaml: dependent_effects.che_variances = 'pooled': one of as-given, trial-mean",
        "config.yaml: dependent_effects.timepoint_structure = CS: must be AR or HAR",
    ]
    assert (config.che_variances, config.timepoint_structure, config.rho) == ("as-given", "AR", 0.6)
    assert (config.permutations, config.seed) == (1000, 20240101)
    assert dependent_config(None) == (None, [])
    config, problems = dependent_config({"che_variances": "trial-mean", "timepoint_structure": "HAR"})
    assert problems == [] and (config.che_variances, config.timepoint_structure) == ("trial-mean", "HAR")
    assert config.as_dict() == {"rho": 0.6, "moderators": [], "permutations": 1000, "seed": 20240101,
                                "che_variances": "trial-mean", "timepoint_structure": "HAR"}


@pytest.mark.parametrize("sof,path", [({}, ""), ({"judgements": None}, ""), ({"judgements": "grade.tsv"}, "grade.tsv")])
def test_the_judgements_path_is_empty_unless_given(sof, path):
    raw = copy.deepcopy(CONFIG)
    raw["changes"] = {**raw.get("changes", {}), "baseline": ""}
    raw["summary_of_findings"] = sof
    assert load_config(raw).judgements == path
