"""Synthetic data for the benchmarks: meta-analyses, a treatment network, a whole review.

Everything is seeded, so a rerun on another machine times the same data.

* :func:`meta_data`: k estimates with vᵢ ~ U(0.01, 1) and yᵢ ~ N(0.2, vᵢ + 0.05), the
  simulation design used to measure PyMARE 0.0.13 against metafor (tau² = 0.05).
* :func:`network`: a connected network of T treatments and N trials, some multi-arm,
  as one row per arm (continuous outcome: mean, sd, n) and as contrasts against each
  trial's first arm with their covariance (shared-arm variance).
* :func:`dependent_effects`: several effects per trial (1 to 9, 5 on average), with
  between-trial and within-trial heterogeneity and correlated sampling errors (rho = 0.6).
* :func:`write_review`: a study table and config.yaml for the pipeline, built from the
  shipped ones so every column and rule of the current schema is kept: every trial is
  cloned ``trials`` times (new study names, effects shifted), every outcome ``outcomes``
  times (new outcome ids, same measure) and every timepoint window ``timepoints`` times
  (windows shifted by 18 months per copy), so the table has trials x outcomes x
  timepoints times as many rows as the shipped one.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def meta_data(k: int, seed: int = 20250101) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed + k)
    vi = rng.uniform(0.01, 1.0, k)
    yi = rng.normal(0.2, np.sqrt(vi + 0.05))
    return yi, vi


def many_meta_data(n: int, k: int, seed: int = 7) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``n`` independent data sets of ``k`` studies, each drawn like :func:`meta_data`."""
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.01, 1.0, (n, k))
    yi = rng.normal(0.2, np.sqrt(vi + 0.05))
    return list(yi), list(vi)


def dependent_effects(effects: int = 1000, trials: int = 200, seed: int = 15) -> dict:
    """``effects`` effects in ``trials`` trials (sizes 1 to 9 summing to ``effects``): yᵢⱼ =
    0.3 + uᵢ + wᵢⱼ + eᵢⱼ with sigma² = (0.05, 0.03), vᵢⱼ ~ U(0.01, 0.2) and the sampling errors of
    a trial correlated 0.6 (the CHE model's own assumptions)."""
    rng = np.random.default_rng(seed)
    sizes = np.ones(trials, dtype=int)
    while sizes.sum() < effects:  # spread the rest at random, at most 9 per trial
        i = rng.integers(trials)
        sizes[i] += sizes[i] < 9
    trial = np.repeat(np.arange(trials), sizes)
    vi = rng.uniform(0.01, 0.2, effects)
    yi = 0.3 + rng.normal(0, np.sqrt(0.05), trials)[trial] + rng.normal(0, np.sqrt(0.03), effects)
    for t in range(trials):
        rows = np.flatnonzero(trial == t)
        sd = np.sqrt(vi[rows])
        cov = 0.6 * np.outer(sd, sd) + np.diag(0.4 * vi[rows])
        yi[rows] += rng.multivariate_normal(np.zeros(len(rows)), cov)
    return {"yi": yi, "vi": vi, "trial": trial}


def network(treatments: int = 20, trials: int = 300, multi_arm_share: float = 0.15, seed: int = 11) -> dict:
    """A connected network: trial i compares treatment i mod T with a random other (a
    spanning cycle first, so every treatment is connected), a share of trials gets a third
    (rarely fourth) arm. Returns arm-level rows and contrast-level data.

    Arm rows: ``study``, ``treatment`` (``t01``..), ``mean``, ``sd``, ``n``. Contrasts (the
    input of :func:`evsynth.data.network.fit_network`): for each trial, every arm against the
    trial's first arm (``yi`` = difference of means, ``vi`` = sum of the two arm
    variances), with ``arm_group``, ``var_treat_arm``, ``var_ctrl_arm``, ``n_treat`` and
    ``n_ctrl``, from which the covariance of a multi-arm trial's contrasts (its first
    arm's variance, shared) is rebuilt.
    """
    rng = np.random.default_rng(seed)
    names = [f"t{i + 1:02d}" for i in range(treatments)]
    effect = np.concatenate(([0.0], rng.normal(0.0, 0.5, treatments - 1)))
    arms_rows, contrasts = [], []
    for trial in range(trials):
        first = trial % treatments
        second = (first + 1) % treatments if trial < treatments else int(rng.integers(treatments))
        while second == first:
            second = int(rng.integers(treatments))
        arms = [first, second]
        if rng.random() < multi_arm_share:
            extra = [t for t in range(treatments) if t not in arms]
            arms += list(rng.choice(extra, size=1 if rng.random() < 0.8 else 2, replace=False))
        study = f"trial{trial + 1:03d}"
        base = rng.normal(0.0, 0.3)  # trial baseline
        sd = rng.uniform(0.8, 1.5)
        rows = []
        for arm in arms:
            n = int(rng.integers(20, 200))
            mean = base + effect[arm] + rng.normal(0.0, 0.1) + rng.normal(0.0, sd / math.sqrt(n))
            rows.append({"study": study, "treatment": names[arm], "mean": mean, "sd": sd, "n": n})
        arms_rows.extend(rows)
        ref = rows[0]
        ref_var = ref["sd"] ** 2 / ref["n"]
        for row in rows[1:]:
            arm_var = row["sd"] ** 2 / row["n"]
            contrasts.append(
                {
                    "study": study,
                    "treatment": row["treatment"],
                    "comparator": ref["treatment"],
                    "yi": row["mean"] - ref["mean"],
                    "vi": arm_var + ref_var,
                    # evsynth.stats.network's arm-level columns: the covariance of two contrasts
                    # of one trial is the shared (first) arm's variance.
                    "arm_group": study,
                    "var_treat_arm": arm_var,
                    "var_ctrl_arm": ref_var,
                    "n_treat": row["n"],
                    "n_ctrl": ref["n"],
                }
            )
    return {"treatments": names, "arms": arms_rows, "contrasts": contrasts}


# ---------------------------------------------------------------------------------------
# A synthetic review for the pipeline.
# ---------------------------------------------------------------------------------------

_WINDOW_SHIFT = 18.0  # months between copies of the timepoint windows


def _months(timepoint: str, windows: dict[str, list[float]]) -> float | None:
    """A row's timepoint in months (numbers, "8w"-style weeks), or None for a window id."""
    text = timepoint.strip()
    if text in windows:
        return None
    if text.endswith("w"):
        return float(text[:-1]) * 12 / 52
    if text.endswith("m"):
        return float(text[:-1])
    return float(text)


def _shift(value: str, delta: float, ratio: bool) -> str:
    if value == "":
        return value
    x = float(value)
    return f"{x * math.exp(delta):.6g}" if ratio else f"{x + delta:.6g}"


def review_rows(table, config: dict, trials: int, outcomes: int, timepoints: int, seed: int = 3):
    """The cloned study table (a pandas DataFrame of strings) and the matching config."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    windows = {key: list(map(float, value)) for key, value in config["timepoints"].items()}
    new_config = copy.deepcopy(config)
    new_config["outcomes"] = {}
    for oid, spec in config["outcomes"].items():
        for o in range(outcomes):
            new_id = oid if o == 0 else f"{oid}_s{o + 1}"
            new_spec = dict(spec)
            if o:
                new_spec["label"] = f"{spec['label']} (synthetic copy {o + 1})"
            new_config["outcomes"][new_id] = new_spec
    new_config["timepoints"] = {}
    for g in range(timepoints):
        for wid, (low, high) in windows.items():
            new_id = wid if g == 0 else f"{wid}-s{g + 1}"
            new_config["timepoints"][new_id] = [low + g * _WINDOW_SHIFT, high + g * _WINDOW_SHIFT]
    ratio_measures = {"RR", "OR"}
    measure_of = {oid: spec["measure"] for oid, spec in config["outcomes"].items()}
    out = []
    studies = sorted(set(table["study"]))
    for t in range(trials):
        # One shift per cloned trial and outcome: its rows stay consistent with each other.
        shifts = {s: rng.normal(0.0, 0.15, len(measure_of) * outcomes) for s in studies}
        for o in range(outcomes):
            for g in range(timepoints):
                block = table.copy()
                if t:
                    block["study"] = block["study"] + f" s{t + 1}"
                if o:
                    block["outcome"] = block["outcome"] + f"_s{o + 1}"
                if g:
                    def move(tp: str, g: int = g) -> str:
                        months = _months(tp, windows)
                        if months is None:  # a window named directly
                            return f"{tp}-s{g + 1}"
                        return f"{months + g * _WINDOW_SHIFT:.6g}"

                    block["timepoint"] = block["timepoint"].map(move)
                if t or o or g:
                    for idx, row in block.iterrows():
                        base_outcome = table.at[idx, "outcome"]
                        delta = shifts[table.at[idx, "study"]][list(measure_of).index(base_outcome) * outcomes + o]
                        delta += 0.02 * g
                        ratio = (row["effect_measure"] or measure_of.get(base_outcome, "")) in ratio_measures
                        for column in ("effect", "ci_lower", "ci_upper"):
                            block.at[idx, column] = _shift(row[column], delta, ratio)
                        for column in ("mean_treat",):
                            if column in block.columns:
                                block.at[idx, column] = _shift(row[column], delta, False)
                out.append(block)
    return pd.concat(out, ignore_index=True), new_config


def write_review(directory: Path, trials: int = 5, outcomes: int = 2, timepoints: int = 2,
                 table_path: Path | None = None, config_path: Path | None = None) -> dict:
    """Write ``studies.tsv`` and ``config.yaml`` of a synthetic review into ``directory``."""
    import pandas as pd
    import yaml

    table_path = table_path or REPO / "studies.tsv"
    config_path = config_path or REPO / "config.yaml"
    table = pd.read_csv(table_path, sep="\t", dtype=str, keep_default_na=False)
    config = yaml.safe_load(config_path.read_text())
    rows, new_config = review_rows(table, config, trials, outcomes, timepoints)
    new_config["studies"] = "studies.tsv"
    # The shipped screening log describes the shipped trials, not synthetic ones.
    new_config["screening"] = {**new_config.get("screening", {}), "log": ""}
    new_config["changes"] = {**new_config.get("changes", {}), "baseline": ""}  # no frozen results to compare
    directory.mkdir(parents=True, exist_ok=True)
    rows.to_csv(directory / "studies.tsv", sep="\t", index=False, lineterminator="\n")
    (directory / "config.yaml").write_text(yaml.safe_dump(new_config, sort_keys=False, allow_unicode=True))
    return {
        "rows": len(rows),
        "shipped_rows": len(table),
        "trials": len(set(rows["study"])),
        "outcomes": len(new_config["outcomes"]),
        "timepoint_windows": len(new_config["timepoints"]),
        "scale": {"trials": trials, "outcomes": outcomes, "timepoints": timepoints},
    }
